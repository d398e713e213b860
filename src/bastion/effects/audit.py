"""The audit log: append-only, hash-chained, verifiable.

Every row commits to the one before it: ``row_hash = sha256(canonical JSON of {id, at, actor, action,
target_type, target_id, details, prev_hash})`` and ``prev_hash`` is the previous row's ``row_hash`` (the
genesis hash, 64 zeros, for row 1). Row ids are chain positions 1, 2, 3, ... with no gaps, and the single
``audit_head`` row names the last id and its hash. So :func:`verify` finds, scanning in id order, the first
row that was altered (its hash no longer matches its fields), deleted (a gap in the ids, or the head pointing
past the last row), reordered (an id hashed under another position) or cut from its predecessor.

:func:`append` runs in the caller's transaction (the audit row commits, or rolls back, with the change it
records). It first increments the head row, which takes that row's lock: on PostgreSQL concurrent appenders
queue on it until the holder's transaction ends, on SQLite writers are serialised anyway. Append late in a
transaction, since the head stays locked until commit. Needs READ COMMITTED (PostgreSQL's default) or
SQLite.

What the chain does not do on its own: someone with write access who rewrites a row *and* every later
row's hash *and* the head leaves a consistent chain. Keep the head hash somewhere else too (it is printed
by ``bastion audit verify``) and compare.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bastion.effects.models import GENESIS_HASH, AuditHeadRow, AuditRow, as_utc
from bastion.errors import AuditError, BastionError, InvalidCursor

HEAD_ID = 1


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is, no NaN: the same value always gives the same text."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default)
    except (TypeError, ValueError) as exc:
        raise BastionError(f"audit details are not JSON-serialisable: {exc}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def format_time(value: datetime) -> str:
    v = as_utc(value)
    assert v is not None
    return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(*, id: int, at: datetime, actor: str, action: str, target_type: str, target_id: str | None,
             details: str, prev_hash: str) -> str:
    doc = {
        "v": 1, "id": id, "at": format_time(at), "actor": actor, "action": action, "target_type": target_type,
        "target_id": target_id, "details": details, "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def actor_name(actor: Any) -> str:
    """A user row (anything with ``name``), a string, or None (the system itself)."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor or "system"
    name = getattr(actor, "name", None)
    return str(name) if name else str(actor)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    details: dict
    prev_hash: str
    row_hash: str

    def to_dict(self) -> dict:
        return {
            "id": self.id, "at": format_time(self.at), "actor": self.actor, "action": self.action,
            "target_type": self.target_type, "target_id": self.target_id, "details": self.details,
            "prev_hash": self.prev_hash, "row_hash": self.row_hash,
        }


def append(session: Session, actor: Any, action: str, target_type: str, target_id: Any = None,
           details: dict | None = None, *, now: datetime | None = None) -> AuditEntry:
    """Add one entry at the end of the chain, in the caller's transaction (no commit here)."""
    name = actor_name(actor)
    text = canonical_json(details or {})
    tid = None if target_id is None else str(target_id)
    at = as_utc(now) if now is not None else _utcnow()
    assert at is not None
    # Take the head first: the UPDATE locks it (PostgreSQL) / takes the write lock (SQLite) before we read it.
    bumped = session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(seq=AuditHeadRow.seq + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not bumped:
        if session.scalar(select(func.count()).select_from(AuditRow)):
            raise AuditError("the audit head record is missing while audit rows exist: run `bastion audit verify`")
        session.execute(insert(AuditHeadRow).values(id=HEAD_ID, seq=1, row_hash=GENESIS_HASH))
    seq, prev = session.execute(
        select(AuditHeadRow.seq, AuditHeadRow.row_hash).where(AuditHeadRow.id == HEAD_ID)
    ).one()
    h = row_hash(id=seq, at=at, actor=name, action=action, target_type=target_type, target_id=tid, details=text,
                 prev_hash=prev)
    session.execute(insert(AuditRow).values(id=seq, at=at, actor=name, action=action, target_type=target_type,
                                            target_id=tid, details=text, prev_hash=prev, row_hash=h))
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).values(row_hash=h)
                    .execution_options(synchronize_session=False))
    return AuditEntry(seq, at, name, action, target_type, tid, json.loads(text), prev, h)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    #: id (chain position) of the first row that cannot be trusted; None when the chain is intact.
    first_bad_id: int | None = None
    problem: str | None = None
    #: altered | deleted | truncated | broken-link | extra | head-missing
    kind: str | None = None
    head_id: int | None = None
    head_hash: str | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "first_bad_id": self.first_bad_id, "kind": self.kind,
                "problem": self.problem, "head_id": self.head_id, "head_hash": self.head_hash}


