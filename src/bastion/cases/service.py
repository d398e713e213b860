"""Reading and deciding cases, reading items and accounts: plain functions over a Session. The API, the
console and the CLI call these; the caller owns the transaction (``with session.begin(): ...``)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any, Iterator

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bastion.auth.models import UserRow
from bastion.auth.permissions import allowed
from bastion.cases import accounts as acc
from bastion.cases.ingest import enqueue_event, item_answer
from bastion.cases.models import (
    AccountLinkRow,
    AccountRow,
    CaseItemRow,
    CaseRow,
    DecisionRow,
    ItemMediaRow,
    ItemRow,
)
from bastion.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.model import DECISION_ACTIONS, DECISION_OUTCOMES
from bastion.store.schema import utcnow
from bastion.clock import as_utc

CASE_STATES = ("open", "in_review", "decided", "closed", "reported")
#: allowed state changes (a decision moves open/in_review -> decided; reports move decided -> reported)
TRANSITIONS = {
    "open": {"in_review", "decided", "closed"},
    "in_review": {"open", "decided", "closed"},
    "decided": {"reported", "closed", "in_review"},
    "reported": {"closed"},
    "closed": {"open"},
}
#: seconds a reviewer's claim on a case holds unless renewed (the API's and the console's default too)
CLAIM_TTL_SECONDS = 900
SOURCES = ("hash", "provenance", "text", "account")
MAX_LIMIT = 500


def _audit(s: Session, actor: str, action: str, target_type: str, target_id: str, details: dict) -> None:
    from bastion.effects import audit

    audit.append(s, actor, action, target_type, target_id, details)


# --- cursors: opaque, stable under inserts ----------------------------------------------------------


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != n:
            raise ValueError
        return values
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidInput("invalid cursor") from None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


# --- cases -----------------------------------------------------------------------------------------


def case_summary(c: CaseRow, account_external: str | None = None, claimed_by: str | None = None) -> dict[str, Any]:
    return {
        "id": c.id, "status": c.status, "priority": c.priority, "category": c.category,
        "account_id": account_external, "opened_at": c.opened_at.isoformat() if c.opened_at else None,
        "updated_at": c.updated_at.isoformat() if c.updated_at else None,
        "decided_at": c.decided_at.isoformat() if c.decided_at else None,
        "sources": [x for x in c.sources.split(",") if x], "banks": [x for x in c.banks.split(",") if x],
        "languages": [x for x in c.languages.split(",") if x], "automated_action": c.automated_action,
        "summary": c.summary, "needs_second_look": c.needs_second_look,
        "claimed_by": claimed_by if claimed_by and c.claim_expires_at and as_utc(c.claim_expires_at) > utcnow() else None,
        "claim_expires_at": c.claim_expires_at.isoformat() if c.claim_expires_at and claimed_by else None,
    }


def _filtered(q, *, status, source, bank, category, language, account):
    if status:
        statuses = status if isinstance(status, (list, tuple)) else [status]
        for st in statuses:
            if st not in CASE_STATES:
                raise InvalidInput(f"unknown case status {st!r}; expected one of {', '.join(CASE_STATES)}")
        q = q.where(CaseRow.status.in_(statuses))
    for col, value in ((CaseRow.sources, source), (CaseRow.banks, bank), (CaseRow.languages, language)):
        if value:
            # comma lists: match a whole element
            q = q.where(or_(col == value, col.like(f"{value},%"), col.like(f"%,{value}"), col.like(f"%,{value},%")))
    if category:
        q = q.where(CaseRow.category == category)
    if account:
        q = q.where(AccountRow.external_id == account)
    return q


def list_cases(s: Session, *, status=None, source=None, bank=None, category=None, language=None, account=None,
               limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Cases by priority (highest first) then age (oldest first), keyset-paginated."""
    limit = _limit(limit)
    q = (select(CaseRow, AccountRow.external_id, UserRow.name)
         .outerjoin(AccountRow, AccountRow.id == CaseRow.account_id)
         .outerjoin(UserRow, UserRow.id == CaseRow.claimed_by))
    q = _filtered(q, status=status, source=source, bank=bank, category=category, language=language, account=account)
    if cursor:
        prio, cid = decode_cursor(cursor, 2)
        q = q.where(or_(CaseRow.priority < prio, and_(CaseRow.priority == prio, CaseRow.id > cid)))
    rows = s.execute(q.order_by(CaseRow.priority.desc(), CaseRow.id.asc()).limit(limit + 1)).all()
    out = [case_summary(c, a, u) for c, a, u in rows[:limit]]
    nxt = encode_cursor([rows[limit - 1][0].priority, rows[limit - 1][0].id]) if len(rows) > limit else None
    return out, nxt


