"""What every engine runs and hands back: tasks (``(source, keys)``), the per-batch work, crash results.

Every engine examines a batch the same way (:func:`examine_batch`): in a process of an examine
:class:`~bastion.examine.WorkerPool` under a hard deadline (the batch's keys' budgets added up); a batch whose
worker was killed or died is examined again one key at a time, so the time-out (``time-budget``) or the crash
(``worker-crashed``) is pinned on its file and the other files are still examined. The local engine's pool
lives in the scanning process; a Dask worker keeps one of its own (:func:`examine_batch_on_dask`), so a
decoder stuck in C code costs that worker one deadline, never the worker.

Kept apart from :func:`bastion.engines.make_engine` so the engines import it and the factory imports the
engines, never the other way round.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Task", "close_dask_pool", "crashed", "examine_batch", "examine_batch_on_dask", "examine_keys", "hard_seconds",
           "start_dask_pool", "warm_up"]

_initialised = False


def _worker_setup() -> None:
    """Once per worker process: the allocator tuning the local pool applies (docs: MEASURED.md)."""
    global _initialised
    if not _initialised:
        _initialised = True
        from bastion.scan import init_worker

        init_worker()


def warm_up() -> None:
    """Import what the per-file work needs and tune the allocator, before the first task: a Dask worker is
    a fresh interpreter (spawned, not forked), so otherwise its first batch pays for every import."""
    _worker_setup()
    import pdqhash  # noqa: F401

    import bastion.media.decode  # noqa: F401
    import bastion.media.hashing  # noqa: F401
    import bastion.media.provenance  # noqa: F401
    import bastion.scan  # noqa: F401


def examine_keys(source, keys: tuple[str, ...], provenance: bool = True, watermark: str = "lossless",
                 classify: tuple[str, ...] = ()) -> list:
    """The task: examine each key of one batch. Never raises for a file; a bug is reported against its file.
    ``classify``: image classifier names (checked by the client before the run) run on each still image."""
    from bastion.scan import FileResult

    _worker_setup()
    kw = {"classify": tuple(classify)} if classify else {}  # a source written before classifiers still works
    out = []
    for key in keys:
        try:
            res = source.examine(key, provenance=provenance, watermark=watermark, **kw)
        except Exception as exc:  # examine returns errors as values; this is a bug, not the file
            res = FileResult(path=key)
            res.add_error("internal-error", f"{type(exc).__name__}: {exc}", "examine")
        out.append(res)
    return out


def crashed(keys) -> list:
    """Results for keys whose worker died on every try: the keys are reported, never lost."""
    from bastion.scan import FileResult

    out = []
    for key in keys:
        res = FileResult(path=key)
        res.add_error("worker-crashed", "the process examining this file died", "decode")
        out.append(res)
    return out


def hard_seconds() -> float:
    """The hard deadline of one key: the soft per-file budget sources apply, with the scan's margin."""
    from bastion.examine import HARD_FACTOR, HARD_GRACE
    from bastion.scan import DEFAULT_FILE_BUDGET

    return DEFAULT_FILE_BUDGET * HARD_FACTOR + HARD_GRACE


def examine_batch(pool, source, keys: tuple[str, ...], provenance: bool, watermark: str, key_seconds: float,
                  classify: tuple[str, ...] = ()) -> list:
    """Every key of one batch examined on ``pool`` (a :class:`~bastion.examine.WorkerPool`) under a hard
    deadline of ``key_seconds`` a key; never raises for a file, and never loses a key."""
    from bastion.examine import WorkerCrashed, WorkerFailed, WorkerTimeout

    if len(keys) > 1:
        try:
            return pool.run(examine_keys, source, keys, provenance, watermark, classify,
                            deadline=key_seconds * len(keys))[0]
        except (WorkerTimeout, WorkerCrashed, WorkerFailed):
            pass  # one key at a time: the one that caused it is named, the others are examined
    return [r for key in keys for r in _alone(pool, source, key, provenance, watermark, key_seconds, classify)]


def _alone(pool, source, key: str, provenance: bool, watermark: str, key_seconds: float,
           classify: tuple[str, ...] = ()) -> list:
    from bastion.examine import WorkerCrashed, WorkerFailed, WorkerTimeout
    from bastion.scan import FileResult

    try:
        return pool.run(examine_keys, source, (key,), provenance, watermark, classify, deadline=key_seconds)[0]
    except WorkerTimeout:
        res = FileResult(path=key)
        res.add_error("time-budget", f"no result after {key_seconds:g} s: the worker was stopped", "examine")
        return [res]
    except (WorkerCrashed, WorkerFailed):
        return crashed([key])


# --- on a Dask worker ------------------------------------------------------------------------------

_dask_pool = None
_dask_pool_lock = threading.Lock()


def _pool_of_this_dask_worker():
    """The examine pool of this Dask worker process: one examine process per Dask worker thread, started
    on first use (or by :func:`start_dask_pool`) and kept for the worker's life."""
    global _dask_pool
    with _dask_pool_lock:
        if _dask_pool is None:
            from bastion.examine import WorkerPool

            try:
                from distributed import get_worker

                worker = get_worker()
                threads = getattr(worker, "nthreads", None) or worker.state.nthreads
            except Exception:  # not on a Dask worker (a caller running the task itself)
                threads = 1
            _dask_pool = WorkerPool(max(1, int(threads)))
        return _dask_pool


def examine_batch_on_dask(source, keys: tuple[str, ...], provenance: bool, watermark: str, key_seconds: float,
                          classify: tuple[str, ...] = ()) -> list:
    """The Dask task: :func:`examine_batch` on this Dask worker's own examine pool. The Dask worker thread
    only waits on a pipe, so a file that never finishes is killed with its examine process at the deadline
    and the Dask worker takes its next task."""
    return examine_batch(_pool_of_this_dask_worker(), source, keys, provenance, watermark, key_seconds, classify)


def start_dask_pool() -> str | None:
    """Run on every Dask worker when an engine connects: start its examine pool now (the processes import
    the decoders while the first tasks are planned). A problem that stops it — a daemonic Dask worker may
    not start processes — is returned as text, for the engine to refuse the run rather than scan without a
    hard deadline."""
    import multiprocessing

    if multiprocessing.current_process().daemon:
        return ("the Dask worker runs as a daemonic process, which may not start the examine processes that "
                "hold files to their hard deadline; start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False "
                "(or dask worker --no-nanny)")
    try:
        _pool_of_this_dask_worker().start()
    except Exception as exc:  # noqa: BLE001 - reported to the engine, which refuses the run
        return f"the Dask worker could not start its examine processes: {type(exc).__name__}: {exc}"
    return None


def close_dask_pool() -> None:
    """Run on every Dask worker when an engine closes: stop its examine processes."""
    global _dask_pool
    with _dask_pool_lock:
        pool, _dask_pool = _dask_pool, None
    if pool is not None:
        pool.close()


@dataclass(frozen=True)
class Task:
    id: int
    source: Any
    keys: tuple[str, ...]
