"""Matching a file's hashes against every enabled bank.

Exact hashes (MD5, SHA-1, SHA-256) are looked up in the store through its (hash_type, value) index: there is
no point holding millions of hex strings in memory twice. PDQ hashes go through the in-memory
:class:`~bastion.banks.index.PdqIndex`, built once from the store; only the entry ids and their bank are kept
beside it (as arrays), and labels are read from the store for the few entries that match.

Rules applied here, not in the index:

* each bank has its own PDQ threshold; the index is searched at the largest one, then filtered per bank;
* a PDQ hash whose quality is below a bank's ``min_quality`` (default 50) is not matched against that bank;
* the 8 dihedral variants of the query (rotations, mirrors) are searched; each entry is reported once, with
  the variant that came closest (the untransformed hash wins ties);
* videos are matched by their vPDQ frames against the banks' ``vpdq`` entries (:mod:`bastion.banks.video`).
* a file whose picture has a uniform border also brings the hashes of the picture with the border cut off
  (``trimmed_variants``); they are searched too and a match through them says ``query="border-trimmed"``
  (the whole picture wins ties);
* derived entries (hashes of sub-regions of media the bank was built from, ``derived_from`` set) are
  searched like any entry, but a hit on one is reported as a crop match of its original entry, with the
  original's hash and label. A direct hit on the original beats a crop hit at the same distance.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from sqlalchemy import bindparam, func, select

from bastion.banks.hashes import EXACT_TYPES
from bastion.banks.index import IndexFileError, PdqIndex
from bastion.banks.repo import bank_from_row
from bastion.banks.video import MIN_FRAME_QUALITY, VideoIndex, unique_hashes
from bastion.model import Bank, Match
from bastion.private import open_private, private_dir
from bastion.store.db import Store
from bastion.store.schema import BankEntryRow, BankRow

_LOAD_CHUNK = 200_000


def _fingerprint(s, store: Store, rows: list[BankRow]) -> str:
    ids = sorted(r.id for r in rows)
    count, top = s.execute(
        select(func.count(), func.max(BankEntryRow.id)).where(
            BankEntryRow.hash_type == "pdq", BankEntryRow.bank_id.in_(ids)
        )
    ).one()
    parts = [store.url] + [f"{r.id}:{r.updated_at.isoformat() if r.updated_at else ''}" for r in sorted(rows, key=lambda r: r.id)]
    parts += [str(count), str(top)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _read_cache(path: Path):
    try:
        index = PdqIndex.load(path)
        with np.load(path.with_suffix(".entries.npz"), allow_pickle=False) as a:
            entry_ids, entry_bank, entry_origin = a["ids"], a["banks"], a["origins"]
    except (FileNotFoundError, IndexFileError, OSError, KeyError, ValueError):
        return None  # a cache written before derived entries existed has no "origins": rebuilt
    if len(entry_ids) != len(index) or len(entry_bank) != len(entry_ids) or len(entry_origin) != len(entry_ids):
        return None
    return index, entry_ids, entry_bank, entry_origin


def _write_cache(
    path: Path, index: PdqIndex, entry_ids: np.ndarray, entry_bank: np.ndarray, entry_origin: np.ndarray
) -> None:
    """Best effort: a read-only or full disk only costs the next load its speed."""
    try:
        private_dir(path.parent)  # the cache holds the banks' hashes: owner-only, whatever the umask
        for old in path.parent.glob("pdq-*.npz"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(".entries.tmp")
        with open_private(tmp) as fh:
            np.savez(fh, ids=entry_ids, banks=entry_bank, origins=entry_origin)
        os.replace(tmp, path.with_suffix(".entries.npz"))
        index.save(path)
    except OSError:
        pass


@dataclass(frozen=True)
class _BankInfo:
    id: int
    bank: Bank


def _load_video_index(store: Store, banks: list[_BankInfo]) -> VideoIndex:
    """Every vPDQ entry of these banks, its frames filtered by the bank's minimum quality and deduplicated."""
    from bastion.media.video import parse_signal

    by_id = {b.id: b.bank for b in banks}
    entries = []
    if by_id:
        with store.session() as s:
            q = select(BankEntryRow.id, BankEntryRow.bank_id, BankEntryRow.payload).where(
                BankEntryRow.hash_type == "vpdq", BankEntryRow.bank_id.in_(list(by_id))
            )
            for entry_id, bank_id, payload in s.execute(q.order_by(BankEntryRow.id)):
                if payload:
                    entries.append((entry_id, bank_id, unique_hashes(parse_signal(payload), by_id[bank_id].min_quality)))
    return VideoIndex(entries, {i: b.pdq_threshold for i, b in by_id.items()})


