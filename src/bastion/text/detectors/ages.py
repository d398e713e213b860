"""Age-mention detector: a number under 18 with an age unit, in each shipped language, and school grades.

Why a detector and not lexicon terms: ages are numbers with units in many spellings ("12yo", "12 y/o",
"12-year-old", "12 ans", "12 años", "12 Jahre alt", "12歳"), which a pattern covers and a word list cannot.
Bare units that also measure durations ("12 ans" as in "for 12 years") are weaker and skipped after
duration words ("depuis 12 ans", "seit 12 Jahren", "hace 12 años").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.text.detectors._needs import NeedsIndex, contains_any, has_digit
from bastion.text.detectors._spans import SpanSet
from bastion.text._fast import frozen_builder
from bastion.text.normalize import FoldedText

__all__ = ["AgeHit", "find_ages", "MAX_MINOR_AGE"]

#: Ages strictly below this are reported.
MAX_MINOR_AGE = 18

_WORDS = {
    "en": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen",
    "fr": "un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept",
    "es": "uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciseis diecisiete",
    "de": "eins zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn vierzehn funfzehn sechzehn siebzehn",
}
_NUMBER_WORDS: dict[str, int] = {}
for _lang, _words in _WORDS.items():
    for _i, _w in enumerate(_words.split(), start=1):
        _NUMBER_WORDS[_w] = _i
_NUMBER_WORDS.update({"ein": 1, "une": 1, "una": 1, "un": 1})
_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}



def _trie_alternation(words: list[str]) -> str:
    """A regex alternation of ``words`` written as a tree of their common prefixes ("s(?:e(?:ven|...)|ix)"),
    matching what the flat alternation of the words, longest first, matches, with the same choice: words
    that can match at one position are prefixes of one another, and at every node the longer continuations
    come before the word that ends there. The flat form costs a comparison per word at every word boundary
    of a text; the tree one per letter."""
    tree: dict[str, dict] = {}
    for w in words:
        node = tree
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(c) + emit(child) for c, child in node.items() if c]
        if "" in node:
            branches.append("")
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return emit(tree)


# Digits, or a number word: "(?:d(?:ix(?:\-sept|)|...)|...)" (see _trie_alternation), which matches what
# "dix\-sept|dix|..." (longest first) matches.
_NUM = r"(?P<n>\d{1,2}|" + _trie_alternation(sorted(_NUMBER_WORDS)) + r")"
_KNUM = r"(?P<n>\d{1,2}|[一二三四五六七八九十]{1,3})"

# (language, weight, pattern). Folded text: lower case, diacritics removed ("años" -> "anos").
_PATTERNS: list[tuple[str, float, re.Pattern[str]]] = [
    ("en", 1.0, re.compile(rf"\b{_NUM}\s?[-\s]?(?:yo|y/o|y\.o\.?|yrs?\.?\s?old|years?[-\s]?old|yr[-\s]?old)(?![a-z])")),
    ("en", 0.9, re.compile(rf"\b(?:aged?|age:)\s?{_NUM}\b(?!\s?(?:%|percent|years? (?:ago|of)|hours?|minutes?|days?))")),
    ("en", 0.8, re.compile(r"\b(?P<n>\d{1,2})(?:st|nd|rd|th)[-\s]?grade(?:r|rs)?\b|\bgrade\s?(?P<g>\d{1,2})\b")),
    ("fr", 0.9, re.compile(rf"\b(?:age|agee)e?s?\s(?:de\s)?{_NUM}\s?ans\b")),
    ("fr", 0.7, re.compile(rf"\b{_NUM}\s?ans\b")),
    ("es", 0.9, re.compile(rf"\b(?:tengo|tiene|de)\s{_NUM}\s?anos\b")),
    ("es", 0.7, re.compile(rf"\b{_NUM}\s?anos\b")),
    ("de", 1.0, re.compile(rf"\b{_NUM}\s?(?:jahre|j\.)\s?alt\b|\b{_NUM.replace('<n>', '<m>')}[-\s]?jahrige[rn]?\b")),
    ("de", 0.7, re.compile(rf"\b{_NUM}\s?jahre\b")),
    ("de", 0.8, re.compile(r"\b(?P<n>\d{1,2})\.\s?klasse\b|\bklasse\s?(?P<g>\d{1,2})\b")),
    ("ja", 1.0, re.compile(rf"{_KNUM}\s?(?:歳|才|さい)")),
    ("ja", 0.9, re.compile(r"(?:小学|小)(?P<g>[1-6一二三四五六])年?生?|(?:中学|中)(?P<h>[1-3一二三])年?生")),
]
# Substrings without which each pattern above cannot match: a cheap pre-check per pattern.
_NEEDS: list[tuple[str, ...]] = [
    ("y",), ("age",), ("grade",), ("age",), ("ans",), ("anos",), ("anos",), ("jahr", "j."), ("jahre",),
    ("klasse",), ("歳", "才", "さい"), ("小", "中"),
]
assert len(_NEEDS) == len(_PATTERNS)
# The same pre-checks, answered for every pattern by one automaton pass.
_NEEDS_INDEX = NeedsIndex(_NEEDS)

# Duration contexts ("for 12 years", "since ...") that precede a bare unit.
_DURATION_BEFORE = re.compile(
    r"(?:depuis|pendant|il y a|apres|en|durant|desde|hace|durante|por|seit|vor|fur|nach|uber|ueber|since|for|ago)\s?$"
)
_DURATION_AFTER = re.compile(r"^\s?(?:d'|de |experience|experiencia|erfahrung|lang|plus tard|despues|spater|ago)")
_HINT_RE = re.compile(r"\d|歳|才|さい|年生|years?|yo\b|ans\b|anos\b|jahr|grade|klasse")
# _HINT_RE as a digit test, substring tests and, for the words that must end a word, one small search
# (see _hinted): the alternation starts with no common literal, so searching it costs an attempt per position.
_HINT_WORDS = ("歳", "才", "さい", "年生", "year", "jahr", "grade", "klasse")
_HINT_ENDS = ("yo", "ans", "anos")
_HINT_ENDS_RE = re.compile(r"yo\b|ans\b|anos\b")


def _hinted(text: str) -> bool:
    """``_HINT_RE.search(text) is not None``, cheaper (tests/text/test_text_fast_paths.py)."""
    return (
        has_digit(text)
        or contains_any(text, _HINT_WORDS)
        or (contains_any(text, _HINT_ENDS) and _HINT_ENDS_RE.search(text) is not None)
    )


@dataclass(frozen=True, slots=True)
class AgeHit:
    age: int
    kind: str  # "age" or "grade"
    language: str
    value: str
    span: tuple[int, int]  # original offsets
    weight: float


# Built on every hit: see bastion.text._fast.
_new_agehit = frozen_builder(AgeHit)


def _to_int(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    if s in _NUMBER_WORDS:
        return _NUMBER_WORDS[s]
    if s and all(c in _KANJI for c in s):
        if "十" not in s:
            return _KANJI[s] if len(s) == 1 else None
        tens, _, ones = s.partition("十")
        return (_KANJI.get(tens, 0) if tens else 1) * 10 + (_KANJI.get(ones, 0) if ones else 0)
    return None


def _grade_age(lang: str, grade: int, junior: bool = False) -> int:
    """Typical age at the start of a school grade (approximate; good enough to say 'under 18')."""
    if lang == "ja":
        return grade + (12 if junior else 6)
    return grade + 5


def find_ages(folded: FoldedText) -> list[AgeHit]:
    """Every age under 18 and every school grade mentioned, with spans in the original."""
    text = folded.text
    if not _hinted(text):
        return []
    out: list[AgeHit] = []
    taken = SpanSet()
    possible = _NEEDS_INDEX.possible(text)
    for i, (lang, weight, pattern) in enumerate(_PATTERNS):
        if i not in possible:
            continue
        for m in pattern.finditer(text):
            s, e = m.span()
            if taken.overlaps(s, e):
                continue
            groups = m.groupdict()
            grade_raw = groups.get("g") or groups.get("h")
            if grade_raw:
                g = _to_int(grade_raw)
                if g is None or not 1 <= g <= 12:
                    continue
                age, kind = _grade_age(lang, g, junior=bool(groups.get("h"))), "grade"
            else:
                raw = groups.get("n") or groups.get("m")
                n = _to_int(raw) if raw else None
                if n is None:
                    continue
                age, kind = n, "age"
                if kind == "age" and pattern.pattern.startswith(r"\b(?:aged?") is False and weight < 0.8:
                    # bare unit that also measures durations
                    if _DURATION_BEFORE.search(text[max(0, s - 12) : s]) or _DURATION_AFTER.match(text[e : e + 14]):
                        continue
                if "grade" in m.group() or "klasse" in m.group():
                    age, kind = _grade_age(lang, n), "grade"
            if not 1 <= age < MAX_MINOR_AGE:
                continue
            taken.add(s, e)
            out.append(_new_agehit(age, kind, lang, m.group(), folded.span(s, e), weight))
    return out
