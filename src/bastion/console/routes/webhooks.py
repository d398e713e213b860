"""Admin: webhook subscriptions and dead letters (replay)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend
from bastion.console.web import ConsoleDep, FormDep

router = APIRouter()


@router.get("/admin/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, c: ConsoleDep, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "webhooks.manage")
        subs, dead = backend.webhooks(db)
        db.commit()
    return c.render(request, "admin_webhooks.html", v, subs=subs, dead=dead, msg=msg, title="Webhooks")


@router.post("/admin/webhooks/replay")
def webhooks_replay(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, "webhooks.manage") as (db, v):
        ids = [int(x) for x in form.getlist("id") if str(x).isdigit()] or None
        n = backend.replay_dead_letters(db, ids, v)
    return c.redirect(f"/admin/webhooks?msg={n} delivery(ies) queued again")
