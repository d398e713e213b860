"""The one orchestrator: files in, hashes + signals + matches out.

Split in two on purpose:

* :func:`examine_file` is pure work on one file's bytes — hashes, PDQ with its dihedral variants,
  provenance, text signals of embedded prompts. It runs in worker processes, never touches the store and
  never raises for a bad file: errors come back as values, so one bad file never stops a scan.
* :class:`Scanner` runs it over many files on all cores, matches each result against the banks in the
  parent process (one index in memory, not one per worker) and records the hashes in the store.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from bastion.errors import BastionError, MediaError
from bastion.excerpts import FIELD_LIMIT, excerpt, text_digest
from bastion.names import path_bytes_hex, path_text
from bastion.notes import cap_notes
from bastion.media.decode import DEFAULT_LIMITS, decode_rgb
from bastion.media.hashing import (
    MIN_MATCH_QUALITY,
    PDQ_QUERY_MIN_SIDE,
    crypto_hashes,
    pdq_dihedral_fast,
    pdq_trimmed_dihedral,
)

#: Text levels, lowest first (as bastion.text.score.LEVELS; repeated so a scan need not import the text
#: package). ``review`` is the level at which a person should look: medium.
TEXT_LEVELS = ("none", "low", "medium", "high", "critical")
TEXT_REVIEW_LEVEL = "medium"

#: Files larger than this are hashed (MD5/SHA) as a stream but not decoded.
MAX_DECODE_BYTES = 256 * 1024 * 1024

#: Seconds one file may take before it is stopped and reported (``time-budget``); the scan goes on. An
#: ordinary image takes well under a second; a 100 MP decode a few seconds on a slow core.
DEFAULT_FILE_BUDGET = 60.0
#: A worker that does not return within ``budget * HARD_FACTOR + HARD_GRACE`` seconds is stuck where the
#: soft stop cannot reach (inside a C library): the parent kills it and pins the file.
HARD_FACTOR = 2.0
HARD_GRACE = 5.0


class _OverBudget(BaseException):
    """Raised by the timer inside :func:`examine_file`. A ``BaseException`` on purpose: the per-stage
    ``except Exception`` handlers must not swallow it and carry on with the next stage."""


class _Budget:
    """A soft per-file deadline that holds in any thread: it raises :class:`_OverBudget` in whatever Python
    code the examining thread runs (regex matching included, which checks for signals).

    In a process's main thread it is SIGALRM. In any other thread (a server's request thread, a caller
    examining in its own thread pool) a timer thread raises the exception in the examining thread with
    ``PyThreadState_SetAsyncExc``, which takes effect at the next bytecode. Neither reaches code stuck inside
    a C library: there the caller's hard deadline (a worker process killed) is the bound."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._armed = False
        self._timer: threading.Timer | None = None

    def __enter__(self) -> "_Budget":
        if not (self.seconds and self.seconds > 0):
            return self
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self._armed = True
        else:
            self._lock = threading.Lock()
            self._done = False
            self._fired = False
            self._ident = threading.get_ident()
            self._timer = threading.Timer(self.seconds, self._raise_in_thread)
            self._timer.daemon = True
            self._timer.start()
        return self

    @staticmethod
    def _fire(_signum, _frame) -> None:
        raise _OverBudget()

    def _raise_in_thread(self) -> None:
        import ctypes

        with self._lock:
            if self._done:
                return
            self._fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._ident), ctypes.py_object(_OverBudget))

    def __exit__(self, *exc) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self._armed = False
        if self._timer is not None:
            self._timer.cancel()
            with self._lock:
                self._done = True
                if self._fired:  # set but perhaps not yet raised: never let it escape the block
                    import ctypes

                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._ident), None)
            self._timer = None


