"""Storing scanned items: the commit half of ``POST /v1/items``, for a whole group in one transaction.

Everything that can be computed outside the writer is (verdict and facts as dicts, account keys, the
answer's parts): the writer thread is the one place items queue, so it only runs statements. Per group, not
per item:

* accounts: one ``SELECT`` of every account of the group (``FOR UPDATE`` on PostgreSQL, in id order so two
  processes never deadlock), one ``INSERT … ON CONFLICT DO NOTHING`` for accounts seen for the first time,
  one ``UPDATE`` (executemany) with the counters at the end;
* items: one multi-row ``INSERT … RETURNING id``; media hashes: one multi-row ``INSERT``;
* case links: per item that needs people (the case of its account is found or opened, as before), then one
  ``UPDATE items SET case_id`` for the group.

Account keys and links (contacts, payment handles, media hashes) and cases keep the per-item functions of
``accounts`` and ``ingest``: they are rare per item and carry the linking rules. Guarantees as before: the
group commits as one transaction with its outbox rows; a failing group is retried item by item by the writer
(cases/writer.py), so a duplicate id fails only its own request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from bastion.cases import accounts as acc
from bastion.cases.models import AccountRow, CaseItemRow, CaseRow, ItemMediaRow, ItemRow
from bastion.cases.schemas import ItemIn
from bastion.clock import as_utc
from bastion.store.schema import utcnow

_ITEMS = ItemRow.__table__
_MEDIA = ItemMediaRow.__table__
_ACCOUNTS = AccountRow.__table__
_MEDIA_FIELDS = ("position", "filename", "sha256", "md5", "pdq", "quality", "media_format", "width", "height",
                 "size", "result")
_ACCOUNT_COLUMNS = (_ACCOUNTS.c.id, _ACCOUNTS.c.external_id, _ACCOUNTS.c.handle, _ACCOUNTS.c.platform_created_at,
                    _ACCOUNTS.c.item_count, _ACCOUNTS.c.flagged_count, _ACCOUNTS.c.confirmed_count)


@dataclass
class Intake:
    """One scanned item, ready to be stored: everything the writer needs, computed by the request's thread."""

    item: ItemIn
    key: str | None
    digest: str
    facts: dict[str, Any]
    verdict: dict[str, Any]
    media: list[dict[str, Any]]
    held: set[str]
    languages: list[str]
    opens_case: bool
    #: linked accounts with flagged items, as read before the scan (only new links can change it)
    linked_flagged: int
    #: (kind, value) keys the item shows (contacts, payment handles, media hashes, seeds, models)
    keys: set[tuple[str, str]]
    policy_version: str
    #: what the per-day term counts need (bastion.terms.intake.IntakeTerms), or None
    terms: Any = None
    #: (filename, bytes) of the files kept for people (an item that opened a case): for the on_kept hook
    kept: list[tuple[str | None, bytes]] = field(default_factory=list)


@dataclass
class _Account:
    """The account columns the write touches (what open_or_extend_case and the counters need)."""

    id: int
    external_id: str
    handle: str | None
    platform_created_at: Any
    item_count: int
    flagged_count: int
    confirmed_count: int
    risk_score: float = 0.0
    touched: bool = field(default=False, repr=False)


def answer_of(external_id: str, verdict: dict[str, Any], signals: list, case_id: int | None) -> dict[str, Any]:
    return {
        "item_id": external_id,
        "verdict": {"action": verdict["action"], "actions": verdict["actions"], "priority": verdict["priority"],
                    "reasons": verdict["reasons"]},
        "signals": signals,
        "case_id": case_id,
    }


_CASES = CaseRow.__table__
_CASE_ITEMS = CaseItemRow.__table__
_OPEN = ("open", "in_review")
_CASE_STATE = (_CASES.c.id, _CASES.c.account_id, _CASES.c.priority, _CASES.c.sources, _CASES.c.banks,
               _CASES.c.languages, _CASES.c.automated_action, _CASES.c.summary)
