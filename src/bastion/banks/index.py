"""Exact PDQ Hamming search: every stored hash within ``max_distance`` bits of the query, and nothing else.

Two implementations with one interface:

* :class:`PdqIndex` — the fast one. A multi-index hashing table set (11 disjoint chunks of up to 23 bits;
  by pigeonhole a hash within 31 bits has some chunk within 2 bits of the query's; from 2^26 rows 9 chunks
  of 28 bits, bucketed on 23, see :data:`WIDE_FROM`) searched by a small C
  kernel (``_pdqindex.c``) that overlaps the random memory reads with software prefetch. Beyond the radius
  where probing buckets pays off the kernel falls back to a compiled linear scan, so the answer is exact for
  every ``max_distance`` in 0..256. Incremental: adds go to a small append-only *delta* scanned linearly,
  removals set a tombstone; neither rebuilds the tables. When the delta reaches ``delta_limit`` rows the
  index is compacted (rebuilt from its live rows) — amortised, not per add; call :meth:`PdqIndex.compact`
  yourself to choose the moment.
* :class:`BruteForcePdqIndex` — the reference: a few lines of numpy, obviously right, used by tests (and
  benchmarks) to check the fast one.

Ids are arbitrary int64 values (bank entry ids). Adding an id that is already present **replaces** its
hash, whether by :meth:`add`, :meth:`add_many` or duplicates inside :meth:`from_arrays` (the last one
wins): an id names one bank entry, and an entry has one hash.

Thread safety: searches release the GIL and may run in parallel threads (``search_many(..., workers=2)``
does so). Mutations (add/remove/compact) must not run concurrently with each other; a search running while
another thread mutates sees either the state before or after that mutation for each segment.
"""

from __future__ import annotations

import math
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
import threading
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from bastion.banks import _pdqindex as _kernel
from bastion.errors import BastionError, InvalidHash

HASH_BYTES = 32
NTABLES: int = _kernel.NTABLES
MAX_BITS: int = _kernel.MAX_BITS
MAX_LO: int = _kernel.MAX_LO
#: from this many rows the wide layout (9 tables of 23 + 5 bits) is used instead of the narrow one (11
#: tables of 23): past ~8 rows per 23-bit bucket, false candidates (one random read each) dominate a
#: lookup, and the 5 extra key bits kept in each row entry remove ~3 in 4 of them for ~4x more bucket
#: probes. Measured (bench/RESULTS.md, "Archive size"): at 100M the same lookup speed as narrow
#: (0.97-1.03x per CPU-second, same run) with 10 % less memory and 25 % less build CPU; at 30M narrow is
#: 1.2-1.3x faster.
WIDE_FROM = 1 << 26

#: a PDQ hash as 32 raw bytes or 64 hex characters (numpy uint8 arrays of 32 items are accepted too)
HashLike = Union[bytes, bytearray, memoryview, str, np.ndarray]
Hit = tuple[int, int]

_FORMAT = "bastion-pdq-index"
_FORMAT_VERSION = 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _tables_are_sound(offsets: np.ndarray, rows: np.ndarray, n: int, lo: int = 0) -> bool:
    """Every table's offsets start at 0, never decrease and end at ``n``; its rows are each row once."""
    if int(offsets[:, 0].max()) != 0:
        return False
    if offsets.shape[1] > 1 and bool((np.diff(offsets.astype(np.int64), axis=1) < 0).any()):
        return False
    for t in range(rows.shape[0]):  # one table at a time: a 10^8-row index has 3.6 GB of rows
        table = rows[t] & np.uint32((1 << (32 - lo)) - 1) if lo else rows[t]
        if n and (int(table.max()) >= n or not bool((np.bincount(table, minlength=n) == 1).all())):
            return False
    return True


class IndexFileError(BastionError):
    """A saved index file is missing, truncated, of another format or inconsistent. Rebuild it from the store."""

    code = "index-file-error"


# --- input checking -------------------------------------------------------------------------------


