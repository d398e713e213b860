"""Loops a ``bastion serve`` process runs beside its HTTP workers: bank index sync, retro-matching, batch
jobs and webhook delivery. Each is a thread with a stop event; a failure is logged and retried on the next
poll, never fatal. Several processes may run them at once: the queue, the outbox and the change log are
claimed safely in the database.

Every task says explicitly what one run did: it returns the number of units of work it did (``int``) or a
:class:`Pass` (the same, plus when work it already knows of falls due). A run that did work is followed at
once by another (there may be more); a run that did none waits — until a writer announces new work on one
of the loop's wake channels (``bastion.store.wake``: in-process after a commit, PostgreSQL ``NOTIFY`` from
any process), until known work falls due, or until the poll period runs out. Anything else a task returns
is a bug: it is logged and the loop waits, so an idle server never spins (an idle server once burned a whole
core because a report object was taken for "busy").
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

log = logging.getLogger("bastion.background")


@dataclass(frozen=True)
class Pass:
    """What one run of a background task did."""

    #: units of work done (rows applied, jobs run, deliveries tried); 0 = there was nothing to do
    done: int = 0
    #: seconds until work the task knows of falls due (a webhook retry), None when it knows of none
    due_in: float | None = None


@dataclass
class Loop:
    name: str
    fn: Callable[[], object]
    channels: tuple[str, ...]
    wake: threading.Event
    #: runs so far, runs that did work, runs that failed
    runs: int = 0
    busy: int = 0
    errors: int = 0
    thread: threading.Thread | None = field(default=None, repr=False)


def as_pass(result: object) -> Pass:
    """A task's return value as a :class:`Pass`; a :class:`TypeError` for anything that does not say how much
    work was done (a report object, None)."""
    if isinstance(result, Pass):
        return result
    if isinstance(result, int):  # bool included: True = did work
        return Pass(done=int(result))
    raise TypeError(f"a background task returns an int or a Pass, not {type(result).__name__}")


class Loops:
    """The background loops of one process.

    ``poll_seconds``: the longest a loop waits when it cannot be woken by every writer (no watcher, or one
    that is down). ``listen_poll_seconds``: the longest it waits while ``hub.listening`` (a PostgreSQL LISTEN
    connection or the SQLite data_version watcher runs: every writer's commit wakes it, so polling only
    catches leases that run out)."""

    def __init__(self, hub=None, *, poll_seconds: float = 1.0, listen_poll_seconds: float = 30.0,
                 on_run: Callable[[str, str], None] | None = None):
        self.stop = threading.Event()
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.listen_poll_seconds = max(listen_poll_seconds, poll_seconds)
        self.on_run = on_run
        self.loops: dict[str, Loop] = {}
        self.extra: list = []  # things to close with the loops (the PostgreSQL listener)

    @property
    def threads(self) -> list[threading.Thread]:
        return [lp.thread for lp in self.loops.values() if lp.thread is not None]

    def every(self, name: str, fn: Callable[[], object], *, channels: Iterable[str] = ()) -> Loop:
        channels = tuple(channels)
        wake = self.hub.subscribe(channels) if (self.hub is not None and channels) else threading.Event()
        lp = Loop(name, fn, channels, wake)
        lp.thread = threading.Thread(target=self._run, args=(lp,), name=f"bastion-{name}", daemon=True)
        self.loops[name] = lp
        lp.thread.start()
        return lp

    def _run(self, lp: Loop) -> None:
        while not self.stop.is_set():
            lp.wake.clear()  # before the run: an announcement made during it is not lost
            outcome = "idle"
            try:
                p = as_pass(lp.fn())
            except Exception:
                log.exception("background task %s failed; retrying", lp.name)
                p, outcome = Pass(), "error"
                lp.errors += 1
            lp.runs += 1
            if p.done > 0:
                lp.busy += 1
                outcome = "work"
            if self.on_run is not None:
                try:
                    self.on_run(lp.name, outcome)
                except Exception:  # noqa: BLE001 - metrics never stop the work
                    pass
            if outcome == "work":
                continue  # there may be more: run again at once
            wait = self.poll_seconds
            if lp.channels and self.hub is not None and self.hub.listening:
                wait = self.listen_poll_seconds
            if p.due_in is not None:
                wait = min(wait, max(p.due_in, 0.01))
            lp.wake.wait(wait)

    def stats(self) -> dict[str, dict[str, int]]:
        return {n: {"runs": lp.runs, "busy": lp.busy, "errors": lp.errors} for n, lp in self.loops.items()}

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for lp in self.loops.values():
            lp.wake.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for x in self.extra:
            x.close()
        if self.hub is not None:
            for lp in self.loops.values():
                self.hub.unsubscribe(lp.wake)
