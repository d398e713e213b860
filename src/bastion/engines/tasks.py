"""What every engine runs and hands back: tasks (``(source, keys)``), the per-batch work, crash results.

Kept apart from :func:`bastion.engines.make_engine` so the engines import it and the factory imports the
engines, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Task", "crashed", "examine_keys", "warm_up"]

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