_OPEN_CASES = (select(*_CASE_STATE).where(_CASES.c.account_id.in_(bindparam("accounts", expanding=True)),
                                          _CASES.c.status.in_(_OPEN)).order_by(_CASES.c.id))
_NEW_CASE = insert(_CASES).returning(_CASES.c.id)
_SET_CASE = (update(_CASES).where(_CASES.c.id == bindparam("_id")).values(
    priority=bindparam("_priority"), updated_at=bindparam("_now"), sources=bindparam("_sources"),
    banks=bindparam("_banks"), languages=bindparam("_languages"), automated_action=bindparam("_automated"),
    summary=bindparam("_summary")))
#: ids come back with their external id: asking for them in parameter order makes SQLAlchemy insert row by
#: row on SQLite (no order guarantee there), while this is one multi-row statement on both databases
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, _ITEMS.c.external_id)
_INSERT_MEDIA = insert(_MEDIA)
_INSERT_CASE_ITEMS = insert(_CASE_ITEMS)
_SET_ACCOUNT = (update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("_id")).values(
    handle=bindparam("_handle"), platform_created_at=bindparam("_created"), last_seen=bindparam("_seen"),
    item_count=bindparam("_items"), flagged_count=bindparam("_flagged"), risk_score=bindparam("_risk")))


#: PostgreSQL: a group's account and case updates as one statement over arrays (``unnest``): psycopg ran the
#: ``executemany`` above once per row (1.3 executions per text item), and this text is the same for every
#: group (kept prepared). Timestamps go as UTC (a naive one is UTC, as everywhere in Bastion).
_PG_SET_ACCOUNTS = text(
    "UPDATE accounts SET handle = v.handle, platform_created_at = v.created, last_seen = :seen, item_count = v.items, "
    "flagged_count = v.flagged, risk_score = v.risk FROM unnest(CAST(:id AS BIGINT[]), CAST(:handle AS VARCHAR[]), "
    "CAST(:created AS TIMESTAMPTZ[]), CAST(:items AS INTEGER[]), CAST(:flagged AS INTEGER[]), "
    "CAST(:risk AS DOUBLE PRECISION[])) AS v(id, handle, created, items, flagged, risk) WHERE accounts.id = v.id")
_PG_SET_CASES = text(
    "UPDATE cases SET priority = v.priority, updated_at = :now, sources = v.sources, banks = v.banks, "
    "languages = v.languages, automated_action = v.automated, summary = v.summary FROM unnest(CAST(:id AS BIGINT[]), "
    "CAST(:priority AS INTEGER[]), CAST(:sources AS VARCHAR[]), CAST(:banks AS TEXT[]), CAST(:languages AS VARCHAR[]), "
    "CAST(:automated AS VARCHAR[]), CAST(:summary AS TEXT[])) "
    "AS v(id, priority, sources, banks, languages, automated, summary) WHERE cases.id = v.id")


@dataclass
class _Case:
    """The columns of an open case that a new item changes (fold_into_case works on this and on CaseRow)."""

    id: int
    account_id: int | None
    priority: int
    sources: str
    banks: str
    languages: str
    automated_action: str | None
    summary: str
    new: bool = False