def case_counts(s: Session, *, status=("open", "in_review")) -> dict[str, dict[str, int]]:
    """Counts of cases per filter value (sources, banks, languages, categories) for the queue's filters."""
    rows = s.execute(select(CaseRow.sources, CaseRow.banks, CaseRow.languages, CaseRow.category)
                     .where(CaseRow.status.in_(status))).all()
    counts: dict[str, dict[str, int]] = {"source": {}, "bank": {}, "language": {}, "category": {}}
    for sources, banks, languages, category in rows:
        for key, val in (("source", sources), ("bank", banks), ("language", languages)):
            for x in (val or "").split(","):
                if x:
                    counts[key][x] = counts[key].get(x, 0) + 1
        if category:
            counts["category"][category] = counts["category"].get(category, 0) + 1
    counts["total"] = {"all": len(rows)}
    return counts


#: Row ids are 64-bit signed integers in both databases: a larger (or non-positive) id names no row.
MAX_ROW_ID = 2**63 - 1


def _case(s: Session, case_id: int, *, lock: bool = False) -> CaseRow:
    if not 0 < case_id <= MAX_ROW_ID:  # the database would fail on it (a 500), not answer "no such case"
        raise NotFound(f"no case {case_id}")
    q = select(CaseRow).where(CaseRow.id == case_id)
    if lock and s.bind.dialect.name == "postgresql":
        q = q.with_for_update()
    row = s.scalar(q)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def item_view(s: Session, row: ItemRow) -> dict[str, Any]:
    media = s.scalars(select(ItemMediaRow).where(ItemMediaRow.item_id == row.id).order_by(ItemMediaRow.position)).all()
    account = s.get(AccountRow, row.account_id) if row.account_id else None
    return {
        **item_answer(row),
        "kind": row.kind, "account_id": account.external_id if account else None, "parent_id": row.parent_external_id,
        "title": row.title, "body": row.body, "tags": row.tags or [], "price": row.price,
        "created_at": row.platform_created_at.isoformat() if row.platform_created_at else None,
        "received_at": row.received_at.isoformat() if row.received_at else None,
        "policy_version": row.policy_version,
        "media": [{
            "position": m.position, "filename": m.filename, "sha256": m.sha256, "md5": m.md5, "pdq": m.pdq,
            "quality": m.quality, "format": m.media_format, "width": m.width, "height": m.height, "size": m.size,
            "held": m.held, **(m.result or {}),
        } for m in media],
    }


def get_item(s: Session, external_id: str) -> dict[str, Any]:
    row = s.scalar(select(ItemRow).where(ItemRow.external_id == external_id))
    if row is None:
        raise NotFound(f"no item {external_id!r}")
    return item_view(s, row)


