"""Bank entries made straight from files: ``bastion bank add NAME --file F``.

An image gives its MD5, SHA-256 and PDQ; a video (MP4, MOV, WebM, MKV) its MD5, SHA-256 and vPDQ. An
image's PDQ is the reference computation (full decode, bit-exact with Meta's ``pdqhash``), since original
entries are what exports and partner lists carry; a scan's fast path lands within a few bits of it. A file
that cannot be decoded still gives its exact hashes; what went wrong is reported with them.

Crops. A hash list from a partner holds one global hash per picture, and PDQ is global: a copy with 5 % cut
off moves 76–96 bits and matches nothing. When Bastion reads the media itself it can do better: besides
those *original* entries, an image also gives the PDQ of a fixed set of sub-regions (:data:`DERIVATIONS`),
stored as *derived* entries pointing at the image's PDQ entry: 46 windows cutting 0–9 % off each side,
dense in position (a shift is what PDQ forgives least). A cropped copy's whole-picture hash lands near one
of them and the matcher reports a crop match of the original (``bastion.banks.matcher``). Derived
entries are matched, never exported as originals (``bank export --include-derived`` to get them, marked).

Extension point: :func:`entries_from_file` turns one file into a :class:`FileEntries` (original entries,
derived ones and notes); each kind of media has its branch there, and storage, matching and the CLI take
whatever it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from PIL import Image

from bastion.errors import BastionError, MediaError
from bastion.media.hashing import MIN_MATCH_QUALITY, PDQ_FAST_MIN_SIDE, pdq_from_image
from bastion.model import HashEntry

__all__ = ["DEFAULT_WINDOWS", "DERIVATIONS", "WINDOWS", "derivations", "AddFilesResult", "FileEntries", "add_files", "derived_boxes", "derived_hashes", "entries_from_file", "image_entries", "sub_region_hashes"]

#: The fixed windows hashed for every image added from a file, as the share of each side cut off (percent):
#: (left, top, right, bottom). Chosen, not guessed (``bench/bench_recall.py windows``, docs/pdq-edits.md):
#: PDQ forgives a change of scale far more than a shift (1 % more cut on both ends of an axis costs ~10
#: bits, the whole window moved by 1 % costs ~26, and by 0.75 % along both axes ~32), so windows must be
#: dense in *position* and can be sparse in *size*. From 4,760 candidate windows (every cut of 0–11 % per
#: side on a 1 % grid) a greedy cover picked, on tuning pictures that are not in the recall bench, the
#: windows that bring the most 5–10 % crops (anchored and free) within 29 bits of one of them; every pick
#: comes with its mirror images (left/right, top/bottom, and sides swapped), so mirrored and rotated copies
#: are served equally. Listed in the order picked: a prefix is the best smaller set.
WINDOWS: tuple[tuple[int, int, int, int], ...] = (
    (4, 4, 4, 4), (2, 2, 5, 5), (2, 5, 5, 2), (5, 2, 2, 5), (5, 5, 2, 2), (1, 1, 7, 7), (1, 7, 7, 1), (7, 1, 1, 7),
    (7, 7, 1, 1), (1, 4, 6, 4), (6, 4, 1, 4), (4, 1, 4, 6), (4, 6, 4, 1), (0, 0, 0, 8), (0, 8, 0, 0), (0, 0, 8, 0),
    (8, 0, 0, 0), (0, 0, 9, 9), (0, 9, 9, 0), (9, 0, 0, 9), (9, 9, 0, 0), (3, 3, 3, 3), (3, 1, 5, 8), (3, 8, 5, 1),
    (5, 1, 3, 8), (5, 8, 3, 1), (1, 3, 8, 5), (1, 5, 8, 3), (8, 3, 1, 5), (8, 5, 1, 3), (1, 1, 6, 6), (1, 6, 6, 1),
    (6, 1, 1, 6), (6, 6, 1, 1), (0, 0, 0, 5), (0, 5, 0, 0), (0, 0, 5, 0), (5, 0, 0, 0), (2, 4, 5, 4), (5, 4, 2, 4),
    (4, 2, 4, 5), (4, 5, 4, 2), (0, 0, 8, 8), (0, 8, 8, 0), (8, 0, 0, 8), (8, 8, 0, 0), (2, 0, 5, 9), (2, 9, 5, 0),
    (5, 0, 2, 9), (5, 9, 2, 0), (0, 2, 9, 5), (0, 5, 9, 2), (9, 2, 0, 5), (9, 5, 0, 2), (1, 2, 6, 5), (1, 5, 6, 2),
    (2, 1, 5, 6), (2, 6, 5, 1), (5, 1, 2, 6), (5, 6, 2, 1), (6, 2, 1, 5), (6, 5, 1, 2),
)

#: How many of :data:`WINDOWS` are stored per image (the recall each prefix buys, and its cost in index
#: entries and lookups/s, are in bench/RESULTS.md).
DEFAULT_WINDOWS = 46


def _name(cut: tuple[int, int, int, int]) -> str:
    return "crop-l{}-t{}-r{}-b{}".format(*cut)


#: The derivations stored per image: (name, (left, top, right, bottom) cut as shares of the side).
#: The name says the cut in percent, e.g. ``crop-l2-t2-r5-b5``.
DERIVATIONS: tuple[tuple[str, tuple[float, float, float, float]], ...] = tuple(
    (_name(c), tuple(v / 100 for v in c)) for c in WINDOWS[:DEFAULT_WINDOWS]
)


def derivations(n: int = DEFAULT_WINDOWS) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
    """The first ``n`` windows of :data:`WINDOWS` as derivations (the bench compares set sizes)."""
    if not 0 <= n <= len(WINDOWS):
        raise ValueError(f"between 0 and {len(WINDOWS)} windows")
    return tuple((_name(c), tuple(v / 100 for v in c)) for c in WINDOWS[:n])


def derived_boxes(width: int, height: int, which=None) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The crop box (left, upper, right, lower) of every derivation in a ``width`` × ``height`` picture."""
    out = []
    for name, (left, top, right, bottom) in DERIVATIONS if which is None else which:
        box = (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))
        out.append((name, box))
    return out


