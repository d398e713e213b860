"""Lexicons as data: loading, validation, merging, and Aho-Corasick matching over the match view.

Why data: the field's keyword lists change weekly and differ per platform, so terms, weights and
semantics live in YAML (or CSV) files, never in code. The shipped lists in ``lexicons/<lang>.yaml`` hold
indicator words only; a platform's own list in the same format merges over them at load time.

File format (YAML)::

    language: en                 # default language of every term in the file
    source: my-platform          # optional name shown in evidence (default: the file name)
    stopwords: [the, and, ...]   # optional: used to guess a text's language for `strict` terms
    categories:
      minor:                     # category name
        weight: 0.8              # default weight of the category's terms
        match: word              # `word` (whole words) or `substring`
        terms:
          - child                # a bare term takes the category defaults
          - {term: teen, weight: 0.6, strict: true, needs: [sexual], language: en}

CSV: a header line with ``term,category`` and optionally ``weight,language,match,strict,needs``
(``needs`` separated by ``|``). A term with weight 0 removes the same term from earlier lists.

One automaton holds every term: word terms padded with a space on each side (the match view turns
every separator into a space, so padding *is* the whole-word test and inner hits never surface), and
substring terms as they are (Japanese, coded tags). A second automaton, run only inside hashtags,
holds every term unpadded so run-together hashtags can be segmented.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import ahocorasick
import yaml

from bastion.text.errors import InvalidLexicon
from bastion.text.normalize import (
    FoldedText,
    MatchView,
    PlainView,
    fold,
    hashtags,
    normalize,
    plain_text_unsqueezed,
    spaced_runs,
    squeeze_text,
)

__all__ = [
    "LexiconEntry",
    "Lexicon",
    "LexiconHit",
    "load_lexicon",
    "default_lexicon",
    "check_lexicon_file",
    "DEFAULT_LANGUAGES",
    "KNOWN_CATEGORIES",
]

#: Languages whose lists ship with Bastion (``lexicons/<lang>.yaml``).
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de", "ja", "pt", "it", "nl", "ru", "pl", "ko", "zh")
#: Categories the detectors and scoring understand; any other name in a lexicon is an error (a typo would
#: otherwise load terms that never count).
KNOWN_CATEGORIES: frozenset[str] = frozenset(
    {"minor", "sexual", "trade", "coded", "benign", "vocab", "contact", "payment", "price", "real", "material"}
)
#: Where a benign term cancels hits: inside its own span (the default) or anywhere in the same text.
_SCOPES = ("span", "text")
#: Keys a term mapping may have.
_TERM_KEYS = frozenset({"term", "weight", "language", "match", "strict", "needs", "source", "note", "scope", "cancels", "unless", "segment"})
# The C loader is ~10x faster; fall back to the pure-Python one where libyaml is missing.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NO_HINTS: frozenset[str] = frozenset()
# Characters the fast text can contain doubled (lower-case letters except 'l', kept digits, '+', space).
_DOUBLE_ALPHABET = "abcdefghijkmnopqrstuvwxyz2369+ "
#: Substrings (in fast-text form: leetspeak applied, punctuation as spaces) that make a detector worth
#: running even without a digit or one of the characters @ / $ #. Only a speed guard: a false hint costs
#: one detector run, a missing one would lose a detection, so the lists are generous.
DETECTOR_HINTS: dict[str, tuple[str, ...]] = {
    "contact": ("teiegram", "whatsap", "whatsapp", "threema", "wickr", "kik", "snap", "session", "signai",
                " tg ", "wire", "eiement", "skype", "iine", " dot ", "onion", "mega",
                "discord", "mediafire", "gofiie"),
    "commerce": ("paypai", "cash", "venmo", "ko fi", "coffee", "patreon", "gumroad", "fanbox", "boosty",
                 "subscribestar", "set", "pack", "vid", "pic", "photo", "foider", "gb", "iink", "paket", "iot",
                 "tier", "セット", "パック", "枚"),
    "age": ("year", "yo ", "y o", "ans", "anos", "jahr", "grade", "kiasse", "歳", "才", "さい", "年生",
            "aged", "age ", "小", "中"),
    # A currency code anywhere (written before a price: "usd 20"); the commerce guard then looks for a
    # number after it (bastion.text.analyze._money_near). Not "commerce": "eur" is in "eureka".
    "money_code": ("usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "btc", "eth", "xmr"),
}
#: Hint group: a word of the text starts with a term's stem (see :mod:`bastion.text.stems`).
STEM_HINT = "stem"
#: Hint groups: a minor / sexual term occurs somewhere, perhaps glued to other words.
GLUE_CATEGORIES = {"minor": "glue:minor", "sexual": "glue:sexual"}
# Categories whose hits never become signals by themselves.
_NON_INDICATOR = frozenset({"benign", "vocab"})
_CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_LANGUAGE_RE = re.compile(r"^(?:[a-z]{2,3}|und)$")
_MATCH_KINDS = ("word", "substring")


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One term of one list, with its semantics.

    ``strict`` terms are ordinary words in another language (German "kind"), so they only count when the
    text is in the term's language. ``needs`` lists categories at least one of which must also be present
    in the item for the term to count (e.g. an ambiguous acronym that is only an indicator in context).
    """

    term: str
    category: str
    weight: float
    language: str
    match: str = "word"
    strict: bool = False
    needs: tuple[str, ...] = ()
    source: str = "default"
    # Derived from the term by the same normalisation as texts:
    key: str = ""
    runs: tuple[int, ...] = ()
    digits: tuple[int, ...] = ()  # key positions the term wrote as digits
    # Provenance of the entry (the publication it comes from) and a short neutral note (lexicon check).
    ref: str = ""
    note: str = ""
    # Benign entries only: ``scope`` "text" cancels hits of ``cancels`` anywhere in the same text (not only
    # inside the benign span), unless the item has a counted signal of one of ``unless``.
    scope: str = "span"
    cancels: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    # A hit counts only when a dictionary segmenter does not put it inside a longer word (bastion.text.segment).
    segment: bool = False


