"""The console's one door into the service: every call it makes to auth, cases, banks, policy and effects.

Kept in one module so the console's pages never reach into another package's tables for anything that
changes state; decisions, claims, users and tokens go through the same functions as the HTTP API.
The few read-only aggregate queries the queue needs (counts per filter) are here too, in the open.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.auth import service as auth
from bastion.auth.models import UserRow
from bastion.cases import service as cases
from bastion.cases.models import CaseRow

QUEUE_STATUSES = ("open", "in_review")


def user_by_id(db: Session, user_id: int) -> UserRow | None:
    return db.get(UserRow, user_id)


def authenticate(db: Session, name: str, password: str) -> UserRow | None:
    return auth.authenticate(db, name, password)


def audit(db: Session, actor: str, action: str, target_type: str, target_id: str, details: dict) -> None:
    from bastion.effects import audit as audit_log

    audit_log.append(db, actor, action, target_type, target_id, details)


def queue_counts(db: Session, statuses: tuple[str, ...] = QUEUE_STATUSES) -> dict[str, Counter]:
    """Counts of queued cases per category, source, bank, language and account (read-only)."""
    rows = db.execute(select(CaseRow.category, CaseRow.sources, CaseRow.banks, CaseRow.languages,
                             CaseRow.account_id).where(CaseRow.status.in_(statuses))).all()
    out = {k: Counter() for k in ("category", "source", "bank", "language", "account")}
    for category, sources, banks, languages, account_id in rows:
        if category:
            out["category"][category] += 1
        for key, value in (("source", sources), ("bank", banks), ("language", languages)):
            for v in {x.strip() for x in (value or "").split(",") if x.strip()}:
                out[key][v] += 1
        if account_id is not None:
            out["account"][account_id] += 1
    return out


def list_cases(db: Session, **filters: Any) -> tuple[list[dict], Any]:
    return cases.list_cases(db, **{k: v for k, v in filters.items() if v not in (None, "")})


def get_case(db: Session, case_id: int) -> dict:
    return cases.get_case(db, case_id)
