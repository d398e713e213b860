"""Admin: the admin home, users (create, role, disable) and API tokens (create, revoke)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.console import backend, sessions
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError

router = APIRouter()


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, c: ConsoleDep):
    with c.session() as db:
        v = c.viewer(request, db)
    if v.can("users.manage"):
        return c.redirect("/admin/users")
    if v.can("audit.read"):
        return c.redirect("/admin/audit")
    raise Refused(403, f"your role ({v.role}) has no admin pages")


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, c: ConsoleDep, msg: str | None = None):
    with c.session() as db:
        v = c.viewer(request, db)
        c.require(v, "users.manage")
        users = backend.list_users(db)
        tokens = backend.list_tokens(db)
        db.commit()
    return c.render(request, "admin_users.html", v, users=users, tokens=tokens, roles=backend.roles(),
                    msg=msg, title="Users and tokens")


@router.post("/admin/users")
def users_create(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, "users.manage", refuse=((BastionError, 400),)) as (db, v):
        role = str(form.get("role", "") or "")
        if not role:
            # the form has no default role: a new account's rights are always chosen, never inherited
            raise Refused(400, f"choose a role for the new user ({', '.join(backend.roles())})")
        backend.create_user(db, str(form.get("name", "")), role, str(form.get("password", "")) or None, v)
    return c.redirect("/admin/users?msg=user created")


@router.post("/admin/users/{name}")
def users_change(request: Request, c: ConsoleDep, form: FormDep, name: str):
    with c.acting(request, form, "users.manage", refuse=((BastionError, 400),)) as (db, v):
        if form.get("role"):
            backend.set_role(db, name, str(form["role"]), v)
        if form.get("disabled") in ("0", "1"):
            disabled = form["disabled"] == "1"
            if disabled and name == v.name:
                raise Refused(400, "you cannot disable yourself")
            backend.set_disabled(db, name, disabled, v)
            if disabled:
                sessions.end_user_sessions(db, backend.user_id(db, name), c.now())
    return c.redirect("/admin/users?msg=saved")


@router.post("/admin/tokens", response_class=HTMLResponse)
def tokens_create(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, "tokens.manage", refuse=((BastionError, 400),)) as (db, v):
        _row, plaintext = backend.create_token(db, str(form.get("user", "")), str(form.get("label", "")) or None, v)
    # Shown once, on a page that is not cached; never put in a URL.
    return c.render(request, "admin_token.html", v, token=plaintext, user=str(form.get("user", "")),
                    title="New token")


@router.post("/admin/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, c: ConsoleDep, form: FormDep, token_id: int):
    with c.acting(request, form, "tokens.manage", refuse=((BastionError, 400),)) as (db, v):
        backend.revoke_token(db, token_id, v)
    return c.redirect("/admin/users?msg=token revoked")