class LexiconHit(NamedTuple):
    """A lexicon entry found in a text (a tuple: created for every hit, so it must be cheap)."""

    entry: LexiconEntry
    span: tuple[int, int]  # original text offsets
    normalized: str
    how: str  # "plain", "joined" or "hashtag"


# LexiconHit(...) without the generated __new__'s extra call: tuple.__new__(LexiconHit, fields).
_new_hit = tuple.__new__


def _derive(entry: LexiconEntry) -> LexiconEntry:
    view = normalize(entry.term)
    key = view.text.strip()
    lead = len(view.text) - len(view.text.lstrip())
    runs = tuple(view.run(i) for i in range(lead, lead + len(key)))
    digits = tuple(k for k in range(len(key)) if view.was_digit(lead + k))
    return LexiconEntry(
        entry.term, entry.category, entry.weight, entry.language, entry.match, entry.strict, entry.needs,
        entry.source, key, runs, digits, entry.ref, entry.note, entry.scope, entry.cancels, entry.unless,
        entry.segment,
    )


@dataclass
class Lexicon:
    """A merged set of entries plus stopwords, with lazily built automata."""

    entries: tuple[LexiconEntry, ...]
    stopwords: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    _main: Any = field(default=None, repr=False)
    _tags: Any = field(default=None, repr=False)
    _stems: Any = field(default=None, repr=False)
    # Signals of recently analysed texts (bastion.text.analyze keeps it; bounded there).
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    _glue_words: dict[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)
    _segment_keys: frozenset[str] | None = field(default=None, repr=False, compare=False)
    _stop_index: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    # -- building --------------------------------------------------------------------------------

    def merged(self, other: "Lexicon") -> "Lexicon":
        """Entries of ``other`` override same (key, category, language, match) entries of ``self``;
        a weight of 0 removes the term from every language's list: the same key (after normalisation, so
        ``commission`` and Spanish ``comisión`` are one term) in the same category and match kind."""
        table: dict[tuple[str, str, str, str], LexiconEntry] = {}
        for e in (*self.entries, *other.entries):
            k = (e.key, e.category, e.language, e.match)
            if e.weight == 0:
                for gone in [t for t in table if (t[0], t[1], t[3]) == (e.key, e.category, e.match)]:
                    del table[gone]
            else:
                table[k] = e
        stop = dict(self.stopwords)
        for lang, words in other.stopwords.items():
            stop[lang] = stop.get(lang, frozenset()) | words
        return Lexicon(tuple(table.values()), stop, self.sources + other.sources)

    def _build(self) -> None:
        """Compile the automata.

        The main automaton also carries two kinds of helper keys so one pass over the fast text answers
        every cheap question: doubled characters ("ee": does the text need squeezing?) and detector hint
        words ("telegram", "paypal", "years": is it worth running a detector?). Their values have no
        entries and are ignored by :meth:`find`.
        """
        main = ahocorasick.Automaton()
        tags = ahocorasick.Automaton()
        values: dict[str, list[Any]] = {}  # key -> [entries, double, hints]
        tag_values: dict[str, list[LexiconEntry]] = {}
        for e in self.entries:
            if e.weight == 0:
                continue
            if e.category != "vocab":  # segmentation words only help inside hashtags
                k = f" {e.key} " if e.match == "word" else e.key
                values.setdefault(k, [[], False, set()])[0].append(e)
            tag_values.setdefault(e.key, []).append(e)
            if " " in e.key:  # "baby dragon" is written "#BabyDragon" in a hashtag
                tag_values.setdefault(e.key.replace(" ", ""), []).append(e)
        for c in _DOUBLE_ALPHABET:
            values.setdefault(c + c, [[], False, set()])[1] = True
        for group, words in DETECTOR_HINTS.items():
            for w in words:
                values.setdefault(w, [[], False, set()])[2].add(group)
        # Inflected forms (bastion.text.stems): a word starting with a term's stem makes stemming worthwhile.
        from bastion.text.stems import StemIndex

        self._stems = StemIndex.build(self.entries)
        for prefix in self._stems.hint_prefixes():
            k = plain_text_unsqueezed(fold(" " + prefix))
            values.setdefault(k, [[], False, set()])[2].add(STEM_HINT)
        # Words glued together outside hashtags ("kidnudes"): a minor and a sexual term anywhere in the text,
        # word edges or not, make segmenting its long words worthwhile.
        for e in self.entries:
            if e.category in GLUE_CATEGORIES and e.weight > 0 and len(e.key.replace(" ", "")) >= 3:
                k = plain_text_unsqueezed(fold(e.term)).strip()
                if len(k) >= 3 and " " not in k:
                    values.setdefault(k, [[], False, set()])[2].add(GLUE_CATEGORIES[e.category])
        # "Indicator" keys are those with an entry that can become a signal; a text whose only hits are
        # benign contexts or segmentation words needs no offset maps at all.
        for k, (entries, double, hints) in values.items():
            word = bool(entries) and entries[0].match == "word"
            indicator = any(e.category not in _NON_INDICATOR for e in entries)
            main.add_word(k, (len(k), word, tuple(entries), double, frozenset(hints), indicator, _shapes(entries)))
        for k, v in tag_values.items():
            shapes = tuple(_shape_of(e, drop_spaces=(e.key != k)) for e in v)
            tags.add_word(k, (len(k), tuple(v), any(e.category not in _NON_INDICATOR for e in v), shapes))
        main.make_automaton()
        if tag_values:
            tags.make_automaton()
        self._main = main
        self._tags = tags if tag_values else None

    def quick_scan(self, plain_unsqueezed: str) -> tuple[bool, frozenset[str], str, list[int]]:
        """One or two automaton passes over the fast (map-free) plain text.

        Returns (whether any lexicon key matched, detector hint groups seen, the squeezed text, and the
        positions squeezing deleted -- enough to build a :class:`PlainView` without another scan).
        """
        return self.scan(plain_unsqueezed)[:4]  # type: ignore[return-value]

    def scan(self, plain_unsqueezed: str) -> tuple[bool, frozenset[str], str, list[int], list[tuple[int, Any]]]:
        """:meth:`quick_scan` plus the automaton matches that carry entries in the squeezed plain text.

        Those matches are exactly what :meth:`find` would compute again for the plain view; passing them
        on (``plain_matches``) saves that pass for every text with a hit.
        """
        if self._main is None:
            self.prepare()
        n = len(plain_unsqueezed)
        hit = False
        dels: list[int] = []
        hints: set[str] | frozenset[str] = _NO_HINTS
        matches: list[tuple[int, Any]] = []
        for end, value in self._main.iter(f" {plain_unsqueezed} "):
            if value[2]:
                matches.append((end, value))
                if value[5]:
                    hit = True
            if value[3] and 2 <= end <= n:  # both characters inside the text, not the padding
                dels.append(end - 1)
            if value[4]:
                hints = hints | value[4]
        if not dels:
            return hit, hints, plain_unsqueezed, dels, matches  # type: ignore[return-value]
        # The automaton reports matches in order of their end, and one doubled pair per end: ``dels`` is
        # sorted and has no repeats.
        pieces: list[str] = []
        last = 0
        for i in dels:
            pieces.append(plain_unsqueezed[last:i])
            last = i + 1
        pieces.append(plain_unsqueezed[last:])
        squeezed = "".join(pieces)
        hit = False
        matches = []
        for end, value in self._main.iter(f" {squeezed} "):
            if value[2]:
                matches.append((end, value))
                if value[5]:
                    hit = True
        return hit, hints, squeezed, dels, matches  # type: ignore[return-value]

    def matches_entry(self, view_text: str) -> bool:
        """Whether any entry's key (a term, not a helper key) occurs in a match-view text as
        :meth:`find` scans it; if not, that view can only contribute hashtag hits."""
        self.prepare()
        return any(value[2] for _end, value in self._main.iter(f" {view_text} "))

    def hashtag_may_hit(self, squeezed_plain: str) -> bool:
        """Whether any indicator term occurs anywhere in the text, ignoring word boundaries: if not, no
        hashtag segmentation can find one either."""
        self.prepare()
        if self._tags is None:
            return False
        return any(ind for _end, (_l, _e, ind, _s) in self._tags.iter(squeezed_plain))

    def find_stems(self, folded: FoldedText) -> list[LexiconHit]:
        """Terms found through the stems of the text's words (inflected forms; :mod:`bastion.text.stems`)."""
        self.prepare()
        return [_new_hit(LexiconHit, (e, span, normalized, "stem")) for e, span, normalized in self._stems.find_raw(folded)]

    def find_glued(self, original: str, view: MatchView | PlainView) -> list[LexiconHit]:
        """Terms glued together inside one word outside hashtags ("kidnudes", "Kindernacktbilder").

        The hashtag segmentation runs over each long word; a word's hits are kept only when they hold
        terms of at least two indicator categories (a minor word glued to a sexual one), so an ordinary
        long word that happens to contain one term is never split into it.
        """
        self.prepare()
        if self._tags is None:
            return []
        out: list[LexiconHit] = []
        camel: set[int] | None = None
        for m in (_ASCII_LONG_WORD_RE if original.isascii() else _LONG_WORD_RE).finditer(original):
            if len(self._glue_categories(m.group())) < 2:
                continue  # fewer than two indicator categories can even be found in this word
            hits: list[LexiconHit] = []
            if camel is None:
                from bastion.text.normalize import camel_boundaries

                camel = camel_boundaries(original)
            self._find_in_hashtags(original, view, [(m.start(), m.end())], set(), hits, camel)
            cats = {h.entry.category for h in hits if h.entry.category not in _NON_INDICATOR}
            if len(cats) >= 2:
                out.extend(LexiconHit(h.entry, h.span, h.normalized, "glued") for h in hits)
        return out

    def _glue_categories(self, word: str) -> frozenset[str]:
        """Indicator categories of every term occurring anywhere in ``word`` (an original word, as
        :meth:`find_glued` reads them), ignoring word edges: those a segmentation of the word can find are
        among them. Worked out once per word (a bounded table).

        The word's match-view text is computed on its own: folding, leetspeak and separators are per
        character, and a word's neighbours are separators, so its characters read as in the whole text.
        It is squeezed fully (every doubled character), which only adds occurrences of the terms, whose
        keys have no doubled characters.
        """
        got = self._glue_words.get(word)
        if got is None:
            text = squeeze_text(plain_text_unsqueezed(fold(word)))
            got = frozenset(
                e.category
                for _end, (_l, entries, ind, _s) in self._tags.iter(text)
                if ind
                for e in entries
                if e.category not in _NON_INDICATOR
            )
            if len(word) <= 40:
                if len(self._glue_words) >= 20_000:
                    self._glue_words.clear()
                self._glue_words[word] = got
        return got

    def prepare(self) -> "Lexicon":
        """Build the automata now (they are built on first use otherwise)."""
        if self._main is None and self._tags is None:
            self._build()
        return self

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def segment_keys(self) -> frozenset[str]:
        """Keys of the terms whose hits a dictionary segmenter must confirm (``segment: true``)."""
        keys = self._segment_keys
        if keys is None:
            keys = self._segment_keys = frozenset(e.key for e in self.entries if e.segment and e.weight > 0)
        return keys

    # -- matching --------------------------------------------------------------------------------

    def find(
        self,
        original: str,
        views: Sequence[MatchView | PlainView],
        *,
        all_hashtag: bool = False,
        plain_matches: list[tuple[int, Any]] | None = None,
    ) -> list[LexiconHit]:
        """Every entry found in any match view of ``original`` (deduplicated by entry and span).

        ``all_hashtag`` treats the whole text as hashtags (the ``tag`` field), so run-together words
        are segmented everywhere in it. ``plain_matches`` (from :meth:`scan`) are the automaton's matches
        over the first view's text, when the caller has them already.
        """
        self.prepare()
        seen: set[tuple[int, tuple[int, int]]] = set()
        hits: list[LexiconHit] = []
        tag_ranges: list[tuple[int, int]] | None = None
        for i, view in enumerate(views):
            how = "joined" if view.joined else "plain"
            if self._main is not None:
                found = plain_matches if i == 0 and plain_matches is not None else self._main.iter(f" {view.text} ")
                # _accept without trimming, inlined: this loop runs for every key found in every text.
                squeezed = view.squeezed
                view_span = view.span
                vtext = view.text
                # The plain view of a text that neither squeezing nor folding moved: offsets are the
                # identity (what view.span returns then), as for most texts.
                identity = isinstance(view, PlainView) and not view.dels and view.folded.starts is None
                for end, value in found:
                    entries = value[2]
                    if not entries:
                        continue
                    length = value[0]
                    if value[1]:  # a word key
                        start, stop = end - length + 1, end - 1  # view coordinates, pads excluded
                    else:
                        start, stop = end - length, end
                    span = None
                    for e, shape in zip(entries, value[6]):
                        if shape is not None and not _shape_fits(view, start, squeezed, shape):
                            continue
                        if span is None:  # one span for every entry sharing this key
                            span = (start, stop) if identity and start < stop else view_span(start, stop)
                        k = (id(e), span)
                        if k in seen:
                            continue
                        seen.add(k)
                        if e.category == "vocab":
                            continue
                        hits.append(_new_hit(LexiconHit, (e, span, vtext[start:stop], how)))
            if self._tags is not None and view.joined:
                # Letters written apart run words together ("u n d e r a g e n u d e s" -> one run):
                # segment each run like a hashtag.
                runs = spaced_runs(view.folded)
                if runs:
                    self._find_in_hashtags(original, view, runs, seen, hits)
            if self._tags is not None and ("#" in original or all_hashtag):
                if tag_ranges is None:
                    tag_ranges = [(0, len(original))] if all_hashtag else hashtags(original)
                self._find_in_hashtags(original, view, tag_ranges, seen, hits)
        return hits

    def _accept(
        self,
        view: MatchView | PlainView,
        start: int,
        stop: int,
        entries: tuple[LexiconEntry, ...],
        shapes: tuple["_Shape | None", ...],
        how: str,
        seen: set[tuple[int, tuple[int, int]]],
        hits: list[LexiconHit],
        trim: tuple[bool, bool] = (False, False),
    ) -> None:
        span = None
        squeezed = view.squeezed
        for e, shape in zip(entries, shapes):
            if shape is not None and not _shape_fits(view, start, squeezed, shape):
                continue
            if span is None:  # one span for every entry sharing this key
                if trim[0] or trim[1]:
                    f0 = view.folded_end(start) - 1 if trim[0] else view.folded_index(start)
                    f1 = view.folded_index(stop - 1) + 1 if trim[1] else view.folded_end(stop - 1)
                    span = view.folded.span(f0, f1)
                else:
                    span = view.span(start, stop)
            k = (id(e), span)
            if k in seen:
                continue
            seen.add(k)
            if e.category == "vocab":
                continue
            hits.append(LexiconHit(e, span, view.text[start:stop], how))

    def _find_in_hashtags(
        self,
        original: str,
        view: MatchView | PlainView,
        ranges: list[tuple[int, int]],
        seen: set[tuple[int, tuple[int, int]]],
        hits: list[LexiconHit],
        camel: set[int] | None = None,
    ) -> None:
        """Segment run-together hashtags: a term inside a hashtag counts when both its ends sit on a
        word edge, a #CamelCase boundary, or the edge of another known word (vocab words included).

        ``camel``: :func:`~bastion.text.normalize.camel_boundaries` of ``original``, when the caller has it."""
        if camel is None:
            from bastion.text.normalize import camel_boundaries

            camel = camel_boundaries(original)
        text = view.text
        n = len(text)
        # No nested functions here: closures that refer to each other form reference cycles (with the view
        # and its maps inside), which only the garbage collector frees -- it ran several times as often.
        for o_start, o_end in ranges:
            # The view range covering the original hashtag range: view spans grow monotonically with the
            # index, so binary-search it.
            a = _first_view_index(view, n, o_start)
            b = _first_view_index(view, n, o_end)
            if a >= b:
                continue
            cands: list[tuple[int, int, tuple[LexiconEntry, ...], tuple[_Shape | None, ...]]] = []
            for end, (length, entries, _ind, shapes) in self._tags.iter(text, a, b):
                cands.append((end - length + 1, end + 1, entries, shapes))
            if not cands:
                continue
            starts = {c[0] for c in cands}
            ends = {c[1] for c in cands}
            for s, e, entries, shapes in cands:
                s_edge = _tag_edge(s, a, b, text, view, camel)
                # Squeezing merges a letter shared by two words ("preteen"+"nude" -> "pretenude"), so a
                # word may also start on the last character of another when that character was doubled.
                if not (s_edge or s in ends or (s + 1 in ends and view.run(s) >= 2)):
                    continue
                e_edge = _tag_edge(e, a, b, text, view, camel)
                if not (e_edge or e in starts or (e - 1 in starts and view.run(e - 1) >= 2)):
                    continue
                # A doubled letter shared with a neighbouring word belongs to each word once.
                trim = (not s_edge and s not in ends, not e_edge and e not in starts)
                self._accept(view, s, e, entries, shapes, "hashtag", seen, hits, trim)

    # -- language guess --------------------------------------------------------------------------

    def guess_language(self, folded: FoldedText) -> str | None:
        """Guess a text's language from stopwords (and script for Japanese); None when unsure.

        Only needed for ``strict`` terms, so it runs only when one of them matched.
        """
        t = folded.text
        ascii_text = t.isascii()
        if not ascii_text and _KANA_RE.search(t):
            return "ja"
        # Each word's languages from one table (built once) instead of a set intersection per language: the
        # same counts, and the same answer -- the first language in list order with the most stopwords,
        # None on a tie or when none occurs.
        index = self._stop_index
        if index is None:
            index = {}
            for lang, stop in self.stopwords.items():
                for w in stop:
                    index.setdefault(w, []).append(lang)
            self._stop_index = index
        counts: dict[str, int] = {}
        for w in set((_ASCII_WORD_RE if ascii_text else _WORD_RE).findall(t)):
            for lang in index.get(w, ()):
                counts[lang] = counts.get(lang, 0) + 1
        if not counts:
            return None
        best_n = max(counts.values())
        best = [lang for lang in self.stopwords if counts.get(lang, 0) == best_n]
        return best[0] if len(best) == 1 else None


