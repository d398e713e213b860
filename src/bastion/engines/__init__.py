"""Engines run the pure per-file work (:func:`bastion.scan.examine_file` and friends) over batches of keys.

``local`` is a process pool on this machine; ``dask`` is Dask distributed, on a ``LocalCluster`` or an
existing cluster. Both take the same tasks — ``(source, keys)``, with the source reading its own keys in the
worker — and hand back each batch's results in order of completion, with a bounded number of batches in
flight. Matching and recording stay in the client (see docs/decisions/0004-archive-scans.md).
"""

from __future__ import annotations

from typing import Iterator, Protocol

from bastion.engines.tasks import Task, crashed, examine_keys, warm_up

__all__ = ["ENGINES", "Engine", "Task", "crashed", "examine_keys", "make_engine", "warm_up"]

ENGINES = ("local", "dask")

class Engine(Protocol):
    name: str
    workers: int

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str,
            classify: tuple[str, ...] = ()) -> Iterator[tuple[Task, list]]:
        """Results of every task, in order of completion, at most ``window`` tasks in flight; ``classify``:
        the image classifiers every still image is run through (in the worker, on its decode)."""

    def close(self) -> None: ...


def make_engine(name: str, *, jobs: int | None = None, scheduler: str | None = None, window: int | None = None) -> Engine:
    if name == "local":
        if scheduler:
            from bastion.errors import ConfigError

            raise ConfigError("--scheduler is for --engine dask")
        from bastion.engines.local import LocalEngine

        return LocalEngine(jobs=jobs, window=window)
    if name == "dask":
        from bastion.engines.dask import DaskEngine

        return DaskEngine(jobs=jobs, scheduler=scheduler, window=window)
    from bastion.errors import ConfigError

    raise ConfigError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
