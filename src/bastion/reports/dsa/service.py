"""Statements kept in the store, exported as JSON lines, and submitted in batches of 100 to a configured
endpoint (the Transparency Database's multiple-statements endpoint, or anything speaking its protocol).

The puid is the idempotency key: a batch retried after a lost answer is refused by the database with "puid
not unique" for the statements it already has, and those are recorded as submitted, not as failures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Callable, Iterable

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import DsaSubmitError
from bastion.reports.dsa.validator import validate_statement, validate_statements
from bastion.reports.models import DsaStatementRow
from bastion.store.db import Store

BATCH = 100


def _now() -> datetime:
    return datetime.now(timezone.utc)


def record_statement(session: Session, statement: dict, *, decision_id: int | None = None, case_id: int | None = None) -> DsaStatementRow:
    """Validate and keep a statement; the same puid recorded again returns the row already kept."""
    validate_statement(statement)
    row = session.scalars(select(DsaStatementRow).where(DsaStatementRow.puid == statement["puid"])).first()
    if row is not None:
        return row
    row = DsaStatementRow(puid=statement["puid"], decision_id=decision_id, case_id=case_id, statement=statement, state="pending", created_at=_now())
    session.add(row)
    session.flush()
    return row


def statements_since(session: Session, since: datetime | None = None, *, state: str | None = None) -> list[DsaStatementRow]:
    q = select(DsaStatementRow).order_by(DsaStatementRow.id)
    if since is not None:
        q = q.where(DsaStatementRow.created_at >= since)
    if state is not None:
        q = q.where(DsaStatementRow.state == state)
    return list(session.scalars(q))


def export_jsonl(statements: Iterable[dict], out: IO[str]) -> int:
    n = 0
    for st in statements:
        out.write(json.dumps(st, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


@dataclass
class BatchResult:
    submitted: list[str]
    already_there: list[str]
    refused: dict[str, dict]


class DsaClient:
    """POSTs ``{"statements": [...]}`` with a bearer token. Retries connection failures, 429 and 5xx (safe:
    the puid makes a repeated statement a refusal, never a duplicate)."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.endpoint = endpoint
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def submit_batch(self, statements: list[dict]) -> BatchResult:
        if not 0 < len(statements) <= BATCH:
            raise DsaSubmitError(f"a batch holds 1 to {BATCH} statements, not {len(statements)}")
        body = json.dumps({"statements": statements}).encode()
        last = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                resp = self._http.post(self.endpoint, content=body)
            except httpx.TransportError as exc:
                last = DsaSubmitError(f"{self.endpoint}: {type(exc).__name__}: {exc}")
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = DsaSubmitError(f"{self.endpoint}: HTTP {resp.status_code}")
                continue
            if resp.status_code in (200, 201):
                return BatchResult([s["puid"] for s in statements], [], {})
            if resp.status_code == 422:
                return _refusals(statements, resp)
            raise DsaSubmitError(f"{self.endpoint}: HTTP {resp.status_code}: {resp.text[:300]}")
        raise last


def _refusals(statements: list[dict], resp: httpx.Response) -> BatchResult:
    """A 422 refuses the whole batch. Statements refused only because their puid exists are already there;
    the others are sent again in the next batch unless they themselves were refused."""
    try:
        errors = resp.json().get("errors", {})
    except ValueError:
        raise DsaSubmitError(f"HTTP 422 without a readable body: {resp.text[:300]}") from None
    already, refused = [], {}
    for i, st in enumerate(statements):
        e = errors.get(f"statement_{i}")
        if not e:
            continue
        if set(e) == {"puid"} and all("unique" in m for m in e["puid"]):
            already.append(st["puid"])
        else:
            refused[st["puid"]] = e
    return BatchResult([], already, refused)


def submit_pending(store: Store, client: DsaClient, *, since: datetime | None = None) -> dict:
    """Submit every pending statement, 100 a call. A batch refused because of some statements is sent again
    without them; refused statements are marked with the database's reasons."""
    with store.session() as s:
        rows = statements_since(s, since, state="pending")
        pending = [(r.id, r.statement) for r in rows]
    validate_statements(st for _, st in pending)
    counts = {"submitted": 0, "already_there": 0, "refused": 0, "calls": 0}
    queue = list(pending)
    while queue:
        batch, queue = queue[:BATCH], queue[BATCH:]
        while batch:
            counts["calls"] += 1
            result = client.submit_batch([st for _, st in batch])
            done = set(result.submitted) | set(result.already_there)
            with store.session() as s, s.begin():
                for row_id, st in batch:
                    row = s.get(DsaStatementRow, row_id)
                    if st["puid"] in done:
                        row.state, row.submitted_at, row.last_error = "submitted", _now(), None
                    elif st["puid"] in result.refused:
                        row.state, row.last_error = "rejected", json.dumps(result.refused[st["puid"]])
            counts["submitted"] += len(result.submitted)
            counts["already_there"] += len(result.already_there)
            counts["refused"] += len(result.refused)
            if not done and not result.refused:
                raise DsaSubmitError(f"{client.endpoint} refused a batch without saying which statements: nothing more is sent")
            batch = [(i, st) for i, st in batch if st["puid"] not in done and st["puid"] not in result.refused]
    return counts
