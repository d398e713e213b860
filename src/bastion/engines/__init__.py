"""Engines run the pure per-file work (:func:`bastion.scan.examine_file` and friends) over batches of keys.

``local`` is a process pool on this machine; ``dask`` is Dask distributed, on a ``LocalCluster`` or an
existing cluster. Both take the same tasks — ``(source, keys)``, with the source reading its own keys in the
worker — and hand back each batch's results in order of completion, with a bounded number of batches in
flight. Matching and recording stay in the client (see docs/decisions/0004-archive-scans.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

ENGINES = ("local", "dask")

_initialised = False


def _worker_setup() -> None:
    """Once per worker process: the allocator tuning the local pool applies (docs: MEASURED.md)."""
    global _initialised
    if not _initialised:
        _initialised = True
        from bastion.scan import _worker_init

        _worker_init()


def warm_up() -> None:
    """Import what the per-file work needs and tune the allocator, before the first task: a Dask worker is
    a fresh interpreter (spawned, not forked), so otherwise its first batch pays for every import."""
    _worker_setup()
    import pdqhash  # noqa: F401

    import bastion.media.decode  # noqa: F401
    import bastion.media.hashing  # noqa: F401
    import bastion.media.provenance  # noqa: F401
    import bastion.scan  # noqa: F401


def examine_keys(source, keys: tuple[str, ...], provenance: bool = True, watermark: str = "lossless") -> list:
    """The task: examine each key of one batch. Never raises for a file; a bug is reported against its file."""
    from bastion.scan import FileResult

    _worker_setup()
    out = []
    for key in keys:
        try:
            res = source.examine(key, provenance=provenance, watermark=watermark)
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


@dataclass(frozen=True)
class Task:
    id: int
    source: Any
    keys: tuple[str, ...]


class Engine(Protocol):
    name: str
    workers: int

    def run(self, tasks: Iterator[Task], *, provenance: bool, watermark: str) -> Iterator[tuple[Task, list]]:
        """Results of every task, in order of completion, at most ``window`` tasks in flight."""

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
