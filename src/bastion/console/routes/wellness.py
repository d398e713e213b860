"""Admin: reviewer wellness — the organisation's media defaults and floors, shifts, and leads extending a
reviewer's reveal budget (never their own)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend, exposure
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError

router = APIRouter()


@router.get("/admin/wellness", response_class=HTMLResponse)
def wellness_page(request: Request, c: ConsoleDep, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
        if not (v.can("users.manage") or v.can("cases.second_look")):
            raise Refused(403, "only leads and admins manage reviewer wellness settings")
        org = exposure.org_defaults(db)
        people = [(u, exposure.budget_state(db, u.id, c.now(), org)) for u in backend.list_users(db)
                  if not u.disabled and backend.allowed(u.role, "media.reveal")]
        db.commit()
    return c.render(request, "admin_wellness.html", v, org=org, people=people, msg=msg, title="Wellness")


@router.post("/admin/wellness")
def wellness_save(request: Request, c: ConsoleDep, form: FormDep):
    """The organisation's defaults and floors: only an admin sets them (audit-logged)."""
    with c.acting(request, form, "users.manage") as (db, v):
        values: dict = {}
        try:
            for k in exposure.INT_KEYS:
                if form.get(k) not in (None, ""):
                    values[k] = int(str(form[k]))
            for k in exposure.BOOL_KEYS:
                values[k] = form.get(k) == "on"
            exposure.set_org_defaults(db, values, by_user_id=v.user_id)
        except (ValueError, exposure.InvalidSetting) as exc:
            db.rollback()
            raise Refused(400, f"invalid setting: {exc}") from None
        backend.audit(db, v.name, "console.org_defaults", "console", "defaults", dict(values))
    return c.redirect("/admin/wellness?msg=saved")


@router.post("/admin/wellness/{name}/extend")
def wellness_extend(request: Request, c: ConsoleDep, form: FormDep, name: str):
    """A lead extends another reviewer's reveal budget for the current shift (audit-logged)."""
    with c.acting(request, form, "cases.second_look") as (db, v):
        try:
            extra = int(str(form.get("extra", "5")))
            uid = backend.user_id(db, name)
            state = exposure.extend_budget(db, uid, extra, c.now(), by_user_id=v.user_id)
        except exposure.OwnBudget as exc:
            db.rollback()
            raise Refused(403, str(exc)) from None
        except (ValueError, exposure.InvalidSetting, BastionError) as exc:
            db.rollback()
            raise Refused(400, str(exc)) from None
        backend.audit(db, v.name, "console.budget_extend", "user", name,
                      {"extra": extra, "budget": state.budget, "used": state.used})
    return c.redirect("/admin/wellness?msg=" + quote(f"budget of {name} extended by {extra}"))