_KANA_RE = re.compile(r"[\u3040-\u30ff]")
# A run of letters and digits long enough to hold two glued terms.
_LONG_WORD_RE = re.compile(r"[^\W_]{6,}")
_ASCII_LONG_WORD_RE = re.compile(r"[a-zA-Z0-9]{6,}")  # the same on ASCII text
_WORD_RE = re.compile(r"[^\W\d_]+")
_ASCII_WORD_RE = re.compile(r"[a-zA-Z]+")  # the same on ASCII text, without the per-character category tests


# Per entry, what :func:`_shape_fits` must check: key positions with a run above one (with that run),
# and key positions written as digits. ``None`` when there is nothing to check (most terms), so a hit on
# such a term costs no per-character test at all.
_Shape = tuple[tuple[tuple[int, int], ...], tuple[int, ...]]


def _first_view_index(view: MatchView | PlainView, n: int, target: int) -> int:
    """The first view index ``i`` (of ``n``) whose character starts at or after original offset ``target``
    (``bisect_left`` over the view's original starts, which grow with the index)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if view.span(mid, mid + 1)[0] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _tag_edge(i: int, a: int, b: int, text: str, view: MatchView | PlainView, camel: set[int]) -> bool:
    """Whether view index ``i`` is a word edge inside the hashtag range ``[a, b)``: its ends, a space,
    or a #CamelCase boundary of the original."""
    return i <= a or i >= b or text[i - 1] == " " or text[i] == " " or view.span(i, i + 1)[0] in camel


