"""Bank entries made straight from files: ``bastion bank add NAME --file F``.

An image gives its MD5, SHA-256 and PDQ; a video (MP4, MOV, WebM, MKV) its MD5, SHA-256 and vPDQ. The hashes
are computed exactly as a scan computes them (:func:`bastion.scan.examine_file`), so a file added to a bank
matches itself and its near copies when it is scanned. A file that cannot be decoded still gives its exact
hashes; what went wrong is reported with them.

Crops. A hash list from a partner holds one global hash per picture, and PDQ is global: a copy with 5 % cut
off moves 76–96 bits and matches nothing. When Bastion reads the media itself it can do better: besides
those *original* entries, an image also gives the PDQ of a fixed set of sub-regions (:data:`DERIVATIONS`),
stored as *derived* entries pointing at the image's PDQ entry. A cropped copy's whole-picture hash lands
near one of them and the matcher reports a crop match of the original (``bastion.banks.matcher``). Derived
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

__all__ = ["DERIVATIONS", "AddFilesResult", "FileEntries", "add_files", "derived_boxes", "derived_hashes", "entries_from_file"]

#: Where a kept window sits along one axis: 0 = at the start (left/top), 0.5 = centred, 1 = at the end;
#: ``None`` keeps the axis whole (a crop from one side only).
_ANCHORS: dict[str, tuple[float | None, float | None]] = {
    "centre": (0.5, 0.5),
    "top-left": (0.0, 0.0),
    "top-right": (1.0, 0.0),
    "bottom-left": (0.0, 1.0),
    "bottom-right": (1.0, 1.0),
    "left": (0.0, None),  # the left part kept: the copy was cut on the right
    "right": (1.0, None),
    "top": (None, 0.0),
    "bottom": (None, 1.0),
}
#: Shares of each cut axis kept. Measured (bench/bench_recall.py, docs/pdq-edits.md): a window edge misplaced
#: by 2.5 % of the side costs ~36 bits (median), by ~1 % well under 31, so windows 2.5 % apart catch every
#: crop of 5–10 % at these anchors within 1.25 %.
_KEEP = (0.95, 0.925, 0.90)

#: The fixed set of sub-regions hashed for every image added from a file: (name, x anchor, y anchor, kept
#: share). 9 anchors × 3 sizes, and the centred 85 % window for deeper zooms: 28 derived entries per image.
DERIVATIONS: tuple[tuple[str, float | None, float | None, float], ...] = tuple(
    (f"{pos}-{keep * 100:g}", ax, ay, keep) for keep in _KEEP for pos, (ax, ay) in _ANCHORS.items()
) + (("centre-85", 0.5, 0.5, 0.85),)


def derived_boxes(width: int, height: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The crop box (left, upper, right, lower) of every derivation in a ``width`` × ``height`` picture."""
    out = []
    for name, ax, ay, keep in DERIVATIONS:
        kw = width if ax is None else width * keep
        kh = height if ay is None else height * keep
        x0 = (width - kw) * (0.5 if ax is None else ax)
        y0 = (height - kh) * (0.5 if ay is None else ay)
        out.append((name, (round(x0), round(y0), round(x0 + kw), round(y0 + kh))))
    return out


def derived_hashes(image: Image.Image, whole: str | None = None) -> tuple[list[tuple[str, str]], int]:
    """``([(derivation, PDQ hex)], skipped)`` for the sub-regions of a decoded RGB picture.

    Windows whose PDQ quality is below :data:`MIN_MATCH_QUALITY` are skipped (counted): a flat window
    matches unrelated pictures and would only add false matches. A window hashing the same as ``whole``
    adds nothing and is left out too.
    """
    out: list[tuple[str, str]] = []
    skipped = 0
    for name, box in derived_boxes(*image.size):
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


def _image_derived(path: str | Path, out: FileEntries) -> None:
    """Sub-region hashes of an image, from the same reduced decode a scan makes."""
    from bastion.media.decode import DEFAULT_LIMITS, decode_rgb

    try:
        decoded = decode_rgb(Path(path).read_bytes(), limits=DEFAULT_LIMITS, min_side=PDQ_FAST_MIN_SIDE)
    except (MediaError, OSError) as exc:  # the scan decoded it a moment ago; say so rather than guess
        out.problems.append(f"sub-regions not hashed: {exc}")
        return
    out.derived, skipped = derived_hashes(decoded.image, out.parent.value if out.parent else None)
    if skipped:
        out.problems.append(f"{skipped} sub-region(s) of PDQ quality below {MIN_MATCH_QUALITY} not stored")


def entries_from_file(path: str | Path, label: str | None = None, *, derive: bool = True) -> FileEntries:
    from bastion.scan import examine_file

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
        out.parent = HashEntry("pdq", res.pdq, label, ref)
        out.entries.append(out.parent)
        if res.quality is not None and res.quality < 50:
            out.problems.append(f"PDQ quality {res.quality} is below 50: scans of low quality will not match it")
        if derive:
            _image_derived(path, out)
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
) -> AddFilesResult:
    """Hash every file and add its entries (and derived entries) to ``bank`` of a
    :class:`~bastion.banks.repo.BankRepository`. Every file is hashed before anything is written: one that
    cannot be read raises :class:`BastionError` naming it, and nothing is added."""
    repo.get(bank)  # an unknown bank fails before any file is read
    hashed = [entries_from_file(p, (labels or {}).get(Path(p), label), derive=derive) for p in paths]
    result = AddFilesResult(files=len(hashed))
    for fe in hashed:
        res = repo.add_with_derived(bank, fe.entries, fe.parent, fe.derived)
        result.added += res.added
        result.merged += res.merged
        result.derived_added += res.derived_added
        result.notes.extend((fe.path, p) for p in fe.problems)
    return result
