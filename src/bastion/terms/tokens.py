"""What counts as a term of an item: pure functions, no database.

From tags and hashtags: the whole tag (``#Plum_Vex`` -> ``plumvex``) and its pieces, split at #CamelCase
boundaries (:func:`bastion.text.normalize.camel_boundaries`, the lexicon's own rule), at separators and
digits, and around words the lexicon knows (its ``vocab`` and term words: ``plumvexart`` -> ``plumvex`` +
``art``). From titles and bodies: words (starting with a letter, three characters or more, not a stopword)
and pairs of adjacent such words (``blue moon``). Keys are casefolded, NFKC-normalised text; a pair is two
keys and one space.

Only what is needed to rank and to find items again is kept: at most :data:`MAX_WORDS` single terms and
:data:`MAX_PAIRS` pairs per item (the first ones, tags first), each at most
:data:`~bastion.terms.models.TERM_MAX` characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from bastion.terms.models import TERM_MAX

MAX_WORDS = 40
MAX_PAIRS = 16
_MIN_LEN = 3
_WORD_RE = re.compile(r"[^\W\d_][\w'’]*", re.UNICODE)
_HASHTAG_RE = re.compile(r"#([^\W_][\w]*)", re.UNICODE)
_TAG_SPLIT_RE = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS_RE = re.compile(r"\d+")
_SPACES_RE = re.compile(r"\s+")
#: a few words every language list lacks and no lead wants as a candidate
_EXTRA_STOP = frozenset({"http", "https", "www", "com"})


def term_key(text: str) -> str:
    """The key of a term as a lead types it: NFKC, casefolded, without a leading ``#``, single spaces."""
    t = unicodedata.normalize("NFKC", text or "").casefold().strip()
    t = t.lstrip("#").strip()
    return _SPACES_RE.sub(" ", t)[:TERM_MAX]


def _key(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold() if not word.isascii() else word.lower()


@dataclass(frozen=True)
class ItemTerms:
    #: every term counted for the item, distinct, tag terms first
    terms: tuple[str, ...]
    #: the terms seen as a tag or hashtag (whole or a piece)
    tag_terms: tuple[str, ...]
    #: the single-word terms (indexed term -> items; pairs are found through their words)
    words: tuple[str, ...]


class Extractor:
    """Splits an item's texts into terms. ``known`` words are peeled off run-together tags; ``stopwords``
    never become terms."""

    def __init__(self, known: Iterable[str] = (), stopwords: Iterable[str] = ()):
        self.known = frozenset(k for k in known if len(k) >= _MIN_LEN and " " not in k)
        self._longest = max((len(k) for k in self.known), default=0)
        self.stopwords = frozenset(stopwords) | _EXTRA_STOP

    @classmethod
    def for_lexicon(cls, lexicon) -> "Extractor":
        """An extractor that splits tags around the lexicon's words (cached on the lexicon object).

        The words are the entries' terms as written (casefolded), letters only: never their match keys,
        which fold look-alike characters and squeeze doubled letters (``r18`` -> ``rib``, ``teen`` ->
        ``ten``, ``link`` -> ``ink``) and are not words: splitting at them cut ordinary tags into
        meaningless pieces (``ribbon`` -> ``rib`` + ``bon``)."""
        got = getattr(lexicon, "_terms_extractor", None)
        if got is None:
            known = {k for k in (term_key(e.term) for e in lexicon.entries) if k.isalpha()}
            stop = frozenset().union(*lexicon.stopwords.values()) if lexicon.stopwords else frozenset()
            got = cls(known, stop)
            try:
                object.__setattr__(lexicon, "_terms_extractor", got)
            except (AttributeError, TypeError):
                pass
        return got

    # -- tags ------------------------------------------------------------------------------------

    def tag_pieces(self, tag: str) -> list[str]:
        """The pieces of one tag (without ``#``): separators, digits and #CamelCase first, then known words
        peeled off each end of what remains. A tag of one piece gives that piece."""
        from bastion.text.normalize import camel_boundaries

        raw = tag.lstrip("#")
        cuts = sorted(i - 1 for i in camel_boundaries("#" + raw))  # offsets in raw
        parts: list[str] = []
        last = 0
        for c in cuts + [len(raw)]:
            parts.append(raw[last:c])
            last = c
        out: list[str] = []
        for p in parts:
            for q in _TAG_SPLIT_RE.split(p):
                for r in _DIGITS_RE.split(q):
                    if r:
                        out.extend(self._peel(_key(r)))
        return out

    def _peel(self, word: str) -> list[str]:
        """Known words at either end of a run-together word come off while a piece of three or more
        characters stays: ``plumvexart`` -> ``plumvex``, ``art``. The longest known word first."""
        if not self.known or len(word) < 2 * _MIN_LEN:
            return [word]
        head: list[str] = []
        tail: list[str] = []
        changed = True
        while changed and len(word) >= 2 * _MIN_LEN:
            changed = False
            for n in range(min(self._longest, len(word) - _MIN_LEN), _MIN_LEN - 1, -1):
                if word[:n] in self.known:
                    head.append(word[:n])
                    word = word[n:]
                    changed = True
                    break
                if word[-n:] in self.known:
                    tail.append(word[-n:])
                    word = word[:-n]
                    changed = True
                    break
        return head + [word] + tail[::-1]

    # -- items -----------------------------------------------------------------------------------

    def extract(self, title: str | None, body: str | None, tags: Sequence[str] = (),
                skip: Sequence[Sequence[tuple[int, int]]] = ((), ())) -> ItemTerms:
        """``skip``: spans of the title and of the body that a detector already explained (a contact
        handle, a price): their words are not terms."""
        seen: dict[str, None] = {}
        tagged: dict[str, None] = {}
        stop = self.stopwords

        def add(k: str, tag: bool) -> None:
            if len(k) < _MIN_LEN or len(k) > TERM_MAX or k in stop or k.isdigit():
                return
            if k not in seen:
                if len(seen) >= MAX_WORDS:
                    return
                seen[k] = None
            if tag:
                tagged[k] = None

        def add_tag(tag: str) -> None:
            whole = _key("".join(_TAG_SPLIT_RE.split(tag.lstrip("#"))))
            add(whole, True)
            pieces = self.tag_pieces(tag)
            if len(pieces) > 1:
                for p in pieces:
                    add(p, True)

        for t in tags:
            if t and t.strip("# "):
                add_tag(t.strip())
        pairs: dict[str, None] = {}
        for text, spans in zip((title, body), skip):
            if not text:
                continue
            for m in _HASHTAG_RE.finditer(text):
                add_tag(m.group(1))
            prev: str | None = None
            for m in _WORD_RE.finditer(text):
                if m.start() > 0 and text[m.start() - 1] == "#":
                    prev = None
                    continue
                k = _key(m.group())
                if spans and any(a < m.end() and m.start() < b for a, b in spans):
                    prev = None
                    continue
                if len(k) < _MIN_LEN or k in stop or len(k) > TERM_MAX:
                    prev = None
                    continue
                add(k, False)
                if prev is not None and len(pairs) < MAX_PAIRS:
                    pair = f"{prev} {k}"
                    if len(pair) <= TERM_MAX:
                        pairs[pair] = None
                prev = k
        words = tuple(seen)
        return ItemTerms(words + tuple(p for p in pairs if p not in seen), tuple(tagged), words)