def iter_item_facts(s: Session) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(item id, facts, verdict) of every stored item, oldest first: what `bastion policy replay` reads."""
    q = select(ItemRow.external_id, ItemRow.facts, ItemRow.verdict).order_by(ItemRow.id)
    for ext, facts, verdict in s.execute(q).yield_per(1000):
        yield ext, facts, verdict


def get_case(s: Session, case_id: int) -> dict[str, Any]:
    c = _case(s, case_id)
    account = s.get(AccountRow, c.account_id) if c.account_id else None
    claimer = s.get(UserRow, c.claimed_by) if c.claimed_by else None
    items = s.execute(select(ItemRow, CaseItemRow.reason).join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
                      .where(CaseItemRow.case_id == c.id).order_by(ItemRow.id)).all()
    decisions = s.execute(select(DecisionRow, UserRow.name).outerjoin(UserRow, UserRow.id == DecisionRow.user_id)
                          .where(DecisionRow.case_id == c.id).order_by(DecisionRow.id)).all()
    return {
        **case_summary(c, account.external_id if account else None, claimer.name if claimer else None),
        "items": [{**item_view(s, it), "case_reason": reason} for it, reason in items],
        "decisions": [decision_dict(d, name) for d, name in decisions],
        "account": account_summary(s, account) if account else None,
    }


def decision_dict(d: DecisionRow, user_name: str | None) -> dict[str, Any]:
    return {"id": d.id, "case_id": d.case_id, "user": user_name, "outcome": d.outcome, "category": d.category,
            "actions": d.actions or [], "note": d.note, "automated": d.automated,
            "needs_second_look": d.needs_second_look, "created_at": d.created_at.isoformat(),
            "suspension": suspension_of(d), "suspension_days": d.suspension_days}


def suspension_of(d: DecisionRow) -> str | None:
    """``temporary``, ``permanent`` or None (no ``suspend_account``); decisions made before the kind was
    recorded read as permanent, as they were reported."""
    if "suspend_account" not in (d.actions or []):
        return None
    return d.suspension or "permanent"


def check_suspension(actions, suspension: str | None, days: int | None) -> tuple[str | None, int | None]:
    """The suspension a decision records: a kind only with ``suspend_account``; a temporary one needs its
    length in days, a permanent one has none."""
    if "suspend_account" not in actions:
        if suspension is not None or days is not None:
            raise InvalidInput("a suspension kind or length needs the suspend_account action")
        return None, None
    kind = suspension or "permanent"
    if kind not in ("temporary", "permanent"):
        raise InvalidInput("suspension must be temporary or permanent")
    if kind == "temporary" and days is None:
        raise InvalidInput("a temporary suspension needs its length (suspension_days)")
    if kind == "permanent" and days is not None:
        raise InvalidInput("a permanent suspension has no length; say temporary to give one")
    if days is not None and not (1 <= int(days) <= 3650):
        raise InvalidInput("suspension_days must be between 1 and 3650")
    return kind, (int(days) if days is not None else None)


def set_status(s: Session, case: CaseRow, status: str, *, actor: str = "system") -> None:
    if status == case.status:
        return
    if status not in TRANSITIONS.get(case.status, set()):
        raise Conflict(f"case {case.id} cannot go from {case.status} to {status}")
    old, case.status, case.updated_at = case.status, status, utcnow()
    if status == "closed":
        case.closed_at = case.updated_at
    _audit(s, actor, "case.status", "case", str(case.id), {"from": old, "to": status})


def claim_case(s: Session, case_id: int, user: UserRow, ttl_seconds: int = CLAIM_TTL_SECONDS, *, force: bool = False) -> dict[str, Any]:
    """Claim a case for ``user`` until the claim expires. A live claim of another user is a Conflict (the
    console says who holds it) unless ``force`` by someone allowed a second look."""
    c = _case(s, case_id, lock=True)
    now = utcnow()
    if c.status not in ("open", "in_review"):
        raise Conflict(f"case {case_id} is {c.status}; only open cases can be claimed")
    live = c.claimed_by is not None and c.claim_expires_at is not None and as_utc(c.claim_expires_at) > now
    if live and c.claimed_by != user.id:
        holder = s.get(UserRow, c.claimed_by)
        if not (force and allowed(user.role, "cases.second_look")):
            raise Conflict(f"case {case_id} is claimed by {holder.name if holder else 'another user'} until "
                           f"{as_utc(c.claim_expires_at).isoformat(timespec='seconds')}")
    c.claimed_by, c.claim_expires_at = user.id, now + timedelta(seconds=ttl_seconds)
    if c.status == "open":
        set_status(s, c, "in_review", actor=user.name)
    s.flush()
    return case_summary(c, None, user.name)


def release_case(s: Session, case_id: int, user: UserRow) -> None:
    c = _case(s, case_id, lock=True)
    if c.claimed_by not in (None, user.id) and not allowed(user.role, "cases.second_look"):
        raise Forbidden(f"case {case_id} is claimed by another user")
    c.claimed_by, c.claim_expires_at = None, None
    if c.status == "in_review":
        set_status(s, c, "open", actor=user.name)


def decide(s: Session, case_id: int, user: UserRow, outcome: str, category: str | None = None,
           actions: list[str] | tuple[str, ...] = (), note: str | None = None, *,
           suspension: str | None = None, suspension_days: int | None = None) -> DecisionRow:
    """Record a reviewer's decision. A reviewer's ``reject`` of a case the policy removed automatically goes
    to a lead for a second look instead of closing it. Writes the audit row and the ``case.decided`` outbox
    row in the caller's transaction."""
    if outcome not in DECISION_OUTCOMES:
        raise InvalidInput("outcome must be confirm or reject")
    bad = [a for a in actions if a not in DECISION_ACTIONS]
    if bad:
        raise InvalidInput(f"unknown actions {', '.join(map(repr, bad))}; expected some of {', '.join(DECISION_ACTIONS)}")
    suspension, suspension_days = check_suspension(actions, suspension, suspension_days)
    c = _case(s, case_id, lock=True)
    if c.status not in ("open", "in_review") and not (c.needs_second_look and allowed(user.role, "cases.second_look")):
        raise Conflict(f"case {case_id} is {c.status}; it was decided already")
    now = utcnow()
    if c.claimed_by not in (None, user.id) and c.claim_expires_at and as_utc(c.claim_expires_at) > now:
        if not allowed(user.role, "cases.second_look"):
            holder = s.get(UserRow, c.claimed_by)
            raise Conflict(f"case {case_id} is claimed by {holder.name if holder else 'another user'}")
    second_look = (outcome == "reject" and c.automated_action == "remove" and not allowed(user.role, "cases.second_look"))
    d = DecisionRow(case_id=c.id, user_id=user.id, outcome=outcome, category=category, actions=list(actions),
                    note=note, created_at=now, automated=False, needs_second_look=second_look,
                    suspension=suspension, suspension_days=suspension_days)
    s.add(d)
    if category:
        c.category = category
    c.needs_second_look = second_look
    c.claimed_by, c.claim_expires_at = None, None
    if second_look:
        if c.status == "open":
            set_status(s, c, "in_review", actor=user.name)
    else:
        if c.status in ("open", "in_review"):
            set_status(s, c, "decided", actor=user.name)
        c.decided_at = now
    if outcome == "confirm" and not second_look:
        # its images become confirmed material: recent items are compared with them (bastion.cases.similar_retro)
        from bastion.store.wake import announce

        d.similar_retro = "pending"
        announce(s, "decisions")
    if outcome == "confirm" and c.account_id and not second_look:
        a = s.get(AccountRow, c.account_id)
        a.confirmed_count += 1
        if "suspend_account" in actions:
            a.status = "suspended"
        a.risk_score = acc.risk_of(a.confirmed_count, a.flagged_count, acc.linked_flagged(s, a.id))
    s.flush()
    from bastion.terms.counts import record_case_outcome

    record_case_outcome(s, c.id, outcome)  # the term counts of discovery (bastion.terms)
    _audit(s, user.name, "case.decide", "case", str(c.id), {"decision": d.id, "outcome": outcome,
                                                            "category": category, "actions": list(actions),
                                                            "second_look": second_look, "suspension": suspension,
                                                            "suspension_days": suspension_days})
    account = s.get(AccountRow, c.account_id) if c.account_id else None
    item_ids = list(s.scalars(select(ItemRow.external_id).join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
                              .where(CaseItemRow.case_id == c.id)))
    enqueue_event(s, "case.decided", {"case_id": c.id, "decision_id": d.id, "outcome": outcome, "category": category,
                                 "actions": list(actions), "needs_second_look": second_look,
                                 "suspension": suspension, "suspension_days": suspension_days,
                                 "account_id": account.external_id if account else None, "item_ids": item_ids})
    return d


