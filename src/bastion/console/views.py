"""The console's pages: a small Starlette/FastAPI app mounted under ``/console`` by :func:`bastion.console.mount`.

Handlers are thin: read the session, check the permission with :func:`bastion.auth.permissions.allowed`,
call one service function, render. State-changing requests are POSTs that carry the session's CSRF token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Callable
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.staticfiles import StaticFiles

from bastion.auth.permissions import allowed
from bastion.console import backend, exposure, sessions
from bastion.console.caseview import highlight_spans
from bastion.console.safemedia import MAX_BLUR, MIN_BLUR

log = logging.getLogger("bastion.console")

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: No inline script or style, images only from here or from blob: URLs made of revealed bytes.
CSP = ("default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
NO_STORE = "no-store, max-age=0"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class NotSignedIn(Exception):
    pass


class Refused(Exception):
    """A request the console refuses: rendered as a page (or JSON for fetch requests) with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Viewer:
    user_id: int
    name: str
    role: str
    session_id: int
    csrf: str

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


class Console:
    def __init__(self, ctx: Any, root_path: str):
        self.ctx = ctx
        self.root = root_path.rstrip("/")
        self.clock: Callable[[], datetime] = getattr(ctx, "clock", None) or _utcnow
        folder = resources.files("bastion.console")
        self.env = Environment(loader=FileSystemLoader(str(folder / "templates")),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(root=self.root, MIN_BLUR=MIN_BLUR, MAX_BLUR=MAX_BLUR, fmt_time=_fmt_time,
                                ago=self._ago, highlight=highlight_spans, qs=_qs)
        self.static_dir = str(folder / "static")
        service = getattr(ctx, "service", None)
        self.holding = getattr(ctx, "holding", None) or getattr(service, "holding", None)
        self.policy = getattr(ctx, "policy", None) or getattr(service, "policy", None)
        self.store = getattr(ctx, "store", None) or getattr(service, "store", None)

    # -- plumbing -------------------------------------------------------------------------------

    def session(self):
        return self.store.session()

    def now(self) -> datetime:
        return self.clock()

    def _ago(self, t: datetime | str | None) -> str:
        t = as_time(t)
        if t is None:
            return ""
        s = int((self.now() - t).total_seconds())
        if s < 0:
            return "in " + _span(-s)
        return _span(s) + " ago"

    def idle(self, db) -> timedelta:
        return timedelta(minutes=exposure.org_defaults(db).idle_minutes)

    def viewer(self, request: Request, db) -> Viewer:
        token = request.cookies.get(sessions.COOKIE)
        signed = sessions.resume_session(db, token, self.now(), self.idle(db))
        if signed is None:
            db.commit()  # an idle session was ended
            raise NotSignedIn()
        user = backend.user_by_id(db, signed.user_id)
        if user is None or user.disabled:
            sessions.end_session(db, signed.session_id, self.now())
            db.commit()
            raise NotSignedIn()
        db.commit()
        return Viewer(user.id, user.name, user.role, signed.session_id, signed.csrf_token)

    async def check_csrf(self, request: Request, viewer: Viewer | None, expected: str | None = None) -> None:
        """Refuse a state-changing request that lacks the right token or comes from another site."""
        site = request.headers.get("sec-fetch-site")
        if site and site not in ("same-origin", "none"):
            raise Refused(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin != _origin(request):
            raise Refused(403, "cross-origin request refused")
        sent = request.headers.get(sessions.CSRF_HEADER)
        if sent is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                v = form.get(sessions.CSRF_FIELD)
                sent = v if isinstance(v, str) else None
        want = expected if expected is not None else (viewer.csrf if viewer else None)
        if not sessions.tokens_equal(sent, want):
            raise Refused(403, "missing or invalid CSRF token: reload the page and try again")

    def render(self, request: Request, template: str, viewer: Viewer | None, status: int = 200,
               **values: Any) -> HTMLResponse:
        budget = values.pop("budget", None)
        if viewer is not None and budget is None and viewer.can("media.reveal"):
            with self.session() as db:
                budget = exposure.budget_state(db, viewer.user_id, self.now())
                db.commit()
        values["csrf"] = viewer.csrf if viewer else values.get("csrf")
        body = self.env.get_template(template).render(request=request, viewer=viewer, budget=budget, **values)
        return HTMLResponse(body, status_code=status)

    def require(self, viewer: Viewer, action: str) -> None:
        if not viewer.can(action):
            raise Refused(403, f"your role ({viewer.role}) may not do this ({action})")


from bastion.console.backend import as_time  # noqa: E402  (kept importable from here for the pages)


def _fmt_time(t: datetime | str | None) -> str:
    t = as_time(t)
    if t is None:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _span(s: int) -> str:
    if s < 90:
        return f"{s}s"
    if s < 5400:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _qs(current: dict[str, str], **changes: Any) -> str:
    q = {k: v for k, v in current.items() if v}
    for k, v in changes.items():
        if v in (None, ""):
            q.pop(k, None)
        else:
            q[k] = str(v)
    return ("?" + urlencode(q)) if q else ""


def cookie_kwargs(request: Request, root: str) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": root or "/"}


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.headers.get("x-requested-with") == "fetch"


def build_console(ctx: Any, root_path: str = "/console") -> FastAPI:
    c = Console(ctx, root_path)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = c
    app.mount("/static", StaticFiles(directory=c.static_dir), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith(f"{c.root}/static/"):
            response.headers["Cache-Control"] = NO_STORE
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if request.method in STATE_CHANGING or _wants_json(request) or "/media/" in request.url.path:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{c.root}/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        if _wants_json(request) or request.method in STATE_CHANGING and request.headers.get(sessions.CSRF_HEADER):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return c.render(request, "error.html", None, status=exc.status, message=exc.message, title="Refused")

    return app  # the pages are registered by bastion.console.mount: this module imports no page
