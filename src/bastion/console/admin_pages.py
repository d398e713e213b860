"""Banks, policy, terms and admin pages of the console."""

from __future__ import annotations


from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bastion.console import backend, exposure, sessions
from bastion.console.views import Console, Refused
from bastion.errors import BastionError

EXPORT_FORMATS = {"csv": "text/csv", "lines": "text/plain", "te": "text/plain"}


def register(app: FastAPI, c: Console) -> None:
    root = c.root

    # -- banks ----------------------------------------------------------------------------------

    @app.get("/banks", response_class=HTMLResponse)
    async def banks_page(request: Request, msg: str | None = None):
        with c.session() as db:
            v = c.viewer(request, db)
        c.require(v, "banks.read")
        banks = backend.list_banks(c.store)
        return c.render(request, "banks.html", v, banks=banks, msg=msg, formats=EXPORT_FORMATS, title="Banks")

    @app.post("/banks/{name}/enabled")
    async def bank_enable(request: Request, name: str):
        with c.session() as db:
            v = c.viewer(request, db)
        await c.check_csrf(request, v)
        c.require(v, "banks.write")
        form = await request.form()
        enabled = form.get("enabled") == "1"
        try:
            backend.set_bank_enabled(c.store, name, enabled, v)
        except BastionError as exc:
            raise Refused(400, str(exc)) from None
        return RedirectResponse(f"{root}/banks", status_code=303)

    @app.post("/banks/{name}/import")
    async def bank_import(request: Request, name: str):
        with c.session() as db:
            v = c.viewer(request, db)
        await c.check_csrf(request, v)
        c.require(v, "banks.write")
        form = await request.form()
        upload = form.get("file")
        fmt = str(form.get("format", "") or "") or None
        if upload is None or isinstance(upload, str):
            raise Refused(400, "choose a file to import")
        raw = await upload.read()
        if len(raw) > 64 * 1024 * 1024:
            raise Refused(413, "the file is larger than 64 MB; import it with `bastion bank import`")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refused(400, "the file is not UTF-8 text") from None
        try:
            result = backend.import_bank(c.store, name, text, fmt, upload.filename or "upload", v)
        except BastionError as exc:
            raise Refused(400, str(exc)) from None
        return RedirectResponse(f"{root}/banks?msg=" + f"{name}: {result['added']} added, {result['merged']} already present",
                                status_code=303)

    @app.get("/banks/{name}/export")
    async def bank_export(request: Request, name: str, format: str = "csv"):
        with c.session() as db:
            v = c.viewer(request, db)
        c.require(v, "banks.export")
        if format not in EXPORT_FORMATS:
            raise Refused(400, f"unknown format {format!r}")
        try:
            text = backend.export_bank(c.store, name, format)
        except BastionError as exc:
            raise Refused(400, str(exc)) from None
        ext = "csv" if format == "csv" else "txt"
        return Response(text, media_type=EXPORT_FORMATS[format],
                        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'})

    # -- policy and terms ------------------------------------------------------------------------

    @app.get("/policy", response_class=HTMLResponse)
    async def policy_page(request: Request):
        with c.session() as db:
            v = c.viewer(request, db)
        c.require(v, "policy.read")
        policy, text = backend.active_policy(c.policy)
        return c.render(request, "policy.html", v, policy=policy, text=text, title="Policy")

    @app.get("/terms", response_class=HTMLResponse)
    async def terms_page(request: Request, since: str | None = None, until: str | None = None,
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

    @app.post("/terms/{action}")
    async def terms_change(request: Request, action: str):
        if action not in ("add", "reject", "remove"):
            raise Refused(404, "no such action")
        with c.session() as db:
            v = c.viewer(request, db)
            await c.check_csrf(request, v)
            c.require(v, "terms.write")
            form = await request.form()
            term = str(form.get("term", "") or "")
            try:
                msg = backend.change_term(db, action, term, form, v)
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        from urllib.parse import quote

        return RedirectResponse(f"{root}/terms?msg=" + quote(msg), status_code=303)

    # -- admin ----------------------------------------------------------------------------------

    def admin_viewer(request: Request, db, action: str):
        v = c.viewer(request, db)
        c.require(v, action)
        return v

    @app.get("/admin", response_class=HTMLResponse)
    async def admin_home(request: Request):
        with c.session() as db:
            v = c.viewer(request, db)
        if v.can("users.manage"):
            return RedirectResponse(f"{root}/admin/users", status_code=303)
        if v.can("audit.read"):
            return RedirectResponse(f"{root}/admin/audit", status_code=303)
        raise Refused(403, f"your role ({v.role}) has no admin pages")

    @app.get("/admin/users", response_class=HTMLResponse)
    async def users_page(request: Request, token: str | None = None, msg: str | None = None):
        with c.session() as db:
            v = admin_viewer(request, db, "users.manage")
            users = backend.list_users(db)
            tokens = backend.list_tokens(db)
            db.commit()
        return c.render(request, "admin_users.html", v, users=users, tokens=tokens, roles=backend.roles(),
                        msg=msg, title="Users and tokens")

    @app.post("/admin/users")
    async def users_create(request: Request):
        with c.session() as db:
            v = admin_viewer(request, db, "users.manage")
            await c.check_csrf(request, v)
            form = await request.form()
            try:
                backend.create_user(db, str(form.get("name", "")), str(form.get("role", "")),
                                    str(form.get("password", "")) or None, v)
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        return RedirectResponse(f"{root}/admin/users?msg=user created", status_code=303)

    @app.post("/admin/users/{name}")
    async def users_change(request: Request, name: str):
        with c.session() as db:
            v = admin_viewer(request, db, "users.manage")
            await c.check_csrf(request, v)
            form = await request.form()
            try:
                if form.get("role"):
                    backend.set_role(db, name, str(form["role"]), v)
                if form.get("disabled") in ("0", "1"):
                    disabled = form["disabled"] == "1"
                    if disabled and name == v.name:
                        raise Refused(400, "you cannot disable yourself")
                    backend.set_disabled(db, name, disabled, v)
                    if disabled:
                        sessions.end_user_sessions(db, backend.user_id(db, name), c.now())
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        return RedirectResponse(f"{root}/admin/users?msg=saved", status_code=303)

    @app.post("/admin/tokens", response_class=HTMLResponse)
    async def tokens_create(request: Request):
        with c.session() as db:
            v = admin_viewer(request, db, "tokens.manage")
            await c.check_csrf(request, v)
            form = await request.form()
            try:
                row, plaintext = backend.create_token(db, str(form.get("user", "")), str(form.get("label", "")) or None, v)
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        # Shown once, on a page that is not cached; never put in a URL.
        return c.render(request, "admin_token.html", v, token=plaintext, user=str(form.get("user", "")),
                        title="New token")

    @app.post("/admin/tokens/{token_id}/revoke")
    async def tokens_revoke(request: Request, token_id: int):
        with c.session() as db:
            v = admin_viewer(request, db, "tokens.manage")
            await c.check_csrf(request, v)
            try:
                backend.revoke_token(db, token_id, v)
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        return RedirectResponse(f"{root}/admin/users?msg=token revoked", status_code=303)

    @app.get("/admin/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, cursor: str | None = None, actor: str | None = None,
                         action: str | None = None, verify: int = 0):
        with c.session() as db:
            v = admin_viewer(request, db, "audit.read")
            entries, next_cursor = backend.audit_entries(db, cursor=cursor, actor=actor or None, action=action or None)
            result = backend.audit_verify(db) if verify else None
            db.commit()
        return c.render(request, "admin_audit.html", v, entries=entries, next_cursor=next_cursor, result=result,
                        available=backend.audit_available(),
                        actor=actor or "", action=action or "", title="Audit log")

    @app.get("/admin/webhooks", response_class=HTMLResponse)
    async def webhooks_page(request: Request, msg: str | None = None):
        with c.session() as db:
            v = admin_viewer(request, db, "webhooks.manage")
            subs, dead = backend.webhooks(db)
            db.commit()
        return c.render(request, "admin_webhooks.html", v, subs=subs, dead=dead, msg=msg, title="Webhooks")

    @app.post("/admin/webhooks/replay")
    async def webhooks_replay(request: Request):
        with c.session() as db:
            v = admin_viewer(request, db, "webhooks.manage")
            await c.check_csrf(request, v)
            form = await request.form()
            ids = [int(x) for x in form.getlist("id") if str(x).isdigit()] or None
            n = backend.replay_dead_letters(db, ids, v)
            db.commit()
        return RedirectResponse(f"{root}/admin/webhooks?msg={n} delivery(ies) queued again", status_code=303)

    @app.get("/admin/wellness", response_class=HTMLResponse)
    async def wellness_page(request: Request, msg: str | None = None):
        with c.session() as db:
            v = c.viewer(request, db)
            if not (v.can("users.manage") or v.can("cases.second_look")):
                raise Refused(403, "only leads and admins manage reviewer wellness settings")
            org = exposure.org_defaults(db)
            people = [(u, exposure.budget_state(db, u.id, c.now(), org)) for u in backend.list_users(db)
                      if not u.disabled and backend.allowed(u.role, "media.reveal")]
            db.commit()
        return c.render(request, "admin_wellness.html", v, org=org, people=people, msg=msg, title="Wellness")

    @app.post("/admin/wellness")
    async def wellness_save(request: Request):
        with c.session() as db:
            v = admin_viewer(request, db, "users.manage")
            await c.check_csrf(request, v)
            form = await request.form()
            values: dict = {}
            try:
                for k in ("blur", "reveal_budget", "shift_hours", "break_minutes", "idle_minutes"):
                    if form.get(k) not in (None, ""):
                        values[k] = int(str(form[k]))
                for k in ("grayscale", "mute_video"):
                    values[k] = form.get(k) == "on"
                exposure.set_org_defaults(db, values, by_user_id=v.user_id)
            except (ValueError, exposure.InvalidSetting) as exc:
                db.rollback()
                raise Refused(400, f"invalid setting: {exc}") from None
            backend.audit(db, v.name, "console.org_defaults", "console", "defaults", dict(values))
            db.commit()
        return RedirectResponse(f"{root}/admin/wellness?msg=saved", status_code=303)

    @app.post("/admin/wellness/{name}/extend")
    async def wellness_extend(request: Request, name: str):
        """A lead extends a reviewer's reveal budget for the current shift (audit-logged)."""
        with c.session() as db:
            v = admin_viewer(request, db, "cases.second_look")
            await c.check_csrf(request, v)
            form = await request.form()
            try:
                extra = int(str(form.get("extra", "5")))
                uid = backend.user_id(db, name)
                state = exposure.extend_budget(db, uid, extra, c.now())
            except (ValueError, exposure.InvalidSetting, BastionError) as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            backend.audit(db, v.name, "console.budget_extend", "user", name,
                          {"extra": extra, "budget": state.budget, "used": state.used})
            db.commit()
        return RedirectResponse(f"{root}/admin/wellness?msg=budget of {name} extended by {extra}", status_code=303)
