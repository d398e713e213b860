"""A set of non-overlapping spans with O(log n) overlap tests.

Why: detectors keep the first (strongest) hit where patterns overlap; with a plain list that test is
quadratic, and a long text with thousands of hits would take seconds.
"""

from __future__ import annotations

import bisect


class SpanSet:
    """Non-overlapping half-open spans, kept sorted by start."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, spans: list[tuple[int, int]] | None = None):
        self._starts: list[int] = []
        self._ends: list[int] = []
        for s, e in spans or ():
            self.add(s, e)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)  # spans starting before `end`
        return i > 0 and self._ends[i - 1] > start

    def add(self, start: int, end: int) -> bool:
        """Add the span unless it overlaps one already there; return whether it was added."""
        if self.overlaps(start, end):
            return False
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
        return True
