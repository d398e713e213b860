"""Matching videos by vPDQ: frame sets against frame sets.

The rule is vPDQ's (as in python-threatexchange's ``vpdq`` signal):

* frames of quality below the minimum (50, or the bank's ``min_quality``) are dropped on both sides, and
  each side is reduced to its unique frame hashes;
* a query frame matches a bank frame at Hamming distance <= 31 (the bank's ``pdq_threshold``);
* ``query_match_percent`` is the share of the query's unique frames that match some frame of the entry,
  ``compared_match_percent`` the share of the entry's unique frames that match some query frame;
* the video matches the entry when ``query_match_percent`` >= :data:`QUERY_MATCH_PERCENT` (80). The compared
  percentage is reported, not required: a short clip cut from a long known video matches it.

All bank frames go into one :class:`~bastion.banks.index.PdqIndex` (rows are frames, each row knows its
entry), so a query costs one batched search whatever the number of videos in the banks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from bastion.banks.index import PdqIndex

#: A video matches a bank entry when at least this share of its unique frames match (vPDQ's default).
QUERY_MATCH_PERCENT = 80.0
#: Frames below this quality are not compared (vPDQ's default, the same as for images).
MIN_FRAME_QUALITY = 50


def signal_key(signal: str) -> str:
    """The short, stable key a vPDQ entry is stored and reported under: SHA-256 of its canonical signal."""
    return hashlib.sha256(signal.encode("utf-8")).hexdigest()


def unique_hashes(frames: Iterable, min_quality: int = MIN_FRAME_QUALITY) -> list[str]:
    """The distinct hashes of the frames of at least ``min_quality``, in first-seen order."""
    seen: dict[str, None] = {}
    for f in frames:
        if f.quality >= min_quality:
            seen.setdefault(f.hash, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class VideoHit:
    entry_id: int
    bank_id: int
    query_match_percent: float
    compared_match_percent: float
    distance: int  # the largest of the best distances of the matched query frames


class VideoIndex:
    """Unique frames of every vPDQ bank entry, searchable together."""

    def __init__(self, entries: Sequence[tuple[int, int, Sequence[str]]], thresholds: Mapping[int, int]):
        """``entries``: (entry id, bank id, unique frame hashes); ``thresholds``: bank id -> PDQ threshold."""
        self._entry_of_row: list[int] = []
        self._bank_of_entry: dict[int, int] = {}
        self._frames_of_entry: dict[int, int] = {}
        rows: list[bytes] = []
        for entry_id, bank_id, hashes in entries:
            if not hashes:
                continue
            self._bank_of_entry[entry_id] = bank_id
            self._frames_of_entry[entry_id] = len(hashes)
            for h in hashes:
                self._entry_of_row.append(entry_id)
                rows.append(bytes.fromhex(h))
        self._thresholds = dict(thresholds)
        self._max_threshold = max(self._thresholds.values(), default=31)
        if rows:
            matrix = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 32)
            self._index = PdqIndex.from_arrays(np.arange(len(rows), dtype=np.int64), matrix)
        else:
            self._index = PdqIndex()

    def __len__(self) -> int:
        return len(self._frames_of_entry)

    @property
    def frames(self) -> int:
        return len(self._entry_of_row)

    def search(self, query_hashes: Sequence[str], min_percent: float = QUERY_MATCH_PERCENT) -> list[VideoHit]:
        """Entries matched by a query given as its unique, quality-filtered frame hashes."""
        if not query_hashes or not self._entry_of_row:
            return []
        found = self._index.search_many(list(query_hashes), self._max_threshold)
        matched_query: dict[int, dict[int, int]] = {}  # entry -> query frame -> best distance
        matched_rows: dict[int, set[int]] = {}
        for qi, hits in enumerate(found):
            for row, distance in hits:
                entry = self._entry_of_row[row]
                if distance > self._thresholds.get(self._bank_of_entry[entry], 31):
                    continue
                best = matched_query.setdefault(entry, {})
                if qi not in best or distance < best[qi]:
                    best[qi] = distance
                matched_rows.setdefault(entry, set()).add(row)
        out = []
        n = len(query_hashes)
        for entry, best in matched_query.items():
            q_pct = 100.0 * len(best) / n
            if q_pct < min_percent:
                continue
            c_pct = 100.0 * len(matched_rows[entry]) / self._frames_of_entry[entry]
            out.append(VideoHit(entry, self._bank_of_entry[entry], round(q_pct, 2), round(c_pct, 2), max(best.values())))
        out.sort(key=lambda h: (-h.query_match_percent, -h.compared_match_percent, h.entry_id))
        return out
