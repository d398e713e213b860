"""``POST /v1/items`` with a JSON body, answered without the framework's per-request layers.

The route stays declared in :mod:`bastion.api.routes` (the OpenAPI document, the permission table, and
every request this path does not take: multipart uploads, other content types). Measured under wrk with
py-spy, a text item spent about a fifth of its server time in the layers between uvicorn and the handler
(Starlette's and FastAPI's middleware stack, routing, dependency solving) that ``/healthz`` pays too; here a
JSON item goes from the ASGI call straight to the same steps the route takes, in the same order, with the
same answers:

1. the body limit (413, before anything else: ``BodyLimit``);
2. the token and the ``items.submit`` permission (401/403: ``require``);
3. the ``Idempotency-Key`` header (at most 255 characters, else 422 as the framework words it);
4. the JSON and its validation (400/422: ``_parse_item``);
5. :meth:`bastion.cases.ingest.Service.submit` in a worker thread; domain errors map through the one table
   in :mod:`bastion.api.problems`; anything else is a logged 500;
6. the request's metrics (``bastion_http_requests_total``, ``bastion_http_request_seconds``,
   ``bastion_items_total``) under the route's own name.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from pydantic import ValidationError
from starlette.requests import Request

from bastion import errors as E
from bastion.api.problems import Problem, for_error, problem, validation_problem

log = logging.getLogger("bastion.api")

ROUTE = "/v1/items"
MAX_KEY = 255
_JSON_TYPES = (b"application/json", b"")


def takes(scope) -> bool:
    """Whether this path answers the request: a POST to /v1/items whose body is JSON (or says no type)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ROUTE:
        return False
    for k, v in scope["headers"]:
        if k == b"content-type":
            return v.split(b";", 1)[0].strip().lower() in _JSON_TYPES
    return True


class _Disconnected(Exception):
    pass


async def _body(receive, limit: int, declared: int | None) -> bytes:
    if declared is not None and (declared < 0 or declared > limit):
        raise Problem(413, "Request too large", f"the request body is larger than {limit} bytes", "too-large",
                      headers={"connection": "close"})
    chunks, seen = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _Disconnected
        part = msg.get("body", b"")
        seen += len(part)
        if seen > limit:
            raise Problem(413, "Request too large", f"the request body is larger than {limit} bytes", "too-large",
                          headers={"connection": "close"})
        chunks.append(part)
        if not msg.get("more_body", False):
            return b"".join(chunks)


async def handle(app, scope, receive, send) -> None:
    from bastion.api.deps import bearer_token, known_principal
    from bastion.api.routes import FastJSONResponse, InvalidItem, parse_json
    from bastion.auth.permissions import allowed
    from bastion.cases.schemas import ItemIn

    st = app.state
    t0 = time.perf_counter()
    status = 500
    scope["app"] = app
    try:
        declared, key, too_long = None, None, False
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
            elif k == b"idempotency-key" and key is None:
                key = v.decode("latin-1")
        try:
            # the body limit first, as the BodyLimit middleware (outside everything) answers it
            if declared is not None and (declared < 0 or declared > st.settings.max_body_bytes):
                raise Problem(413, "Request too large", f"the request body is larger than {st.settings.max_body_bytes} bytes",
                              "too-large", headers={"connection": "close"})
            request = Request(scope, receive)
            token = bearer_token(request)
            hit, p = st.tokens.cached(token)
            if not hit:
                p = await asyncio.to_thread(st.tokens.resolve, token)
            p = known_principal(p)
            if not allowed(p.role, "items.submit"):
                raise Problem(403, "Forbidden", f"role {p.role!r} may not items.submit", "forbidden")
            if key is not None and len(key) > MAX_KEY:
                errs = [{"where": "header.idempotency-key", "message": f"String should have at most {MAX_KEY} characters"}]
                response = problem(422, "Invalid input", f"{errs[0]['where']}: {errs[0]['message']}", "invalid-input",
                                   errors=errs)
            else:
                body = await _body(receive, st.settings.max_body_bytes, declared)
                try:  # parsed and validated in one pass (half the time of parsing, then validating)
                    item = ItemIn.model_validate_json(body)
                except ValidationError:
                    # refused: the route's own two steps say why, in its words (400 malformed or too deep,
                    # 422 with the validation errors); no item field holds free JSON, so both agree on success
                    payload = parse_json(body)
                    try:
                        item = ItemIn.model_validate(payload)
                    except ValidationError as exc:
                        raise InvalidItem(exc) from None
                answer = await st.service.submit_async(item, [], key)
                st.metrics.items.labels(answer["verdict"]["action"]).inc()
                response = FastJSONResponse(answer)
        except _Disconnected:
            status = 499  # the client went away: nothing to answer
            return
        except InvalidItem as e:
            response = validation_problem(e.exc)
        except Problem as exc:
            response = problem(exc.status, exc.title, exc.detail, exc.code or exc.title.lower().replace(" ", "-"),
                               exc.headers, **exc.extra)
        except E.BastionError as exc:
            response = for_error(exc)
        except Exception:
            log.exception("unhandled error on POST %s", ROUTE)
            response = problem(500, "Internal error", "the server failed to handle this request; it was logged",
                               "internal-error")
        status = response.status_code
        await response(scope, receive, send)
    finally:
        seconds = time.perf_counter() - t0
        if status != 499:
            st.metrics.observe("POST", ROUTE, status, seconds)
        if status >= 500:
            log.warning("request failed", extra={"method": "POST", "path": ROUTE, "status": status,
                                                 "ms": round(seconds * 1000, 2)})