def _shape_of(e: LexiconEntry, drop_spaces: bool = False) -> _Shape | None:
    """``drop_spaces``: positions in the key written without its spaces, as a hashtag writes a multi-word
    term ("cp 2077" -> "#cp2077"); the checks must index that key, not the spaced one."""
    runs, digits = e.runs, e.digits
    if drop_spaces:
        at = {k: i for i, k in enumerate(k for k, ch in enumerate(e.key) if ch != " ")}
        runs = tuple(r for k, r in enumerate(runs) if k in at)
        digits = tuple(at[k] for k in digits if k in at)
    multi = tuple((k, r) for k, r in enumerate(runs) if r > 1)
    return (multi, digits) if multi or digits else None


def _shapes(entries: Iterable[LexiconEntry]) -> tuple[_Shape | None, ...]:
    return tuple(_shape_of(e) for e in entries)


def _shape_fits(view: MatchView | PlainView, start: int, squeezed: bool, shape: _Shape) -> bool:
    """Squeezing and leetspeak only ever make texts *look* closer to terms; undo false meetings:
    each character must have repeated at least as often as in the term, and term digits must be digits."""
    multi, digits = shape
    if multi:
        if not squeezed:
            return False
        for k, r in multi:
            if view.run(start + k) < r:
                return False
    for k in digits:
        if not view.was_digit(start + k):
            return False
    return True


