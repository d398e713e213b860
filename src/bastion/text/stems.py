"""Inflected forms: lexicon terms matched by their Snowball stems (English, French, Spanish, German).

Why: the lists hold one spelling of each word, but German declines nouns and adjectives ("Kindern",
"nackte", "Minderjährigen"), French and Spanish inflect for number and gender ("collégiennes",
"eróticos"), and English has plurals and derived forms ("schoolgirls", "underaged"). Listing every form is
a losing game; stemming the text's words and the terms the same way is not. Snowball stemmers are
algorithmic (``snowballstemmer`` from PyPI, pure Python, no model or data download).

How it stays safe and cheap:

* only the words of the *folded* text are stemmed (case, diacritics and look-alikes already folded), each
  with the stemmer of the term's own language, and a hit keeps the term's entry — its category, weight,
  ``strict`` and ``needs`` — so a German-only word still only counts in German text;
* stems shorter than :data:`MIN_STEM` letters are not used ("kid" would also be "kidding"), and words
  known to stem onto a term while meaning something else (:data:`NOT_INFLECTIONS`) are skipped;
* the text is only stemmed when the lexicon's automaton saw one of the stems at the start of a word (a
  hint from the same pass that serves every text, see :meth:`bastion.text.lexicon.Lexicon.scan`): texts
  without such a word pay nothing.

Spans point at the whole original word, so a reviewer sees "Minderjährigen", not a stem.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Protocol

if TYPE_CHECKING:
    from bastion.text.normalize import FoldedText


class LexiconEntry(Protocol):
    """What the stem index reads of a lexicon term (:class:`bastion.text.lexicon.LexiconEntry` has it). A
    protocol, not an import: the lexicon builds its stem index, so the index must not import the lexicon."""

    term: str
    language: str
    category: str
    match: str
    weight: float


__all__ = ["MIN_STEM", "NOT_INFLECTIONS", "STEM_CATEGORIES", "STEM_LANGUAGES", "StemIndex", "StemHit", "stem"]

#: Languages with a Snowball stemmer here, by the lexicon's language codes.
STEM_LANGUAGES: dict[str, str] = {
    "en": "english", "fr": "french", "es": "spanish", "de": "german", "pt": "portuguese", "it": "italian", "nl": "dutch",
    "ru": "russian", "pl": "polish",
}
#: Languages stemmed from the original letters of a word, lower-cased, not from the folded text: folding
#: maps Cyrillic letters to their Latin look-alikes and drops Polish diacritics, and their Snowball
#: stemmers read endings in those letters ("раздетыми", "rozebranych"). One-word terms only.
SCRIPT_STEM_LANGUAGES = frozenset({"ru", "pl"})
_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
#: Categories whose terms are also matched by stem. Coded terms are exact spellings by nature; trade words
#: are ordinary vocabulary on an art site ("commissions", "packs") whose common forms are listed, and
#: stemming them would stem most texts for little gain.
STEM_CATEGORIES = frozenset({"minor", "sexual", "benign", "real"})
#: Shortest stem used: below this a stem is a prefix of too many unrelated words.
MIN_STEM = 4
#: Words whose stem equals a term's stem but which are not forms of it (folded spelling, per language).
NOT_INFLECTIONS: dict[str, frozenset[str]] = {
    "en": frozenset({
        "minority", "minorities", "minored", "minoring", "explicitly", "explicitness", "packing", "packed",
        "packet", "packets", "setting", "settings", "setter", "tradition", "traditional", "traditions", "kindly",
    }),
    "fr": frozenset({"mineral", "minerale", "minerais", "prixs", "nuage", "nuages", "nuance", "nuances"}),
    "es": frozenset({"menorca", "menorquin", "ventana", "ventanas", "ventaja", "ventajas", "eroticamente"}),
    # "Schülerin" stems to "schul", as does "Schule"/"Schulung" (school, training); "junge" (boy) to "jung"
    # (young, of anyone). The nouns' own forms still match exactly or by their longer stems.
    "de": frozenset({"kinds", "kindly", "jung", "junger", "junges", "jungem", "preislich", "schule", "schulen",
                     "schulung", "schulungen", "schulisch", "schulische", "schulischen", "schuler", "schulers"}),
}
_WORD_RE = re.compile(r"[^\W\d_]+")
# The same on ASCII text (letters), without the per-character Unicode category tests.
_ASCII_WORD_RE = re.compile(r"[a-zA-Z]+")
# Word plans kept per stem index (see StemIndex.find_raw): at most this many words, each at most this long.
_MAX_PLANS = 50_000


def _remember(word: str, plan, plans: dict, dead: set):
    """Keep a word's plan (or that it has none) in the per-index tables, which are emptied when full; the plan."""
    if len(word) <= _MAX_CACHED_WORD:
        if len(plans) + len(dead) >= _MAX_PLANS:
            plans.clear()
            dead.clear()
        if plan:
            plans[word] = plan
        else:
            dead.add(word)
    return plan
