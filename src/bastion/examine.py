"""One examine pipeline: an item's media and texts in, facts out (hashes, bank matches, provenance, text).

Three callers, one set of parts (docs/decisions/0008-examine-pipeline.md):

* :func:`bastion.scan.examine_bytes` / :func:`~bastion.scan.examine_file` — the pure work on one file's bytes
  (MD5/SHA, PDQ with its variants, vPDQ for videos, provenance, embedded prompts), errors as values;
* :func:`~bastion.banks.matcher.match_file` — the one matching step (exact hashes, PDQ, border-trimmed PDQ, vPDQ) against the
  banks, run where the index lives;
* :class:`WorkerPool` — a few worker processes that run untrusted decoding under a hard deadline, from any
  thread: a file over its deadline costs one worker (killed and replaced), never the caller's thread;
* :class:`Examiner` — one item (its files and texts) through the above, under a per-file and a per-item
  budget: the service's ``POST /v1/items`` and the batch jobs.

``bastion scan`` streams many files through its own process pool (:class:`bastion.scan.Scanner`: hard
deadlines, crash isolation, Ctrl-C) with the same examine and match functions; the archive engines run their
batches on a :class:`WorkerPool` (the local engine's in the scanning process, on Dask one in each worker).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from bastion.errors import BastionError, MediaError
from bastion.model import Signal

log = logging.getLogger("bastion.examine")

#: A worker that does not answer within ``budget * HARD_FACTOR + HARD_GRACE`` seconds is stuck where the
#: soft stop (a signal) cannot reach, inside a C library: it is killed. As ``bastion.scan``.
HARD_FACTOR = 2.0
HARD_GRACE = 5.0
#: Seconds a freshly started worker may take to import the decoders before it counts as failed to start.
START_TIMEOUT = 120.0


def default_workers() -> int:
    """Examine workers of a server: one per core, at most 4 (a server also answers requests and commits)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Limits:
    """What examining one item may cost.

    ``file_seconds`` is the soft budget of one file (a signal stops it where Python code runs; what was
    learnt before is kept); ``item_seconds`` the hard bound of a whole item: no answer about an item takes
    longer (counted while its files are examined, not while they wait for a free worker). ``memory_bytes``
    caps a worker process's address space (``RLIMIT_AS``; None: the decoders' own caps only — pixels, frames
    and metadata sizes, which hold in every process)."""

    file_seconds: float | None = 30.0
    item_seconds: float | None = 60.0
    memory_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("file_seconds", "item_seconds", "memory_bytes"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive, got {v!r}")

    def hard(self, soft: float | None) -> float | None:
        return None if not soft else soft * HARD_FACTOR + HARD_GRACE


# --- worker processes with hard deadlines ------------------------------------------------------------


class WorkerTimeout(Exception):
    """The worker did not answer within its deadline: it was killed."""


class WorkerCrashed(Exception):
    """The worker process died (or could not start) while it held the task."""


class WorkerFailed(Exception):
    """The task raised inside the worker (a bug, not the file: examine functions return errors as values)."""


#: Modules a worker needs for every file; imported once when a worker starts (and by the fork server).
_WARM = ("bastion.scan", "bastion.media.decode", "bastion.media.hashing", "bastion.media.provenance",
         "bastion.media.video", "bastion.text")


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent (the fork server, which exits with the Bastion
    process once no worker holds its "alive" pipe) dies. An idle worker already leaves at EOF on its pipe, but a busy one may be stuck inside a
    decoder for as long as a hostile file keeps it there; after a kill -9 of Bastion it would live on."""
    if not sys.platform.startswith("linux"):
        return
    try:  # a fork server lives while any of its children holds its "alive" pipe: let it go with Bastion
        from multiprocessing import forkserver

        alive = forkserver._forkserver._forkserver_alive_fd
        if alive is not None:  # this worker starts no processes; closing its copy never harms the parent
            os.close(alive)
            forkserver._forkserver._forkserver_alive_fd = None
    except Exception:  # pragma: no cover - another start method, or the internals moved
        pass
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - no libc prctl: the pipe's EOF remains the only exit
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_main(conn, memory_bytes: int | None, classifiers: tuple[str, ...] = ()) -> None:
    """A worker: read (function, args, kwargs), answer ("ok", value) or ("error", text), until EOF.

    Ctrl-C belongs to the parent. The allocator is tuned as in scan workers; the decoders are imported, and
    the image ``classifiers`` loaded (bastion.classifiers.get: one that cannot load is remembered and reported
    on each picture as before), before the worker says it is ready, so the first file's deadline measures the
    file, not the imports or a model's load."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - always the main thread of a fresh process
        pass
    _die_with_parent()
    if memory_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import importlib

    for name in _WARM:
        importlib.import_module(name)
    from bastion.scan import tune_process

    tune_process()
    if classifiers:
        from bastion.classifiers import check

        check(classifiers)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe (or died): nothing left to do
        try:
            out: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, the worker lives on
            out = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(out)
        except Exception as exc:  # an answer that does not pickle: say so rather than hang the caller
            conn.send(("error", f"the answer could not be sent: {type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx, memory_bytes: int | None, classifiers: tuple[str, ...] = ()):
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, memory_bytes, classifiers), daemon=True,
                                name="bastion-examine")
        self.proc.start()
        child.close()
        self.conn = parent
        self.ready = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            if not self.conn.poll(START_TIMEOUT):
                raise WorkerCrashed(f"an examine worker did not start within {START_TIMEOUT:g} s")
            self.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashed(f"an examine worker died while starting (exit code {self.proc.exitcode})") from exc
        self.ready = True

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(5)
        except Exception:  # already gone
            pass
        try:
            self.conn.close()
        except Exception:
            pass


class WorkerPool:
    """``size`` worker processes, used from any number of threads; each task runs under a hard deadline.

    A caller takes an idle worker (waiting while all are busy: that wait is not part of the deadline), sends
    the task with its arguments once, and waits for the answer at most ``deadline`` seconds. A worker that
    does not answer in time is killed and replaced at once (:class:`WorkerTimeout`); one that dies is replaced
    too (:class:`WorkerCrashed`). The other workers and their callers never notice: unlike a
    ``ProcessPoolExecutor``, whose pool breaks for every caller when one worker dies, each worker is on its
    own pipe. Workers start lazily (or all at once with :meth:`start`), from a fork server that has the
    decoders imported, so a replacement is ready within about a tenth of a second."""

    def __init__(self, size: int | None = None, *, memory_bytes: int | None = None, start_method: str | None = None,
                 classifiers: tuple[str, ...] = ()):
        """``classifiers``: image classifier names each worker loads when it starts (its first picture then
        waits for no model)."""
        self.size = max(1, size or default_workers())
        self.memory_bytes = memory_bytes
        self.classifiers = tuple(classifiers)
        method = start_method or ("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
        self._ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["bastion.examine", *_WARM])
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()  # workers a caller holds (a task in flight, or starting)
        self._live = 0
        self._cond = threading.Condition()
        self._closed = False
        self.killed = 0  # workers killed over their deadline
        self.crashed = 0  # workers that died on a task

    def start(self) -> None:
        """Start every worker now (they import in the background), so the first items do not wait for them."""
        with self._cond:
            n = self.size - self._live
            self._live += n
        for _ in range(n):
            self._put(self._new())

    def _new(self) -> _Worker | None:
        try:
            return _Worker(self._ctx, self.memory_bytes, self.classifiers)
        except Exception:
            log.exception("could not start an examine worker")
            with self._cond:
                self._live -= 1
                self._cond.notify()
            return None

    def _put(self, w: _Worker | None) -> None:
        if w is None:
            return
        with self._cond:
            self._busy.discard(w)
            closed = self._closed
            if closed:
                self._live -= 1
                self._cond.notify_all()  # close() may be waiting for this one
            else:
                self._idle.append(w)
                self._cond.notify()
        if closed:
            w.kill()

    def _take(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerCrashed("the examine pool is closed")
                if self._idle:
                    w = self._idle.pop()
                    self._busy.add(w)
                    return w
                if self._live < self.size:
                    self._live += 1
                    break
                self._cond.wait()
        w = self._new()
        if w is None:
            raise WorkerCrashed("could not start an examine worker")
        with self._cond:
            if not self._closed:
                self._busy.add(w)
                return w
            self._live -= 1
        w.kill()  # the pool closed while this one started
        raise WorkerCrashed("the examine pool is closed")

    def _retire(self, w: _Worker) -> None:
        """Kill a worker and start its replacement at once (it imports while nobody waits for it)."""
        w.kill()
        with self._cond:
            self._busy.discard(w)
            if self._closed:
                self._live -= 1
                self._cond.notify_all()
                return
        self._put(self._new())

    def run(self, fn: Callable, *args: Any, deadline: float | None = None, **kwargs: Any) -> tuple[Any, float]:
        """``fn(*args, **kwargs)`` in a worker: (its value, seconds it ran). ``fn`` must be importable by name
        (a module-level function). Raises :class:`WorkerTimeout`, :class:`WorkerCrashed` or
        :class:`WorkerFailed`."""
        for attempt in (1, 2):
            w = self._take()
            try:
                w.wait_ready()
                w.conn.send((fn, args, kwargs))
            except (WorkerCrashed, OSError, EOFError) as exc:
                # The task never reached a live worker (one that died while idle): another worker, once.
                self.crashed += 1
                self._retire(w)
                if attempt == 2:
                    raise WorkerCrashed(str(exc) or "an examine worker died before the task reached it") from None
                continue
            break
        t0 = time.monotonic()
        try:
            if not w.conn.poll(deadline):
                self.killed += 1
                self._retire(w)
                raise WorkerTimeout(f"no answer within {deadline:g} s: the worker was stopped")
            status, value = w.conn.recv()
        except (EOFError, OSError):
            self.crashed += 1
            self._retire(w)
            raise WorkerCrashed("the process examining this file died") from None
        except WorkerTimeout:
            raise
        except BaseException:
            self._retire(w)  # interrupted while the worker holds a task: it cannot be reused safely
            raise
        seconds = time.monotonic() - t0
        self._put(w)
        if status == "error":
            raise WorkerFailed(value)
        return value, seconds

    def close(self, wait: float = 2.0) -> None:
        """Stop every worker. Idle ones are told to exit; busy ones get ``wait`` seconds to finish their task
        (their callers get the answer, then the worker exits), then they are killed and their callers get
        :class:`WorkerCrashed`. No worker process outlives the call. Later calls of :meth:`run` are refused."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._cond.notify_all()
        for w in idle:
            try:
                w.conn.close()  # the worker sees EOF and exits
            except Exception:
                pass
        for w in idle:
            w.proc.join(2)
            if w.proc.is_alive():
                w.kill()
        end = time.monotonic() + wait
        with self._cond:
            while self._busy and (left := end - time.monotonic()) > 0:
                self._cond.wait(left)
            busy = list(self._busy)
        for w in busy:  # still running a task after the wait: its caller sees the worker die (and closes the pipe)
            try:
                w.proc.kill()
                w.proc.join(5)
            except Exception:  # already gone
                pass

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- one item --------------------------------------------------------------------------------------


#: Error codes after which a file counts as not examined: the item is refused, never judged on the rest.
NOT_EXAMINED = frozenset({"unsupported-media", "truncated-media", "decompression-bomb", "too-large",
                          "time-budget", "worker-crashed", "internal-error"})


class MediaOverBudget(MediaError):
    """A file of the item could not be examined within its time budget (its decode or metadata walk took
    too long, or its worker had to be stopped). The item is refused: nothing unexamined is judged clean."""

    code = "time-budget"


@dataclass
class ItemExamination:
    """What examining one item found. ``signals``: per file its bank matches first, then what its bytes
    said (provenance, damage), each with ``evidence.media`` = the file's position; then the text's."""

    media: list  # FileResult per file, in order
    signals: list[Signal] = field(default_factory=list)
    text: Any = None  # bastion.text.TextResult, or None without texts
    prompts: list[str] = field(default_factory=list)


class Examiner:
    """Examine items: files through a :class:`WorkerPool` (or in this thread without one), bank matches here
    (one index per process), texts here (bounded by the item's field limits). Thread-safe."""

    def __init__(self, matcher=None, *, limits: Limits = Limits(), pool: WorkerPool | None = None,
                 provenance: bool = True, watermark: str = "lossless", examine: Callable | None = None,
                 classify: tuple[str, ...] = (), windows: bool = False):
        """``examine``: the per-file function, ``bastion.scan.examine_bytes`` unless given (a module-level
        function with its signature; tests pass stand-ins for decoders that never return). ``classify``:
        image classifier names (:mod:`bastion.classifiers`) run on each still image in the worker; their
        results become ``source: classifier`` signals of the item."""
        from bastion.scan import examine_bytes

        self.examine = examine or examine_bytes
        self.matcher = matcher
        self.limits = limits
        self.pool = pool
        self.provenance = provenance
        self.watermark = watermark
        self.classify = tuple(classify)
        #: hash each picture's sub-windows too (``FileResult.windows``): the service compares them with
        #: confirmed cases' images (bastion.cases.similar)
        self.windows = windows

    def examine_file(self, name: str, data: bytes, *, remaining: float | None = None):
        """One file's :class:`~bastion.scan.FileResult` (matches not yet added), within the per-file budget
        and ``remaining`` seconds of its item. Never raises for the file."""
        from bastion.scan import FileResult

        soft, hard = self._budgets(remaining)
        kw: dict[str, Any] = {"provenance": self.provenance, "watermark": self.watermark, "time_budget": soft}
        if self.classify:
            kw["classify"] = self.classify
        if self.windows:
            kw["windows"] = True
        if self.pool is None:
            return self.examine(name, data, **kw), None
        try:
            res, seconds = self.pool.run(self.examine, name, data, deadline=hard, **kw)
            return res, seconds
        except WorkerTimeout:
            res = FileResult(path=name, size=len(data))
            res.add_error("time-budget", f"no result within {hard:g} s: the worker examining it was stopped", "examine")
            return res, hard
        except WorkerCrashed as exc:
            res = FileResult(path=name, size=len(data))
            res.add_error("worker-crashed", str(exc), "decode")
            return res, None
        except WorkerFailed as exc:
            res = FileResult(path=name, size=len(data))
            res.add_error("internal-error", str(exc), "examine")
            return res, None

    def _budgets(self, remaining: float | None) -> tuple[float | None, float | None]:
        """(soft, hard) seconds for the next file: the soft stop leaves room before the hard kill, and the
        hard kill never comes later than the item's remaining time."""
        soft = self.limits.file_seconds
        hard = self.limits.hard(soft)
        if remaining is not None:
            hard = remaining if hard is None else min(hard, remaining)
            soft = min(soft, hard * 0.75) if soft else hard * 0.75
        return soft, hard

    def examine_item(self, files: Sequence[tuple[str, bytes]], texts: Sequence[tuple[str, str]] = (),
                     lexicon=None) -> ItemExamination:
        """Every file and text of one item. A file that could not be examined (unreadable, over its budget,
        its worker crashed) raises — :class:`MediaOverBudget` for time, ``InvalidInput`` otherwise — so the
        caller never judges an item on part of it."""
        from bastion.banks.matcher import match_file
        from bastion.errors import InvalidInput

        out = ItemExamination(media=[])
        hash_signals: list[Signal] = []
        other: list[Signal] = []
        over: list[str] = []
        bad: list[str] = []
        left = self.limits.item_seconds
        for i, (name, data) in enumerate(files):
            if left is not None and left <= 0:
                over.append(f"media[{i}] ({name}): not started, the item's {self.limits.item_seconds:g} s were spent")
                continue
            t0 = time.monotonic()
            res, ran = self.examine_file(name, data, remaining=left)
            if left is not None:
                left -= ran if ran is not None else time.monotonic() - t0
            out.media.append(res)
            for e in res.errors:
                if e["code"] == "time-budget":
                    over.append(f"media[{i}] ({name}): {e['message']}")
                elif e["code"] in NOT_EXAMINED or (e["stage"] == "decode" and not res.pdq and not res.video):
                    bad.append(f"media[{i}] ({name}): {e['message']}")
            try:
                for m in match_file(res, self.matcher):
                    sig = m.to_signal()
                    hash_signals.append(Signal(sig.source, sig.category, sig.weight, evidence={**sig.evidence, "media": i}))
            except BastionError as exc:
                raise BastionError(f"media[{i}]: the banks could not be searched: {exc}") from exc
            for d in res.signals:
                if d.get("category") == "prompt":
                    out.prompts.append((d.get("evidence") or {}).get("text", ""))
                    continue
                other.append(_signal(d, media=i))
        if over:
            raise MediaOverBudget("media over the time budget (not examined, so not judged): " + "; ".join(over))
        if bad:
            raise InvalidInput("media that cannot be read: " + "; ".join(bad))
        out.signals = hash_signals + other
        texts = list(texts) + [("prompt", p) for p in out.prompts if p]
        if texts:
            from bastion.text import analyze_item

            # ``lexicon``: the service's live lexicon (the platform's own terms merged in); None: the default
            out.text = analyze_item(texts) if lexicon is None else analyze_item(texts, lexicon=lexicon)
            out.signals = list(out.text.signals) + out.signals
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def _signal(d: dict[str, Any], **extra: Any) -> Signal:
    span = d.get("span")
    return Signal(d["source"], d["category"], d.get("weight", 1.0), d.get("term"), d.get("normalized"),
                  tuple(span) if span else None, d.get("language"), d.get("field"),
                  {**(d.get("evidence") or {}), **extra})