class _Interrupt:
    """Ctrl-C while a worker pool runs: a signal handler only notes it, and the pool's loop raises
    ``KeyboardInterrupt`` itself at a point of its choosing (:meth:`check`).

    Why: the default handler raises wherever the main thread happens to be, including inside
    ``ProcessPoolExecutor.submit``, whose wake-up pipe to the executor's manager thread can then be left
    half written; the shutdown that follows waits for that thread forever (seen as an interrupted scan that
    never exits). Only in the main thread and only while SIGINT has its default handler (a caller's own
    handler or an ignored SIGINT is left alone); the previous handler is back when the block ends."""

    def __init__(self) -> None:
        self.hit = False
        self._previous: Any = None

    def __enter__(self) -> "_Interrupt":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    @property
    def active(self) -> bool:
        return self._previous is not None

    def _note(self, _signum, _frame) -> None:
        self.hit = True

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


@dataclass
class FileResult:
    path: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    pdq: str | None = None
    quality: int | None = None
    pdq_variants: dict[str, str] = field(default_factory=dict)
    # The picture with its uniform border cut off (None when it has none): hashed and matched as well.
    trimmed: dict[str, Any] | None = None  # {"pdq", "quality", "cut": {side: share of the axis}}
    trimmed_variants: dict[str, str] = field(default_factory=dict)
    #: PDQ of sub-windows of the picture (bastion.media.windows), when asked for (``windows=True``): compared
    #: with confirmed cases' images (bastion.cases.similar), never with banks
    windows: list[str] = field(default_factory=list)
    #: the picture's coarse colour layout (bastion.media.windows.layout_of), asked for with ``windows``: the second
    #: look at a candidate beyond the PDQ radius of likeness to confirmed material; never written out
    layout: str | None = None
    media_format: str | None = None
    width: int | None = None
    height: int | None = None
    provenance: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    video: dict[str, Any] | None = None  # videos: vPDQ frames ("hash,quality,seconds") and what was decoded
    signals: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # noteworthy, not fatal (frames ignored, odd tags)

    def add_error(self, code: str, message: str, stage: str) -> None:
        self.errors.append({"stage": stage, "code": code, "message": message})

    @property
    def matched(self) -> bool:
        """True when something matched a bank that is not an allow-list."""
        return any(m["category"] != "known-benign" for m in self.matches)

    @property
    def ai_generated(self) -> bool:
        """True when provenance found an AI-generation trace (absence proves nothing)."""
        return bool(self.provenance and self.provenance.get("ai_generated"))

    def text_level_at_least(self, level: str) -> bool:
        """True when the text read from the file (embedded prompts) scored ``level`` or above."""
        got = (self.text or {}).get("level") or "none"
        return got in TEXT_LEVELS and TEXT_LEVELS.index(got) >= TEXT_LEVELS.index(level) > 0

    def to_json(self) -> dict[str, Any]:
        # A fresh dict with fresh top-level containers; nested values are shared with the result (every caller
        # only serialises them). dataclasses.asdict deep-copied everything, which cost more per scanned file
        # than matching it.
        d: dict[str, Any] = {}
        for f in _RESULT_FIELDS:
            value = getattr(self, f)
            d[f] = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
        # A name that is not UTF-8 is written with \xNN escapes, and its raw bytes are kept beside it.
        d["path"] = path_text(self.path)
        raw = path_bytes_hex(self.path)
        if raw is not None:
            d["path_bytes"] = raw
        d.pop("pdq_variants")
        d.pop("trimmed_variants")
        d.pop("windows")  # internal to the service's likeness check (bastion.cases.similar), never written out
        d.pop("layout")
        d["format"] = d.pop("media_format")
        if not d["trimmed"]:
            d.pop("trimmed")
        if not d["provenance"]:
            d.pop("provenance")
        if not d["text"]:
            d.pop("text")
        if not d["video"]:
            d.pop("video")
        d["notes"] = cap_notes(d["notes"])
        if d.get("provenance") and d["provenance"].get("notes"):
            d["provenance"] = {**d["provenance"], "notes": cap_notes(d["provenance"]["notes"])}
        if d["signals"]:  # a prompt signal carries its whole text (for the detectors): what is written is bounded
            d["signals"] = [_bounded_signal(x) for x in d["signals"]]
        for key in ("signals", "notes"):
            if not d[key]:
                d.pop(key)
        return d