def derived_hashes(image: Image.Image, whole: str | None = None, which=None) -> tuple[list[tuple[str, str]], int]:
    """``([(derivation, PDQ hex)], skipped)`` for the sub-regions of a decoded RGB picture.

    Windows whose PDQ quality is below :data:`MIN_MATCH_QUALITY` are skipped (counted): a flat window
    matches unrelated pictures and would only add false matches. A window hashing the same as ``whole``
    adds nothing and is left out too.
    """
    out: list[tuple[str, str]] = []
    skipped = 0
    for name, box in derived_boxes(*image.size, which):
        h, quality = pdq_from_image(image.crop(box))
        if quality < MIN_MATCH_QUALITY:
            skipped += 1
        elif h != whole:
            out.append((name, h))
    return out, skipped


@dataclass
class FileEntries:
    path: str
    entries: list[HashEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The entry derived ones point at (an image's PDQ), and the derived ``(derivation, PDQ hex)``.
    parent: HashEntry | None = None
    derived: list[tuple[str, str]] = field(default_factory=list)


def sub_region_hashes(data: bytes, whole: str | None = None, which=None) -> tuple[list[tuple[str, str]], list[str]]:
    """``([(derivation, PDQ hex)], notes)``: the derived entries of an encoded image (``data``), hashed from the
    same reduced decode a scanned copy gets, so a crop of it is compared like with like. For media Bastion
    holds that goes into a bank another way than ``--file`` (a confirmed case's held bytes)."""
    from bastion.media.decode import DEFAULT_LIMITS, decode_rgb

    try:
        decoded = decode_rgb(data, limits=DEFAULT_LIMITS, min_side=PDQ_FAST_MIN_SIDE)
    except MediaError as exc:
        return [], [f"sub-regions not hashed: {exc}"]
    derived, skipped = derived_hashes(decoded.image, whole, which)
    notes = [f"{skipped} sub-region(s) of PDQ quality below {MIN_MATCH_QUALITY} not stored"] if skipped else []
    return derived, notes


def _image_hashes(data: bytes, out: FileEntries, label: str | None, ref: str, derive: bool, which) -> None:
    """The image's PDQ on the reference path, and its sub-region hashes.

    The original entry is what ``bank export`` and partner lists carry, so it is computed exactly as Meta's
    reference does (full decode, ``fast=False``: bit-exact with ``pdqhash``), never on the fast path a scan
    uses. The windows are internal (:func:`sub_region_hashes`)."""
    from bastion.media.hashing import pdq_hash

    try:
        reference = pdq_hash(data, fast=False)
    except MediaError as exc:
        out.problems.append(f"reference PDQ not computed, so no PDQ stored: {exc}")
        return
    out.parent = HashEntry("pdq", reference.hash, label, ref)
    out.entries.append(out.parent)
    if reference.quality < MIN_MATCH_QUALITY:
        out.problems.append(
            f"PDQ quality {reference.quality} is below {MIN_MATCH_QUALITY}: scans of low quality will not match it"
        )
    if derive:
        out.derived, notes = sub_region_hashes(data, out.parent.value, which)
        out.problems.extend(notes)


def image_entries(data: bytes, label: str | None = None, ref: str | None = None, *, derive: bool = True) -> FileEntries:
    """An encoded image Bastion holds (bytes, not a path): its reference PDQ as ``parent`` (and the one
    entry) and, with ``derive``, its derived sub-region hashes; what went wrong in ``problems``. For images
    that reach a bank another way than ``--file`` (a confirmed case's held media)."""
    out = FileEntries(ref or "")
    _image_hashes(data, out, label, ref, derive, None)
    return out


def entries_from_file(path: str | Path, label: str | None = None, *, derive: bool = True, which=None) -> FileEntries:
    """Original entries of one file (exact hashes; an image's reference PDQ or a video's vPDQ) and, for an
    image with ``derive``, its derived sub-region hashes (``which``: the derivations, default
    :data:`DERIVATIONS`)."""
    from bastion.scan import examine_file, read_regular_file

    res = examine_file(str(path), provenance=False)
    out = FileEntries(str(path))
    if res.sha256 is None:
        msg = "; ".join(f"{e['code']}: {e['message']}" for e in res.errors) or "cannot be read"
        raise BastionError(f"{path}: {msg}")
    ref = Path(path).name
    out.entries.append(HashEntry("md5", res.md5, label, ref))
    out.entries.append(HashEntry("sha256", res.sha256, label, ref))
    if res.video and res.video.get("vpdq"):
        from bastion.media.video import parse_signal, to_signal

        out.entries.append(HashEntry("vpdq", to_signal(parse_signal(res.video["vpdq"])), label, ref))
    elif res.pdq:
        try:
            data, _ = read_regular_file(path)
        except OSError as exc:
            raise BastionError(f"{path}: {exc}") from exc
        _image_hashes(data, out, label, ref, derive, which)
    out.problems.extend(f"{e['code']}: {e['message']}" for e in res.errors)
    return out


@dataclass
class AddFilesResult:
    files: int = 0
    added: int = 0  # original entries new to the bank
    merged: int = 0  # original entries already there
    derived_added: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)  # (path, note)


def add_files(
    repo,
    bank: str,
    paths: Iterable[str | Path],
    *,
    label: str | None = None,
    labels: Mapping[Path, str] | None = None,
    derive: bool = True,
    which=None,
) -> AddFilesResult:
    """Hash every file and add its entries (and derived entries) to ``bank`` of a
    :class:`~bastion.banks.repo.BankRepository`. Every file is hashed before anything is written: one that
    cannot be read raises :class:`BastionError` naming it, and nothing is added."""
    repo.get(bank)  # an unknown bank fails before any file is read
    hashed = [entries_from_file(p, (labels or {}).get(Path(p), label), derive=derive, which=which) for p in paths]
    result = AddFilesResult(files=len(hashed))
    for fe in hashed:
        res = repo.add_with_derived(bank, fe.entries, fe.parent, fe.derived)
        result.added += res.added
        result.merged += res.merged
        result.derived_added += res.derived_added
        result.notes.extend((fe.path, p) for p in fe.problems)
    return result