def persist_group(s: Session, batch: list[Intake], *, on_removed=None, on_kept=None) -> list[dict[str, Any]]:
    """Store ``batch`` in the caller's transaction (no commit); return each item's answer, in order.
    ``on_removed(session, item_row, case_row)`` runs for each item the policy removed on its own (the DSA
    statement of reasons of an automated removal); ``on_kept(session, item_row, case_row, files)`` for each
    item whose files were kept for people (the evidence vault); those items are read back as rows for them."""
    from bastion.effects import webhooks
    from bastion.terms.counts import day_of, record_item

    now = utcnow()
    pg = s.get_bind().dialect.name == "postgresql"
    accounts = _accounts(s, batch, now)
    # Cases first (their ids go into the item rows): one read of the open cases of every account concerned.
    need = [b for b in batch if b.opens_case]
    case_of: list[_Case | None] = [None] * len(batch)
    touched: dict[int, _Case] = {}
    opened: list[tuple[_Case, Intake]] = []
    if need:
        by_account: dict[int, _Case] = {}
        ids = sorted({accounts[b.item.account.id].id for b in need if b.item.account is not None})
        if ids:
            for r in s.execute(_OPEN_CASES, {"accounts": ids}):
                by_account.setdefault(r.account_id, _Case(*r))
        for i, b in enumerate(batch):
            if not b.opens_case:
                continue
            account = accounts[b.item.account.id] if b.item.account is not None else None
            case = by_account.get(account.id) if account is not None else None
            if case is None:
                case = _Case(0, account.id if account else None, 0, "", "", "", None, "", new=True)
                case.id = s.execute(_NEW_CASE, {"status": "open", "priority": 0, "account_id": case.account_id,
                                                "opened_at": now, "updated_at": now, "sources": "", "banks": "",
                                                "languages": "", "summary": ""}).scalar_one()
                opened.append((case, b))
                if account is not None:
                    by_account[account.id] = case
            fold_into_case(case, account, b.verdict, b.facts.get("signals", []), b.languages)
            case_of[i] = touched[case.id] = case
    returned = s.execute(_INSERT_ITEMS, [{
        "external_id": b.item.id, "idempotency_key": b.key, "request_sha256": b.digest, "kind": b.item.kind,
        "account_id": accounts[b.item.account.id].id if b.item.account else None,
        "parent_external_id": b.item.parent_id, "title": b.item.title, "body": b.item.body, "tags": list(b.item.tags),
        "price": b.item.price.model_dump() if b.item.price else None, "platform_created_at": b.item.created_at,
        "received_at": now, "facts": b.facts, "verdict": b.verdict, "action": b.verdict["action"],
        "priority": b.verdict["priority"], "policy_version": b.policy_version,
        "case_id": case.id if (case := case_of[i]) is not None else None,
    } for i, b in enumerate(batch)]).all()
    by_external = {ext: item_id for item_id, ext in returned}
    item_ids = [by_external[b.item.id] for b in batch]
    for b, item_id in zip(batch, item_ids):
        if b.terms is not None:  # written for the whole group when the transaction commits (terms/counts.py)
            record_item(s, item_id, day_of(now, b.item.created_at), b.terms.language, b.terms.found, b.terms.known)
    media = [{"item_id": item_id, "held": m["sha256"] in b.held, **{k: m[k] for k in _MEDIA_FIELDS}}
             for b, item_id in zip(batch, item_ids) for m in b.media]
    if media:
        s.execute(_INSERT_MEDIA, media)
    if touched:
        s.execute(_INSERT_CASE_ITEMS, [{"case_id": case.id, "item_id": item_id, "added_at": now,
                                        "reason": link_reason(b.verdict)[:2000]}
                                       for b, item_id, case in zip(batch, item_ids, case_of) if case is not None])
        cases = sorted(touched.values(), key=lambda c: c.id)
        if pg:
            s.execute(_PG_SET_CASES, {
                "now": now, "id": [c.id for c in cases], "priority": [c.priority for c in cases],
                "sources": [c.sources for c in cases], "banks": [c.banks for c in cases],
                "languages": [c.languages for c in cases], "automated": [c.automated_action for c in cases],
                "summary": [c.summary for c in cases]})
        else:
            s.execute(_SET_CASE.execution_options(synchronize_session=False), [{
                "_id": c.id, "_priority": c.priority, "_now": now, "_sources": c.sources, "_banks": c.banks,
                "_languages": c.languages, "_automated": c.automated_action, "_summary": c.summary} for c in cases])
    answers: list[dict[str, Any]] = []
    first_item = {id(b): b for _, b in opened}
    for b, case in zip(batch, case_of):
        account = accounts.get(b.item.account.id) if b.item.account else None
        if account is not None:
            account.item_count += 1
            if b.verdict["action"] != "allow":
                account.flagged_count += 1
            linked = b.linked_flagged
            if b.keys and acc.record_keys(s, account.id, b.keys, b.item.id):
                linked = acc.linked_flagged(s, account.id)  # only new links can change it
            account.risk_score = acc.risk_of(account.confirmed_count, account.flagged_count, linked)
        if case is not None and case.new and id(b) in first_item:
            webhooks.enqueue(s, "case.opened", {"case_id": case.id, "priority": case.priority, "item_id": b.item.id,
                                                "account_id": b.item.account.id if b.item.account else None,
                                                "sources": case.sources.split(",") if case.sources else []})
        answer = answer_of(b.item.id, b.verdict, b.facts.get("signals", []), case.id if case is not None else None)
        webhooks.enqueue(s, "verdict", answer)
        answers.append(answer)
    for b, item_id, case in zip(batch, item_ids, case_of):
        if case is None:
            continue
        if on_removed is not None and b.verdict["action"] == "remove":
            on_removed(s, s.get(ItemRow, item_id), s.get(CaseRow, case.id))
        if on_kept is not None and b.held and b.kept:
            on_kept(s, s.get(ItemRow, item_id), s.get(CaseRow, case.id), b.kept)
    if accounts:
        rows = sorted(accounts.values(), key=lambda a: a.id)
        if pg:
            s.execute(_PG_SET_ACCOUNTS, {
                "seen": now, "id": [a.id for a in rows], "handle": [a.handle for a in rows],
                "created": [as_utc(a.platform_created_at) for a in rows], "items": [a.item_count for a in rows],
                "flagged": [a.flagged_count for a in rows], "risk": [float(a.risk_score) for a in rows]})
        else:
            s.execute(_SET_ACCOUNT.execution_options(synchronize_session=False), [
                {"_id": a.id, "_handle": a.handle, "_created": a.platform_created_at, "_seen": now, "_items": a.item_count,
                 "_flagged": a.flagged_count, "_risk": a.risk_score} for a in rows])
    return answers


