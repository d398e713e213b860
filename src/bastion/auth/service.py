"""Users and tokens: plain functions over a Session (the caller commits)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.auth.models import ApiTokenRow, UserRow
from bastion.auth.permissions import ROLES
from bastion.errors import BastionError, Conflict, NotFound
from bastion.store.schema import utcnow

_hasher = PasswordHasher()
#: Tokens look like ``bst_<43 url-safe characters>``: the prefix makes a leaked token easy to grep for.
TOKEN_PREFIX = "bst_"
MIN_PASSWORD = 12


class InvalidUser(BastionError):
    code = "invalid-user"


def _audit(session: Session, actor: str | None, action: str, target_type: str, target_id: str, details: dict) -> None:
    """The audit row of a user or token change, in the caller's transaction."""
    from bastion.effects import audit

    audit.append(session, actor or "system", action, target_type, target_id, details)


def create_user(session: Session, name: str, role: str, password: str | None = None, *, actor: str | None = None) -> UserRow:
    name = (name or "").strip()
    if not name or len(name) > 200 or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidUser("a user name is 1-200 printable characters without spaces")
    if role not in ROLES:
        raise InvalidUser(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise InvalidUser(f"a password has at least {MIN_PASSWORD} characters")
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    row = UserRow(name=name, role=role, password_hash=_hasher.hash(password) if password else None, created_at=utcnow())
    session.add(row)
    session.flush()
    _audit(session, actor, "user.create", "user", name, {"role": role})
    return row


def get_user(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NotFound(f"no user named {name!r}")
    return row


def list_users(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.name)))


def set_role(session: Session, name: str, role: str, *, actor: str | None = None) -> UserRow:
    if role not in ROLES:
        raise InvalidUser(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    row = get_user(session, name)
    old, row.role = row.role, role
    _audit(session, actor, "user.role", "user", name, {"from": old, "to": role})
    return row


def set_disabled(session: Session, name: str, disabled: bool, *, actor: str | None = None) -> UserRow:
    row = get_user(session, name)
    row.disabled = disabled
    _audit(session, actor, "user.disable" if disabled else "user.enable", "user", name, {})
    return row


def set_password(session: Session, name: str, password: str, *, actor: str | None = None) -> UserRow:
    if len(password) < MIN_PASSWORD:
        raise InvalidUser(f"a password has at least {MIN_PASSWORD} characters")
    row = get_user(session, name)
    row.password_hash = _hasher.hash(password)
    _audit(session, actor, "user.password", "user", name, {})
    return row


def authenticate(session: Session, name: str, password: str) -> UserRow | None:
    """The user if the password is right and the account is enabled; otherwise None (one answer for every
    failure, so a caller cannot tell which names exist)."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None or row.password_hash is None:
        _hasher.hash("x" * MIN_PASSWORD)  # spend the same time as a real check
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if row.disabled:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    return row


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, user_name: str, label: str | None = None, *, actor: str | None = None) -> tuple[ApiTokenRow, str]:
    """A new API token for the user. The plaintext is returned once and never stored."""
    user = get_user(session, user_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(user_id=user.id, name=label, token_hash=_token_hash(token), prefix=token[:10], created_at=utcnow())
    session.add(row)
    session.flush()
    _audit(session, actor, "token.create", "token", str(row.id), {"user": user.name, "name": label})
    return row, token


def list_tokens(session: Session, user_name: str | None = None) -> list[tuple[ApiTokenRow, str]]:
    q = select(ApiTokenRow, UserRow.name).join(UserRow, UserRow.id == ApiTokenRow.user_id).order_by(ApiTokenRow.id)
    if user_name:
        q = q.where(UserRow.name == user_name)
    return [(t, n) for t, n in session.execute(q)]


def revoke_token(session: Session, token_id: int, *, actor: str | None = None) -> ApiTokenRow:
    row = session.get(ApiTokenRow, token_id) if 0 < token_id < 2**63 else None
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _audit(session, actor, "token.revoke", "token", str(token_id), {})
    return row


def user_for_token(session: Session, token: str) -> UserRow | None:
    """The enabled user a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(UserRow)
        .join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
        .where(ApiTokenRow.token_hash == _token_hash(token), ApiTokenRow.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or row.disabled:
        return None
    return row


#: "last used" is recorded at most this often per token (seconds): a request does not write each time.
LAST_USED_RESOLUTION = 60


def touch_token(session: Session, token: str, now: datetime | None = None) -> None:
    """Record that ``token`` was used (in the caller's transaction), unless it was within the last minute."""
    from datetime import timedelta

    from sqlalchemy import or_, update

    now = now or utcnow()
    session.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.token_hash == _token_hash(token),
               or_(ApiTokenRow.last_used_at.is_(None),
                   ApiTokenRow.last_used_at < now - timedelta(seconds=LAST_USED_RESOLUTION)))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def acting_user(session: Session, name: str, action: str) -> UserRow:
    """The named user acting outside a request (the CLI's ``--user``), if enabled and allowed ``action`` by
    the one permission table; else :class:`~bastion.errors.Forbidden` (or NotFound for no such user)."""
    from bastion.auth.permissions import allowed
    from bastion.errors import Forbidden

    row = get_user(session, name)
    if row.disabled:
        raise Forbidden(f"user {name!r} is disabled")
    if not allowed(row.role, action):
        raise Forbidden(f"user {name!r} (role {row.role}) may not {action}")
    return row


def unlock_sign_in(session: Session, name: str | None = None, address: str | None = None, *,
                   actor: str | None = None) -> int:
    """Lift the sign-in lock and delays of a user (by name) and/or a client address before they run out
    (bastion.auth.throttle); audited. Returns how many were in force."""
    from bastion.auth import throttle

    keys = []
    if name is not None:
        keys.append(throttle.account_key(get_user(session, name).id))
    if address is not None:
        keys.append(throttle.address_key(address))
    if not keys:
        raise InvalidUser("name a user or a client address to unlock")
    lifted = throttle.unlock(session, keys)
    _audit(session, actor, "user.unlock", "user", name or f"address {address}",
           {"address": address, "lifted": lifted})
    return lifted