def _shape_ok(view: MatchView | PlainView, start: int, e: LexiconEntry) -> bool:
    """:func:`_shape_fits` for one entry (the reference form; matching uses precomputed shapes)."""
    shape = _shape_of(e)
    return shape is None or _shape_fits(view, start, view.squeezed, shape)


# --- loading -------------------------------------------------------------------------------------


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "1", "false", "no", "0", ""):
        return v.strip().lower() in ("true", "yes", "1")
    return None


def _entry(
    raw: Any, category: str, defaults: dict[str, Any], language: str, source: str, where: str,
    problems: list[tuple[str, str, str]], path: str,
) -> LexiconEntry | None:
    if isinstance(raw, str):
        raw = {"term": raw}
    if not isinstance(raw, dict):
        problems.append((path, where, f"a term must be a string or a mapping, got {type(raw).__name__}"))
        return None
    # Every problem of the term is reported, not only the first: a user fixes them all in one go.
    before = len(problems)
    unknown = set(raw) - _TERM_KEYS
    if unknown:
        problems.append((path, where, f"unknown keys {sorted(unknown)}"))
    if category not in KNOWN_CATEGORIES:
        problems.append((path, where, f"unknown category {category!r} (known: {', '.join(sorted(KNOWN_CATEGORIES))})"))
    term = raw.get("term")
    if not isinstance(term, str) or not term.strip():
        problems.append((path, where, "missing or empty 'term'"))
    weight = raw.get("weight", defaults.get("weight", 1.0))
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        problems.append((path, where, f"weight {weight!r} is not a number"))
    else:
        if not 0.0 <= weight <= 1.0:
            problems.append((path, where, f"weight {weight} outside [0, 1]"))
    lang = str(raw.get("language", language) or "").strip().lower()
    if not _LANGUAGE_RE.match(lang):
        problems.append((path, where, f"language {lang!r} is not a 2-3 letter code or 'und'"))
    match = raw.get("match", defaults.get("match", "word"))
    if match not in _MATCH_KINDS:
        problems.append((path, where, f"match must be one of {_MATCH_KINDS}, got {match!r}"))
    strict = _as_bool(raw.get("strict", defaults.get("strict", False)))
    if strict is None:
        problems.append((path, where, "strict must be true or false"))
    needs = raw.get("needs", defaults.get("needs", ()))
    if isinstance(needs, str):
        needs = [n for n in needs.replace("|", ",").split(",") if n.strip()]
    if not isinstance(needs, (list, tuple)) or not all(isinstance(n, str) and _CATEGORY_RE.match(n.strip()) for n in needs):
        problems.append((path, where, f"needs must be a list of category names, got {needs!r}"))
    ref = raw.get("source", defaults.get("source", ""))
    note = raw.get("note", defaults.get("note", ""))
    for name, value in (("source", ref), ("note", note)):
        if not isinstance(value, str) or (name in raw and not value.strip()):
            problems.append((path, where, f"{name} must be a non-empty string"))
    scope = raw.get("scope", defaults.get("scope", "span"))
    if scope not in _SCOPES:
        problems.append((path, where, f"scope must be one of {_SCOPES}, got {scope!r}"))
    elif scope != "span" and category != "benign":
        problems.append((path, where, "scope applies to benign terms only"))
    lists: dict[str, tuple[str, ...]] = {}
    for name in ("cancels", "unless"):
        v = raw.get(name, defaults.get(name, ()))
        if isinstance(v, str):
            v = [n for n in v.replace("|", ",").split(",") if n.strip()]
        if not isinstance(v, (list, tuple)) or not all(isinstance(n, str) and n.strip() in KNOWN_CATEGORIES for n in v):
            problems.append((path, where, f"{name} must be a list of known categories, got {v!r}"))
            v = ()
        elif v and category != "benign":
            problems.append((path, where, f"{name} applies to benign terms only"))
        lists[name] = tuple(n.strip() for n in v)
    segment = _as_bool(raw.get("segment", defaults.get("segment", False)))
    if segment is None:
        problems.append((path, where, "segment must be true or false"))
    elif segment and match != "substring":
        problems.append((path, where, "segment applies to substring terms only"))
    if defaults.get("_require") and category != "vocab":
        missing = [n for n, v in (("source", ref), ("note", note)) if not (isinstance(v, str) and v.strip())]
        if missing:
            problems.append((path, where, f"missing {' and '.join(missing)} (the file sets provenance: required)"))
    if len(problems) > before:
        return None
    e = _derive(LexiconEntry(
        term.strip(), category, weight, lang, match, strict, tuple(n.strip() for n in needs), source,
        ref=ref.strip(), note=note.strip(), scope=scope, cancels=lists["cancels"], unless=lists["unless"],
        segment=bool(segment),
    ))
    if not e.key:
        problems.append((path, where, f"term {term!r} is empty after normalisation"))
        return None
    if e.match == "word" and sum(e.runs) - e.key.count(" ") < 2:
        problems.append((path, where, f"term {term!r} is too short to match safely"))
        return None
    return e


