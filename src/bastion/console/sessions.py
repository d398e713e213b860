"""Sign-in sessions and CSRF tokens for the console.

Server-side session rows: the browser holds a random 256-bit token in an ``HttpOnly``, ``SameSite=Strict``
cookie (``Secure`` over TLS); the database keeps only its SHA-256, the user, a CSRF token and when the
session was last used. A session ends on sign-out, after ``idle_minutes`` without a request, or when the
user is disabled. Rows rather than a signed cookie because sign-out and disabling a user must take effect at
once, and there is then no signing key to manage.

CSRF: every state-changing request carries the session's synchroniser token (form field ``csrf_token`` or
header ``X-CSRF-Token``); it is compared in constant time. The sign-in form, which has no session yet, uses a
double-submit token (a short-lived cookie echoed in the form). Both sit on top of ``SameSite=Strict``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.clock import as_utc
from bastion.console.models import ConsoleSessionRow

COOKIE = "bastion_console"
LOGIN_COOKIE = "bastion_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_equal(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: int
    user_id: int
    csrf_token: str


def start_session(session: Session, user_id: int, now: datetime) -> tuple[str, SignedIn]:
    """A new session for ``user_id``: (cookie token, session facts). The caller commits."""
    token = new_token()
    row = ConsoleSessionRow(token_sha256=_sha256(token), user_id=user_id, csrf_token=new_token(),
                            created_at=now, last_seen_at=now)
    session.add(row)
    session.flush()
    return token, SignedIn(row.id, user_id, row.csrf_token)


def resume_session(session: Session, token: str | None, now: datetime, idle: timedelta) -> SignedIn | None:
    """The session behind a cookie token, touched; ``None`` (and the row ended) when it is idle too long."""
    if not token or len(token) > 200:
        return None
    row = session.scalars(select(ConsoleSessionRow).where(ConsoleSessionRow.token_sha256 == _sha256(token))).first()
    if row is None or row.ended_at is not None:
        return None
    if as_utc(row.last_seen_at) + idle <= now:
        row.ended_at = now
        session.flush()
        return None
    # Touch at most once a minute: a page with a few media requests must not write a row per request.
    if now - as_utc(row.last_seen_at) >= timedelta(minutes=1):
        row.last_seen_at = now
        session.flush()
    return SignedIn(row.id, row.user_id, row.csrf_token)


def end_session(session: Session, session_id: int, now: datetime) -> None:
    row = session.get(ConsoleSessionRow, session_id)
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.flush()


def end_user_sessions(session: Session, user_id: int, now: datetime) -> int:
    rows = session.scalars(select(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user_id,
                                                           ConsoleSessionRow.ended_at.is_(None))).all()
    for r in rows:
        r.ended_at = now
    session.flush()
    return len(rows)


def purge_sessions(session: Session, older_than: datetime) -> int:
    """Delete ended or long-idle session rows (housekeeping)."""
    res = session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.last_seen_at < older_than))
    return res.rowcount or 0
