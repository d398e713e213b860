"""The queue: cases to work, their counts per filter, and "next" (claim the most urgent case)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError, Conflict

router = APIRouter()

FILTERS = ("status", "category", "source", "bank", "language", "account")


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, c: ConsoleDep, cursor: str | None = None):
    f = {k: request.query_params.get(k, "") for k in FILTERS}
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "cases.read")
        args = dict(f)
        second_look = f["status"] == "second_look"
        if second_look:
            args["status"] = "in_review"
        elif not f["status"]:
            args["status"] = list(backend.QUEUE_STATUSES)
        try:
            rows, next_cursor = backend.list_cases(db, cursor=cursor or None, limit=50, **args)
        except BastionError as exc:
            raise Refused(400, str(exc)) from None
        if second_look:
            rows = [r for r in rows if r.get("needs_second_look")]
        counts = backend.queue_counts(db)
    return c.render(request, "queue.html", v, rows=rows, next_cursor=next_cursor, counts=counts, filters=f,
                    title="Queue")


@router.post("/next")
def next_case(request: Request, c: ConsoleDep, form: FormDep):
    """Claim the most urgent case nobody else holds (within the queue's filters) and open it."""
    with c.acting(request, form, "cases.claim") as (db, v):
        f = {k: str(form.get(k, "") or "") for k in FILTERS if k != "status"}
        cursor = None
        for _page in range(20):
            rows, cursor = backend.list_cases(db, cursor=cursor, limit=50, status=list(backend.QUEUE_STATUSES), **f)
            for r in rows:
                if r.get("claimed_by") and r["claimed_by"] != v.name:
                    continue
                try:
                    backend.claim(db, r["id"], v)
                    db.commit()
                except Conflict:
                    db.rollback()
                    continue
                return c.redirect(f"/cases/{r['id']}")
            if not cursor:
                break
    return c.redirect("/queue?empty=1")
