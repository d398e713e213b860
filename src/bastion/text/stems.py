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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from bastion.text.lexicon import LexiconEntry
    from bastion.text.normalize import FoldedText

__all__ = ["MIN_STEM", "NOT_INFLECTIONS", "STEM_CATEGORIES", "STEM_LANGUAGES", "StemIndex", "StemHit", "stem"]

#: Languages with a Snowball stemmer here, by the lexicon's language codes.
STEM_LANGUAGES: dict[str, str] = {"en": "english", "fr": "french", "es": "spanish", "de": "german"}
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
    # Per language: a pattern finding the words that start with one of its keys' stems — the only words
    # worth stemming (most words of a text that has a hint start with none).
    candidates: dict[str, "re.Pattern[str]"] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable["LexiconEntry"]) -> "StemIndex":
        from bastion.text.normalize import fold

        idx = cls()
        for e in entries:
            if e.language not in STEM_LANGUAGES or e.category not in STEM_CATEGORIES or e.match != "word" or e.weight == 0:
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
        for lang, table in idx.table.items():
            stems_of_lang = sorted({s for k in table for s in k}, key=lambda s: (-len(s), s))
            idx.candidates[lang] = re.compile(r"(?<![^\W\d_])(?:" + "|".join(map(re.escape, stems_of_lang)) + r")[^\W\d_]*")
        return idx

    def hint_prefixes(self) -> set[str]:
        """One stem of every key, its longest: a text with no word starting with one of them has no match
        (the first words of multi-word terms are often short, common words: "la", "par", "du")."""
        return {max(key, key=len) for table in self.table.values() for key in table}

    def find(self, folded: "FoldedText") -> list[StemHit]:
        """Terms whose stems match consecutive words of the folded text, in any stemmed language."""
        text = folded.text
        words = [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text)]
        if not words:
            return []
        starts = {s: i for i, (_, s, _) in enumerate(words)}
        hits: list[StemHit] = []
        for lang, table in self.table.items():
            skip = NOT_INFLECTIONS.get(lang, frozenset())
            stems: list[str | None] = [None] * len(words)
            for m in self.candidates[lang].finditer(text):
                i = starts.get(m.start())
                if i is not None and words[i][0] not in skip:
                    stems[i] = stem(words[i][0], lang)
            for i in range(len(words)):
                if stems[i] is None:
                    continue
                for n in range(1, self.longest + 1):
                    if i + n > len(words) or stems[i + n - 1] is None:
                        break
                    key = tuple(stems[i : i + n])  # type: ignore[arg-type]
                    entries = table.get(key)
                    if entries:
                        span = folded.span(words[i][1], words[i + n - 1][2])
                        for e in entries:
                            hits.append(StemHit(e, span, " ".join(key)))
        return hits
