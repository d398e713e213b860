"""Hash-list files: import and export.

Four formats, each round-trips:

``lines``
    One hash a line, ``HASH`` or ``TYPE HASH``. Blank lines and ``#`` comments are ignored. A bare hash's
    type comes from ``hash_type`` or its length (64 hex digits need the type: SHA-256 and PDQ share it).
    Written bare when the list has a single type, as ``TYPE HASH`` when it mixes types.
``csv`` / ``tsv``
    A header row with at least ``hash_type`` and ``hash``; ``label`` and ``source_ref`` are optional. The
    common other names are understood (``type``/``signal_type``/``algorithm``, ``value``/``signal``/
    ``hash_value``, ``source``/``reference``, ``note``). ``tsv`` is the same with tabs (and is guessed for a
    ``.tsv`` file, or a ``.csv`` whose header has tabs and no commas). Other columns are reported back as
    ignored, never silently.
``te``
    python-threatexchange's ``local_file`` format: ``pdq <hex>`` and ``vpdq <signal>`` lines
    (``video_md5``/``md5`` lines are read as MD5). Lines of signal types Bastion does not match (``url``,
    ``raw_text``, ...) are skipped and counted per type, not treated as invalid. PDQ and vPDQ are written.

A vPDQ value (video) is python-threatexchange's ``vpdq`` signal, a JSON list of ``"hash,quality,seconds"``
strings; it is the rest of its line in ``lines`` and ``te`` (spaces allowed) and one quoted cell in ``csv``.

A ``csv`` export may carry derived entries (sub-regions of a bank's own media, ``bank export
--include-derived``) in two more columns, ``derived_from`` (the original entry's hash) and ``derivation``.
They are never read back as originals: such rows are counted in :attr:`ParsedList.derived_skipped` and
reported, not imported.

Reading is all-or-nothing: every invalid line is reported with its file and line number and nothing is
imported, unless ``skip_invalid`` is set — then the invalid lines are still reported. Duplicates within a
file are merged (the first non-empty label wins) and counted.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from bastion.banks.hashes import canonical_type, infer_type, normalize_hash
from bastion.errors import InvalidHash, InvalidHashList
from bastion.model import HashEntry

FORMATS = ("lines", "csv", "tsv", "te")
CSV_COLUMNS = ("hash_type", "hash", "label", "source_ref")
#: Header names other tools use for the same columns.
CSV_ALIASES = {
    "type": "hash_type", "signal_type": "hash_type", "algorithm": "hash_type", "hashtype": "hash_type",
    "value": "hash", "signal": "hash", "hash_value": "hash", "digest": "hash",
    "note": "label", "source": "source_ref", "reference": "source_ref", "ref": "source_ref",
}
#: python-threatexchange signal types read by the te format.
TE_TYPES = {"pdq": "pdq", "vpdq": "vpdq", "video_md5": "md5", "md5": "md5"}
DERIVED_COLUMNS = ("derived_from", "derivation")


@dataclass
class ParsedList:
    entries: list[HashEntry] = field(default_factory=list)
    invalid: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, message)
    duplicates: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    skipped_types: dict[str, int] = field(default_factory=dict)  # te lines of signal types not matched here
    derived_skipped: int = 0  # rows of derived entries (a csv export with --include-derived): not imported


def guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}.get(suffix, "lines")


class _Collector:
    """Merges duplicates while keeping file order."""

    def __init__(self, name: str):
        self.name = name
        self.result = ParsedList()
        self._seen: dict[tuple[str, str], int] = {}

    def add(self, entry: HashEntry) -> None:
        key = (entry.hash_type, entry.value)
        at = self._seen.get(key)
        if at is None:
            self._seen[key] = len(self.result.entries)
            self.result.entries.append(entry)
            return
        self.result.duplicates += 1
        kept = self.result.entries[at]
        if not kept.label and entry.label:
            self.result.entries[at] = HashEntry(kept.hash_type, kept.value, entry.label, kept.source_ref or entry.source_ref)

    def bad(self, line: int, message: str) -> None:
        self.result.invalid.append((self.name, line, message))


def _read_text(source: Path | str | IO[str], name: str) -> str:
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidHashList([(name, data[: exc.start].count(b"\n") + 1, "not valid UTF-8")]) from exc
    return source.read()


_SIGNAL_TYPE = re.compile(r"[a-z][a-z0-9_]*")


def _foreign_type(name: str) -> bool:
    """A python-threatexchange signal type Bastion does not match at all (``url``, ``raw_text``, ...)."""
    kind = name.lower()
    if kind in TE_TYPES or not _SIGNAL_TYPE.fullmatch(kind):
        return False
    try:
        canonical_type(kind)
    except InvalidHash:
        return True
    return False  # a hash type Bastion knows but the te format does not carry: an error, said so


def _parse_lines(text: str, col: _Collector, hash_type: str | None, te: bool) -> None:
    default_type = canonical_type(hash_type) if hash_type else None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [line] if line.startswith("[") else line.split(None, 1)
        if len(parts) == 2 and not parts[1].lstrip().startswith("[") and len(parts[1].split()) > 1:
            parts = line.split()  # only a vPDQ value may hold spaces
        if te and len(parts) > 1 and _foreign_type(parts[0]):
            kind = parts[0].lower()
            col.result.skipped_types[kind] = col.result.skipped_types.get(kind, 0) + 1
            continue
        try:
            if len(parts) == 2:
                t, v = canonical_type(parts[0]), parts[1]
            elif len(parts) == 1 and not te:
                v = parts[0]
                t = default_type or infer_type(v)
            else:
                expected = "'pdq <hex>'" if te else "'HASH' or 'TYPE HASH'"
                raise InvalidHash(f"expected {expected}, got {len(parts)} fields")
            if te and t not in ("pdq", "md5", "vpdq"):
                raise InvalidHash(f"signal type {parts[0]!r} is not supported in the te format (pdq, vpdq, video_md5)")
            t, v = normalize_hash(t, v)
        except InvalidHash as exc:
            col.bad(lineno, str(exc))
            continue
        col.add(HashEntry(t, v))


def _parse_csv(text: str, col: _Collector, hash_type: str | None, delimiter: str = ",") -> None:
    first = text.split("\n", 1)[0]
    if delimiter == "," and "\t" in first and "," not in first:
        delimiter = "\t"  # a TSV file named .csv
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    names = [h.strip().lower() for h in header]
    names = [CSV_ALIASES.get(n, n) if CSV_ALIASES.get(n) not in names else n for n in names]
    if "hash" not in names or ("hash_type" not in names and not hash_type):
        col.bad(1, f"CSV header must name the columns hash_type,hash[,label][,source_ref]; got {','.join(header)}")
        return
    col.result.ignored_columns = [h for h in names if h not in CSV_COLUMNS + DERIVED_COLUMNS]
    idx = {n: names.index(n) for n in CSV_COLUMNS + DERIVED_COLUMNS if n in names}
    for row in reader:
        lineno = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(names):
            col.bad(lineno, f"expected {len(names)} columns, got {len(row)}")
            continue
        if "derived_from" in idx and row[idx["derived_from"]].strip():
            col.result.derived_skipped += 1  # a sub-region hash is not an original; never imported as one
            continue
        try:
            t = row[idx["hash_type"]] if "hash_type" in idx and row[idx["hash_type"]].strip() else hash_type
            if not t:
                raise InvalidHash("hash_type is empty")
            t, v = normalize_hash(t, row[idx["hash"]])
        except InvalidHash as exc:
            col.bad(lineno, str(exc))
            continue
        label = row[idx["label"]].strip() or None if "label" in idx else None
        ref = row[idx["source_ref"]].strip() or None if "source_ref" in idx else None
        col.add(HashEntry(t, v, label, ref))


def read_hash_list(
    source: Path | str | IO[str],
    fmt: str | None = None,
    *,
    hash_type: str | None = None,
    skip_invalid: bool = False,
    name: str | None = None,
) -> ParsedList:
    """Parse a hash list. Raises :class:`InvalidHashList` on any invalid line unless ``skip_invalid``."""
    if name is None:
        name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<stream>")
    if fmt is None:
        fmt = guess_format(Path(name))
    if fmt not in FORMATS:
        raise InvalidHashList([(name, 0, f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")])
    col = _Collector(name)
    text = _read_text(source, name)
    if fmt in ("csv", "tsv"):
        _parse_csv(text, col, hash_type, "\t" if fmt == "tsv" else ",")
    else:
        _parse_lines(text, col, hash_type, te=(fmt == "te"))
    if col.result.invalid and not skip_invalid:
        raise InvalidHashList(col.result.invalid)
    return col.result


def write_hash_list(
    entries: Iterable[HashEntry],
    out: IO[str],
    fmt: str,
    derived: Iterable[tuple[HashEntry, str, str]] | None = None,
) -> int:
    """Write entries; returns how many were written. ``lines`` and ``te`` refuse what they cannot carry.

    ``derived`` (csv only): derived entries ``(entry, derivation, original hash)`` written after the
    originals with the :data:`DERIVED_COLUMNS` filled in."""
    entries = list(entries)
    if derived is not None and fmt != "csv":
        raise InvalidHash("derived entries can only be exported in the csv format (it says which original each belongs to)")
    extra = ["", ""] if derived is not None else []
    if fmt in ("csv", "tsv"):
        w = csv.writer(out, lineterminator="\n", delimiter="\t" if fmt == "tsv" else ",")
        w.writerow(CSV_COLUMNS + (DERIVED_COLUMNS if derived is not None else ()))
        for e in entries:
            w.writerow([e.hash_type, e.value, e.label or "", e.source_ref or "", *extra])
        for e, derivation, origin in derived or ():
            w.writerow([e.hash_type, e.value, e.label or "", e.source_ref or "", origin, derivation])
            entries.append(e)
    elif fmt == "lines":
        # One hash a line when the list has one type (a reader gives --type for 64-digit SHA-256/PDQ
        # values); a mixed list says each line's type.
        bare = len({e.hash_type for e in entries}) == 1
        for e in entries:
            out.write(f"{e.value}\n" if bare else f"{e.hash_type} {e.value}\n")
    elif fmt == "te":
        other = sorted({e.hash_type for e in entries} - {"pdq", "vpdq"})
        if other:
            raise InvalidHash(
                f"the te format carries PDQ and vPDQ only; this list also has {', '.join(other)} (use --type pdq or the csv format)"
            )
        for e in entries:
            out.write(f"{e.hash_type} {e.value}\n")
    else:
        raise InvalidHash(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return len(entries)