def parse_hash(value: HashLike) -> bytes:
    """Return the 32 raw bytes of a PDQ hash given as raw bytes, 64 hex characters or a uint8 array.

    Raises :class:`~bastion.errors.InvalidHash` (with the reason) for anything else, so a bad bank line
    is reported, never silently matched as garbage.
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) != 2 * HASH_BYTES:
            raise InvalidHash(f"PDQ hash must be {2 * HASH_BYTES} hex characters, got {len(text)}")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise InvalidHash(f"PDQ hash is not hexadecimal: {text!r}") from None
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.shape != (HASH_BYTES,):
            raise InvalidHash(f"PDQ hash array must be uint8 of shape ({HASH_BYTES},), got {value.dtype} {value.shape}")
        return value.tobytes()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) != HASH_BYTES:
            raise InvalidHash(f"PDQ hash must be {HASH_BYTES} bytes, got {len(raw)}")
        return raw
    raise InvalidHash(f"PDQ hash must be bytes or a hex string, got {type(value).__name__}")


def _check_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"index ids are integers, got {type(value).__name__}")
    ident = int(value)
    if not _INT64_MIN <= ident <= _INT64_MAX:
        raise ValueError(f"index id {ident} does not fit in int64")
    return ident


def _check_radius(max_distance: int) -> int:
    if isinstance(max_distance, bool) or not isinstance(max_distance, (int, np.integer)):
        raise TypeError(f"max_distance must be an int, got {type(max_distance).__name__}")
    if not 0 <= max_distance <= 8 * HASH_BYTES:
        raise ValueError(f"max_distance must be in 0..{8 * HASH_BYTES}, got {max_distance}")
    return int(max_distance)


def as_hash_matrix(hashes: np.ndarray | Sequence[HashLike]) -> np.ndarray:
    """Return hashes as a C-contiguous (M, 32) uint8 array; a sequence of hex/bytes hashes is parsed."""
    if isinstance(hashes, np.ndarray):
        if hashes.dtype != np.uint8 or hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES:
            raise InvalidHash(f"hash array must be uint8 of shape (M, {HASH_BYTES}), got {hashes.dtype} {hashes.shape}")
        return np.ascontiguousarray(hashes)
    rows = [parse_hash(h) for h in hashes]
    if not rows:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, HASH_BYTES).copy()


def _as_id_array(ids: np.ndarray | Sequence[int]) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError("ids must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _last_wins_sorted(ids: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by id, keeping only the last occurrence of a repeated id (a later add replaces an earlier one)."""
    if ids.size > 1 and bool(np.all(ids[1:] > ids[:-1])):
        return ids, hashes  # already sorted and unique: no copy of a possibly huge array
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    keep = np.ones(sorted_ids.size, dtype=bool)
    keep[:-1] = sorted_ids[1:] != sorted_ids[:-1]  # last of each run of equal ids
    order = order[keep]
    return sorted_ids[keep], hashes[order]


def table_bits_for(n: int, min_table_rows: int = 32_768) -> int:
    """Chunk width for n rows: about log2(n) so buckets hold ~1 row; 0 (no tables) when a scan is as cheap.

    Wider chunks mean more bucket probes per query (C(bits, 2) per table at radius 31) but fewer false
    candidates; ~1 row per bucket balances the two. 23 bits is the widest that 11 disjoint chunks allow.
    """
    if n < max(min_table_rows, 2):
        return 0
    return max(8, min(MAX_BITS, math.ceil(math.log2(n))))


def table_layout_for(n: int, min_table_rows: int = 32_768) -> tuple[int, int]:
    """(bits, lo) for n rows: the narrow layout (lo = 0, :func:`table_bits_for`) up to :data:`WIDE_FROM`
    rows, then the wide one: buckets on 23 bits, ``lo`` more key bits in each row entry, as many as the
    row numbers leave free (5 up to 2^27 rows)."""
    if n < WIDE_FROM:
        return table_bits_for(n, min_table_rows), 0
    lo = MAX_LO
    while lo and n >= 1 << (32 - lo):
        lo -= 1
    return MAX_BITS, lo


