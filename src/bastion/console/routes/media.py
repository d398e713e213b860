"""Media of a case: the safe derivative (blurred, grayscale by the organisation's floors) and, by POST
only, the revealed view that is logged and counted against the reviewer's budget."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bastion.console import backend, exposure
from bastion.console.safemedia import revealed_view, safe_derivative
from bastion.console.web import NO_STORE, ConsoleDep, FormDep, Refused
from bastion.errors import MediaError, NotFound

router = APIRouter()


def _media_of(db, case_id: int, sha256: str) -> dict:
    try:
        case = backend.get_case(db, case_id)
    except NotFound:
        raise Refused(404, "no such case") from None
    for item in case.get("items", []):
        for m in item.get("media", []):
            if m.get("sha256") == sha256:
                return m
    raise Refused(404, "no such media in this case")


def _held(c, sha256: str) -> bytes:
    try:
        return c.holding.get(sha256)
    except NotFound:
        raise Refused(404, "the media is not held") from None


@router.get("/media/{case_id}/{sha256}/safe")
def safe_media(request: Request, c: ConsoleDep, case_id: int, sha256: str):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "cases.read")
        _media_of(db, case_id, sha256)
        view = exposure.preferences(db, v.user_id).safe_view()
        db.commit()
    try:
        body = safe_derivative(_held(c, sha256), view)
    except MediaError as exc:
        raise Refused(415, f"the media cannot be shown: {exc}") from None
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})


@router.post("/media/{case_id}/{sha256}/reveal")
def reveal(request: Request, c: ConsoleDep, form: FormDep, case_id: int, sha256: str):
    """The revealed view, only by POST with the CSRF token: no URL shows an original on its own."""
    with c.acting(request, form, "media.reveal") as (db, v):
        _media_of(db, case_id, sha256)
        try:
            body = revealed_view(_held(c, sha256))
        except MediaError as exc:
            raise Refused(415, f"the media cannot be shown: {exc}") from None
        try:
            state = exposure.record_reveal(db, v.user_id, case_id, sha256, c.now())
        except (exposure.ExposureBudgetSpent, exposure.OnBreak) as exc:
            db.rollback()
            return JSONResponse({"error": str(exc), "break": True}, status_code=429,
                                headers={"Cache-Control": NO_STORE})
        # in the reveal's own transaction: an original is never shown without its audit row
        backend.audit(db, v.name, "media.reveal", "case", str(case_id),
                      {"sha256": sha256, "shift": state.shift_id, "used": state.used, "budget": state.budget})
    return Response(body, media_type="image/jpeg", headers={
        "Cache-Control": NO_STORE, "X-Reveals-Used": str(state.used), "X-Reveals-Budget": str(state.budget)})
