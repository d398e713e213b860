"""One writer at a time, cleanly (issue 12, item 6).

SQLite allows one writer: a second ``bank import`` (or a recording scan during an import) used to die with
``database is locked`` after the 10 s busy timeout, traceback and all. PostgreSQL allows many, but two
imports of the same hashes in different orders deadlocked, and two imports of one file at once each
counted the other's rows as their own ("added 200000" twice).

:func:`writing` opens a transaction that holds the write lock *before* anything is read or written, so the
work inside never meets a lock conflict half way and never has to be replayed:

* on SQLite it starts with a write (taking SQLite's single write lock); while another writer holds it, the
  attempt is rolled back and retried with a message, up to ``wait`` seconds, then :class:`StoreBusy`;
* on PostgreSQL it takes a transaction-level advisory lock named by ``key`` (a bank), so writers of the
  same bank queue up and each counts only its own rows; deadlocks and serialisation failures met while
  taking it are retried the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bastion.config import DEFAULT_LOCK_WAIT
from bastion.errors import BastionError
from bastion.store.db import Store, advisory_lock_id

__all__ = ["StoreBusy", "writing", "is_lock_conflict", "DEFAULT_WAIT"]

log = logging.getLogger("bastion.store")

#: Seconds a writer waits for another one before giving up (the store's ``lock_wait``, ``BASTION_LOCK_WAIT``).
DEFAULT_WAIT = DEFAULT_LOCK_WAIT
SQLITE_BUSY_MS = 10_000  # as bastion.store.db sets it on every connection
_PG_RETRY = frozenset({"40P01", "40001", "55P03"})  # deadlock, serialisation failure, lock not available


class StoreBusy(BastionError):
    """Another writer kept the store locked for longer than this one would wait."""

    code = "store-busy"


def is_lock_conflict(exc: BaseException) -> bool:
    """True for errors that mean "another writer is in the way; try again", on either database."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    if state in _PG_RETRY:
        return True
    msg = str(orig).lower()
    return "database is locked" in msg or "database is busy" in msg or "database table is locked" in msg


@contextlib.contextmanager
def writing(store: Store, what: str, *, key: str = "store", wait: float | None = None,
            on_wait: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> Iterator[Session]:
    """A session in a transaction that already holds the write lock (see the module docstring); commits
    when the block ends, rolls back on an exception."""
    limit = store.lock_wait if wait is None else wait
    deadline = time.monotonic() + limit
    delay, told = 0.05, False
    dialect = store.engine.dialect.name
    while True:
        s = store.session()
        tx = s.begin()
        try:
            if dialect == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_lock_id(key)})
            elif dialect == "sqlite":
                # Any write takes SQLite's write lock, even one that changes no row. Each attempt waits at
                # most a second inside SQLite, so the wait is ours to bound and to report.
                left = max(0.0, deadline - time.monotonic())
                s.execute(text(f"PRAGMA busy_timeout = {int(min(1.0, left) * 1000)}"))
                try:
                    s.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
                finally:
                    s.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}"))
        except DBAPIError as exc:
            tx.rollback()
            s.close()
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"{what}: the store is busy with another writer (waited {limit:g} s); try again when it has "
                    "finished, or set BASTION_LOCK_WAIT to wait longer"
                ) from None
            if not told:
                message = f"{what}: waiting for another writer to finish (up to {limit:g} s)"
                (on_wait or log.warning)(message)
                told = True
            sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        break
    try:
        yield s
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    finally:
        s.close()
