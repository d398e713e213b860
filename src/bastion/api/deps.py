"""Who is calling, and may they: bearer tokens resolved to users, checked against the one permission table."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass

from fastapi import Request

from bastion.api.problems import Problem
from bastion.auth import service as auth
from bastion.auth.permissions import allowed

#: a token's user is remembered this long per process; a revoked token stops working within this time
TOKEN_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: str


class TokenCache:
    def __init__(self, store, ttl: float = TOKEN_CACHE_SECONDS, clock=time.monotonic):
        self.store, self.ttl, self.clock = store, ttl, clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """(True, principal or None) when the cache answers for ``token``; (False, None) when only the store can."""
        hit = self._cache.get(self._key(token))
        if hit is not None and hit[0] > self.clock():
            return True, hit[1]
        return False, None

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    def resolve(self, token: str) -> Principal | None:
        key = self._key(token)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.store.session() as s:
            row = auth.user_for_token(s, token)
            p = Principal(row.id, row.name, row.role) if row is not None else None
            if row is not None:  # "last used", at most once a minute a token (and once per cache miss)
                try:
                    auth.touch_token(s, token)
                    s.commit()
                except Exception:  # noqa: BLE001 - a busy store must not refuse a valid token; retried next miss
                    s.rollback()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.ttl, p)
        return p


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "Unauthorized", "send an API token as `Authorization: Bearer <token>`", "unauthorized",
                      headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def known_principal(p: Principal | None) -> Principal:
    if p is None:
        raise Problem(401, "Unauthorized", "the token is unknown, revoked, or its user is disabled", "unauthorized",
                      headers={"WWW-Authenticate": "Bearer"})
    return p


def principal_of(request: Request) -> Principal:
    return known_principal(request.app.state.tokens.resolve(bearer_token(request)))


async def principal_of_async(request: Request) -> Principal:
    """:func:`principal_of` without leaving the event loop when the token cache answers (almost every request);
    a cache miss reads the store in a worker thread."""
    token = bearer_token(request)
    tokens = request.app.state.tokens
    hit, p = tokens.cached(token)
    if not hit:
        p = await asyncio.to_thread(tokens.resolve, token)
    return known_principal(p)


def require(action: str):
    """A FastAPI dependency: the caller's principal, if its role may perform ``action``; else 401/403."""
    allowed(None, action)  # an unknown action fails at import time, not per request

    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request for a dictionary
    # lookup (measured: a visible share of a text item's time)
    async def dependency(request: Request) -> Principal:
        p = await principal_of_async(request)
        if not allowed(p.role, action):
            raise Problem(403, "Forbidden", f"role {p.role!r} may not {action}", "forbidden")
        return p

    dependency.action = action  # type: ignore[attr-defined]  # read by the permission-matrix test
    return dependency
