"""The routes. Thin: parse, authorise (``require``), call one service function, map the result."""

from __future__ import annotations

import asyncio

import orjson
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse, Response

from bastion.api.deps import Principal, require
from bastion.api.problems import Problem, validation_problem
from bastion.errors import NotFound
from bastion.cases import jobs
from bastion.cases import service as cases
from bastion.cases.ingest import Upload
from bastion.cases.schemas import DecisionIn, ItemIn, ItemOut

router = APIRouter()


def _session(request: Request):
    return request.app.state.store.session()


#: JSON nested deeper than this is refused (400): no item needs it, and deep nesting costs the parser, the
#: validation and every later serialisation a stack frame per level.
MAX_JSON_DEPTH = 64
#: Row ids are 64-bit signed integers in both databases: a larger id in a path names nothing (404).
MAX_ROW_ID = 2**63 - 1


def parse_json(body: bytes) -> Any:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Malformed JSON", f"the body is not valid JSON: {exc}", "malformed-json") from None
    except RecursionError:
        payload = None
    else:
        if _depth_within(payload, MAX_JSON_DEPTH):
            return payload
    raise Problem(400, "Malformed JSON", f"the body is nested deeper than {MAX_JSON_DEPTH} levels", "too-deep")


def _depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests at most ``limit`` containers deep; iterative, no recursion."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        if depth > limit:
            return False
        stack.extend((x, depth + 1) for x in v if isinstance(x, (dict, list)))
    return True


def row_id(value: int, what: str) -> int:
    """``value`` when it can name a row; otherwise :class:`NotFound` (404), as for any id that names nothing."""
    if not 0 < value <= MAX_ROW_ID:
        raise NotFound(f"no {what} {value}")
    return value


