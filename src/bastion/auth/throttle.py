"""Sign-in throttling: passwords cannot be guessed at speed.

Failed sign-ins are counted per account (``user:<id>``) and per client address (``addr:<ip>``). After a few
free failures each further attempt must wait a delay that doubles (1 s, 2 s, 4 s … up to a minute); an
attempt that comes too early is refused *without checking the password*, so guessing faster gains nothing.
After more failures the account or the address is locked for a while (15 minutes by default) — a lead or
an admin can lift it earlier (``bastion user unlock``, ``POST /v1/users/{name}/unlock``). A burst ends after a
quiet spell with no failure; a successful sign-in clears the account's count (not the address's: one good
account must not wash an address's guesses at others clean).

What is audited: the first failure of a burst and each lock, once — never one row per guess. A typed name
that is not a user's is never written anywhere (it may be a password typed into the wrong field): such
failures count against the address only and are audited as "unknown user".

The clock is the caller's (``now``), so tests drive delays and locks without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bastion.auth.models import SignInThrottleRow
from bastion.clock import as_utc


@dataclass(frozen=True)
class ThrottlePolicy:
    #: failures before delays start, per account and per address (an office behind one address mistypes more)
    free_account: int = 3
    free_address: int = 10
    #: failures after which the account / the address is locked
    lock_account: int = 10
    lock_address: int = 50
    #: the first delay (seconds); it doubles with each further failure, up to max_delay
    base_delay: float = 1.0
    max_delay: float = 60.0
    lock_seconds: float = 15 * 60.0
    #: a burst ends (counts start again) after this long with no failure
    quiet_seconds: float = 15 * 60.0


DEFAULT_POLICY = ThrottlePolicy()


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused before its password is checked."""

    key: str
    locked: bool
    retry_after: float  # seconds

    def message(self) -> str:
        wait = max(1, int(self.retry_after + 0.999))
        if self.locked:
            return (f"Too many failed sign-ins: signing in is locked for {_human(wait)}. A lead or an admin can "
                    "lift the lock.")
        return f"Too many failed sign-ins: wait {_human(wait)} before trying again."


@dataclass(frozen=True)
class Event:
    """Something to audit: the first failure of a burst, or a lock."""

    key: str
    kind: str  # "burst" or "locked"
    failures: int


def _human(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"


def _utc(t: datetime | None) -> datetime | None:
    return as_utc(t)


def account_key(user_id: int) -> str:
    return f"user:{user_id}"


def address_key(address: str | None) -> str:
    return f"addr:{(address or 'unknown')[:190]}"


def _limits(key: str, p: ThrottlePolicy) -> tuple[int, int]:
    return (p.free_account, p.lock_account) if key.startswith("user:") else (p.free_address, p.lock_address)


def _delay(failures: int, free: int, p: ThrottlePolicy) -> float:
    if failures < free:
        return 0.0
    return min(p.max_delay, p.base_delay * 2 ** (failures - free))


def _live(row: SignInThrottleRow | None, now: datetime, p: ThrottlePolicy) -> SignInThrottleRow | None:
    """The row if its burst is still going (or its lock still holds)."""
    if row is None:
        return None
    locked = _utc(row.locked_until)
    if locked is not None and locked > now:
        return row
    if now - _utc(row.last_failure_at) > timedelta(seconds=p.quiet_seconds):
        return None
    if locked is not None:  # a lock that ran out ends the burst
        return None
    return row


def check(session: Session, keys: list[str], now: datetime, policy: ThrottlePolicy = DEFAULT_POLICY) -> Refusal | None:
    """A refusal when any of ``keys`` is locked or must still wait; None when the attempt may be checked."""
    worst: Refusal | None = None
    for key in keys:
        row = _live(session.get(SignInThrottleRow, key), now, policy)
        if row is None:
            continue
        locked = _utc(row.locked_until)
        if locked is not None and locked > now:
            r = Refusal(key, True, (locked - now).total_seconds())
        else:
            free, _ = _limits(key, policy)
            due = _utc(row.last_failure_at) + timedelta(seconds=_delay(row.failures, free, policy))
            if due <= now:
                continue
            r = Refusal(key, False, (due - now).total_seconds())
        if worst is None or (r.locked, r.retry_after) > (worst.locked, worst.retry_after):
            worst = r
    return worst


def record_failure(session: Session, keys: list[str], now: datetime,
                   policy: ThrottlePolicy = DEFAULT_POLICY) -> list[Event]:
    """Count a failed sign-in against each key (in the caller's transaction); what to audit."""
    events: list[Event] = []
    for key in keys:
        row = session.get(SignInThrottleRow, key)
        if _live(row, now, policy) is None:
            if row is None:
                row = SignInThrottleRow(key=key)
                session.add(row)
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        row.failures += 1
        row.last_failure_at = now
        _, lock_after = _limits(key, policy)
        if row.failures == 1:
            events.append(Event(key, "burst", 1))
        if row.failures >= lock_after and row.locked_until is None:
            row.locked_until = now + timedelta(seconds=policy.lock_seconds)
            events.append(Event(key, "locked", row.failures))
    session.flush()
    return events


def record_success(session: Session, user_id: int) -> None:
    """A right password: the account's count starts again (the address's stays)."""
    session.execute(delete(SignInThrottleRow).where(SignInThrottleRow.key == account_key(user_id)))


def unlock(session: Session, keys: list[str]) -> int:
    """Lift locks and delays on ``keys``; how many were in force."""
    rows = session.scalars(select(SignInThrottleRow).where(SignInThrottleRow.key.in_(keys))).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def state(session: Session, keys: list[str], now: datetime, policy: ThrottlePolicy = DEFAULT_POLICY) -> list[dict]:
    """The live rows of ``keys`` (for listings): failures, locked until."""
    out = []
    for row in session.scalars(select(SignInThrottleRow).where(SignInThrottleRow.key.in_(keys))).all():
        if _live(row, now, policy) is not None:
            out.append({"key": row.key, "failures": row.failures,
                        "locked_until": _utc(row.locked_until).isoformat() if row.locked_until else None})
    return out
