"""The terms page: ranked candidate terms of confirmed cases and the platform's own lexicon (add, reject,
remove)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError

router = APIRouter()


@router.get("/terms", response_class=HTMLResponse)
def terms_page(request: Request, c: ConsoleDep, since: str | None = None, until: str | None = None,
               language: str | None = None, min_z: float = 3.0, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "terms.read")
        try:
            ranked = backend.term_candidates(db, c, since=since, until=until, language=language, min_z=min_z)
        except BastionError as exc:
            raise Refused(400, str(exc)) from None
        platform = backend.platform_terms(db)
    return c.render(request, "terms.html", v, ranked=ranked, platform=platform, msg=msg,
                    since=since or "", until=until or "", language=language or "", min_z=min_z,
                    title="Term candidates")


@router.post("/terms/{action}")
def terms_change(request: Request, c: ConsoleDep, form: FormDep, action: str):
    if action not in ("add", "reject", "remove"):
        raise Refused(404, "no such action")
    with c.acting(request, form, "terms.write", refuse=((BastionError, 400),)) as (db, v):
        msg = backend.change_term(db, action, str(form.get("term", "") or ""), form, v)
    return c.redirect("/terms?msg=" + quote(msg))
