"""The local engine: a process pool on this machine."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from bastion.engines import Task, crashed, examine_keys


class LocalEngine:
    name = "local"

    def __init__(self, jobs: int | None = None, window: int | None = None):
        self.workers = max(1, jobs or os.cpu_count() or 1)
        self.window = window or self.workers * 4
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers)

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str) -> Iterator[tuple[Task, list]]:
        pool = self._pool = self._new_pool()
        pending: dict[Future, Task] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.window:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    pending[pool.submit(examine_keys, task.source, task.keys, provenance, watermark)] = task
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                lost: list[Task] = []
                for fut in finished:
                    task = pending.pop(fut)
                    try:
                        yield task, fut.result()
                    except BrokenProcessPool:
                        lost.append(task)
                if lost:
                    # A worker died: every batch in flight is lost with the pool. Each is examined again one key
                    # at a time in a pool of its own, so the crash is pinned on the file that caused it.
                    lost.extend(pending.values())
                    pending.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    for task in lost:
                        yield task, [r for key in task.keys for r in self._isolated(task.source, key, provenance, watermark)]
                    pool = self._pool = self._new_pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _isolated(self, source, key: str, provenance: bool, watermark: str) -> list:
        with ProcessPoolExecutor(1) as solo:
            try:
                return solo.submit(examine_keys, source, (key,), provenance, watermark).result()
            except BrokenProcessPool:
                return crashed([key])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
