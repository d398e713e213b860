"""Routes over bastion.effects: webhook subscriptions and dead letters, the audit log and its verification.
Thin, as every route: the CLI and the console call the same functions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from bastion.api.routes import row_id
from bastion.api.deps import Principal, require
from bastion.effects import audit, webhooks

router = APIRouter()


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048)
    events: list[str] = Field(min_length=1, max_length=10)
    secret: str | None = Field(default=None, min_length=16, max_length=512)
    description: str | None = Field(default=None, max_length=500)


@router.get("/v1/webhooks")
def list_webhooks(request: Request, _: Principal = Depends(require("webhooks.manage"))):
    with request.app.state.store.session() as s:
        return {"webhooks": [w.to_dict() for w in webhooks.list_subscriptions(s)]}


@router.post("/v1/webhooks", status_code=201)
def create_webhook(body: SubscriptionIn, request: Request, p: Principal = Depends(require("webhooks.manage"))):
    """Subscribe a URL to events (`verdict`, `case.opened`, `case.decided`, `retro_match`). The signing
    secret is in this answer only (generated unless given)."""
    kw = {"secret": body.secret, "actor": p.name,
          "allow_networks": request.app.state.settings.webhook_allow_networks}
    if body.description is not None:
        kw["description"] = body.description
    with request.app.state.store.session() as s, s.begin():
        sub, secret = webhooks.create_subscription(s, body.url, body.events, **kw)
        return JSONResponse({**sub.to_dict(), "secret": secret}, status_code=201)


@router.delete("/v1/webhooks/{subscription_id}", status_code=204)
def delete_webhook(subscription_id: int, request: Request, p: Principal = Depends(require("webhooks.manage"))):
    with request.app.state.store.session() as s, s.begin():
        webhooks.delete_subscription(s, row_id(subscription_id, "webhook subscription"), actor=p.name)
    return Response(status_code=204)


@router.get("/v1/webhooks/dead")
def dead_letters(request: Request, _: Principal = Depends(require("webhooks.manage")),
                 limit: int = Query(50, ge=1, le=1000), cursor: str | None = None):
    with request.app.state.store.session() as s:
        rows, nxt = webhooks.list_dead_letters(s, limit=limit, cursor=cursor)
    return {"dead_letters": rows, "next_cursor": nxt}


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = None


@router.post("/v1/webhooks/dead:replay")
def replay(body: ReplayIn, request: Request, p: Principal = Depends(require("webhooks.manage"))):
    """Put dead letters (the given ids, or all) back in the outbox for delivery."""
    with request.app.state.store.session() as s, s.begin():
        n = webhooks.replay_dead_letters(s, body.ids, actor=p.name)
    return {"replayed": n}


@router.get("/v1/audit")
def audit_log(request: Request, _: Principal = Depends(require("audit.read")),
              limit: int = Query(50, ge=1, le=1000), cursor: str | None = None, actor: str | None = None,
              action: str | None = None, target_type: str | None = None, target_id: str | None = None):
    with request.app.state.store.session() as s:
        rows, nxt = audit.list_entries(s, limit=limit, cursor=cursor, actor=actor, action=action,
                                       target_type=target_type, target_id=target_id)
    return {"entries": rows, "next_cursor": nxt}


@router.get("/v1/audit/verify")
def audit_verify(request: Request, _: Principal = Depends(require("audit.read"))):
    """Walk the hash chain; `ok` false names the first altered or deleted row."""
    with request.app.state.store.session() as s:
        return audit.verify(s).to_dict()