#: built once (a statement built per group costs more to build and to key for the cache than to run)
_READ_ACCOUNTS = (select(*_ACCOUNT_COLUMNS).where(_ACCOUNTS.c.external_id.in_(bindparam("ids", expanding=True)))
                  .order_by(_ACCOUNTS.c.id))
_READ_ACCOUNTS_LOCKED = _READ_ACCOUNTS.with_for_update()


def _accounts(s: Session, batch: list[Intake], now) -> dict[str, _Account]:
    """The group's accounts, created when new, locked on PostgreSQL (one writer per account at a time: case
    dedupe and counters stay right across processes), with the handle and creation time the items bring."""
    wanted: dict[str, Any] = {}
    for b in batch:
        if b.item.account is not None:
            wanted.setdefault(b.item.account.id, b.item.account)
    if not wanted:
        return {}
    pg = s.get_bind().dialect.name == "postgresql"

    def read(ext_ids) -> dict[str, _Account]:
        return {r.external_id: _Account(*r) for r in s.execute(_READ_ACCOUNTS_LOCKED if pg else _READ_ACCOUNTS,
                                                               {"ids": sorted(ext_ids)})}

    found = read(wanted)
    missing = [e for e in wanted if e not in found]
    if missing:
        if pg:
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        s.execute(upsert(_ACCOUNTS).on_conflict_do_nothing(index_elements=["external_id"]), [{
            "external_id": e, "handle": wanted[e].handle, "platform_created_at": wanted[e].created_at,
            "first_seen": now, "last_seen": now, "item_count": 0, "flagged_count": 0, "confirmed_count": 0,
            "risk_score": 0.0, "status": "active"} for e in missing])
        found.update(read(missing))
    for b in batch:  # in order: the last handle given wins, the first creation time sticks
        a = b.item.account
        if a is None:
            continue
        row = found[a.id]
        if a.handle:
            row.handle = a.handle
        if a.created_at and row.platform_created_at is None:
            row.platform_created_at = a.created_at
    return found


