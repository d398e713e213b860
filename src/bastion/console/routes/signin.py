"""Sign-in and sign-out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from bastion.auth import throttle
from bastion.console import backend, sessions
from bastion.console.web import ConsoleDep, FormDep

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index(c: ConsoleDep):
    return RedirectResponse(f"{c.root}/queue", status_code=303)


def _login_page(c, request: Request, *, status: int = 200, next: str, error: str | None):
    token = sessions.new_token()
    resp = c.render(request, "login.html", None, status=status, csrf=token, next=next, error=error, title="Sign in")
    resp.set_cookie(sessions.LOGIN_COOKIE, token, max_age=1800, **c.cookie_kwargs(request))
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, c: ConsoleDep, next: str | None = None, error: str | None = None):
    return _login_page(c, request, next=c.safe_next(next), error=error)


@router.post("/login")
def login(request: Request, c: ConsoleDep, form: FormDep):
    c.check_csrf(request, None, form, expected=request.cookies.get(sessions.LOGIN_COOKIE))
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = c.safe_next(str(form.get("next", "")))
    with c.session() as db:
        # Throttled per account and per client address before the password is checked (bastion.auth.throttle).
        now = c.now()
        known = backend.user_named(db, name) if name else None
        keys = [throttle.address_key(request.client.host if request.client else None)]
        if known is not None:
            keys.append(throttle.account_key(known.id))
        refusal = throttle.check(db, keys, now)
        if refusal is not None:
            resp = _login_page(c, request, status=429, next=target, error=refusal.message())
            resp.headers["Retry-After"] = str(max(1, int(refusal.retry_after + 0.999)))
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
            return _login_page(c, request, status=401, next=target, error="Unknown user name or wrong password.")
        throttle.record_success(db, user.id)
        # housekeeping: rows of sessions unused for 30 days go (ended ones are kept that long for audits)
        sessions.purge_sessions(db, c.now() - timedelta(days=30))
        token, _ = sessions.start_session(db, user.id, c.now())
        backend.audit(db, user.name, "console.sign_in", "user", user.name, {})
        db.commit()
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(sessions.COOKIE, token, **c.cookie_kwargs(request))
    resp.delete_cookie(sessions.LOGIN_COOKIE, **c.cookie_kwargs(request))
    return resp


@router.post("/logout")
def logout(request: Request, c: ConsoleDep, form: FormDep):
    with c.acting(request, form, None) as (db, v):  # one's own session: no permission
        sessions.end_session(db, v.session_id, c.now())
        backend.audit(db, v.name, "console.sign_out", "user", v.name, {})
    resp = c.redirect("/login")
    resp.delete_cookie(sessions.COOKIE, **c.cookie_kwargs(request))
    return resp