_MAX_CACHED_WORD = 40
_EMPTY: frozenset[str] = frozenset()


@lru_cache(maxsize=None)
def _stemmer(language: str):
    import snowballstemmer

    return snowballstemmer.stemmer(STEM_LANGUAGES[language])


@lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    """The Snowball stem of one folded word in ``language`` (one of :data:`STEM_LANGUAGES`)."""
    return _stemmer(language).stemWord(word)


@dataclass(frozen=True, slots=True)
class StemHit:
    entry: "LexiconEntry"
    span: tuple[int, int]  # original offsets of the whole matched word(s)
    normalized: str  # the stems that met, joined by spaces


@dataclass
class StemIndex:
    """Every stemmable term of a lexicon, keyed by (language, tuple of its words' stems)."""

    table: dict[str, dict[tuple[str, ...], list["LexiconEntry"]]] = field(default_factory=dict)
    longest: int = 1
    # Terms as folded, words joined by one space (the exact match finds those as written), and per language
    # the first stems of multi-word keys.
    exact_words: frozenset[str] = frozenset()
    multi_firsts: dict[str, frozenset[str]] = field(default_factory=dict)
    multi_any: bool = False
    # Every stem of every key: the only words worth stemming start with one of them (most words of a text
    # that has a hint start with none). And the per-word plans of find_raw.
    all_stems: frozenset[str] = frozenset()
    _plans: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)
    _dead: set[str] = field(default_factory=set, repr=False, compare=False)  # words whose plan is empty
    # Per language: every proper prefix (two stems or more) of its multi-word keys.
    multi_prefixes: dict[str, frozenset[tuple[str, ...]]] = field(default_factory=dict)
    # SCRIPT_STEM_LANGUAGES: stem -> entries per language, every such stem, and per-word plans of find_raw.
    script_table: dict[str, dict[str, list["LexiconEntry"]]] = field(default_factory=dict)
    script_stems: frozenset[str] = frozenset()
    _script_plans: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)
    _script_dead: set[str] = field(default_factory=set, repr=False, compare=False)

    @classmethod
    def build(cls, entries: Iterable["LexiconEntry"]) -> "StemIndex":
        from bastion.text.normalize import fold

        idx = cls()
        exact_words: set[str] = set()
        for e in entries:
            if e.language not in STEM_LANGUAGES or e.category not in STEM_CATEGORIES or e.match != "word" or e.weight == 0:
                continue
            if getattr(e, "scope", "span") != "span":  # a context of the whole text is a word as written, never its relatives
                continue
            if e.language in SCRIPT_STEM_LANGUAGES:
                word = unicodedata.normalize("NFC", e.term.strip().lower()).replace("ё", "е")
                if not word.isalpha():
                    continue  # one word of letters only
                st = stem(word, e.language)
                if len(st) >= MIN_STEM:
                    idx.script_table.setdefault(e.language, {}).setdefault(st, []).append(e)
                continue
            folded = fold(e.term).text
            if any(not (ch.isalpha() or ch == " ") for ch in folded):
                continue  # digits or symbols in the term ("100% real", "4 sale"): its exact spelling is the point
            words = _WORD_RE.findall(folded)
            if not words:
                continue
            stems = tuple(stem(w, e.language) for w in words)
            if len(stems[-1]) < MIN_STEM and len(stems) == 1:
                continue
            idx.table.setdefault(e.language, {}).setdefault(stems, []).append(e)
            idx.longest = max(idx.longest, len(stems))
            exact_words.add(" ".join(words))
        idx.exact_words = frozenset(exact_words)
        all_stems: set[str] = set()
        for lang, table in idx.table.items():
            idx.multi_firsts[lang] = frozenset(k[0] for k in table if len(k) > 1)
            idx.multi_prefixes[lang] = frozenset(k[:n] for k in table for n in range(2, len(k)))
            all_stems.update(s for k in table for s in k)
        idx.multi_any = any(idx.multi_firsts.values())
        idx.all_stems = frozenset(all_stems)
        idx.script_stems = frozenset(st for table in idx.script_table.values() for st in table)
        return idx

    def hint_prefixes(self) -> set[str]:
        """One stem of every key, its longest: a text with no word starting with one of them has no match
        (the first words of multi-word terms are often short, common words: "la", "par", "du")."""
        return {max(key, key=len) for table in self.table.values() for key in table} | set(self.script_stems)

    def find(self, folded: "FoldedText") -> list[StemHit]:
        """Terms whose stems match consecutive words of the folded text, in any stemmed language."""
        return [StemHit(e, span, normalized) for e, span, normalized in self.find_raw(folded)]

    def _plan(self, w: str) -> tuple[tuple[str, dict, frozenset[str], str, bool, list | None], ...]:
        """What :meth:`find_raw` does with the word ``w`` wherever it occurs, worked out once per word.

        Per language (in table order) whose key may involve ``w``: (language, its table, its
        :data:`NOT_INFLECTIONS`, the stem of ``w``, whether a multi-word key starts with that stem, the
        entries of the one-word key when ``w`` is not a listed term as written). Empty when ``w`` does not
        start with any key's stem, or nothing can come of it.
        """
        if not any(w[:k] in self.all_stems for k in range(1, len(w) + 1)):
            return ()  # not a candidate: starts with no key's stem
        exact = w in self.exact_words
        if exact and not self.multi_any:
            return ()
        plan = []
        for lang, table in self.table.items():
            skip = NOT_INFLECTIONS.get(lang, _EMPTY)
            if w in skip:
                continue
            st = stem(w, lang)
            multi = st in self.multi_firsts[lang]
            single = None if exact else table.get((st,))
            if multi or single:
                plan.append((lang, table, skip, st, multi, single))
        return tuple(plan)

    def _script_plan(self, w: str) -> tuple[tuple[str, list["LexiconEntry"]], ...]:
        """(stem, entries) per script language whose one-word key the original word ``w`` (lower-cased here)
        stems to; empty when it starts with no such stem (most words) or is in the other script."""
        w = w.lower().replace("ё", "е")  # written either way in Russian text
        if len(w) < MIN_STEM or not any(w[:k] in self.script_stems for k in range(MIN_STEM, len(w) + 1)):
            return ()
        cyrillic = _CYRILLIC_RE.search(w) is not None
        plan = []
        for lang, table in self.script_table.items():
            if (lang == "ru") != cyrillic or w in NOT_INFLECTIONS.get(lang, _EMPTY):
                continue
            st = stem(w, lang)
            entries = table.get(st)
            if entries:
                plan.append((st, entries))
        return tuple(plan)

    def _find_script(self, folded: "FoldedText", words: list[str] | None, hits: list) -> None:
        """Hits of :data:`SCRIPT_STEM_LANGUAGES` terms: the original text's words, lower-cased, stemmed.
        ``words``: the folded text's words when the original is ASCII (folding only lower-cased it, offsets
        unchanged); otherwise the original's words are read, as written (a plan lower-cases its word)."""
        dead = self._script_dead
        if words is not None:
            source, word_re = folded.text, _ASCII_WORD_RE
        else:
            source, word_re = folded.original, _WORD_RE
            words = word_re.findall(source)
        if dead.issuperset(words):
            return  # the common case: every word known to lead nowhere
        plans = self._script_plans
        for m in word_re.finditer(source):
            w = m.group()
            plan = plans.get(w)
            if plan is None:
                if w in dead:
                    continue
                plan = _remember(w, self._script_plan(w), plans, dead)
            for st, entries in plan:
                hits.extend((e, m.span(), st) for e in entries)

    def find_raw(self, folded: "FoldedText") -> list[tuple["LexiconEntry", tuple[int, int], str]]:
        """:meth:`find` as ``(entry, span, normalized)`` tuples, in the same order.

        Every word of the text is looked up in a per-index table of word plans (:meth:`_plan`), so a word
        is tested against the stems and stemmed once per process, not once per text; the table is bounded.
        A multi-word key is followed only while the stems read so far begin some key.
        """
        text = folded.text
        hits: list[tuple["LexiconEntry", tuple[int, int], str]] = []
        ascii_text = text.isascii()
        word_re = _ASCII_WORD_RE if ascii_text else _WORD_RE
        words = word_re.findall(text)
        if self.script_stems:
            if not folded.original.isascii():
                self._find_script(folded, None, hits)
            elif not self._script_dead.issuperset(words):  # _find_script's own first test, without the call
                self._find_script(folded, words, hits)
        dead = self._dead
        if dead.issuperset(words):
            return hits  # every word known to lead nowhere (about half the texts with a stem hint)
        bounds: list[tuple[int, int]] | None = None  # word offsets, found only when a word hits
        plans = self._plans
        for i, w in enumerate(words):
            plan = plans.get(w)
            if plan is None:
                if w in dead:
                    continue
                plan = _remember(w, self._plan(w), plans, dead)
            if not plan:
                continue
            for lang, table, skip, st, multi, single in plan:
                if multi:
                    prefixes = self.multi_prefixes[lang]
                    key: tuple[str, ...] = (st,)
                    for j in range(i + 1, min(len(words), i + self.longest)):
                        if words[j] in skip:
                            break
                        key += (stem(words[j], lang),)
                        entries = table.get(key)
                        if entries and " ".join(words[i : j + 1]) not in self.exact_words:
                            if bounds is None:
                                bounds = [m.span() for m in word_re.finditer(text)]
                            span = folded.span(bounds[i][0], bounds[j][1])
                            hits.extend((e, span, " ".join(key)) for e in entries)
                        if key not in prefixes:
                            break  # no longer key starts with these stems
                if single:
                    if bounds is None:
                        bounds = [m.span() for m in word_re.finditer(text)]
                    span = folded.span(*bounds[i])
                    hits.extend((e, span, st) for e in single)
        return hits