def table_shape(bits: int, lo: int, n: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Shapes of the offsets and rows arrays of a layout."""
    ntables = _kernel.layout(bits, lo)[0]
    return (ntables, (1 << bits) + 1), (ntables, n)


# --- the fast index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Main:
    """The indexed segment: rows sorted by id, their tables, and tombstones (the only part mutated in place).

    Replaced as a whole, so a search in another thread always sees one consistent segment.
    """

    ids: np.ndarray  # (n,) int64, sorted, unique
    hashes: np.ndarray  # (n, 32) uint8
    tomb: np.ndarray  # (n,) uint8, 1 = removed
    bits: int  # chunk width; 0 = no tables (scanned)
    offsets: np.ndarray | None  # (ntables, 2**bits + 1) uint32
    rows: np.ndarray | None  # (ntables, n) uint32: row | lo key bits << (32 - lo)
    lo: int = 0  # 0: narrow layout; 1..MAX_LO: wide (see _pdqindex.c)

    def as_segment(self) -> tuple:
        return (self.hashes, self.ids, self.tomb, self.ids.shape[0], self.bits, self.offsets, self.rows, self.lo)


@dataclass(frozen=True)
class _Delta:
    """The unindexed, append-only rows; arrays have spare capacity beyond ``n``.

    A new ``_Delta`` (sharing the arrays) is installed after each append, so a concurrent search reads rows
    ``[0, n)`` that are fully written.
    """

    ids: np.ndarray
    hashes: np.ndarray
    tomb: np.ndarray
    n: int

    @classmethod
    def empty(cls, capacity: int = 1024) -> _Delta:
        return cls(
            np.empty(capacity, dtype=np.int64),
            np.empty((capacity, HASH_BYTES), dtype=np.uint8),
            np.zeros(capacity, dtype=np.uint8),
            0,
        )

    def with_capacity(self, needed: int) -> _Delta:
        capacity = self.ids.shape[0]
        if needed <= capacity:
            return self
        grown = _Delta.empty(max(needed, 2 * capacity))  # new arrays: searches keep the old ones
        n = self.n
        grown.ids[:n], grown.hashes[:n], grown.tomb[:n] = self.ids[:n], self.hashes[:n], self.tomb[:n]
        return _Delta(grown.ids, grown.hashes, grown.tomb, n)

    def as_segment(self) -> tuple:
        return (self.hashes, self.ids, self.tomb, self.n, 0, None, None, 0)


@dataclass(eq=False)
class _PendingCompaction:
    """A main segment being rebuilt in a thread from a snapshot of the index (see PdqIndex._start_compaction)."""

    snap_n: int  # delta rows [0, snap_n) are folded into the new main
    thread: threading.Thread = field(init=False)
    touched: list[int] = field(default_factory=list)  # ids added or removed after the snapshot
    result: _Main | None = None
    error: BaseException | None = None


class PdqIndex:
    """Exact PDQ Hamming index: multi-index hashing tables + delta + tombstones, searched in C.

    Parameters are for tuning and tests: ``delta_limit`` rows of the unindexed delta trigger a compaction;
    ``min_table_rows`` is the size below which no tables are built (a scan is as fast); ``bits`` forces
    the chunk width (1..23) instead of choosing it from the size; ``background_compaction`` rebuilds in a
    thread instead of inside the add that fills the delta, so no add waits for a rebuild; ``build_workers``
    threads build the tables of a bulk build or compaction side by side (each table is independent; each
    thread needs 2 bytes per row of scratch memory). Default 1: a server's index shares its cores.
    """

    def __init__(
        self,
        *,
        delta_limit: int = 32_768,
        min_table_rows: int = 32_768,
        bits: int | None = None,
        background_compaction: bool = False,
        build_workers: int = 1,
        lo_bits: int | None = None,
    ):
        if delta_limit < 1:
            raise ValueError("delta_limit must be >= 1")
        if bits is not None and not 1 <= bits <= MAX_BITS:
            raise ValueError(f"bits must be in 1..{MAX_BITS}")
        if lo_bits is not None:
            if bits is None:
                raise ValueError("lo_bits is forced together with bits")
            _kernel.layout(bits, lo_bits)  # ValueError for a layout that does not exist
        self.forced_lo = int(lo_bits or 0)
        self.delta_limit = int(delta_limit)
        self.min_table_rows = int(min_table_rows)
        self.forced_bits = bits
        self.background_compaction = bool(background_compaction)
        if isinstance(build_workers, bool) or not isinstance(build_workers, int) or build_workers < 1:
            raise ValueError("build_workers must be an int >= 1")
        self.build_workers = int(build_workers)
        self._pending: _PendingCompaction | None = None
        self._state = (self._make_main(np.empty(0, dtype=np.int64), np.empty((0, HASH_BYTES), dtype=np.uint8)), _Delta.empty())
        self._main_live = 0
        self._delta_rows: dict[int, int] = {}  # id -> delta row, live rows only

    # The main segment and the delta are published together as one tuple, so a search in another thread
    # never sees a new main with the old delta (which would report folded rows twice).
    @property
    def _main(self) -> _Main:
        return self._state[0]

    @property
    def _delta(self) -> _Delta:
        return self._state[1]

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls, ids: np.ndarray | Sequence[int], hashes: np.ndarray | Sequence[HashLike], **options: int | None
    ) -> PdqIndex:
        """Bulk build from ``ids`` (N,) int64 and ``hashes`` (N, 32) uint8; repeated ids: the last wins."""
        id_arr = _as_id_array(ids)
        hash_arr = as_hash_matrix(hashes)
        if id_arr.shape[0] != hash_arr.shape[0]:
            raise ValueError(f"{id_arr.shape[0]} ids but {hash_arr.shape[0]} hashes")
        index = cls(**options)  # type: ignore[arg-type]
        index._set_main(*_last_wins_sorted(id_arr, hash_arr))
        return index

    def _layout_for(self, n: int) -> tuple[int, int]:
        """(bits, lo) of the tables for n rows; bits 0 = no tables."""
        if n == 0:
            return 0, 0
        if self.forced_bits is not None:
            return self.forced_bits, self.forced_lo
        bits, lo = table_layout_for(n, self.min_table_rows)
        return (bits, lo) if bits else (0, 0)

    def _make_main(self, ids: np.ndarray, hashes: np.ndarray) -> _Main:
        """A main segment of (id-sorted, unique) rows with its tables built in C (GIL released)."""
        n = int(ids.shape[0])
        bits, lo = self._layout_for(n)
        if lo and n >= 1 << (32 - lo):
            raise ValueError(f"{n} rows do not fit the row entries of layout bits={bits} lo={lo}")
        offsets = rows = None
        if bits:
            off_shape, rows_shape = table_shape(bits, lo, n)
            offsets = np.empty(off_shape, dtype=np.uint32)
            rows = np.empty(rows_shape, dtype=np.uint32)
            ntables = off_shape[0]
            workers = min(self.build_workers, ntables) if n >= 65_536 else 1
            if workers <= 1:
                _kernel.build_tables(hashes, n, bits, offsets, rows, 0, ntables, lo)
            else:  # disjoint table ranges; the C build releases the GIL
                bounds = np.linspace(0, ntables, workers + 1).astype(int).tolist()
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    list(pool.map(lambda ab: _kernel.build_tables(hashes, n, bits, offsets, rows, ab[0], ab[1], lo),
                                  zip(bounds[:-1], bounds[1:])))
        return _Main(ids, hashes, np.zeros(n, dtype=np.uint8), bits, offsets, rows, lo)

    def _set_main(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Replace everything by these (id-sorted, unique) rows, with an empty delta."""
        main = self._make_main(ids, hashes)
        self._state = (main, _Delta.empty())
        self._main_live = int(ids.shape[0])
        self._delta_rows = {}

    # -- mutation --------------------------------------------------------------------------------

    def _main_row(self, ident: int) -> int:
        """Row of a live id in the main segment, or -1."""
        main = self._main
        i = int(np.searchsorted(main.ids, ident))
        if i < main.ids.shape[0] and int(main.ids[i]) == ident and not main.tomb[i]:
            return i
        return -1

    def _discard(self, ident: int) -> bool:
        row = self._delta_rows.pop(ident, None)
        if row is not None:
            self._delta.tomb[row] = 1
            return True
        row = self._main_row(ident)
        if row >= 0:
            self._main.tomb[row] = 1
            self._main_live -= 1
            return True
        return False

    def add(self, id: int, hash: HashLike) -> None:  # noqa: A002 - the public API names them so
        """Add (or replace) one entry: appended to the delta, searchable at once; no table is rebuilt."""
        raw = parse_hash(hash)
        ident = _check_id(id)
        self._discard(ident)
        delta = self._delta.with_capacity(self._delta.n + 1)
        row = delta.n
        delta.ids[row] = ident
        delta.hashes[row] = np.frombuffer(raw, dtype=np.uint8)
        delta.tomb[row] = 0
        self._state = (self._main, _Delta(delta.ids, delta.hashes, delta.tomb, row + 1))
        self._delta_rows[ident] = row
        self._note_change([ident])
        if self._delta.n >= self.delta_limit and self._pending is None:
            if self.background_compaction:
                self._start_compaction()
            else:
                self.compact()

    def add_many(self, ids: np.ndarray | Sequence[int], hashes: np.ndarray | Sequence[HashLike]) -> None:
        """Add (or replace) many entries; within the batch a repeated id's last hash wins.

        A batch that would fill the delta is merged straight into the tables (one rebuild) instead.
        """
        id_arr = _as_id_array(ids)
        hash_arr = as_hash_matrix(hashes)
        if id_arr.shape[0] != hash_arr.shape[0]:
            raise ValueError(f"{id_arr.shape[0]} ids but {hash_arr.shape[0]} hashes")
        if id_arr.size == 0:
            return
        id_arr, hash_arr = _last_wins_sorted(id_arr, hash_arr)
        if self._delta.n + id_arr.size >= self.delta_limit:
            self._finish_compaction(wait=True)
            # new rows come after the live ones, so on a repeated id the new hash wins
            live_ids, live_hashes = self._live_arrays()
            self._set_main(*_last_wins_sorted(np.concatenate([live_ids, id_arr]), np.concatenate([live_hashes, hash_arr])))
            return
        id_list = id_arr.tolist()
        for ident in id_list:
            self._discard(ident)
        delta = self._delta.with_capacity(self._delta.n + id_arr.size)
        start, end = delta.n, delta.n + id_arr.size
        delta.ids[start:end] = id_arr
        delta.hashes[start:end] = hash_arr
        delta.tomb[start:end] = 0
        self._state = (self._main, _Delta(delta.ids, delta.hashes, delta.tomb, end))
        self._delta_rows.update(zip(id_list, range(start, end)))
        self._note_change(id_list)

    def remove(self, id: int) -> bool:  # noqa: A002
        """Remove an entry (tombstone; no rebuild). Returns False if the id was not present."""
        ident = _check_id(id)
        removed = self._discard(ident)
        if removed:
            self._note_change([ident])
        return removed

    @staticmethod
    def _compacted_rows(main: _Main, delta: _Delta, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Live rows of ``main`` and of ``delta[:upto]``, id-sorted and unique, ready for a new main.

        The big part (the main segment, already sorted) is merged in C without the GIL; only the small
        delta is sorted here.
        """
        live = np.flatnonzero(delta.tomb[:upto] == 0)
        d_ids, d_hashes = _last_wins_sorted(delta.ids[live], delta.hashes[live])
        n = main.ids.shape[0] + d_ids.shape[0]
        out_ids = np.empty(n, dtype=np.int64)
        out_hashes = np.empty((n, HASH_BYTES), dtype=np.uint8)
        k = _kernel.merge_rows(
            main.hashes, main.ids, main.tomb, main.ids.shape[0], d_hashes, d_ids, d_ids.shape[0], out_hashes, out_ids
        )
        return out_ids[:k], out_hashes[:k]

    def _live_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        main, delta = self._main, self._delta
        main_live = main.tomb == 0
        delta_live = delta.tomb[: delta.n] == 0
        ids = np.concatenate([main.ids[main_live], delta.ids[: delta.n][delta_live]])
        hashes = np.concatenate([main.hashes[main_live], delta.hashes[: delta.n][delta_live]])
        return ids, hashes

    def compact(self) -> None:
        """Fold the delta into the tables and drop removed rows: a full rebuild (~5-10 s at 10M rows here).

        Waits for a background compaction in progress first.
        """
        self._finish_compaction(wait=True)
        main = self._main
        if self._delta.n == 0 and self._main_live == main.ids.shape[0] and (main.bits, main.lo) == self._layout_for(self._main_live):
            return
        main, delta = self._state
        self._set_main(*self._compacted_rows(main, delta, delta.n))

    # -- background compaction -------------------------------------------------------------------
    #
    # With background_compaction=True the add that fills the delta starts a thread that builds a new main
    # segment from a snapshot (the main's live rows + the first `snap_n` delta rows); the C build releases
    # the GIL, so adds and searches go on meanwhile (the delta grows past its limit until then). Every id
    # added or removed after the snapshot is logged; when the build is done (checked at the next add or
    # remove, or by wait_for_compaction) those ids are tombstoned in the new main, the delta rows appended
    # after the snapshot become the new delta, and both are published in one assignment.

    def _note_change(self, ids: list[int]) -> None:
        pending = self._pending
        if pending is None:
            return
        pending.touched.extend(ids)
        if not pending.thread.is_alive():
            self._finish_compaction(wait=False)

    def _start_compaction(self) -> None:
        main, delta = self._state
        pending = _PendingCompaction(snap_n=delta.n)

        def build() -> None:
            try:
                pending.result = self._make_main(*self._compacted_rows(main, delta, pending.snap_n))
            except BaseException as exc:  # handed to the thread that finishes the compaction
                pending.error = exc

        pending.thread = threading.Thread(target=build, name="pdq-index-compaction", daemon=True)
        self._pending = pending
        pending.thread.start()

    def wait_for_compaction(self) -> None:
        """Block until a background compaction (if any) is built and published."""
        self._finish_compaction(wait=True)

    def _finish_compaction(self, wait: bool) -> None:
        pending = self._pending
        if pending is None:
            return
        if wait:
            pending.thread.join()
        elif pending.thread.is_alive():
            return
        self._pending = None
        if pending.error is not None:
            raise pending.error  # the index is unchanged: still the old main + the (larger) delta
        new_main = pending.result
        assert new_main is not None
        if pending.touched:  # changed since the snapshot: the build may hold a stale row (one vectorised lookup)
            touched = np.fromiter(set(pending.touched), dtype=new_main.ids.dtype)
            at = np.searchsorted(new_main.ids, touched)
            inside = at < new_main.ids.shape[0]
            at, touched = at[inside], touched[inside]
            new_main.tomb[at[new_main.ids[at] == touched]] = 1
        old = self._delta
        later = np.flatnonzero(old.tomb[pending.snap_n : old.n] == 0) + pending.snap_n
        new_delta = _Delta.empty(max(1024, 2 * later.size))
        new_delta.ids[: later.size] = old.ids[later]
        new_delta.hashes[: later.size] = old.hashes[later]
        self._state = (new_main, _Delta(new_delta.ids, new_delta.hashes, new_delta.tomb, int(later.size)))
        self._main_live = int(new_main.ids.shape[0] - np.count_nonzero(new_main.tomb))
        self._delta_rows = dict(zip(new_delta.ids[: later.size].tolist(), range(later.size)))

    # -- queries ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._main_live + len(self._delta_rows)

    def __contains__(self, id: object) -> bool:  # noqa: A002
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            return False
        ident = int(id)
        return ident in self._delta_rows or self._main_row(ident) >= 0

    @property
    def delta_size(self) -> int:
        """Rows in the unindexed delta (including replaced/removed ones not yet compacted)."""
        return self._delta.n

    @property
    def table_layout(self) -> tuple[int, int, int]:
        """(tables, bucket bits, lo bits) of the main segment; (0, 0, 0) when it is scanned."""
        main = self._main
        return (main.offsets.shape[0], main.bits, main.lo) if main.bits else (0, 0, 0)

    @property
    def table_bits(self) -> int:
        """Chunk width of the main tables; 0 when the main segment is small enough to scan."""
        return self._main.bits

    def _segments(self) -> tuple[tuple, ...]:
        main, delta = self._state  # one read: consistent even if another thread mutates
        if delta.n == 0:
            return (main.as_segment(),)
        return (main.as_segment(), delta.as_segment())

    def search(self, hash: HashLike, max_distance: int = 31) -> list[Hit]:  # noqa: A002
        """All (id, distance) with distance <= max_distance, sorted by distance then id."""
        return _kernel.search(self._segments(), parse_hash(hash), 1, _check_radius(max_distance))[0]

    def search_many(
        self, hashes: np.ndarray | Sequence[HashLike], max_distance: int = 31, *, workers: int = 1
    ) -> list[list[Hit]]:
        """:meth:`search` for each row of an (M, 32) uint8 array, in one C call per worker thread."""
        return self._search_matrix(as_hash_matrix(hashes), _check_radius(max_distance), 0, workers)

    def _search_matrix(self, queries: np.ndarray, r: int, mode: int, workers: int = 1) -> list[list[Hit]]:
        """mode 0 = cost-based choice, 1 = force multi-index, 2 = force linear scan (tests compare them)."""
        segments = self._segments()
        m = queries.shape[0]
        if workers <= 1 or m < 2 * workers:
            return _kernel.search(segments, queries, m, r, mode)
        bounds = np.linspace(0, m, workers + 1).astype(int)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(
                lambda ab: _kernel.search(segments, queries[ab[0] : ab[1]], ab[1] - ab[0], r, mode),
                zip(bounds[:-1], bounds[1:]),
            )
            return [hits for part in parts for hits in part]

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, tables: bool = True) -> None:
        """Write the whole state (uncompressed .npz) so :meth:`load` needs no rebuild; atomic replace.

        ``tables=False`` writes only rows and tombstones (a third of the size); load then rebuilds the
        tables, which takes about as long as :meth:`from_arrays`.
        """
        main, delta = self._state
        n = delta.n
        arrays = {
            "format": np.array(_FORMAT),
            "version": np.array(_FORMAT_VERSION),
            "bits": np.array(main.bits if tables else -1),
            "lo_bits": np.array(main.lo if tables else 0),
            "params": np.array(
                [self.delta_limit, self.min_table_rows, self.forced_bits or 0, int(self.background_compaction),
                 self.forced_lo], dtype=np.int64
            ),
            "main_ids": main.ids,
            "main_hashes": main.hashes,
            "main_tomb": main.tomb,
            "delta_ids": delta.ids[:n],
            "delta_hashes": delta.hashes[:n],
            "delta_tomb": delta.tomb[:n],
        }
        if tables and main.bits:
            arrays["offsets"] = main.offsets
            arrays["rows"] = main.rows
        tmp = f"{os.fspath(path)}.tmp"
        from bastion.private import open_private

        with open_private(tmp) as fh:  # owner-only: a bank's hashes are sensitive
            np.savez(fh, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PdqIndex:
        """Read a file written by :meth:`save`; raises :class:`IndexFileError` if it is not a valid one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise IndexFileError(f"{path}: not a readable index file ({exc})") from exc
        return cls._from_saved(arrays, path)

    @classmethod
    def _from_saved(cls, a: dict[str, np.ndarray], path: object) -> PdqIndex:
        def fail(why: str) -> IndexFileError:
            return IndexFileError(f"{path}: {why}")

        required = ("format", "version", "bits", "params", "main_ids", "main_hashes", "main_tomb", "delta_ids", "delta_hashes", "delta_tomb")
        missing = [k for k in required if k not in a]
        if missing:
            raise fail(f"missing arrays {missing}")
        if str(a["format"]) != _FORMAT or int(a["version"]) != _FORMAT_VERSION:
            raise fail(f"format {a['format']!s} v{a['version']!s}, expected {_FORMAT} v{_FORMAT_VERSION}")
        params = [int(x) for x in a["params"]]
        if len(params) not in (4, 5):  # 4: written before the wide layout existed
            raise fail("params array has the wrong length")
        delta_limit, min_table_rows, forced, background, forced_lo = (params + [0])[:5]
        try:
            index = cls(delta_limit=delta_limit, min_table_rows=min_table_rows, bits=forced or None,
                        background_compaction=bool(background), lo_bits=(forced_lo or None) if forced else None)
        except ValueError as exc:
            raise fail(f"bad parameters ({exc})") from None
        ids, hashes, tomb = a["main_ids"], a["main_hashes"], a["main_tomb"]
        n = ids.shape[0]
        if ids.dtype != np.int64 or hashes.dtype != np.uint8 or hashes.shape != (n, HASH_BYTES) or tomb.shape != (n,) or tomb.dtype != np.uint8:
            raise fail("main arrays have inconsistent shapes or types")
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise fail("main ids are not sorted and unique")
        bits, lo = int(a["bits"]), int(a.get("lo_bits", 0))
        if bits >= 0 and (bits, lo) == index._layout_for(n) and (bits == 0 or ("offsets" in a and "rows" in a)):
            offsets, rows = (a["offsets"], a["rows"]) if bits else (None, None)
            if bits and (
                (offsets.dtype, rows.dtype) != (np.uint32, np.uint32) or (offsets.shape, rows.shape) != table_shape(bits, lo, n)
                or int(offsets[:, -1].min()) != n or int(offsets[:, -1].max()) != n
            ):
                raise fail("tables are inconsistent with the rows")
            if bits and not _tables_are_sound(offsets, rows, n, lo):
                # The C kernel trusts every offset: a bucket reaching past the rows read out of bounds
                # (a crash), a row missing from a table hid its hash (no match). Refused; callers rebuild.
                raise fail("table offsets or rows are corrupt")
            main = _Main(ids, hashes, np.ascontiguousarray(tomb), bits, offsets, rows, lo)
        else:
            built = index._make_main(ids, hashes)
            main = _Main(ids, hashes, np.ascontiguousarray(tomb), built.bits, built.offsets, built.rows, built.lo)
        index._main_live = int(n - np.count_nonzero(tomb))
        d_ids, d_hashes, d_tomb = a["delta_ids"], a["delta_hashes"], a["delta_tomb"]
        m = d_ids.shape[0]
        if d_ids.dtype != np.int64 or d_hashes.shape != (m, HASH_BYTES) or d_hashes.dtype != np.uint8 or d_tomb.shape != (m,) or d_tomb.dtype != np.uint8:
            raise fail("delta arrays have inconsistent shapes or types")
        delta = _Delta.empty(max(m, 1024))
        delta.ids[:m], delta.hashes[:m], delta.tomb[:m] = d_ids, d_hashes, d_tomb
        index._state = (main, _Delta(delta.ids, delta.hashes, delta.tomb, m))
        live = np.flatnonzero(d_tomb == 0)
        index._delta_rows = dict(zip(d_ids[live].tolist(), live.tolist()))
        if len(index._delta_rows) != live.size:
            raise fail("delta has a live id twice")
        return index


# --- the reference ----------------------------------------------------------------------------------


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    """Bits set per row of a (N, 32) uint8 array."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).sum(axis=1, dtype=np.int64)
    return np.unpackbits(x, axis=1).sum(axis=1, dtype=np.int64)


class BruteForcePdqIndex:
    """Same interface as :class:`PdqIndex`, computed the obvious way: distance to every row, then filter.

    Kept deliberately trivial (O(N) per add, remove and query) so that it can be trusted as the oracle the
    fast index is tested against.
    """

    def __init__(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._hashes = np.empty((0, HASH_BYTES), dtype=np.uint8)

    @classmethod
    def from_arrays(cls, ids: np.ndarray | Sequence[int], hashes: np.ndarray | Sequence[HashLike]) -> BruteForcePdqIndex:
        index = cls()
        index.add_many(ids, hashes)
        return index

    def add(self, id: int, hash: HashLike) -> None:  # noqa: A002
        raw = np.frombuffer(parse_hash(hash), dtype=np.uint8)
        ident = _check_id(id)
        self.remove(ident)
        self._ids = np.append(self._ids, np.int64(ident))
        self._hashes = np.vstack([self._hashes, raw])

    def add_many(self, ids: np.ndarray | Sequence[int], hashes: np.ndarray | Sequence[HashLike]) -> None:
        id_arr = _as_id_array(ids)
        hash_arr = as_hash_matrix(hashes)
        if id_arr.shape[0] != hash_arr.shape[0]:
            raise ValueError(f"{id_arr.shape[0]} ids but {hash_arr.shape[0]} hashes")
        id_arr, hash_arr = _last_wins_sorted(id_arr, hash_arr)
        keep = ~np.isin(self._ids, id_arr)
        self._ids = np.concatenate([self._ids[keep], id_arr])
        self._hashes = np.concatenate([self._hashes[keep], hash_arr])

    def remove(self, id: int) -> bool:  # noqa: A002
        keep = self._ids != _check_id(id)
        if bool(keep.all()):
            return False
        self._ids, self._hashes = self._ids[keep], self._hashes[keep]
        return True

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __contains__(self, id: object) -> bool:  # noqa: A002
        return isinstance(id, (int, np.integer)) and not isinstance(id, bool) and bool(np.any(self._ids == int(id)))

    def search(self, hash: HashLike, max_distance: int = 31) -> list[Hit]:  # noqa: A002
        r = _check_radius(max_distance)
        query = np.frombuffer(parse_hash(hash), dtype=np.uint8)
        dist = _popcount_rows(self._hashes ^ query)
        hit = np.flatnonzero(dist <= r)
        order = np.lexsort((self._ids[hit], dist[hit]))
        return [(int(self._ids[i]), int(dist[i])) for i in hit[order]]

    def search_many(self, hashes: np.ndarray | Sequence[HashLike], max_distance: int = 31) -> list[list[Hit]]:
        return [self.search(q, max_distance) for q in as_hash_matrix(hashes)]