# --- accounts --------------------------------------------------------------------------------------


def account_summary(s: Session, a: AccountRow) -> dict[str, Any]:
    return {"id": a.external_id, "handle": a.handle, "status": a.status, "risk": a.risk_score,
            "items": a.item_count, "flagged_items": a.flagged_count, "confirmed_cases": a.confirmed_count,
            "created_at": a.platform_created_at.isoformat() if a.platform_created_at else None,
            "first_seen": a.first_seen.isoformat() if a.first_seen else None,
            "age_days": acc.age_days(a)}


def account_suspension(s: Session, a: AccountRow) -> dict[str, Any] | None:
    """The suspension in force on ``a``: the latest standing confirm with ``suspend_account`` of any of its
    cases — its kind, length and end (a temporary one), and which case and decision imposed it."""
    rows = s.scalars(select(DecisionRow).join(CaseRow, CaseRow.id == DecisionRow.case_id)
                     .where(CaseRow.account_id == a.id, DecisionRow.outcome == "confirm",
                            DecisionRow.needs_second_look.is_(False))
                     .order_by(DecisionRow.id.desc()).limit(50))
    for d in rows:
        kind = suspension_of(d)
        if kind is None:
            continue
        at = as_utc(d.created_at)
        until = at + timedelta(days=d.suspension_days) if kind == "temporary" and d.suspension_days else None
        return {"kind": kind, "days": d.suspension_days if kind == "temporary" else None,
                "until": until.isoformat() if until else None, "case_id": d.case_id, "decision_id": d.id,
                "decided_at": at.isoformat()}
    return None


