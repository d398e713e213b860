"""Which of a detector's patterns can match a text, from one automaton pass over it.

Why: each detector pattern has substrings without which it cannot match (its pre-check). Testing them
pattern by pattern costs one scan of the text per pattern; an Aho-Corasick automaton over every
pre-check substring finds all of them (overlaps included) in one pass, and says which patterns they
belong to. The answer is exactly ``any(n in text for n in needs[i])`` for every pattern ``i``.
"""

from __future__ import annotations

import re
from typing import Sequence

import ahocorasick

__all__ = ["NeedsIndex", "contains_any", "has_digit"]


class NeedsIndex:
    """Pre-check substrings of a list of patterns, compiled into one automaton."""

    __slots__ = ("_automaton",)

    def __init__(self, needs: Sequence[Sequence[str]]):
        owners: dict[str, set[int]] = {}
        for i, words in enumerate(needs):
            for w in words:
                owners.setdefault(w, set()).add(i)
        automaton = ahocorasick.Automaton()
        for w, patterns in owners.items():
            automaton.add_word(w, frozenset(patterns))
        automaton.make_automaton()
        self._automaton = automaton

    def possible(self, text: str) -> set[int]:
        """Indices of the patterns whose pre-check substrings occur in ``text``."""
        out: set[int] = set()
        for _end, patterns in self._automaton.iter(text):
            out |= patterns
        return out


_DIGIT_RE = re.compile(r"\d")
_ASCII_DIGITS = b"0123456789"


def has_digit(text: str) -> bool:
    r"""Whether ``text`` holds a digit (``\d``, any script); on ASCII text by deleting the digits at C speed,
    which is cheaper than a regex search."""
    if text.isascii():
        return len(text.encode("ascii").translate(None, _ASCII_DIGITS)) != len(text)
    return _DIGIT_RE.search(text) is not None


def contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any of ``needles`` occurs in ``text``: one substring test each, at C speed. A regex
    alternation of the same words that starts with no common literal is tried at every position of the
    text instead (``re`` has no multi-string search)."""
    for n in needles:
        if n in text:
            return True
    return False
