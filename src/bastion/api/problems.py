"""One mapping from errors to RFC 9457 problem+json responses (type, title, status, detail)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from bastion import errors as E

log = logging.getLogger("bastion.api")

PROBLEM = "application/problem+json"
TYPE_BASE = "https://bastion.invalid/problems/"

#: error type -> HTTP status; the first matching base class wins
STATUS: list[tuple[type[BaseException], int, str]] = [
    (E.NotFound, 404, "Not found"),
    (E.UnknownBank, 404, "Unknown bank"),
    (E.Conflict, 409, "Conflict"),
    (E.BankExists, 409, "Bank exists"),
    (E.Forbidden, 403, "Forbidden"),
    (E.DecompressionBomb, 422, "Decompression bomb"),
    (E.UrlFetchFailed, 422, "URL media could not be fetched"),
    (E.MediaError, 422, "Unreadable media"),
    (E.InvalidInput, 422, "Invalid input"),
    (E.InvalidHash, 422, "Invalid hash"),
    (E.ProblemList, 422, "Invalid input"),
    (E.ConfigError, 500, "Server configuration error"),
    (E.BastionError, 400, "Bad request"),
]


class Problem(Exception):
    """Raise from a handler for a problem that has no domain error type (401, 413, 415)."""

    def __init__(self, status: int, title: str, detail: str, code: str = "", headers: dict[str, str] | None = None, **extra: Any):
        self.status, self.title, self.detail, self.code, self.headers, self.extra = status, title, detail, code, headers, extra


def problem(status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def for_error(exc: BaseException) -> JSONResponse:
    for cls, status, title in STATUS:
        if isinstance(exc, cls):
            code = getattr(exc, "code", "bastion-error")
            extra = {}
            if isinstance(exc, E.ProblemList):
                extra["errors"] = [{"where": f"{p}:{w}", "message": m} for p, w, m in exc.problems[:100]]
            return problem(status, title, str(exc), code, **extra)
    raise exc


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def install(app: FastAPI) -> None:
    @app.exception_handler(E.BastionError)
    async def _bastion(request: Request, exc: E.BastionError):
        return for_error(exc)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem(exc.status, exc.title, exc.detail, exc.code or _slug(exc.title), exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = [{"where": ".".join(str(x) for x in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()[:100]]
        detail = "; ".join(f"{e['where']}: {e['message']}" for e in errs[:5])
        return problem(422, "Invalid input", detail or "the request is not valid", "invalid-input", errors=errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}.get(exc.status_code, "Error")
        return problem(exc.status_code, title, str(exc.detail), _slug(title), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the server failed to handle this request; it was logged", "internal-error")


def validation_problem(exc) -> JSONResponse:
    """A pydantic ValidationError raised while parsing a body by hand."""
    errs = [{"where": ".".join(str(x) for x in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()[:100]]
    detail = "; ".join(f"{e['where']}: {e['message']}" if e["where"] else e["message"] for e in errs[:5])
    return problem(422, "Invalid input", detail, "invalid-input", errors=errs)