def _bounded_signal(sig: dict[str, Any]) -> dict[str, Any]:
    text = (sig.get("evidence") or {}).get("text")
    if not isinstance(text, str) or len(text) <= FIELD_LIMIT // 4:
        return sig
    short = excerpt(text)
    if short == text:
        return sig
    return {**sig, "evidence": {**sig["evidence"], "text": short, "text_digest": text_digest(text)}}


_RESULT_FIELDS = tuple(f.name for f in fields(FileResult))


def damaged_media_signal(why: str) -> dict[str, Any]:
    """The signal of a file whose strict decode failed but whose pixels a tolerant decode still read.
    Policy can raise it: damage is a way to slip past a strict scanner."""
    from bastion.model import Signal

    return Signal(source="media", category="damaged-media", weight=0.5, evidence={"reason": why}).to_dict()


def _error_code(exc: BaseException) -> str:
    return getattr(exc, "code", None) or type(exc).__name__


def _hash_stream(path: Path) -> dict[str, str]:
    import hashlib

    hs = {"md5": hashlib.md5(), "sha1": hashlib.sha1(), "sha256": hashlib.sha256()}
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            for h in hs.values():
                h.update(chunk)
    return {k: h.hexdigest() for k, h in hs.items()}


#: Formats in which an invisible watermark can survive. Measured (docs/provenance.md): the SD marks never
#: survived JPEG re-encoding even at quality 95, and checking costs a full decode (~80 ms at 1024x768), so
#: by default lossy JPEGs are not checked. ``watermark="all"`` checks every image.
WATERMARK_FORMATS = frozenset({"png", "webp", "bmp", "tiff"})
WATERMARK_MODES = ("lossless", "all", "off")


def examine_file(path: str, *, provenance: bool = True, watermark: str = "lossless",
                 time_budget: float | None = None, classify: tuple[str, ...] = ()) -> FileResult:
    """Everything Bastion learns from one file's bytes. Never raises for a bad file.

    With ``time_budget`` (seconds) a file that takes longer is stopped and reported with the error code
    ``time-budget``; whatever was learnt before (hashes, PDQ) is kept, so it can still match.

    ``classify``: names of image classifiers (:mod:`bastion.classifiers`) to run on the decoded picture;
    each adds a ``source: classifier`` signal (``unavailable``/``error`` ones too: never silently clean)."""
    res = FileResult(path=path)
    return _within_budget(res, time_budget, lambda stage: _examine_path(res, provenance, watermark, stage, classify))


def examine_bytes(name: str, data: bytes, *, provenance: bool = True, watermark: str = "lossless",
                  time_budget: float | None = None, classify: tuple[str, ...] = (), windows: bool = False) -> FileResult:
    """:func:`examine_file` for bytes read from elsewhere (object storage); ``name`` is reported as the path.
    ``windows``: also hash the picture's sub-windows (``FileResult.windows``, for bastion.cases.similar)."""
    res = FileResult(path=name, size=len(data))
    if len(data) > MAX_DECODE_BYTES:
        ch = crypto_hashes(data)
        res.md5, res.sha1, res.sha256 = ch.md5, ch.sha1, ch.sha256
        res.add_error("too-large", f"{len(data)} bytes: hashed, not decoded (limit {MAX_DECODE_BYTES})", "decode")
        return res
    return _within_budget(res, time_budget, lambda stage: _examine_data(
        res, data, provenance=provenance, watermark=watermark, stage=stage, classify=classify, windows=windows))


def _within_budget(res: FileResult, time_budget: float | None, work: Callable[[list[str]], Any]) -> FileResult:
    stage = ["read"]
    try:
        with _Budget(time_budget):
            work(stage)
    except _OverBudget:
        res.add_error("time-budget", f"stopped after {time_budget:g} s while in the {stage[0]} stage; "
                      "what was found before is kept", stage[0])
    return res