def _parse_yaml(data: Any, path: str, problems: list[tuple[str, str, str]]) -> Lexicon:
    if not isinstance(data, dict):
        problems.append((path, "top", "a lexicon file must be a mapping with 'language' and 'categories'"))
        return Lexicon(())
    unknown = set(data) - {"language", "source", "stopwords", "categories", "version", "description", "provenance"}
    if unknown:
        problems.append((path, "top", f"unknown keys {sorted(unknown)}"))
    language = str(data.get("language", "")).strip().lower()
    if not _LANGUAGE_RE.match(language):
        problems.append((path, "language", f"language {language!r} is not a 2-3 letter code or 'und'"))
        language = "und"
    source = str(data.get("source") or Path(path).stem)
    provenance = data.get("provenance", "optional")
    if provenance not in ("required", "optional"):
        problems.append((path, "provenance", f"provenance must be 'required' or 'optional', got {provenance!r}"))
    cats = data.get("categories")
    if not isinstance(cats, dict) or not cats:
        problems.append((path, "categories", "missing or empty 'categories' mapping"))
        cats = {}
    entries: list[LexiconEntry] = []
    for cat, block in cats.items():
        if not isinstance(cat, str) or not _CATEGORY_RE.match(cat):
            problems.append((path, f"categories.{cat}", "category names are lower-case identifiers"))
            continue
        if isinstance(block, list):
            block = {"terms": block}
        if not isinstance(block, dict) or not isinstance(block.get("terms"), list):
            problems.append((path, f"categories.{cat}", "expected a list of terms or a mapping with 'terms'"))
            continue
        defaults = {k: block[k] for k in ("weight", "match", "strict", "needs", "source", "note", "scope", "cancels", "unless", "segment") if k in block}
        if provenance == "required":
            defaults["_require"] = True
        for i, raw in enumerate(block["terms"]):
            where = f"categories.{cat}.terms[{i}]"
            if isinstance(raw, dict) and "terms" in raw:
                # A group: terms sharing their options (typically one source and note for a few forms).
                group = dict(raw)
                members = group.pop("terms")
                if "term" in group or not isinstance(members, list) or not members:
                    problems.append((path, where, "a group needs a non-empty 'terms' list and no 'term'"))
                    continue
                for j, member in enumerate(members):
                    if isinstance(member, str):
                        member = {"term": member}
                    if not isinstance(member, dict):
                        problems.append((path, f"{where}.terms[{j}]", "a term must be a string or a mapping"))
                        continue
                    e = _entry({**group, **member}, cat, defaults, language, source, f"{where}.terms[{j}]", problems, path)
                    if e is not None:
                        entries.append(e)
                continue
            e = _entry(raw, cat, defaults, language, source, where, problems, path)
            if e is not None:
                entries.append(e)
    stop = data.get("stopwords", [])
    stopwords: dict[str, frozenset[str]] = {}
    if stop:
        if not isinstance(stop, list) or not all(isinstance(w, str) for w in stop):
            problems.append((path, "stopwords", "stopwords must be a list of words"))
        else:
            stopwords[language] = frozenset(fold(w).text for w in stop)
    return Lexicon(tuple(entries), stopwords, (source,))