def verify(session: Session, *, batch: int = 2000,
           progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Walk the chain in id order and report the first row that fails (see the module docstring)."""
    head = session.execute(select(AuditHeadRow.seq, AuditHeadRow.row_hash).where(AuditHeadRow.id == HEAD_ID)).first()
    # The chain starts at row 1: a row below it (id 0 or negative, inserted by hand) was never appended
    # through the head, and the walk below (ids after the last one seen) would never meet it.
    stray = session.execute(select(AuditRow.id).where(AuditRow.id < 1).order_by(AuditRow.id).limit(1)).scalar()
    if stray is not None:
        return _bad(0, stray, "extra", f"row {stray} is not part of the chain (the chain starts at row 1)", head)
    expected_id, prev, checked, last_id = 1, GENESIS_HASH, 0, 0
    while True:
        # Plain rows (not ORM objects): nothing enters the caller's identity map, memory stays flat.
        rows = session.execute(select(*_COLUMNS).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)
                               ).all()
        if not rows:
            break
        for r in rows:
            if r.id != expected_id:
                what = f"row {expected_id}" if r.id == expected_id + 1 else f"rows {expected_id}..{r.id - 1}"
                return _bad(checked, expected_id, "deleted", f"{what} deleted (the chain jumps to row {r.id})", head)
            if r.prev_hash != prev:
                return _bad(checked, r.id, "broken-link",
                            f"row {r.id} does not follow row {r.id - 1}: its prev_hash is not that row's hash "
                            f"(row {r.id - 1} was rewritten with a new hash, or row {r.id} was altered)", head)
            h = row_hash(id=r.id, at=r.at, actor=r.actor, action=r.action, target_type=r.target_type,
                         target_id=r.target_id, details=r.details, prev_hash=r.prev_hash)
            if h != r.row_hash:
                return _bad(checked, r.id, "altered", f"row {r.id} was altered: its fields no longer match its hash",
                            head)
            prev, expected_id, last_id = r.row_hash, r.id + 1, r.id
            checked += 1
        if progress:
            progress(checked)
    if head is None:
        if checked == 0:
            return VerifyResult(True, 0)
        return _bad(checked, last_id, "head-missing", "the audit head record is missing", head)
    seq, head_hash = head
    if seq > last_id:
        what = f"row {last_id + 1}" if seq == last_id + 1 else f"rows {last_id + 1}..{seq}"
        return _bad(checked, last_id + 1, "truncated", f"{what} deleted from the end (the head names row {seq})", head)
    if seq < last_id:
        return _bad(checked, seq + 1, "extra", f"rows after {seq} were not appended through the chain's head", head)
    if head_hash != prev:
        return _bad(checked, last_id, "altered", f"row {last_id} does not match the head's hash", head)
    return VerifyResult(True, checked, head_id=seq, head_hash=head_hash)


def _bad(checked: int, row_id: int, kind: str, problem: str, head) -> VerifyResult:
    return VerifyResult(False, checked, row_id, problem, kind, head_id=head[0] if head else None,
                        head_hash=head[1] if head else None)


_COLUMNS = tuple(AuditRow.__table__.c)


def _entry(r) -> AuditEntry:
    try:
        details = json.loads(r.details)
    except ValueError:
        details = {"_unparsable": r.details}
    return AuditEntry(r.id, as_utc(r.at), r.actor, r.action, r.target_type, r.target_id, details,  # type: ignore[arg-type]
                      r.prev_hash, r.row_hash)


def list_entries(session: Session, *, limit: int = 50, cursor: str | None = None, actor: str | None = None,
                 action: str | None = None, target_type: str | None = None, target_id: str | None = None,
                 ) -> tuple[list[dict], str | None]:
    """Newest first. ``cursor`` is the ``next_cursor`` of the previous page (opaque to callers)."""
    limit = max(1, min(int(limit), 1000))
    q = select(*_COLUMNS).order_by(AuditRow.id.desc()).limit(limit + 1)
    if cursor is not None:
        try:
            before = int(cursor)
        except (TypeError, ValueError):
            raise InvalidCursor(f"invalid cursor {cursor!r}") from None
        q = q.where(AuditRow.id < before)
    if actor is not None:
        q = q.where(AuditRow.actor == actor)
    if action is not None:
        q = q.where(AuditRow.action == action)
    if target_type is not None:
        q = q.where(AuditRow.target_type == target_type)
    if target_id is not None:
        q = q.where(AuditRow.target_id == str(target_id))
    rows = session.execute(q).all()
    page = rows[:limit]
    nxt = str(page[-1].id) if len(rows) > limit else None
    return [_entry(r).to_dict() for r in page], nxt