def link_reason(verdict: dict[str, Any], reason: str | None = None) -> str:
    return reason or ", ".join(r.get("rule", "") for r in (verdict.get("reasons") or []))


def fold_into_case(case, account, verdict: dict[str, Any], signals: list[dict[str, Any]], languages) -> None:
    """What an item that needs people changes on its case (a CaseRow or a _Case): the priority rises to the
    item's, its detection sources, banks and languages join the case's, a removal is recorded, and a case
    without a summary gets the item's reasons. ``updated_at`` is the caller's."""
    case.priority = max(case.priority or 0, int(verdict.get("priority", 0)))
    sources = {"hash" if x.get("source") == "hash" else x.get("source") for x in signals if x.get("source")}
    if account is not None and account.confirmed_count:
        sources.add("account")
    case.sources = _merge(case.sources, sources)
    case.banks = _merge(case.banks, {(x.get("evidence") or {}).get("bank") for x in signals if x.get("source") == "hash"})
    case.languages = _merge(case.languages, set(languages))
    if verdict.get("action") == "remove":
        case.automated_action = "remove"
    if not case.summary:
        reasons = verdict.get("reasons") or []
        case.summary = case_summary(reasons)


def open_or_extend_case(s: Session, item, account, verdict: dict[str, Any], signals: list[dict[str, Any]],
                        languages: list[str], now, reason: str | None = None) -> CaseRow:
    """One open case per account (and per item without an account): an item joins its account's open case,
    raising its priority; otherwise a case is opened. Fires ``case.opened`` for a new case. The ORM twin of
    the group path in :func:`persist_group`, for items already stored (retro-matching)."""
    case = None
    if account is not None:
        case = s.scalar(
            select(CaseRow).where(CaseRow.account_id == account.id, CaseRow.status.in_(_OPEN))
            .order_by(CaseRow.id).limit(1))
    if item.case_id is not None and case is None:
        existing = s.get(CaseRow, item.case_id)
        if existing is not None and existing.status in _OPEN:
            case = existing
    new = case is None
    if new:
        case = CaseRow(status="open", priority=0, account_id=account.id if account else None, opened_at=now,
                       updated_at=now, sources="", banks="", languages="", summary="")
        s.add(case)
        s.flush()
    fold_into_case(case, account, verdict, signals, languages)
    case.updated_at = now
    already = s.scalar(select(CaseItemRow.id).where(CaseItemRow.case_id == case.id, CaseItemRow.item_id == item.id))
    if already is None:
        s.add(CaseItemRow(case_id=case.id, item_id=item.id, added_at=now, reason=link_reason(verdict, reason)[:2000]))
    s.flush()
    if new:
        from bastion.effects import webhooks

        webhooks.enqueue(s, "case.opened", {"case_id": case.id, "priority": case.priority, "item_id": item.external_id,
                                            "account_id": account.external_id if account else None,
                                            "sources": case.sources.split(",") if case.sources else []})
    return case


def _merge(current: str, new: set) -> str:
    have = {x for x in (current or "").split(",") if x}
    have |= {str(x) for x in new if x}
    return ",".join(sorted(have))


def case_summary(reasons: list[dict]) -> str:
    """One line for people from a verdict's first reasons: each rule's description as plain prose (no
    Markdown backticks, no full stop before the separator), joined with "; "."""
    parts = []
    for r in reasons[:3]:
        text = (r.get("description") or r.get("rule") or "").replace("`", "").strip().rstrip(".;").strip()
        if text:
            parts.append(text)
    return "; ".join(parts)[:1000]