def lexicon_from_data(data: Any, name: str) -> tuple[Lexicon, list[tuple[str, str, str]]]:
    """A lexicon from a mapping in the YAML file format (a platform's terms kept in a database), with every
    problem found; ``name`` stands for the file in problems and is the default ``source``."""
    problems: list[tuple[str, str, str]] = []
    return _parse_yaml(data, name, problems), problems


def _parse_csv(text: str, path: str, problems: list[tuple[str, str, str]]) -> Lexicon:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "term" not in fields or "category" not in fields:
        problems.append((path, "line 1", "CSV header must contain 'term' and 'category'"))
        return Lexicon(())
    source = Path(path).stem
    entries: list[LexiconEntry] = []
    for row in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        where = f"line {reader.line_num}"
        cat = row.get("category", "")
        if not _CATEGORY_RE.match(cat):
            problems.append((path, where, f"category {cat!r} is not a lower-case identifier"))
            continue
        raw: dict[str, Any] = {"term": row.get("term", "")}
        for k in ("weight", "language", "match", "strict", "needs", "source", "note", "scope", "cancels", "unless"):
            if row.get(k):
                raw[k] = row[k]
        e = _entry(raw, cat, {}, row.get("language") or "und", source, where, problems, path)
        if e is not None:
            entries.append(e)
    return Lexicon(tuple(entries), {}, (source,))


