"""What every console page shares: the :class:`Console` (store, templates, clock), who is signed in
(:class:`Viewer`), CSRF checks, rendering, and the FastAPI dependencies the route modules use.

Route handlers are plain ``def`` functions, so FastAPI runs them in its thread pool: database calls, password
hashing and image work never run on the event loop the API shares. What must be awaited (reading a form
body) happens in the async dependency :func:`form_of` before the handler runs.

This module imports no page: the route modules (``bastion.console.routes``) import it, and
``bastion.console.app`` puts the two together.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Annotated, Any, Callable, Iterator
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from bastion.auth.permissions import allowed
from bastion.clock import as_utc
from bastion.console import backend, exposure, sessions
from bastion.console.caseview import highlight_spans, visible_controls
from bastion.console.safemedia import MAX_BLUR, MIN_BLUR

log = logging.getLogger("bastion.console")

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: No inline script or style, images only from here or from blob: URLs made of revealed bytes.
CSP = ("default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
NO_STORE = "no-store, max-age=0"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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


def _finalize(value: Any) -> Any:
    """Every ``{{ … }}`` of every template passes here: bidirectional-text controls become visible.

    A name or text holding U+202E (right-to-left override) would otherwise reorder what a reviewer reads
    (``file<U+202E>gpj.exe`` shows as ``fileexe.jpg``). Markup that is already HTML gets the escaped
    form; plain text gets ``<U+202E>``, which autoescaping then escapes."""
    if isinstance(value, Markup):
        return Markup(visible_controls(str(value), html=True))
    if isinstance(value, str):
        return visible_controls(value)
    return value


class Console:
    def __init__(self, ctx: Any, root_path: str):
        self.ctx = ctx
        self.root = root_path.rstrip("/")
        self.clock: Callable[[], datetime] = getattr(ctx, "clock", None) or _utcnow
        folder = resources.files("bastion.console")
        self.env = Environment(loader=FileSystemLoader(str(folder / "templates")),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                               finalize=_finalize)
        self.env.globals.update(root=self.root, MIN_BLUR=MIN_BLUR, MAX_BLUR=MAX_BLUR, fmt_time=fmt_time,
                                ago=self._ago, highlight=highlight_spans, qs=qs)
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

    def check_csrf(self, request: Request, viewer: Viewer | None, form: FormData | None = None,
                   expected: str | None = None) -> None:
        """Refuse a state-changing request that lacks the right token or comes from another site.

        The token comes in the ``X-CSRF-Token`` header or the form field (``form``, read by :func:`form_of`)."""
        site = request.headers.get("sec-fetch-site")
        if site and site not in ("same-origin", "none"):
            raise Refused(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin != _origin(request):
            raise Refused(403, "cross-origin request refused")
        sent = request.headers.get(sessions.CSRF_HEADER)
        if sent is None and form is not None:
            v = form.get(sessions.CSRF_FIELD)
            sent = v if isinstance(v, str) else None
        want = expected if expected is not None else (viewer.csrf if viewer else None)
        if not sessions.tokens_equal(sent, want):
            raise Refused(403, "missing or invalid CSRF token: reload the page and try again")

    @contextmanager
    def acting(self, request: Request, form: FormData, permission: str | None,
               refuse: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int], ...] = ()
               ) -> Iterator[tuple[Session, Viewer]]:
        """What every state-changing form does around its work: who is signed in, the CSRF check, then the
        permission (``None`` only for a user's own settings and session), then the block's work, committed when
        the block ends. An exception of one of the ``refuse`` pairs ``(types, status)`` rolls the work back and
        is refused with that status and its message; anything else propagates (and rolls back)."""
        with self.session() as db:
            v = self.viewer(request, db)
            self.check_csrf(request, v, form)
            if permission is not None:
                self.require(v, permission)
            try:
                yield db, v
            except Refused:
                raise
            except Exception as exc:
                for types, status in refuse:
                    if isinstance(exc, types):
                        db.rollback()
                        raise Refused(status, str(exc)) from None
                raise
            db.commit()

    def actor(self, request: Request, form: FormData, permission: str | None) -> Viewer:
        """:meth:`acting` for a form whose work runs outside a session of its own (bank and report services
        open theirs): the checked viewer."""
        with self.acting(request, form, permission) as (_db, v):
            return v

    def redirect(self, path: str) -> RedirectResponse:
        """See other: ``path`` inside the console (after a form's work)."""
        return RedirectResponse(f"{self.root}{path}", status_code=303)

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

    def cookie_kwargs(self, request: Request) -> dict[str, Any]:
        return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https",
                "path": self.root or "/"}

    def safe_next(self, target: str | None) -> str:
        """Only a path inside the console: never an absolute URL (open redirect)."""
        root = self.root
        if target and target.startswith(root + "/") and not target.startswith("//") and "\\" not in target:
            return target
        return f"{root}/queue"


# --- dependencies of the route modules ---------------------------------------------------------------


async def console_of(request: Request) -> Console:
    return request.app.state.console


async def form_of(request: Request) -> FormData:
    """The request's form (URL-encoded or multipart), read on the event loop so the handler need not await;
    an empty form for any other body."""
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        return await request.form()
    return FormData()


ConsoleDep = Annotated[Console, Depends(console_of)]
FormDep = Annotated[FormData, Depends(form_of)]


# --- formatting -------------------------------------------------------------------------------------


def as_time(t: datetime | str | None) -> datetime | None:
    """Aware UTC datetime from a datetime or an ISO string (the service's dicts carry ISO strings)."""
    if t is None or t == "":
        return None
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError:
            return None
    return as_utc(t)


def fmt_time(t: datetime | str | None) -> str:
    t = as_time(t)
    if t is None:
        return ""
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


def qs(current: dict[str, str], **changes: Any) -> str:
    q = {k: v for k, v in current.items() if v}
    for k, v in changes.items():
        if v in (None, ""):
            q.pop(k, None)
        else:
            q[k] = str(v)
    return ("?" + urlencode(q)) if q else ""


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.headers.get("x-requested-with") == "fetch"
