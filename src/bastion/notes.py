"""Notes stay readable however often a file repeats itself (issue 12, item 9).

A 6 MB PNG of malformed chunks once produced 500,000 notes and a 49 MB JSON line. Notes that differ only
in their numbers (offsets, sizes) are one kind: the first few of each kind are kept and the rest counted,
and the number of kinds is bounded too.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["cap_notes", "PER_KIND", "MAX_KINDS"]

PER_KIND = 3
MAX_KINDS = 50
_NUMBER = re.compile(r"\d+")


def cap_notes(notes: Iterable[str], per_kind: int = PER_KIND, max_kinds: int = MAX_KINDS) -> list[str]:
    """The notes in order, at most ``per_kind`` of each kind and ``max_kinds`` kinds, each cut followed by
    one note saying how many were left out. Unchanged when nothing repeats."""
    notes = list(notes)
    if len(notes) <= per_kind:
        return notes
    kept: list[str] = []
    seen: dict[str, int] = {}
    dropped_kinds = dropped_other = 0
    order: list[str] = []
    for note in notes:
        kind = _NUMBER.sub("#", note)
        n = seen.get(kind)
        if n is None:
            if len(seen) >= max_kinds:
                dropped_other += 1
                continue
            seen[kind] = 1
            order.append(kind)
            kept.append(note)
        else:
            seen[kind] = n + 1
            if n < per_kind:
                kept.append(note)
    for kind in order:
        extra = seen[kind] - per_kind
        if extra > 0:
            kept.append(f"... and {extra:,} more notes like: {kind}")
    if dropped_other:
        dropped_kinds = dropped_other
        kept.append(f"... and {dropped_kinds:,} more notes of other kinds")
    return kept
