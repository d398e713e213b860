"""Accounts: keys they show (contacts, payment handles, wallets, media hashes, generation seeds and models),
the links that shared keys make between them, and a risk score that aggregates their history.

Risk is a noisy-or, so each kind of evidence raises it and none alone saturates it:
``1 - (1-0.6)^confirmed * (1-0.15)^flagged-but-unconfirmed * (1-0.1)^linked accounts that were flagged``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.cases.models import AccountKeyRow, AccountLinkRow, AccountRow
from bastion.store.schema import utcnow
from bastion.clock import as_utc

#: text detector rules whose value is a crypto wallet rather than a payment handle
_WALLET_RULES = ("commerce:btc", "commerce:eth", "commerce:xmr", "commerce:ltc", "commerce:trx", "commerce:sol", "crypto:")
LINK_KINDS = ("contact", "payment", "wallet", "media", "seed", "model")


def keys_of(signals: Iterable[dict[str, Any]], media: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """The (kind, value) keys an item shows. ``signals`` are signal dicts; ``media`` the stored media rows'
    hashes and provenance."""
    keys: set[tuple[str, str]] = set()
    for s in signals:
        cat, value = s.get("category"), s.get("normalized")
        if s.get("source") != "text" or not value:
            continue
        if cat == "contact":
            keys.add(("contact", value.lower()[:255]))
        elif cat == "payment":
            rule = str((s.get("evidence") or {}).get("rule", ""))
            kind = "wallet" if rule.startswith(_WALLET_RULES) else "payment"
            keys.add((kind, value if kind == "wallet" else value.lower()[:255]))
    for m in media:
        if m.get("sha256"):
            keys.add(("media", "sha256:" + m["sha256"]))
        if m.get("pdq"):
            keys.add(("media", "pdq:" + m["pdq"]))
        for p in ((m.get("provenance") or {}).get("provenances") or []):
            if p.get("seed") is not None:
                keys.add(("seed", str(p["seed"])[:255]))
            if p.get("model"):
                keys.add(("model", str(p["model"]).lower()[:255]))
    return keys


def risk_of(confirmed: int, flagged: int, linked_flagged: int) -> float:
    unconfirmed = max(0, flagged - confirmed)
    r = 1.0 - (0.4**confirmed) * (0.85**unconfirmed) * (0.9**linked_flagged)
    return round(r, 4)


def linked_flagged(session: Session, account_id: int) -> int:
    """How many accounts linked to this one have flagged items."""
    return session.scalar(
        select(func.count(func.distinct(AccountLinkRow.other_account_id)))
        .join(AccountRow, AccountRow.id == AccountLinkRow.other_account_id)
        .where(AccountLinkRow.account_id == account_id, AccountRow.flagged_count > 0)
    ) or 0


def age_days(row: AccountRow, now: datetime | None = None) -> float | None:
    if row.platform_created_at is None:
        return None
    created = as_utc(row.platform_created_at)
    return max(0.0, ((now or utcnow()) - created).total_seconds() / 86400)


def record_keys(session: Session, account_id: int, keys: set[tuple[str, str]], item_external_id: str) -> int:
    """Store the keys the account showed and link it to every other account that showed one of them.
    Returns the number of new links. Seeds and models are only linked when rare: a popular public model
    links nothing (more than 50 accounts share it)."""
    if not keys:
        return 0
    have = {(k, v) for k, v in session.execute(
        select(AccountKeyRow.kind, AccountKeyRow.value).where(AccountKeyRow.account_id == account_id))}
    new_links = 0
    now = utcnow()
    for kind, value in sorted(keys - have):
        session.add(AccountKeyRow(account_id=account_id, kind=kind, value=value, item_external_id=item_external_id,
                                  first_seen=now))
        others = list(session.scalars(
            select(AccountKeyRow.account_id).where(AccountKeyRow.kind == kind, AccountKeyRow.value == value,
                                                   AccountKeyRow.account_id != account_id).limit(51)))
        if kind in ("seed", "model") and len(others) > 50:
            continue
        for other in others:
            for a, b in ((account_id, other), (other, account_id)):
                session.add(AccountLinkRow(account_id=a, other_account_id=b, kind=kind, value=value, created_at=now))
            new_links += 1
    session.flush()
    return new_links
