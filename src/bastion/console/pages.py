"""Routes of the console. Each handler: session -> permission -> one service call -> page or JSON."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bastion.auth import throttle
from bastion.console import backend, exposure, sessions
from bastion.console.safemedia import revealed_view, safe_derivative
from bastion.console.views import NO_STORE, Console, Refused, Viewer, cookie_kwargs
from bastion.errors import BastionError, Conflict, Forbidden, MediaError, NotFound

FILTERS = ("status", "category", "source", "bank", "language", "account")
OUTCOMES = ("confirm", "reject")
DECISION_ACTIONS = ("remove", "suspend_account", "report", "preserve", "allow", "label")


def _safe_next(target: str | None, root: str) -> str:
    """Only a path inside the console: never an absolute URL (open redirect)."""
    if target and target.startswith(root + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{root}/queue"


def register(app: FastAPI, c: Console) -> None:
    root = c.root

    def current(request: Request, db) -> Viewer:
        return c.viewer(request, db)

    # -- sign-in --------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index(request: Request):
        return RedirectResponse(f"{root}/queue", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str | None = None, error: str | None = None):
        token = sessions.new_token()
        resp = c.render(request, "login.html", None, csrf=token, next=_safe_next(next, root), error=error,
                        title="Sign in")
        resp.set_cookie(sessions.LOGIN_COOKIE, token, max_age=1800, **cookie_kwargs(request, root))
        return resp

    @app.post("/login")
    async def login(request: Request):
        await c.check_csrf(request, None, expected=request.cookies.get(sessions.LOGIN_COOKIE))
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")), root)
        with c.session() as db:
            # Throttled per account and per client address before the password is checked (bastion.auth.throttle).
            now = c.now()
            known = backend.user_named(db, name) if name else None
            keys = [throttle.address_key(request.client.host if request.client else None)]
            if known is not None:
                keys.append(throttle.account_key(known.id))
            refusal = throttle.check(db, keys, now)
            if refusal is not None:
                token = sessions.new_token()
                resp = c.render(request, "login.html", None, status=429, csrf=token, next=target,
                                error=refusal.message(), title="Sign in")
                resp.headers["Retry-After"] = str(max(1, int(refusal.retry_after + 0.999)))
                resp.set_cookie(sessions.LOGIN_COOKIE, token, max_age=1800, **_cookie_kwargs(request, root))
                return resp
            user = backend.authenticate(db, name, password) if name and password else None
            if user is None:
                # Audited once per burst and once per lock, never per guess. A typed name that is no user's is
                # not written (it may be a password typed into the name field).
                who = known.name if known is not None else "(unknown user)"
                events = throttle.record_failure(db, keys, now)
                for kind, action in (("burst", "console.sign_in_failed"), ("locked", "console.sign_in_locked")):
                    hit = [ev for ev in events if ev.kind == kind]
                    if hit:
                        backend.audit(db, who, action, "user", who, {
                            "address": keys[0].removeprefix("addr:"),
                            "by": sorted("account" if ev.key.startswith("user:") else "address" for ev in hit),
                            "failures": max(ev.failures for ev in hit)})
                db.commit()
                token = sessions.new_token()
                resp = c.render(request, "login.html", None, status=401, csrf=token, next=target,
                                error="Unknown user name or wrong password.", title="Sign in")
                resp.set_cookie(sessions.LOGIN_COOKIE, token, max_age=1800, **cookie_kwargs(request, root))
                return resp
            throttle.record_success(db, user.id)
            # housekeeping: rows of sessions unused for 30 days go (ended ones are kept that long for audits)
            sessions.purge_sessions(db, c.now() - timedelta(days=30))
            token, _ = sessions.start_session(db, user.id, c.now())
            backend.audit(db, user.name, "console.sign_in", "user", user.name, {})
            db.commit()
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(sessions.COOKIE, token, **cookie_kwargs(request, root))
        resp.delete_cookie(sessions.LOGIN_COOKIE, **cookie_kwargs(request, root))
        return resp

    @app.post("/logout")
    async def logout(request: Request):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            sessions.end_session(db, v.session_id, c.now())
            backend.audit(db, v.name, "console.sign_out", "user", v.name, {})
            db.commit()
        resp = RedirectResponse(f"{root}/login", status_code=303)
        resp.delete_cookie(sessions.COOKIE, **cookie_kwargs(request, root))
        return resp

    # -- queue ----------------------------------------------------------------------------------

    def filters_of(request: Request) -> dict[str, str]:
        return {k: request.query_params.get(k, "") for k in FILTERS}

    @app.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request, cursor: str | None = None):
        f = filters_of(request)
        with c.session() as db:
            v = current(request, db)
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

    @app.post("/next")
    async def next_case(request: Request):
        """Claim the most urgent case nobody else holds (within the queue's filters) and open it."""
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "cases.claim")
            form = await request.form()
            f = {k: str(form.get(k, "") or "") for k in FILTERS if k != "status"}
            cursor = None
            for _page in range(20):
                rows, cursor = backend.list_cases(db, cursor=cursor, limit=50, status=list(backend.QUEUE_STATUSES),
                                                  **f)
                for r in rows:
                    if r.get("claimed_by") and r["claimed_by"] != v.name:
                        continue
                    try:
                        backend.claim(db, r["id"], v)
                        db.commit()
                    except Conflict:
                        db.rollback()
                        continue
                    return RedirectResponse(f"{root}/cases/{r['id']}", status_code=303)
                if not cursor:
                    break
        return RedirectResponse(f"{root}/queue?empty=1", status_code=303)

    # -- case page ------------------------------------------------------------------------------

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: int, acknowledge: int = 0):
        with c.session() as db:
            v = current(request, db)
            c.require(v, "cases.read")
            try:
                case = backend.get_case(db, case_id)
            except NotFound:
                raise Refused(404, f"no case {case_id}") from None
            # The service reports a claim only while it is live.
            holder, until = case.get("claimed_by"), case.get("claim_expires_at")
            held_by_other = bool(holder and holder != v.name)
            if held_by_other and not acknowledge:
                return c.render(request, "claimed.html", v, status=409, case=case, holder=holder, until=until,
                                title=f"Case {case_id} is claimed")
            account = backend.account_view(db, case) if v.can("accounts.read") else None
            prefs = exposure.preferences(db, v.user_id)
            banks = backend.bank_names(db) if v.can("banks.write") else []
            db.commit()
        view = backend.case_view(case)
        return c.render(request, "case.html", v, case=case, view=view, account=account, prefs=prefs,
                        held_by_other=held_by_other, holder=holder, until=until,
                        mine=bool(holder and holder == v.name), banks=banks,
                        actions=DECISION_ACTIONS, categories=backend.categories(), title=f"Case {case_id}")

    @app.post("/cases/{case_id}/claim")
    async def claim(request: Request, case_id: int):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "cases.claim")
            try:
                backend.claim(db, case_id, v)
            except (Conflict, NotFound) as exc:
                raise Refused(409, str(exc)) from None
            db.commit()
        return RedirectResponse(f"{root}/cases/{case_id}", status_code=303)

    @app.post("/cases/{case_id}/release")
    async def release(request: Request, case_id: int):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "cases.claim")
            try:
                backend.release(db, case_id, v)
            except (Conflict, Forbidden) as exc:
                raise Refused(409, str(exc)) from None
            db.commit()
        return RedirectResponse(f"{root}/queue", status_code=303)

    @app.post("/cases/{case_id}/decide")
    async def decide(request: Request, case_id: int):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "cases.decide")
            form = await request.form()
            outcome = str(form.get("outcome", ""))
            if outcome not in OUTCOMES:
                raise Refused(400, "choose confirm or reject")
            actions = [a for a in form.getlist("actions") if a in DECISION_ACTIONS]
            category = str(form.get("category", "") or "") or None
            note = (str(form.get("note", "") or "").strip() or None)
            bank = str(form.get("bank", "") or "") or None
            if bank and outcome == "confirm":
                c.require(v, "banks.write")
            try:
                case = backend.get_case(db, case_id)
            except NotFound:
                raise Refused(404, f"no case {case_id}") from None
            holder = case.get("claimed_by")
            if holder and holder != v.name:
                raise Refused(409, f"{holder} holds this case; it cannot be decided by you now")
            try:
                decision = backend.decide(db, case_id, v, outcome, category=category, actions=actions, note=note)
                second = bool(decision.needs_second_look)
            except (Conflict, Forbidden) as exc:
                db.rollback()
                raise Refused(409, str(exc)) from None
            except BastionError as exc:
                db.rollback()
                raise Refused(400, str(exc)) from None
            db.commit()
        added = None
        if bank and outcome == "confirm" and not second:
            # After the decision committed: the bank repository writes in its own transaction.
            try:
                added = backend.add_case_media_to_bank(c.store, case, bank, v, c.holding)
            except BastionError as exc:
                return JSONResponse({"ok": True, "message": f"Case {case_id} confirmed, but the hashes were not "
                                     f"added to {bank}: {exc}", "second_look": False})
        msg = f"Case {case_id}: {'confirmed' if outcome == 'confirm' else 'rejected'}."
        if second:
            msg += " A reviewer's reject of an automated removal goes to a lead for a second look."
        if added:
            msg += (f" {added['added']} new hash(es) added to bank {bank} ({added['merged']} already there); "
                    "stored media is re-matched against them in the background.")
        return JSONResponse({"ok": True, "message": msg, "second_look": second, "next": f"{root}/queue"})

    @app.post("/cases/{case_id}/report-ncmec")
    async def report_ncmec(request: Request, case_id: int):
        """Send the CyberTipline report of a confirmed case: the same flow as the CLI and the API
        (bastion.reports.flows), which asks the permission table itself; run off the event loop."""
        from starlette.concurrency import run_in_threadpool

        from bastion.reports import flows
        from bastion.reports.from_cases import NcmecSettings
        from bastion.vault import Vault


        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "reports.submit")
            db.commit()
        try:
            settings = getattr(c.ctx, "settings", None)  # the server's settings (the console's ctx is the app state)
            context = flows.NcmecContext(NcmecSettings.from_settings(settings), Vault.from_settings(settings), c.holding,
                                         getattr(c.ctx, "ncmec_client", None))
            state = await run_in_threadpool(flows.report_case_ncmec, c.store, context, case_id, v)
        except NotFound:
            raise Refused(404, f"no case {case_id}") from None
        except BastionError as exc:
            raise Refused(409, f"not reported: {exc}") from None
        return RedirectResponse(f"{root}/cases/{case_id}?reported={state['state']}", status_code=303)

    # -- media ----------------------------------------------------------------------------------

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

    @app.get("/media/{case_id}/{sha256}/safe")
    async def safe_media(request: Request, case_id: int, sha256: str):
        with c.session() as db:
            v = current(request, db)
            c.require(v, "cases.read")
            _media_of(db, case_id, sha256)
            view = exposure.preferences(db, v.user_id).safe_view()
            db.commit()
        try:
            data = c.holding.get(sha256)
        except NotFound:
            raise Refused(404, "the media is not held") from None
        try:
            body = safe_derivative(data, view)
        except MediaError as exc:
            raise Refused(415, f"the media cannot be shown: {exc}") from None
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})

    @app.post("/media/{case_id}/{sha256}/reveal")
    async def reveal(request: Request, case_id: int, sha256: str):
        """The revealed view, only by POST with the CSRF token: no URL shows an original on its own."""
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            c.require(v, "media.reveal")
            if not backend.audit_available():
                # fail closed: an original is never shown without its audit row
                raise Refused(503, "reveals need the audit log (bastion.effects), which is not installed")
            _media_of(db, case_id, sha256)
            try:
                data = c.holding.get(sha256)
            except NotFound:
                raise Refused(404, "the media is not held") from None
            try:
                body = revealed_view(data)
            except MediaError as exc:
                raise Refused(415, f"the media cannot be shown: {exc}") from None
            try:
                state = exposure.record_reveal(db, v.user_id, case_id, sha256, c.now())
            except (exposure.ExposureBudgetSpent, exposure.OnBreak) as exc:
                db.rollback()
                return JSONResponse({"error": str(exc), "break": True}, status_code=429,
                                    headers={"Cache-Control": NO_STORE})
            backend.audit(db, v.name, "media.reveal", "case", str(case_id),
                          {"sha256": sha256, "shift": state.shift_id, "used": state.used, "budget": state.budget})
            db.commit()
        return Response(body, media_type="image/jpeg", headers={
            "Cache-Control": NO_STORE, "X-Reveals-Used": str(state.used), "X-Reveals-Budget": str(state.budget)})

    # -- wellness: preferences, breaks ---------------------------------------------------------

    @app.get("/preferences", response_class=HTMLResponse)
    async def prefs_page(request: Request, saved: int = 0):
        with c.session() as db:
            v = current(request, db)
            prefs = exposure.preferences(db, v.user_id)
            org = exposure.org_defaults(db)
            db.commit()
        return c.render(request, "preferences.html", v, prefs=prefs, org=org, saved=saved, title="Preferences")

    @app.post("/preferences")
    async def prefs_save(request: Request):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            form = await request.form()

            def tri(name: str) -> bool | None:
                val = form.get(name, "")
                return None if val in ("", "default") else val == "on"

            blur_raw = str(form.get("blur", "") or "")
            try:
                blur = int(blur_raw) if blur_raw not in ("", "default") else None
                exposure.set_preferences(db, v.user_id, blur=blur, grayscale=tri("grayscale"),
                                         mute_video=tri("mute_video"))
            except (ValueError, exposure.InvalidSetting) as exc:
                raise Refused(400, f"invalid preference: {exc}") from None
            db.commit()
        return RedirectResponse(f"{root}/preferences?saved=1", status_code=303)

    @app.post("/break")
    async def take_break(request: Request):
        with c.session() as db:
            v = current(request, db)
            await c.check_csrf(request, v)
            exposure.start_break(db, v.user_id, c.now())
            backend.audit(db, v.name, "console.break", "user", v.name, {})
            db.commit()
        return RedirectResponse(f"{root}/preferences", status_code=303)

    from bastion.console import admin_pages

    admin_pages.register(app, c)