def parse_lexicon_file(path: str | Path) -> tuple[Lexicon, list[tuple[str, str, str]]]:
    """Parse one YAML or CSV lexicon file; return it with every problem found (nothing is dropped
    silently: an invalid term is a problem, not a skip)."""
    p = Path(path)
    problems: list[tuple[str, str, str]] = []
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Lexicon(()), [(str(p), "file", f"cannot read: {exc}")]
    if p.suffix.lower() == ".csv":
        return _parse_csv(text, str(p), problems), problems
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        return Lexicon(()), [(str(p), "yaml", f"not valid YAML: {exc}")]
    return _parse_yaml(data, str(p), problems), problems


def check_lexicon_file(path: str | Path) -> tuple[Lexicon, list[tuple[str, str, str]], list[str]]:
    """Validate one file: (lexicon, problems, warnings). Warnings note duplicate terms; an unknown category
    is a problem."""
    lex, problems = parse_lexicon_file(path)
    warnings: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    unsourced = 0
    for e in lex.entries:
        k = (e.key, e.category, e.language)
        if k in seen:
            warnings.append(f"{e.term!r}: duplicate of an earlier term in {e.category!r} after normalisation")
        seen.add(k)
        if e.category != "vocab" and (not e.ref or not e.note):
            unsourced += 1
    if unsourced:
        warnings.append(f"{unsourced} term(s) without a source and a note (set 'provenance: required' to make them errors)")
    return lex, problems, warnings


def shipped_lexicon_files() -> list[str]:
    """Paths of the shipped language lists (``lexicons/<lang>.yaml``), for checking them all."""
    return [_default_file(lang)[0] for lang in DEFAULT_LANGUAGES]


def _default_file(lang: str) -> tuple[str, str]:
    ref = resources.files("bastion.text").joinpath("lexicons", f"{lang}.yaml")
    return str(ref), ref.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _load_default(languages: tuple[str, ...]) -> Lexicon:
    lex = Lexicon(())
    problems: list[tuple[str, str, str]] = []
    for lang in languages:
        path, text = _default_file(lang)
        lex = lex.merged(_parse_yaml(yaml.load(text, Loader=_YAML_LOADER), path, problems))
    if problems:
        raise InvalidLexicon(problems)
    return lex.prepare()


def default_lexicon() -> Lexicon:
    """The shipped lists for every default language, loaded and compiled once per process."""
    return _load_default(DEFAULT_LANGUAGES)


def load_lexicon(
    paths: Iterable[str | Path] = (),
    *,
    include_default: bool = True,
    languages: Sequence[str] | None = None,
) -> Lexicon:
    """Load the shipped lists (unless ``include_default`` is False) and merge platform lists over them.

    Raises :class:`InvalidLexicon` listing every problem when any file is invalid. With no arguments
    this returns the cached default lexicon.
    """
    paths = [Path(p) for p in paths]
    langs = tuple(languages) if languages is not None else DEFAULT_LANGUAGES
    unknown = [l for l in langs if l not in DEFAULT_LANGUAGES]
    if unknown:
        raise InvalidLexicon([("(languages)", "argument", f"no shipped list for {unknown}; ship one or pass a file")])
    base = _load_default(langs) if include_default else Lexicon(())
    if not paths:
        return base
    problems: list[tuple[str, str, str]] = []
    lex = base
    for p in paths:
        more, probs = parse_lexicon_file(p)
        problems.extend(probs)
        lex = lex.merged(more)
    if problems:
        raise InvalidLexicon(problems)
    return lex.prepare()
