"""The Dask engine: the same tasks on Dask distributed.

Without a scheduler address it starts a ``LocalCluster`` of ``jobs`` single-threaded worker processes (the
work is CPU-bound Python and C holding the GIL part of the time) and closes it at the end. With one, it
connects to an existing cluster, whose workers need Bastion installed and their own S3 credentials.

Tasks are submitted ``window`` at a time and collected with ``as_completed``, so the scheduler never holds
more than that many batches, whatever the size of the archive. Dask re-runs the tasks of a worker that died
(up to its ``allowed-failures``); a batch that still fails is split into single keys, and a key that fails
alone is reported as ``worker-crashed`` — never dropped.

Hard deadlines as on the local engine: Dask cannot kill one task, so a task does not decode in the Dask
worker's thread. Each Dask worker keeps an examine :class:`~bastion.examine.WorkerPool` of its own (one
process per worker thread) and the task runs its batch there under the same hard deadline
(:func:`bastion.engines.tasks.examine_batch_on_dask`): a file stuck in C code is killed with its examine
process and reported as ``time-budget``, and the Dask worker goes on. That needs Dask workers that may start
processes — not daemonic: the engine's own cluster is started so, and an existing cluster whose workers are
daemonic is refused at connection with the setting that fixes it (a scan without the hard deadline would
let one hostile file hold a worker for ever).
"""

from __future__ import annotations

import os
from typing import Iterator

from bastion.engines.tasks import (
    Task,
    close_dask_pool,
    crashed,
    examine_batch_on_dask,
    hard_seconds,
    start_dask_pool,
    warm_up,
)
from bastion.errors import BastionError, ConfigError


class SchedulerLost(BastionError):
    """The Dask scheduler went away in the middle of a run. Nothing recorded is lost: resume the run."""

    code = "scheduler-lost"


class DaskEngine:
    name = "dask"

    def __init__(self, jobs: int | None = None, scheduler: str | None = None, window: int | None = None, *,
                 key_seconds: float | None = None):
        import dask
        from distributed import Client, LocalCluster
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        else:
            n = max(1, jobs or os.cpu_count() or 1)
            # Workers that may start the examine processes (a daemonic process may have no children). Set for
            # the process, not only while starting: the nanny reads it again when it restarts a dead worker.
            dask.config.set({"distributed.worker.daemon": False})
            # Everything on loopback: the scheduler, and its HTTP endpoint (no dashboard) on a free port, not 8787.
            self._cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "dashboard": False}, silence_logs=40,
            )
            self.client = Client(self._cluster)
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))
        self.window = window or self.workers * 4
        self.key_seconds = key_seconds or hard_seconds()
        self.client.run(warm_up)  # every worker imports the per-file work now, not in its first batch
        problems = {addr: p for addr, p in self.client.run(start_dask_pool).items() if p}
        if problems:
            self.close()
            addr, problem = sorted(problems.items())[0]
            raise ConfigError(f"--engine dask: {problem} ({len(problems)} worker(s), e.g. {addr})")

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str,
            classify: tuple[str, ...] = ()) -> Iterator[tuple[Task, list]]:
        from concurrent.futures import CancelledError

        from distributed import as_completed

        client = self.client
        pending: dict = {}
        ac = as_completed()

        def submit(task: Task, keys=None) -> None:
            fut = client.submit(examine_batch_on_dask, task.source, keys or task.keys, provenance, watermark,
                                self.key_seconds, tuple(classify), pure=False)
            pending[fut.key] = (task, keys)
            ac.add(fut)

        split: dict[int, list] = {}  # task id -> results of its keys examined one by one
        for _ in range(self.window):
            task = next(tasks, None)
            if task is None:
                break
            submit(task)
        for fut in ac:
            task, keys = pending.pop(fut.key)
            try:
                results = fut.result()
            except CancelledError:  # the scheduler forgot it: it died, or the connection to it did
                raise SchedulerLost("lost the Dask scheduler in the middle of the run; resume it with --resume") from None
            except Exception:  # KilledWorker after its retries, or a task that failed on its worker
                if client.status != "running":
                    raise SchedulerLost("lost the Dask scheduler in the middle of the run; resume it with --resume") from None
                results = None
            fut.release()
            if keys is None:
                if results is None and len(task.keys) > 1:
                    split[task.id] = []
                    for key in task.keys:
                        submit(task, (key,))
                    continue
                yield task, results if results is not None else crashed(task.keys)
            else:
                done = split[task.id]
                done.extend(results if results is not None else crashed(keys))
                if len(done) == len(task.keys):
                    del split[task.id]
                    yield task, done
            nxt = next(tasks, None)
            if nxt is not None:
                submit(nxt)

    def close(self) -> None:
        try:
            try:
                self.client.run(close_dask_pool)
            except Exception:  # noqa: BLE001 - the workers (or the scheduler) are gone: their processes with them
                pass
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
