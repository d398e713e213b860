"""Admin: the audit log, filtered, and its chain verification."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend
from bastion.console.web import ConsoleDep

router = APIRouter()


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, c: ConsoleDep, cursor: str | None = None, actor: str | None = None,
               action: str | None = None, verify: int = 0):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "audit.read")
        entries, next_cursor = backend.audit_entries(db, cursor=cursor, actor=actor or None, action=action or None)
        result = backend.audit_verify(db) if verify else None
        db.commit()
    return c.render(request, "admin_audit.html", v, entries=entries, next_cursor=next_cursor, result=result,
                    actor=actor or "", action=action or "", title="Audit log")
