"""The local engine: the examine worker pool (bastion.examine.WorkerPool) on this machine.

Each batch runs in one worker process under a hard deadline (its keys' budgets added up): a worker stuck in
a decoder where no signal reaches is killed and replaced, never left holding the scan. A batch whose worker
was killed or died is examined again one key at a time, so the time-out or the crash is pinned on the file
that caused it and the other files of the batch are still examined.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Iterator

from bastion.engines.tasks import Task, crashed, examine_keys


def _hard_seconds() -> float:
    """The hard deadline of one key: the soft per-file budget sources apply, with the scan's margin."""
    from bastion.examine import HARD_FACTOR, HARD_GRACE
    from bastion.scan import DEFAULT_FILE_BUDGET

    return DEFAULT_FILE_BUDGET * HARD_FACTOR + HARD_GRACE


class LocalEngine:
    name = "local"

    def __init__(self, jobs: int | None = None, window: int | None = None, *, key_seconds: float | None = None):
        self.workers = max(1, jobs or os.cpu_count() or 1)
        self.window = window or self.workers * 4
        self.key_seconds = key_seconds or _hard_seconds()
        self._pool = None

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str) -> Iterator[tuple[Task, list]]:
        from bastion.examine import WorkerPool

        # spawned, not forked from the fork server: a run's workers see the environment as it is now (S3
        # credentials), and sources defined by the caller are imported by name.
        pool = self._pool = WorkerPool(self.workers, start_method="spawn")
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
                    pending[threads.submit(self._batch, pool, task, provenance, watermark)] = task
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

    def _batch(self, pool, task: Task, provenance: bool, watermark: str) -> list:
        from bastion.examine import WorkerCrashed, WorkerFailed, WorkerTimeout

        if len(task.keys) == 1:
            return self._alone(pool, task.source, task.keys[0], provenance, watermark)
        try:
            results, _ = pool.run(examine_keys, task.source, task.keys, provenance, watermark,
                                  deadline=self.key_seconds * len(task.keys))
            return results
        except (WorkerTimeout, WorkerCrashed, WorkerFailed):
            return [r for key in task.keys for r in self._alone(pool, task.source, key, provenance, watermark)]

    def _alone(self, pool, source, key: str, provenance: bool, watermark: str) -> list:
        from bastion.examine import WorkerCrashed, WorkerFailed, WorkerTimeout
        from bastion.scan import FileResult

        try:
            return pool.run(examine_keys, source, (key,), provenance, watermark, deadline=self.key_seconds)[0]
        except WorkerTimeout:
            res = FileResult(path=key)
            res.add_error("time-budget", f"no result after {self.key_seconds:g} s: the worker was stopped", "examine")
            return [res]
        except (WorkerCrashed, WorkerFailed):
            return crashed([key])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
