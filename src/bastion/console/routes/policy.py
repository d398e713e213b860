"""The policy page: the rules the service runs, as text."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend
from bastion.console.web import ConsoleDep

router = APIRouter()


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, c: ConsoleDep):
    with c.session() as db:
        v = c.viewer(request, db)
    c.require(v, "policy.read")
    policy, text = backend.active_policy(c.policy)
    return c.render(request, "policy.html", v, policy=policy, text=text, title="Policy")
