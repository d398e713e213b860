"""The local engine: the examine worker pool (bastion.examine.WorkerPool) on this machine.

Each batch runs in one worker process under a hard deadline (:func:`bastion.engines.tasks.examine_batch`,
shared with the Dask engine): a worker stuck in a decoder where no signal reaches is killed and replaced,
never left holding the scan, and the time-out or crash is pinned on the file that caused it.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Iterator

from bastion.engines.tasks import Task, examine_batch, hard_seconds


class LocalEngine:
    name = "local"

    def __init__(self, jobs: int | None = None, window: int | None = None, *, key_seconds: float | None = None):
        self.workers = max(1, jobs or os.cpu_count() or 1)
        self.window = window or self.workers * 4
        self.key_seconds = key_seconds or hard_seconds()
        self._pool = None

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str,
            classify: tuple[str, ...] = ()) -> Iterator[tuple[Task, list]]:
        from bastion.examine import WorkerPool

        # spawned, not forked from the fork server: a run's workers see the environment as it is now (S3
        # credentials), and sources defined by the caller are imported by name. Each loads the run's classifiers
        # as it starts (a key's deadline then measures the key, not a model's load).
        pool = self._pool = WorkerPool(self.workers, start_method="spawn", classifiers=tuple(classify))
        # One thread per worker process hands it batches and waits for them (the waiting is the deadline).
        threads = ThreadPoolExecutor(self.workers, thread_name_prefix="bastion-local")
        pending: dict[Future, Task] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.window:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    pending[threads.submit(examine_batch, pool, task.source, task.keys, provenance, watermark,
                                           self.key_seconds, tuple(classify))] = task
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()
            threads.shutdown(wait=True, cancel_futures=True)
            pool.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
