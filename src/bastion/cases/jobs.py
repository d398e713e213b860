"""Batches: ``POST /v1/items:batch`` stores up to 1,000 items as jobs and answers at once; workers in every
``bastion serve`` process claim jobs from the shared table and run them through the same flow as a single
item. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers never wait on each other or take the same job.
SQLite: one writer at a time, so a claim is an ordinary transaction. A job whose worker died is taken over
when its lease runs out; a job that fails on bad input is recorded as failed with the problem, never lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update

from bastion.cases.models import BatchRow, JobRow
from bastion.cases.schemas import ItemIn
from bastion.errors import BastionError, InvalidInput, NotFound
from bastion.store.db import Store
from bastion.store.schema import utcnow
from bastion.store.wake import announce

log = logging.getLogger("bastion.jobs")
MAX_ATTEMPTS = 3


def create_batch(s, items: list[dict[str, Any]], user_id: int | None, max_batch: int = 1000) -> BatchRow:
    if not isinstance(items, list) or not items:
        raise InvalidInput("a batch is a non-empty JSON list of items (or {\"items\": [...]})")
    if len(items) > max_batch:
        raise InvalidInput(f"a batch has at most {max_batch} items, got {len(items)}")
    problems = []
    for i, it in enumerate(items):
        try:
            ItemIn.model_validate(it)
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(f"items[{i}].{'.'.join(str(x) for x in first['loc'])}: {first['msg']}")
    if problems:  # all or nothing: a batch with a bad item is refused whole, nothing is queued
        raise InvalidInput("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    batch = BatchRow(id=str(uuid.uuid4()), created_at=utcnow(), total=len(items), created_by=user_id)
    s.add(batch)
    s.flush()
    s.add_all([JobRow(batch_id=batch.id, position=i, payload=it, status="queued", attempts=0, updated_at=utcnow(),
                      item_external_id=str(it.get("id"))) for i, it in enumerate(items)])
    announce(s, "jobs")
    return batch


def batch_status(s, batch_id: str, *, limit: int = 1000, offset: int = 0) -> dict[str, Any]:
    batch = s.get(BatchRow, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}")
    counts = dict(s.execute(select(JobRow.status, func.count()).where(JobRow.batch_id == batch_id).group_by(JobRow.status)).all())
    jobs = s.scalars(select(JobRow).where(JobRow.batch_id == batch_id).order_by(JobRow.position).offset(offset).limit(limit)).all()
    done = counts.get("done", 0) + counts.get("failed", 0)
    return {
        "batch_id": batch.id, "total": batch.total, "status": "done" if done == batch.total else "running",
        "counts": {k: counts.get(k, 0) for k in ("queued", "running", "done", "failed")},
        "items": [{"position": j.position, "item_id": j.item_external_id, "status": j.status, "error": j.error,
                   "result": f"/v1/items/{j.item_external_id}" if j.status == "done" else None} for j in jobs],
    }


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim(store: Store, worker: str, n: int = 20, lease_seconds: int = 300) -> list[JobRow]:
    now = utcnow()
    due = or_(JobRow.status == "queued", (JobRow.status == "running") & (JobRow.locked_until < now))
    with store.session() as s, s.begin():
        q = select(JobRow).where(due).order_by(JobRow.id).limit(n)
        if store.engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        jobs = s.scalars(q).all()
        for j in jobs:
            j.status, j.locked_by, j.locked_until = "running", worker, now + timedelta(seconds=lease_seconds)
            j.attempts += 1
            j.updated_at = now
    return jobs


def _finish(store: Store, job_id: int, worker: str, status: str, error: dict | None = None) -> None:
    with store.session() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.locked_by == worker)
                  .values(status=status, error=error, locked_until=None, updated_at=utcnow()))


def work(service, worker: str | None = None, n: int = 20, lease_seconds: int = 300) -> int:
    """Claim and run up to ``n`` jobs. Returns how many were run."""
    worker = worker or worker_id()
    jobs = claim(service.store, worker, n, lease_seconds)
    for j in jobs:
        try:
            item = ItemIn.model_validate(j.payload)
            service.submit(item, [], None)
        except ValidationError as exc:
            _finish(service.store, j.id, worker, "failed", {"code": "invalid-input", "detail": str(exc)[:2000]})
            continue
        except BastionError as exc:
            _finish(service.store, j.id, worker, "failed", {"code": exc.code, "detail": str(exc)[:2000]})
            continue
        except Exception as exc:  # a server fault: retried until MAX_ATTEMPTS, then recorded as failed
            log.exception("batch job %s failed", j.id)
            if j.attempts >= MAX_ATTEMPTS:
                _finish(service.store, j.id, worker, "failed", {"code": "internal-error", "detail": f"{type(exc).__name__}: {exc}"[:2000]})
            else:
                _finish(service.store, j.id, worker, "queued")
            continue
        _finish(service.store, j.id, worker, "done")
    return len(jobs)
