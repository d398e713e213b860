"""The console's ASGI app: the shared :class:`~bastion.console.web.Console`, security headers, the two
error pages, and one router per page (``bastion.console.routes``). Mounted under ``/console`` by
:func:`bastion.console.mount`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL, MutableHeaders
from starlette.staticfiles import StaticFiles

from bastion.console import routes, sessions
from bastion.console.web import CSP, NO_STORE, STATE_CHANGING, Console, NotSignedIn, Refused, wants_json


def build_console(ctx: Any, root_path: str = "/console") -> FastAPI:
    c = Console(ctx, root_path)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = c
    app.mount("/static", StaticFiles(directory=c.static_dir), name="static")

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if request.method in STATE_CHANGING or wants_json(request) or "/media/" in request.url.path:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{c.root}/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        if wants_json(request) or request.method in STATE_CHANGING and request.headers.get(sessions.CSRF_HEADER):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return await run_in_threadpool(c.render, request, "error.html", None, status=exc.status,
                                       message=exc.message, title="Refused")

    for router in routes.ROUTERS:
        app.include_router(router)
    app.add_middleware(_SecurityHeaders, static=f"{c.root}/static/")
    trusted = tuple(getattr(getattr(ctx, "settings", None), "trusted_proxies", None) or ())
    if trusted:
        # Only from these peers: the client's address (the sign-in throttle keys on it) and the scheme (Secure
        # cookies) from X-Forwarded-For / -Proto, the rightmost address not itself a trusted proxy. From any
        # other peer the headers are ignored: a client cannot choose the address it is throttled as.
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted))
    return app


class _SecurityHeaders:
    """The security headers of every console response, as a plain ASGI middleware: it only rewrites the
    response's start message, where ``@app.middleware("http")`` costs the event loop a task group and a
    pair of memory streams per request (measured: a visible share of the loop's time under console load)."""

    def __init__(self, app, *, static: str):
        self.app, self.static = app, static

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = URL(scope=scope).path.startswith(self.static)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("Content-Security-Policy", CSP)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "no-referrer")
                h.setdefault("X-Frame-Options", "DENY")
                if not static:
                    h["Cache-Control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_with_headers)
