"""Group commit: the item writes of one process go through one writer thread, which commits the items that
arrived together in ONE transaction and only then answers each of them.

A commit is the expensive part of storing an item (measured: most of the wall time of a text item on
SQLite), and SQLite has a single writer anyway, so concurrent requests queue for it; committing them together
pays for one commit instead of many, and nothing is acknowledged before it is durable. If any write of a
group fails (a duplicate id racing another process, a constraint), the group is rolled back and every
write is retried alone, so one bad item never fails the others and each gets its own error.

Two kinds of write share the queue: a callable ``write(session)`` (:meth:`GroupCommitter.run`), and a record
for the committer's ``write_many(session, records)`` (:meth:`GroupCommitter.submit`), which stores all the
records of a group with a few multi-row statements instead of a few statements each (cases/persist.py).

A committer with ``prepare_many`` also takes values that still need their reads and work before the commit
(:meth:`GroupCommitter.prepare_async`: an item without files, whose scan is quick): a second thread prepares
them a group at a time — the group's reads are one statement each for all its values — and queues the
records for the writer, so the next group is prepared while the last one commits. Callers on an event loop
get asyncio futures, settled on their loop once per group: no thread waits per item.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable

from sqlalchemy.orm import Session

from bastion.store.db import Store

Write = Callable[[Session], Any]
WriteMany = Callable[[Session, list], list]


class _Record:
    """A queued record for ``write_many`` (told apart from a callable write)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class _Pending:
    """A queued value for the committer's ``prepare_many`` (run for the group before its transaction)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class Prepared(tuple):
    """What ``prepare_many`` returns for one value: ``Prepared((True, answer))`` when it is answered already
    (nothing to write), ``Prepared((False, record))`` for a record to store with ``write_many``."""


class GroupCommitter:
    def __init__(self, store: Store, max_group: int = 64, *, write_many: WriteMany | None = None,
                 prepare_many: Callable[[list], list] | None = None):
        self.store = store
        self.max_group = max_group
        self.write_many = write_many
        #: ``prepare_many(values) -> [Prepared | exception]``: the reads and work before the commit, for the
        #: whole group at once, in this thread (see :meth:`prepare_async`)
        self.prepare_many = prepare_many
        self._queue: queue.Queue[tuple[Write | _Record, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        #: values waiting for prepare_many, and the thread that prepares them (see prepare_async)
        self._pending: queue.Queue = queue.Queue()
        self._preparer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.groups = 0
        self.writes = 0

    def run(self, write: Write) -> Any:
        """Run ``write(session)`` in a transaction with others; return its result once committed."""
        fut: Future = Future()
        self._ensure_thread()
        self._queue.put((write, fut))
        return fut.result()

    def submit(self, record: Any) -> Any:
        """Store ``record`` with ``write_many`` in a transaction with others; return its result once committed."""
        if self.write_many is None:
            raise TypeError("this GroupCommitter has no write_many")
        fut: Future = Future()
        self._ensure_thread()
        self._queue.put((_Record(record), fut))
        return fut.result()

    def submit_async(self, record: Any) -> "asyncio.Future":
        """:meth:`submit` for a caller on an event loop: an asyncio future, settled on that loop once the
        record's group committed (one wake-up of the loop per group, no thread waiting per record)."""
        if self.write_many is None:
            raise TypeError("this GroupCommitter has no write_many")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._ensure_thread()
        self._queue.put((_Record(record), _Waiter(loop, fut)))
        return fut

    def prepare_async(self, value: Any) -> "asyncio.Future":
        """Queue ``value`` for ``prepare_many`` and, unless that answers it, for ``write_many``: the group's
        reads run once for all its values, then its records commit together. An asyncio future of the answer
        (or the error), settled on the caller's loop."""
        if self.prepare_many is None or self.write_many is None:
            raise TypeError("this GroupCommitter has no prepare_many")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._ensure_thread()
        self._pending.put((_Pending(value), _Waiter(loop, fut)))
        return fut

    def _prepare_loop(self) -> None:
        """The preparing thread: groups of pending values through ``prepare_many``, their records on to the
        writer's queue. It prepares the next group while the writer commits the last one."""
        while True:
            first = self._pending.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    nxt = self._pending.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._pending.put(None)
                    break
                group.append(nxt)
            for entry in self._prepare(group):
                self._queue.put(entry)

    def _prepare(self, group: list) -> list:
        """Run ``prepare_many`` for the group's pending values: settle those it answers or refuses, and turn the
        others into records for the commit."""
        at = [i for i, (w, _) in enumerate(group) if isinstance(w, _Pending)]
        try:
            results = self.prepare_many([group[i][0].value for i in at])  # type: ignore[misc]
        except BaseException as exc:  # noqa: BLE001 - each waiting caller gets the error
            results = [exc] * len(at)
        pending = set(at)
        out = [g for i, g in enumerate(group) if i not in pending]
        done = []
        for i, r in zip(at, results):
            fut = group[i][1]
            if isinstance(r, BaseException):
                done.append((fut, False, r))
            elif r[0]:
                done.append((fut, True, r[1]))
            else:
                out.append((_Record(r[1]), fut))
        _settle(done)
        return out

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="bastion-writer", daemon=True)
                    self._thread.start()
        if self.prepare_many is not None and (self._preparer is None or not self._preparer.is_alive()):
            with self._start_lock:
                if self._preparer is None or not self._preparer.is_alive():
                    self._preparer = threading.Thread(target=self._prepare_loop, name="bastion-prepare", daemon=True)
                    self._preparer.start()

    def close(self) -> None:
        if self._preparer is not None and self._preparer.is_alive():
            self._pending.put(None)  # what it holds reaches the writer's queue before the writer's stop below
            self._preparer.join(10)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.append(nxt)
            self._commit(group)

    def _write(self, s: Session, group: list) -> list:
        """Run a group's writes in ``s``: the records together through write_many, the callables one by one;
        results in queue order."""
        results: list = [None] * len(group)
        records = [(i, w.value) for i, (w, _) in enumerate(group) if isinstance(w, _Record)]
        if records:
            for (i, _), r in zip(records, self.write_many(s, [v for _, v in records])):  # type: ignore[misc]
                results[i] = r
        for i, (w, _) in enumerate(group):
            if not isinstance(w, _Record):
                results[i] = w(s)
        return results

    def _commit(self, group: list[tuple[Write | _Record, Any]]) -> None:
        if len(group) > 1:
            try:
                with self.store.session() as s, s.begin():
                    results = self._write(s, group)
            except BaseException:
                pass  # retried one by one below
            else:
                self.groups += 1
                self.writes += len(group)
                _settle([(fut, True, result) for (_, fut), result in zip(group, results)])
                return
        done = []
        for one in group:
            fut = one[1]
            try:
                with self.store.session() as s, s.begin():
                    result = self._write(s, [one])[0]
            except BaseException as exc:  # the caller sees its own error
                done.append((fut, False, exc))
            else:
                self.groups += 1
                self.writes += 1
                done.append((fut, True, result))
        _settle(done)


class _Waiter:
    """An asyncio future and its loop, queued by :meth:`GroupCommitter.submit_async`."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future):
        self.loop, self.future = loop, future


def _settle(done: list[tuple[Any, bool, Any]]) -> None:
    """Hand each write its result (or error): thread futures directly, asyncio futures on their own loop, one
    call per loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for fut, ok, value in done:
        if isinstance(fut, _Waiter):
            by_loop.setdefault(fut.loop, []).append((fut.future, ok, value))
        elif ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, settled)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _resolve(settled: list) -> None:
    for fut, ok, value in settled:
        if fut.done():  # the waiting request was cancelled (the write itself is committed or not, as told)
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