def account_view(s: Session, external_id: str) -> dict[str, Any]:
    a = s.scalar(select(AccountRow).where(AccountRow.external_id == external_id))
    if a is None:
        raise NotFound(f"no account {external_id!r}")
    links: dict[str, dict[str, Any]] = {}
    rows = s.execute(select(AccountLinkRow, AccountRow).join(AccountRow, AccountRow.id == AccountLinkRow.other_account_id)
                     .where(AccountLinkRow.account_id == a.id).order_by(AccountLinkRow.id)).all()
    for link, other in rows:
        entry = links.setdefault(other.external_id, {"account_id": other.external_id, "handle": other.handle,
                                                     "risk": other.risk_score, "flagged_items": other.flagged_count,
                                                     "evidence": []})
        entry["evidence"].append({"kind": link.kind, "value": link.value, "since": link.created_at.isoformat()})
    cases = s.execute(select(CaseRow).where(CaseRow.account_id == a.id).order_by(CaseRow.id.desc()).limit(50)).scalars()
    recent = s.execute(select(ItemRow.external_id, ItemRow.action, ItemRow.received_at).where(ItemRow.account_id == a.id)
                       .order_by(ItemRow.id.desc()).limit(50)).all()
    return {
        **account_summary(s, a),
        "suspension": account_suspension(s, a) if a.status == "suspended" else None,
        "linked_flagged": acc.linked_flagged(s, a.id),
        "links": list(links.values()),
        "cases": [case_summary(c, a.external_id) for c in cases],
        "recent_items": [{"item_id": e, "action": act, "received_at": r.isoformat()} for e, act, r in recent],
    }


def stats_overview(s: Session) -> dict[str, Any]:
    by_status = dict(s.execute(select(CaseRow.status, func.count()).group_by(CaseRow.status)).all())
    by_action = dict(s.execute(select(ItemRow.action, func.count()).group_by(ItemRow.action)).all())
    return {"cases": by_status, "items": by_action}