#: ``derived_from`` of an original entry in the matcher's arrays.
NO_ORIGIN = -1


class Matcher:
    def __init__(
        self,
        store: Store,
        banks: list[_BankInfo],
        index: PdqIndex,
        entry_ids: np.ndarray,
        entry_bank: np.ndarray,
        video: VideoIndex | None = None,
        entry_origin: np.ndarray | None = None,
    ):
        self.store = store
        self._video = video if video is not None else _load_video_index(store, banks)
        self._banks = {b.id: b.bank for b in banks}
        self._index = index
        self._entry_ids = entry_ids  # sorted int64
        self._entry_bank = entry_bank  # bank id per entry, aligned with _entry_ids
        # original entry id per entry (NO_ORIGIN for originals), aligned with _entry_ids
        self._entry_origin = entry_origin if entry_origin is not None else np.full(len(entry_ids), NO_ORIGIN, np.int64)
        self._has_derived = bool(len(self._entry_origin)) and bool((self._entry_origin != NO_ORIGIN).any())
        self._max_threshold = max((b.bank.pdq_threshold for b in banks), default=31)
        # The per-file lookups, built once: a statement with expanding parameters compiles once and is then
        # reused from SQLAlchemy's cache (building the expression for every scanned file cost more than the
        # indexed query itself).
        self._exact_lookup = select(BankEntryRow.bank_id, BankEntryRow.hash_type, BankEntryRow.value, BankEntryRow.label).where(
            BankEntryRow.hash_type.in_(bindparam("types", expanding=True)),
            BankEntryRow.value.in_(bindparam("values", expanding=True)),
            BankEntryRow.bank_id.in_(bindparam("banks", expanding=True)),
            BankEntryRow.derived_from.is_(None),
        )
        self._entry_lookup = select(BankEntryRow.id, BankEntryRow.value, BankEntryRow.label, BankEntryRow.derivation).where(
            BankEntryRow.id.in_(bindparam("ids", expanding=True))
        )

    @property
    def banks(self) -> list[Bank]:
        return list(self._banks.values())

    @property
    def pdq_entries(self) -> int:
        """PDQ hashes in the index, derived entries included."""
        return len(self._entry_ids)

    @property
    def vpdq_entries(self) -> int:
        return len(self._video)

    @property
    def derived_entries(self) -> int:
        """How many of :attr:`pdq_entries` are derived (sub-regions of a bank's own media)."""
        return int((self._entry_origin != NO_ORIGIN).sum())

    @classmethod
    def from_store(cls, store: Store, bank_names: list[str] | None = None, *, cache_dir: Path | None = None) -> "Matcher":
        """Load every enabled bank (or the named ones, enabled or not) and build the PDQ index.

        With ``cache_dir`` the built index is kept on disk under a fingerprint of what it was built from
        (the banks, their last change, the count and highest id of their PDQ entries); the next load with
        the same fingerprint reads the file instead of every row. Any change to the banks through Bastion
        changes the fingerprint. A damaged cache file is ignored and rebuilt.
        """
        with store.session() as s:
            q = select(BankRow)
            q = q.where(BankRow.name.in_(bank_names)) if bank_names else q.where(BankRow.enabled.is_(True))
            rows = s.scalars(q).all()
            if bank_names:
                missing = set(bank_names) - {r.name for r in rows}
                if missing:
                    from bastion.errors import UnknownBank

                    raise UnknownBank(f"no bank named {', '.join(sorted(missing))}")
            banks = [_BankInfo(r.id, bank_from_row(r)) for r in rows]
            bank_ids = [b.id for b in banks]
            cache_file = None
            if cache_dir is not None and bank_ids:
                cache_file = Path(cache_dir) / f"pdq-{_fingerprint(s, store, rows)}.npz"
                cached = _read_cache(cache_file)
                if cached is not None:
                    index, entry_ids, entry_bank, entry_origin = cached
                    return cls(store, banks, index, entry_ids, entry_bank, entry_origin=entry_origin)
        ids_parts: list[np.ndarray] = []
        bank_parts: list[np.ndarray] = []
        origin_parts: list[np.ndarray] = []
        hash_parts: list[np.ndarray] = []
        if bank_ids:
            # Millions of rows: go through the DB-API cursor directly (SQLAlchemy's Row objects cost several
            # times the fetch itself) and decode the hex one chunk at a time.
            marks = ", ".join(str(int(b)) for b in bank_ids)
            sql = (
                "SELECT id, bank_id, value, derived_from FROM bank_entries "
                f"WHERE hash_type = 'pdq' AND bank_id IN ({marks}) ORDER BY id"
            )
            with store.engine.connect() as conn:
                raw_conn = conn.connection.driver_connection
                # PostgreSQL: a server-side cursor, so ten million rows are streamed, not buffered at once.
                cur = raw_conn.cursor(name="bastion_pdq_load") if store.engine.dialect.name == "postgresql" else raw_conn.cursor()
                try:
                    cur.execute(sql)
                    while part := cur.fetchmany(_LOAD_CHUNK):
                        ids, bids, values, origins = zip(*part)
                        ids_parts.append(np.fromiter(ids, dtype=np.int64, count=len(ids)))
                        bank_parts.append(np.fromiter(bids, dtype=np.int64, count=len(bids)))
                        origin_parts.append(
                            np.fromiter((NO_ORIGIN if o is None else o for o in origins), dtype=np.int64, count=len(origins))
                        )
                        raw = bytes.fromhex("".join(values))
                        hash_parts.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32))
                finally:
                    cur.close()
        entry_ids = np.concatenate(ids_parts) if ids_parts else np.empty(0, np.int64)
        entry_bank = np.concatenate(bank_parts) if bank_parts else np.empty(0, np.int64)
        entry_origin = np.concatenate(origin_parts) if origin_parts else np.empty(0, np.int64)
        hashes = np.concatenate(hash_parts) if hash_parts else np.empty((0, 32), np.uint8)
        index = PdqIndex.from_arrays(entry_ids, hashes) if len(entry_ids) else PdqIndex()
        if cache_file is not None:
            _write_cache(cache_file, index, entry_ids, entry_bank, entry_origin)
        return cls(store, banks, index, entry_ids, entry_bank, entry_origin=entry_origin)

    def _bank_of(self, entry_id: int) -> Bank:
        i = int(np.searchsorted(self._entry_ids, entry_id))
        return self._banks[int(self._entry_bank[i])]

    def _origin_of(self, entry_id: int) -> int:
        """The original entry a derived entry belongs to (NO_ORIGIN for an original entry)."""
        if not self._has_derived:
            return NO_ORIGIN
        i = int(np.searchsorted(self._entry_ids, entry_id))
        return int(self._entry_origin[i])

    def reload_videos(self) -> None:
        """Read the banks' ``vpdq`` entries again (after some were added): video entries are few and their
        index small, so it is rebuilt whole rather than patched."""
        self._video = _load_video_index(self.store, [_BankInfo(i, b) for i, b in self._banks.items()])

    def match(
        self,
        exact: Mapping[str, str],
        pdq_variants: Mapping[str, str] | None = None,
        pdq_quality: int | None = None,
        vpdq=None,
        *,
        trimmed_variants: Mapping[str, str] | None = None,
        trimmed_quality: int | None = None,
    ) -> list[Match]:
        """``exact``: hash type -> hex (md5/sha1/sha256). ``pdq_variants``: variant name -> hex, the
        untransformed hash under ``"original"``; ``trimmed_variants`` the same for the picture with its
        uniform border cut off, if it has one. ``vpdq``: a video's frames (objects with ``hash``,
        ``quality``). Returns matches, closest first."""
        pairs = {(t, v.lower()) for t, v in exact.items() if t in EXACT_TYPES and v}
        queries: list[tuple[str | None, Mapping[str, str], int | None]] = []
        if pdq_variants:
            queries.append((None, pdq_variants, pdq_quality))
        if trimmed_variants:
            queries.append(("border-trimmed", trimmed_variants, trimmed_quality))
        best = self._search_pdq(queries) if queries and len(self._entry_ids) else {}
        videos = self._video.search(unique_hashes(vpdq, MIN_FRAME_QUALITY)) if vpdq and len(self._video) else []
        if not self._banks or (not pairs and not best and not videos):
            return []
        matches: list[Match] = []
        # One connection and at most two indexed queries per file: this runs once for every scanned file.
        with self.store.engine.connect() as conn:
            if pairs:
                rows = conn.execute(
                    self._exact_lookup,
                    {"types": sorted({t for t, _ in pairs}), "values": sorted({v for _, v in pairs}), "banks": list(self._banks)},
                ).all()
                for bank_id, t, value, label in rows:
                    if (t, value) in pairs:
                        bank = self._banks[bank_id]
                        matches.append(Match(bank.name, bank.category, t, value, label, 0, None))
            if best:
                wanted = set(best) | {hit[4] for hit in best.values() if hit[4] is not None}
                rows = conn.execute(self._entry_lookup, {"ids": list(wanted)}).all()
                found = {entry_id: (value, label, derivation) for entry_id, value, label, derivation in rows}
                for entry_id, (distance, _, variant, query, derived_id) in best.items():
                    if entry_id not in found:
                        continue  # deleted since the index was built
                    value, label, _ = found[entry_id]
                    bank = self._bank_of(entry_id)
                    derivation = derived_hash = None
                    if derived_id is not None:
                        if derived_id not in found:
                            continue
                        derived_hash, _, derivation = found[derived_id]
                        derivation = derivation or "crop"
                    matches.append(
                        Match(bank.name, bank.category, "pdq", value, label, distance, variant, query=query,
                              derivation=derivation, derived_hash=derived_hash)
                    )
            if videos:
                hits = {h.entry_id: h for h in videos}
                rows = conn.execute(
                    select(BankEntryRow.id, BankEntryRow.value, BankEntryRow.label).where(BankEntryRow.id.in_(list(hits)))
                ).all()
                for entry_id, value, label in rows:
                    h = hits[entry_id]
                    bank = self._banks[h.bank_id]
                    matches.append(Match(bank.name, bank.category, "vpdq", value, label, h.distance, None,
                                         h.query_match_percent, h.compared_match_percent))
        matches.sort(key=lambda m: (m.distance, m.bank, m.hash_type, m.value))
        return matches

    def _search_pdq(
        self, queries: list[tuple[str | None, Mapping[str, str], int | None]]
    ) -> dict[int, tuple[int, tuple[int, int, int], str, str | None, int | None]]:
        """Original entry id -> (distance, rank, variant, query, derived entry id) of the closest
        hit, after each bank's rules. Rank breaks distance ties: the whole picture before the trimmed one,
        a direct hit before a crop hit, the untransformed variant before the others."""
        best: dict[int, tuple[int, tuple[int, int, int], str, str | None, int | None]] = {}
        flat: list[tuple[int, str, int | None, str | None]] = []  # (query rank, variant, quality, query name)
        hashes: list[str] = []
        for q_rank, (name, variants, quality) in enumerate(queries):
            for variant, h in sorted(variants.items(), key=lambda kv: kv[0] != "original"):
                flat.append((q_rank, variant, quality, name))
                hashes.append(h)
        # Every variant of every query goes to the index in one call: one pass of the C kernel.
        found = self._index.search_many(hashes, self._max_threshold)
        for order, ((q_rank, variant, quality, name), hits) in enumerate(zip(flat, found)):
            for entry_id, distance in hits:
                bank = self._bank_of(entry_id)
                if distance > bank.pdq_threshold:
                    continue
                if quality is not None and quality < bank.min_quality:
                    continue
                origin = self._origin_of(entry_id)
                if origin == NO_ORIGIN:
                    target, derived, rank = entry_id, None, (q_rank, 0, order)
                else:
                    target, derived, rank = origin, entry_id, (q_rank, 1, order)
                cur = best.get(target)
                if cur is None or (distance, rank) < cur[:2]:
                    best[target] = (distance, rank, variant, name, derived)
        return best


def match_file(res, matcher) -> list[Match]:
    """The bank matches of one examined file: exact hashes (MD5 — a ``video_md5`` entry is an MD5 —, SHA-1,
    SHA-256), PDQ with its dihedral variants, the border-trimmed PDQ, and a video's vPDQ frames. Sets
    ``res.matches``; raises :class:`~bastion.errors.BastionError` when the banks cannot be read."""
    if matcher is None or not (res.sha256 or res.pdq):
        return []
    frames = None
    if res.video and res.video.get("vpdq"):
        from bastion.media.video import parse_signal

        frames = parse_signal(res.video["vpdq"])
    ms = matcher.match(
        {"md5": res.md5, "sha1": res.sha1, "sha256": res.sha256},
        res.pdq_variants or None,
        res.quality,
        vpdq=frames,
        trimmed_variants=res.trimmed_variants or None,
        trimmed_quality=res.trimmed["quality"] if res.trimmed else None,
    )
    res.matches = [m.to_dict() for m in ms]
    return ms
