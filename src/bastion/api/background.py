"""Loops a ``bastion serve`` process runs beside its HTTP workers: bank index sync, retro-matching, batch
jobs and webhook delivery. Each is a thread with a stop event; a failure is logged and retried on the next
poll, never fatal. Several processes may run them at once: the queue, the outbox and the change log are
claimed safely in the database."""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("bastion.background")


class Loops:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def every(self, name: str, seconds: float, fn: Callable[[], object]) -> None:
        def run() -> None:
            while not self.stop.is_set():
                busy = False
                try:
                    busy = bool(fn())
                except Exception:
                    log.exception("background task %s failed; retrying", name)
                if not busy:
                    self.stop.wait(seconds)

        t = threading.Thread(target=run, name=f"bastion-{name}", daemon=True)
        t.start()
        self.threads.append(t)

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
