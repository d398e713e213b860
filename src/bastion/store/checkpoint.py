"""WAL checkpoints of a SQLite store off the writer's path.

In WAL mode SQLite appends every committed page to the ``-wal`` file and copies them back into the database
(a checkpoint) once the file holds 1,000 pages, in the connection whose commit crossed the mark: that
commit then also writes the pages back and waits for two ``fsync`` calls. Under ``bastion serve`` that
connection is the writer thread's (cases/writer.py), so the group in that commit and every group queued
behind it waited for the disk. Measured under wrk (8 connections, text items, loaded machine): the WAL
restarted ~3 times a second, and the commits that ran a checkpoint took 8–119 ms against a median commit of
3 ms — the tail of the answers' latency.

A :class:`Checkpointer` runs the checkpoints in a thread of its own, on a connection of its own, a short
while after commits (``PASSIVE``: it never blocks a writer or a reader; SQLite releases Python's GIL while it
copies and syncs). The store's connections keep an automatic checkpoint as a backstop, at a much larger mark,
so the WAL stays bounded if this thread ever falls behind. Durability is unchanged: a commit is in the WAL
(``synchronous=NORMAL``) before it is acknowledged, whoever copies it back later. An idle server does no
work here: the thread waits for a commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import event

from bastion.store.db import Store

log = logging.getLogger("bastion.store")

#: the store connections' own automatic checkpoint while a Checkpointer runs (pages of 4 KB: ~32 MB)
BACKSTOP_PAGES = 8192


class Checkpointer:
    def __init__(self, store: Store, *, interval: float = 0.25):
        self.store = store
        #: the shortest time between two checkpoints (commits in between are copied back together)
        self.interval = interval
        self._committed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: checkpoints run, and pages copied back by them (tests, diagnostics)
        self.runs = 0
        self.pages = 0

    @staticmethod
    def applies(store: Store) -> bool:
        """Whether ``store`` is a SQLite file (an in-memory database has no WAL)."""
        engine = store.engine
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        return bool(database) and database != ":memory:" and not database.startswith("file:")

    def start(self) -> "Checkpointer":
        engine = self.store.engine
        event.listen(engine, "connect", _backstop)
        event.listen(engine, "commit", self._on_commit)
        # connections opened before this (start-up's, migrations') go: every pooled one gets the backstop
        engine.dispose(close=True)
        self._thread = threading.Thread(target=self._run, name="bastion-checkpoint", daemon=True)
        self._thread.start()
        return self

    def _on_commit(self, _conn) -> None:
        self._committed.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.store.engine.url.database, isolation_level=None, check_same_thread=False)
        try:
            last = 0.0
            while not self._stop.is_set():
                self._committed.wait()
                if self._stop.is_set():
                    break
                pause = last + self.interval - time.monotonic()
                if pause > 0 and self._stop.wait(pause):
                    break
                self._committed.clear()  # commits from here on are for the next checkpoint
                try:
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; the store's own automatic checkpoint still bounds the WAL",
                                exc_info=True)
                else:
                    self.runs += 1
                    self.pages += max(copied, 0)
                last = time.monotonic()
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._committed.set()
        if self._thread is not None:
            self._thread.join(10)
        engine = self.store.engine
        for name, fn in (("connect", _backstop), ("commit", self._on_commit)):
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)


def _backstop(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cur.close()


def start_checkpointer(store: Store) -> Checkpointer | None:
    """A running :class:`Checkpointer` for a SQLite file store, None for any other store."""
    if not Checkpointer.applies(store):
        return None
    return Checkpointer(store).start()