class FastJSONResponse(Response):
    """JSON by orjson (several times faster than the standard library's, same JSON for our answers)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# --- health, metrics, docs ----------------------------------------------------------------------------


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Alive: answered on the event loop itself (no thread-pool hop), so its latency is the loop's. Measured
    under console load on a shared 2-core machine, a thread-pool /healthz had about twice the p99 of this."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    from sqlalchemy import text

    try:
        with _session(request) as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _: Principal = Depends(require("metrics.read"))) -> Response:
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _: Principal = Depends(require("items.read"))) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", include_in_schema=False)
def docs(_: Principal = Depends(require("items.read"))):
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Bastion API")


# --- items ---------------------------------------------------------------------------------------


async def _parse_item(request: Request) -> tuple[ItemIn, list[Upload]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=64, max_fields=64)
        raw = form.get("item")
        if raw is None or not isinstance(raw, str):
            raise Problem(422, "Invalid input", "a multipart item needs a form field `item` holding the item JSON", "invalid-input")
        payload = parse_json(raw.encode())
        uploads = []
        for key, value in form.multi_items():
            if key == "item":
                continue
            if isinstance(value, str):
                raise Problem(422, "Invalid input", f"unexpected form field {key!r}: only `item` and files are accepted", "invalid-input")
            uploads.append(Upload(value.filename or key, await value.read()))
    elif ctype in ("application/json", ""):
        payload = parse_json(await request.body())
        uploads = []
    else:
        raise Problem(415, "Unsupported media type", "send application/json or multipart/form-data", "unsupported-media-type")
    try:
        item = ItemIn.model_validate(payload)
    except ValidationError as exc:
        raise InvalidItem(exc) from None
    return item, uploads


class InvalidItem(Exception):
    def __init__(self, exc: ValidationError):
        self.exc = exc


@router.post("/v1/items", response_model=ItemOut, responses={409: {"description": "same id, different body"}})
async def submit_item(request: Request, p: Principal = Depends(require("items.submit")),
                      idempotency_key: str | None = Header(default=None, max_length=255)):
    """Scan one item and answer with its verdict. JSON (media as base64 `data`) or multipart/form-data
    (field `item` holds the JSON, each other part is a file). A retry with the same `id` or
    `Idempotency-Key` gets the stored answer; a different body under either is a 409."""
    try:
        item, uploads = await _parse_item(request)
    except InvalidItem as e:
        return validation_problem(e.exc)
    svc = request.app.state.service
    answer = await svc.submit_async(item, uploads, idempotency_key)
    request.app.state.metrics.items.labels(answer["verdict"]["action"]).inc()
    return FastJSONResponse(answer)


@router.get("/v1/items/{item_id:path}")
def get_item(item_id: str, request: Request, _: Principal = Depends(require("items.read"))):
    with _session(request) as s:
        return cases.get_item(s, item_id)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[dict[str, Any]] = Field(default_factory=list)


@router.post("/v1/items:batch", status_code=202)
async def submit_batch(request: Request, p: Principal = Depends(require("items.submit"))):
    """Queue up to 1,000 items (a JSON list, or `{"items": [...]}`); answers 202 with a status URL."""
    payload = parse_json(await request.body())
    items = payload.get("items") if isinstance(payload, dict) else payload
    if isinstance(payload, dict) and set(payload) - {"items"}:
        raise Problem(422, "Invalid input", f"unknown fields {sorted(set(payload) - {'items'})}", "invalid-input")
    svc = request.app.state.service

    def create():
        with svc.store.session() as s, s.begin():
            return jobs.create_batch(s, items, p.id, request.app.state.settings.max_batch)

    batch = await asyncio.to_thread(create)
    url = f"/v1/batches/{batch.id}"
    return JSONResponse({"batch_id": batch.id, "total": batch.total, "status_url": url}, status_code=202,
                        headers={"Location": url})


@router.get("/v1/batches/{batch_id}")
def get_batch(batch_id: str, request: Request, _: Principal = Depends(require("items.read")),
              limit: int = Query(1000, ge=1, le=1000), offset: int = Query(0, ge=0)):
    with _session(request) as s:
        return jobs.batch_status(s, batch_id, limit=limit, offset=offset)


# --- cases ---------------------------------------------------------------------------------------


@router.get("/v1/cases")
def list_cases(request: Request, _: Principal = Depends(require("cases.read")),
               status: list[str] | None = Query(None), source: str | None = None, bank: str | None = None,
               category: str | None = None, language: str | None = None, account: str | None = None,
               limit: int = Query(50, ge=1, le=500), cursor: str | None = None):
    with _session(request) as s:
        rows, nxt = cases.list_cases(s, status=status, source=source, bank=bank, category=category,
                                     language=language, account=account, limit=limit, cursor=cursor)
    return {"cases": rows, "next_cursor": nxt}


@router.get("/v1/cases/{case_id}")
def get_case(case_id: int, request: Request, _: Principal = Depends(require("cases.read"))):
    with _session(request) as s:
        return cases.get_case(s, row_id(case_id, "case"))


def _user(s, p: Principal):
    from bastion.auth.models import UserRow

    return s.get(UserRow, p.id)


@router.post("/v1/cases/{case_id}/claim")
def claim_case(case_id: int, request: Request, p: Principal = Depends(require("cases.claim")),
               ttl_seconds: int = Query(cases.CLAIM_TTL_SECONDS, ge=30, le=86400), force: bool = False):
    with _session(request) as s, s.begin():
        return cases.claim_case(s, row_id(case_id, "case"), _user(s, p), ttl_seconds, force=force)


@router.delete("/v1/cases/{case_id}/claim", status_code=204)
def release_case(case_id: int, request: Request, p: Principal = Depends(require("cases.claim"))):
    with _session(request) as s, s.begin():
        cases.release_case(s, row_id(case_id, "case"), _user(s, p))
    return Response(status_code=204)


@router.post("/v1/cases/{case_id}/decisions", status_code=201)
def decide(case_id: int, body: DecisionIn, request: Request, p: Principal = Depends(require("cases.decide"))):
    with _session(request) as s, s.begin():
        d = cases.decide(s, row_id(case_id, "case"), _user(s, p), body.outcome, body.category, body.actions, body.note,
                         suspension=body.suspension, suspension_days=body.suspension_days)
        return JSONResponse(cases.decision_dict(d, p.name), status_code=201)


# --- accounts ------------------------------------------------------------------------------------


@router.get("/v1/accounts/{account_id:path}")
def get_account(account_id: str, request: Request, _: Principal = Depends(require("accounts.read"))):
    with _session(request) as s:
        return cases.account_view(s, account_id)


# --- banks ---------------------------------------------------------------------------------------


@router.get("/v1/banks")
def list_banks(request: Request, _: Principal = Depends(require("banks.read"))):
    from bastion.banks.repo import BankRepository

    return {"banks": [b.to_dict() for b in BankRepository(request.app.state.store).list()]}


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hash_type: str = Field(max_length=16)
    value: str = Field(max_length=256)
    label: str | None = Field(default=None, max_length=500)


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[EntryIn] = Field(min_length=1, max_length=100_000)


@router.post("/v1/banks/{name}/entries", status_code=201)
def add_entries(name: str, body: EntriesIn, request: Request, p: Principal = Depends(require("banks.write"))):
    """Add hashes to a bank. They are matchable in every process within a poll, and retro-matched against
    every stored media hash (new matches open cases and fire `retro_match` webhooks)."""
    from bastion.banks.hashes import normalize_hash
    from bastion.banks.repo import BankRepository
    from bastion.errors import InvalidHash
    from bastion.model import HashEntry

    entries, problems = [], []
    for i, e in enumerate(body.entries):
        try:
            t, v = normalize_hash(e.hash_type, e.value)
            entries.append(HashEntry(t, v, e.label, f"api:{p.name}"))
        except InvalidHash as exc:
            problems.append(f"entries[{i}]: {exc}")
    if problems:
        raise Problem(422, "Invalid hash", "; ".join(problems[:20]), "invalid-hash")
    result = BankRepository(request.app.state.store, actor=p.name).add_entries(name, entries)  # audited with the change
    return JSONResponse({"bank": name, "added": result.added, "merged": result.merged}, status_code=201)


# --- users and tokens ------------------------------------------------------------------------------


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: str
    password: str | None = Field(default=None, max_length=1024)


@router.get("/v1/users")
def list_users(request: Request, _: Principal = Depends(require("users.manage"))):
    from bastion.auth import service as auth

    with _session(request) as s:
        return {"users": [{"name": u.name, "role": u.role, "disabled": u.disabled,
                           "created_at": u.created_at.isoformat()} for u in auth.list_users(s)]}


@router.post("/v1/users", status_code=201)
def create_user(body: UserIn, request: Request, p: Principal = Depends(require("users.manage"))):
    from bastion.auth import service as auth

    with _session(request) as s, s.begin():
        u = auth.create_user(s, body.name, body.role, body.password, actor=p.name)
        return JSONResponse({"name": u.name, "role": u.role}, status_code=201)


@router.post("/v1/users/{name}/unlock")
def unlock_user(name: str, request: Request, p: Principal = Depends(require("sign_in.unlock")),
                address: str | None = Query(None, max_length=190, description="also lift this client address's lock")):
    """Lift a user's sign-in lock (after repeated failed sign-ins) before it runs out; audited."""
    from bastion.auth import service as auth

    with _session(request) as s, s.begin():
        return {"user": name, "lifted": auth.unlock_sign_in(s, name, address, actor=p.name)}


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    name: str | None = Field(default=None, max_length=200)


@router.post("/v1/tokens", status_code=201)
def create_token(body: TokenIn, request: Request, p: Principal = Depends(require("tokens.manage"))):
    """Create an API token for a user. The token is in this answer only; it is stored hashed."""
    from bastion.auth import service as auth

    with _session(request) as s, s.begin():
        row, token = auth.create_token(s, body.user, body.name, actor=p.name)
        return JSONResponse({"id": row.id, "user": body.user, "name": row.name, "token": token}, status_code=201)


@router.get("/v1/tokens")
def list_tokens(request: Request, _: Principal = Depends(require("tokens.manage"))):
    from bastion.auth import service as auth

    with _session(request) as s:
        return {"tokens": [{"id": t.id, "user": u, "name": t.name, "prefix": t.prefix,
                            "created_at": t.created_at.isoformat(),
                            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}
                           for t, u in auth.list_tokens(s)]}


@router.delete("/v1/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, request: Request, p: Principal = Depends(require("tokens.manage"))):
    from bastion.auth import service as auth

    with _session(request) as s, s.begin():
        auth.revoke_token(s, row_id(token_id, "token"), actor=p.name)
    return Response(status_code=204)