def read_regular_file(path: str | Path, max_bytes: int | None = None) -> tuple[bytes | None, int]:
    """(the bytes of ``path``, its size) when it is a regular file, else ``OSError``/``NotRegularFile``.

    Opened without blocking and checked on the open descriptor: a FIFO or a device never blocks the reader,
    and a file swapped for one between a check and the open is still refused. Over ``max_bytes`` the bytes
    are not read (``None``)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile("a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            return None, st.st_size
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            return f.read(), st.st_size
    finally:
        if fd >= 0:
            os.close(fd)


class NotRegularFile(OSError):
    """A path that is not a regular file (FIFO, device, socket, folder): never read."""


class SkippedPath(str):
    """A path found while walking the folders that is reported instead of read: a folder that could not
    be listed, a link leading out of the scanned folders. Still a ``str`` (pickles to workers as one)."""

    code: str
    message: str

    def __new__(cls, path: str, code: str, message: str) -> "SkippedPath":
        self = super().__new__(cls, path)
        self.code, self.message = code, message
        return self

    def __reduce__(self):
        return (SkippedPath, (str(self), self.code, self.message))


def _examine_path(res: FileResult, provenance: bool, watermark: str, stage: list[str],
                  classify: tuple[str, ...] = ()) -> FileResult:
    if isinstance(res.path, SkippedPath):
        skipped = res.path
        res.path = str(skipped)
        res.add_error(skipped.code, skipped.message, "read")
        return res
    p = Path(res.path)
    try:
        if p.is_symlink() and p.is_dir():
            res.add_error("not-a-file", "a linked folder (not followed)", "read")
            return res
        data, size = read_regular_file(p, MAX_DECODE_BYTES)
        res.size = size
        if data is None:
            h = _hash_stream(p)
            res.md5, res.sha1, res.sha256 = h["md5"], h["sha1"], h["sha256"]
            res.add_error("too-large", f"{size} bytes: hashed, not decoded (limit {MAX_DECODE_BYTES})", "decode")
            return res
    except NotRegularFile as exc:
        res.add_error("not-a-file", str(exc), "read")
        return res
    except OSError as exc:
        res.add_error("unreadable", f"{exc.strerror or exc}", "read")
        return res
    return _examine_data(res, data, provenance=provenance, watermark=watermark, stage=stage, classify=classify)


def _examine_data(res: FileResult, data: bytes, *, provenance: bool, watermark: str,
                  stage: list[str] | None = None, classify: tuple[str, ...] = (), windows: bool = False) -> FileResult:
    stage = stage if stage is not None else ["decode"]
    stage[0] = "decode"
    ch = crypto_hashes(data)
    res.md5, res.sha1, res.sha256 = ch.md5, ch.sha1, ch.sha256

    from bastion.media.video import sniff_video

    if sniff_video(data):
        _examine_video(res, data)
        if classify:
            _not_classified(res, classify, "videos are not classified (stills only)")
        return res

    reusable = None
    picture = None  # our decode, when provenance's pixel checks may use it instead of decoding again
    try:
        # Classifiers and the likeness check's colour layout need colour: the luma-only fast decode is for
        # hashing alone.
        decoded = decode_rgb(data, limits=DEFAULT_LIMITS, min_side=PDQ_QUERY_MIN_SIDE,
                             luma_when_reduced=not (classify or windows))
        image = decoded.image
        if classify:
            picture = decoded
        # Only a full-size, unrotated decode is the same pixels provenance would read itself (a flip or a
        # 180-degree turn keeps the size, so it cannot tell); it still checks mode and size against the file.
        if decoded.orientation == 1 and image.size == (decoded.width, decoded.height):
            reusable = image
        res.media_format, res.width, res.height = decoded.format, decoded.width, decoded.height
        res.notes.extend(decoded.notes)
        if decoded.damaged:
            # Damage a viewer tolerates is itself suspicious; the image is still hashed and matched.
            res.signals.append(damaged_media_signal(decoded.damaged))
        full_size = (decoded.width, decoded.height)
        variants, quality = pdq_dihedral_fast(image, full_size)
        res.pdq_variants = variants
        res.pdq, res.quality = variants["original"], quality
        trimmed = pdq_trimmed_dihedral(image, full_size)
        if trimmed is not None:
            t_variants, t_quality, cut = trimmed
            res.trimmed_variants = t_variants
            res.trimmed = {"pdq": t_variants["original"], "quality": t_quality, "cut": cut.fractions()}
        if windows:
            from bastion.media.windows import MIN_QUALITY, layout_of, windows_of

            res.windows = windows_of(image, full_size, min_quality=MIN_QUALITY, whole=res.pdq)
            res.layout = layout_of(image)
    except MediaError as exc:
        res.add_error(_error_code(exc), str(exc), "decode")
    except Exception as exc:  # a decoder bug must not stop the scan; say what happened
        res.add_error("internal-error", f"{type(exc).__name__}: {exc}", "decode")

    if classify:
        stage[0] = "classify"
        if picture is None:
            _not_classified(res, classify, "the picture could not be decoded")
        else:
            _classify(res, picture, data, classify)

    if provenance:
        stage[0] = "provenance"
        check_pixels = watermark == "all" or (watermark == "lossless" and res.media_format in WATERMARK_FORMATS)
        _examine_provenance(res, data, check_pixels, reusable, stage)
    return res


def _classify(res: FileResult, decoded, data: bytes, names: tuple[str, ...]) -> None:
    """Run the image classifiers on the decode already made; every result becomes a signal."""
    from bastion.classifiers import Picture, classify

    picture = Picture(image=decoded.image, width=decoded.width, height=decoded.height, format=decoded.format, data=data)
    for r in classify(picture, names):
        res.signals.append(r.to_signal().to_dict())
        if r.status != "ok":
            res.add_error(f"classifier-{r.status}", f"{r.name}: {r.error}", "classify")


def _not_classified(res: FileResult, names: tuple[str, ...], why: str) -> None:
    from bastion.classifiers import ClassifierResult

    for n in names:
        res.signals.append(ClassifierResult(name=n, model="", version="", status="unavailable", error=why).to_signal().to_dict())
    res.add_error("classifier-unavailable", f"{', '.join(names)}: {why}", "classify")


def _examine_video(res: FileResult, data: bytes) -> None:
    """vPDQ of an MP4/MOV/WebM/MKV video (bastion.media.video); its MD5/SHA are already in ``res``."""
    from bastion.media.video import sniff_video, vpdq_hash

    res.media_format = sniff_video(data)
    try:
        vh = vpdq_hash(data)
    except MediaError as exc:
        res.add_error(_error_code(exc), str(exc), "decode")
        return
    except Exception as exc:  # a decoder bug must not stop the scan
        res.add_error("internal-error", f"{type(exc).__name__}: {exc}", "decode")
        return
    res.width, res.height = vh.width, vh.height
    res.notes.extend(vh.notes)
    res.video = {
        "duration": vh.duration,
        "decoded_frames": vh.decoded_frames,
        "sampled_frames": vh.sampled_frames,
        "vpdq": [str(f) for f in vh.frames],
    }


def _examine_provenance(res: FileResult, data: bytes, check_pixels: bool, decoded=None,
                        stage: list[str] | None = None) -> None:
    """Provenance and the text signals of embedded prompts. Absence of provenance never lowers risk."""
    from bastion.media.provenance import ProvenanceSettings, inspect_bytes

    settings = ProvenanceSettings(watermark=check_pixels, stealth=check_pixels)
    try:
        report = inspect_bytes(data, filename=res.path, settings=settings, decoded=decoded)
    except Exception as exc:
        res.add_error(_error_code(exc), f"{type(exc).__name__}: {exc}", "provenance")
        return
    prov = report.to_dict()
    wm = report.watermark
    # Attach the provenance block when it says something: a trace, a C2PA manifest, a watermark found, or a
    # note about malformed metadata. "Checked, nothing found" on every file would only be noise.
    if report.provenances or report.c2pa is not None or (wm is not None and wm.found) or report.notes or report.software:
        res.provenance = prov
    res.signals.extend(s.to_dict() for s in report.signals())
    prompts = report.positive_prompts()
    if prompts:
        from bastion.text import analyze_item  # imported here: files without prompts never need it

        if stage is not None:
            stage[0] = "text"

        try:
            result = analyze_item([("prompt", p) for p in prompts])
        except Exception as exc:  # a detector bug must not stop the scan; the prompts are in `provenance`
            res.add_error("internal-error", f"text analysis failed: {type(exc).__name__}: {exc}", "text")
            return
        res.text = result.to_dict()


# --- file discovery --------------------------------------------------------------------------------


def _within(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def iter_files(paths: Iterable[str | Path], *, follow_links: bool = False) -> Iterator[str]:
    """Every regular file under the given files and folders, recursively, in a stable order.

    Folder symlinks are not followed (loops) but reported. A file symlink is followed when it stays inside
    the given folders; one leading out of them (to ``/proc/self/environ``, a home folder ...) is reported
    as ``link-outside-roots`` unless ``follow_links``. A subfolder that cannot be listed is reported as
    ``unreadable``, never left out silently. Reported paths are :class:`SkippedPath` values."""
    paths = list(paths)
    roots = [os.path.realpath(p) for p in paths]
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            problems: list[OSError] = []
            for root, dirs, files in os.walk(p, onerror=problems.append):
                yield from _unlisted(problems)
                dirs.sort()
                for name in dirs:
                    if os.path.islink(os.path.join(root, name)):
                        # Not descended (it could loop), but reported, never silently left out.
                        yield os.path.join(root, name)
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if not follow_links and os.path.islink(full) and not _within(full, roots):
                        yield SkippedPath(full, "link-outside-roots",
                                          "a link to a file outside the scanned folders: not followed (--follow-links to follow)")
                    else:
                        yield full
            yield from _unlisted(problems)
        else:
            yield str(p)


def _unlisted(problems: list[OSError]) -> Iterator[str]:
    while problems:
        exc = problems.pop(0)
        yield SkippedPath(str(exc.filename), "unreadable", f"folder could not be listed: {exc.strerror or exc}")


# --- running many files ----------------------------------------------------------------------------


def tune_process() -> None:
    """The allocator settings every examining process uses (the caller's own with ``jobs=1``)."""
    from bastion.media.alloc import tune_allocator

    tune_allocator()


def init_worker() -> None:
    """Initialiser of a pool worker process. Ctrl-C is the parent's to handle (it stops handing out files and
    reports what was found); a worker interrupted mid-file would only print a traceback of its own. Never
    called by the scanner in the caller's process: there Ctrl-C must keep stopping a ``jobs=1`` scan."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not a main thread (an archive engine's worker thread): nothing to ignore there
        pass
    tune_process()


@dataclass
class ScanSummary:
    files: int = 0
    matched: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    low_quality: int = 0
    seconds: float = 0.0
    ai_generated: int = 0  # files with an AI-generation trace (metadata, C2PA or watermark)
    text_flagged: int = 0  # files whose embedded text scored at TEXT_REVIEW_LEVEL or above

    def count(self, res: FileResult) -> None:
        self.files += 1
        if res.ai_generated:
            self.ai_generated += 1
        if res.text_level_at_least(TEXT_REVIEW_LEVEL):
            self.text_flagged += 1
        if res.matched:
            self.matched += 1
        if res.errors:
            self.errors += 1
            for e in res.errors:
                self.error_codes[e["code"]] = self.error_codes.get(e["code"], 0) + 1
        if res.quality is not None and res.quality < MIN_MATCH_QUALITY:
            self.low_quality += 1


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes (one is stuck in C code no signal reaches). The executor then fails
    every pending future with ``BrokenProcessPool``, which the scanner already handles. ``_processes`` is
    private but has been stable since Python 3.8; there is no public way to name a pool's workers."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except Exception:  # already gone
            pass


def _over_budget(path: str, budget: float) -> FileResult:
    res = FileResult(path=path)
    res.add_error("time-budget", f"no result after {budget * HARD_FACTOR + HARD_GRACE:g} s "
                  f"(budget {budget:g} s): the worker was stopped", "examine")
    return res


class Scanner:
    """Examine files on ``jobs`` processes, match in this one, hand each result to ``on_result``.

    ``time_budget`` bounds the seconds spent on one file (``None`` or 0: unbounded): a file over budget is
    reported with the error ``time-budget`` and the scan goes on with the next file."""

    def __init__(self, matcher=None, recorder=None, *, jobs: int | None = None, provenance: bool = True,
                 watermark: str = "lossless", time_budget: float | None = DEFAULT_FILE_BUDGET,
                 classify: tuple[str, ...] = ()):
        """``classify``: image classifier names (already resolved, :func:`bastion.classifiers.resolve`)."""
        if watermark not in WATERMARK_MODES:
            raise BastionError(f"watermark mode must be one of {', '.join(WATERMARK_MODES)}, got {watermark!r}")
        if time_budget is not None and time_budget < 0:
            raise BastionError(f"time budget must be positive seconds, got {time_budget!r}")
        self.matcher = matcher
        self.recorder = recorder
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.provenance = provenance
        self.watermark = watermark
        self.time_budget = time_budget or None
        self.classify = tuple(classify)

    def _kw(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"provenance": self.provenance, "watermark": self.watermark, "time_budget": self.time_budget}
        if self.classify:
            kw["classify"] = self.classify
        return kw

    def finish(self, res: FileResult) -> FileResult:
        """Match one examined file against the banks and record it: the part that runs in the client."""
        return self._finish(res)

    def _finish(self, res: FileResult) -> FileResult:
        if self.matcher is not None and (res.sha256 or res.pdq):
            from bastion.banks.matcher import match_file

            try:
                ms = match_file(res, self.matcher)
                res.signals.extend(m.to_signal().to_dict() for m in ms)
            except BastionError as exc:
                res.add_error(_error_code(exc), str(exc), "match")
        if self.recorder is not None:
            try:
                self.recorder(res)
            except Exception as exc:  # a store that fails to record never stops the scan; the result is still reported
                res.add_error(_error_code(exc), f"could not record the scan results: {type(exc).__name__}: {exc}", "record")
        return res

    def run(self, files: Iterable[str], on_result: Callable[[FileResult], None], *,
            ready: Callable[[], None] | None = None) -> ScanSummary:
        """Examine ``files``, match and record each, hand it to ``on_result``.

        ``ready``, when given, is called once before the first result is matched: with worker processes, after
        the first files have been handed out, so that what it does (open the store, load the banks' index)
        overlaps the workers' first files instead of delaying them. It may set :attr:`matcher` and
        :attr:`recorder`. If it raises, the workers are stopped and nothing is reported.
        """
        summary = ScanSummary()
        t0 = time.perf_counter()

        def done(res: FileResult) -> None:
            res = self._finish(res)
            summary.count(res)
            on_result(res)

        if self.jobs == 1:
            if ready is not None:
                ready()
            tune_process()
            for f in files:
                try:
                    res = examine_file(f, **self._kw())
                except Exception as exc:  # as in the pool: a bug is reported against its file, the scan goes on
                    res = FileResult(path=f)
                    res.add_error("internal-error", f"{type(exc).__name__}: {exc}", "examine")
                done(res)
        else:
            self._run_pool(iter(files), done, ready)
        summary.seconds = time.perf_counter() - t0
        return summary

    def _run_pool(self, files: Iterator[str], done: Callable[[FileResult], None],
                  ready: Callable[[], None] | None = None) -> None:
        window = self.jobs * 8
        retry: list[str] = []  # files that were in flight when a worker died: tried again, one at a time
        pool = ProcessPoolExecutor(self.jobs, initializer=init_worker)
        pending: dict[Future, str] = {}
        # Hard deadline: when each future was first seen running (handed to a worker's queue). A file
        # whose worker does not answer in time is pinned and the pool is restarted.
        budget = self.time_budget
        hard = budget * HARD_FACTOR + HARD_GRACE if budget else None
        started: dict[Future, float] = {}
        overdue: set[str] = set()
        interrupt = _Interrupt().__enter__()
        # With Ctrl-C only noted, the loop wakes at least this often to look (see _Interrupt).
        poll = 1.0 if hard else (0.2 if interrupt.active else None)
        try:
            exhausted = False
            # Before `ready` (which may take a good part of a second: the store, the banks' index) hand out
            # enough files to keep the workers busy meanwhile; then the usual window.
            first_window = window * 8 if ready is not None else window
            while True:
                interrupt.check()
                while not exhausted and len(pending) < max(window, first_window):
                    f = next(files, None)
                    if f is None:
                        exhausted = True
                        break
                    pending[pool.submit(examine_file, f, **self._kw())] = f
                if ready is not None:  # the workers have their first files: prepare matching meanwhile
                    ready, prepare = None, ready
                    first_window = 0
                    prepare()
                if not pending:
                    break
                finished, _ = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                interrupt.check()
                broken = False
                for fut in finished:
                    path = pending.pop(fut)
                    started.pop(fut, None)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        if path in overdue:
                            overdue.discard(path)
                            done(_over_budget(path, budget or 0.0))
                            continue
                        broken = True
                        retry.append(path)
                        continue
                    except Exception as exc:  # examine_file returns errors as values; this is a bug, not the file
                        res = FileResult(path=path)
                        res.add_error("internal-error", f"{type(exc).__name__}: {exc}", "examine")
                    done(res)
                if hard and not broken and not overdue:
                    now = time.monotonic()
                    for fut in pending:
                        if fut not in started and fut.running():
                            started[fut] = now
                    late = [fut for fut, t in started.items() if now - t > hard]
                    if late:
                        overdue.add(pending[min(late, key=started.__getitem__)])
                        _kill_workers(pool)
                if broken:
                    for path in pending.values():
                        if path in overdue:
                            overdue.discard(path)
                            done(_over_budget(path, budget or 0.0))
                        else:
                            retry.append(path)
                    pending.clear()
                    started.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = ProcessPoolExecutor(self.jobs, initializer=init_worker)
                    for path in retry:
                        done(self._examine_isolated(path))
                    retry.clear()
        finally:
            # Files not started are cancelled; those in a worker finish. Ctrl-C stays only noted until then.
            pool.shutdown(wait=True, cancel_futures=True)
            interrupt.__exit__()

    def _examine_isolated(self, path: str) -> FileResult:
        """Re-examine one file in a pool of its own, so a crash is pinned on the file that caused it."""
        budget = self.time_budget
        solo = ProcessPoolExecutor(1, initializer=init_worker)
        try:
            fut = solo.submit(examine_file, path, **self._kw())
            try:
                return fut.result(timeout=budget * HARD_FACTOR + HARD_GRACE if budget else None)
            except FutureTimeout:
                _kill_workers(solo)
                return _over_budget(path, budget or 0.0)
            except BrokenProcessPool:
                res = FileResult(path=path)
                res.add_error("worker-crashed", "the process examining this file died", "decode")
                return res
        finally:
            solo.shutdown(wait=True, cancel_futures=True)
