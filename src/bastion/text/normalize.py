"""Text normalisation that defeats obfuscation while keeping a map back to the original offsets.

Why a map: a reviewer must see *which characters of the original text* fired a rule, so every normalised
character remembers the half-open range ``[start, end)`` of the original text it came from. Deleted
characters (zero-width, separators between single letters) simply have no image; expanded characters
(``ß`` -> ``ss``, ``ﬁ`` -> ``fi``) give several normalised characters the same range.

Two layers:

* :func:`fold` -- the *folded* view: NFKC, casefold, homoglyph folding (Cyrillic/Greek look-alikes,
  letter-like emoji, enclosed letters), invisible characters removed, diacritics folded, kana width
  unified. Digits and punctuation are kept, so detectors for ages, prices, addresses and contacts read it.
* :func:`normalize` -- the *match* view used by the lexicon: the folded view, optionally with letters
  separated by dots/spaces/underscores joined, then leetspeak mapped, punctuation turned into spaces and
  every run of a repeated character squeezed to one character. The run lengths are kept so a match can
  insist that the text had *at least* the repeats the term has ("teeen" matches "teen", "ten" does not),
  and the origin of every character is kept so a term written with digits ("r18") only matches digits.

Lexicon terms go through exactly the same functions, so text and terms always meet in the same form.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from bastion.text._fast import frozen_builder

__all__ = [
    "FoldedText",
    "MatchView",
    "PlainView",
    "plain_view",
    "fold",
    "normalize",
    "camel_boundaries",
    "match_views",
    "views_of",
    "joined_view",
    "script_split_view",
    "script_edges",
    "spaced_runs",
    "has_spaced_run",
    "hashtags",
    "needs_join",
    "INVISIBLE",
]

# --- character tables ----------------------------------------------------------------------------

#: Characters with no visible glyph that are used to split words invisibly. Removed outright.
INVISIBLE: frozenset[str] = frozenset(
    [chr(c) for c in (0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0)]
    + [chr(c) for c in range(0x200B, 0x2010)]  # zero-width space/joiners, LRM/RLM
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings
    + [chr(c) for c in range(0x2060, 0x2070)]  # word joiner, invisible operators, bidi isolates
    + [chr(c) for c in range(0xFE00, 0xFE10)]  # variation selectors
    + [chr(c) for c in range(0xE0000, 0xE0080)]  # tag characters
    + [chr(c) for c in range(0xE0100, 0xE01F0)]  # variation selectors supplement
)

# Look-alikes that NFKC leaves alone. Keys are already casefolded (we fold case first).
_HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ӏ": "l", "ԛ": "q",
    "ԝ": "w", "ь": "b", "ɡ": "g", "һ": "h", "ү": "y", "ѵ": "v", "ԍ": "g", "ҝ": "k", "ո": "n", "ս": "u",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "µ": "u", "μ": "u", "γ": "y", "ς": "c",
    # Latin look-alikes, IPA and small capitals
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʟ": "l", "ɪ": "i", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d",
    "ᴇ": "e", "ғ": "f", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
    "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ø": "o", "đ": "d",
    "ł": "l", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u", "æ": "ae", "œ": "oe",
}

# Kana voicing marks are combining characters (Mn) but carry meaning: keep them, strip other marks.
_KEEP_MARKS = frozenset("\u3099\u309a")


def _letter_emoji(ch: str) -> str | None:
    """Letter-like emoji and enclosed letters that NFKC does not decompose."""
    cp = ord(ch)
    if 0x1F1E6 <= cp <= 0x1F1FF:  # regional indicators 🇦..🇿
        return chr(ord("a") + cp - 0x1F1E6)
    if 0x249C <= cp <= 0x24B5:  # parenthesized ⒜..⒵ (NFKC would add the parentheses)
        return chr(ord("a") + cp - 0x249C)
    for base in (0x1F130, 0x1F150, 0x1F170):  # squared, negative circled, negative squared latin
        if base <= cp < base + 26:
            return chr(ord("a") + cp - base)
    return None


@lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """Fold one original character to its canonical form ('' when it should disappear)."""
    if ch in INVISIBLE:
        return ""
    if "\uac00" <= ch <= "\ud7a3":
        # Hangul syllables stay whole: NFD would split each into jamo, and a syllable is one letter.
        return ch
    emoji = _letter_emoji(ch)
    if emoji is not None:
        return emoji
    out = []
    for c in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", ch).casefold()):
        if c in INVISIBLE:
            continue
        if unicodedata.category(c) == "Mn" and c not in _KEEP_MARKS:
            continue  # diacritic
        c = _HOMOGLYPHS.get(c, c)
        out.append(c)
    folded = "".join(out)
    # A second pass catches homoglyphs that NFKC produced (e.g. mathematical Greek letters).
    folded = "".join(_HOMOGLYPHS.get(c, c) for c in folded)
    if folded.isascii():
        return folded
    # What is left outside ASCII: the Unicode confusables table (bastion.text.confusables) folds the
    # characters that imitate a Latin letter (Cherokee, Lisu, Armenian, Coptic, more small capitals...).
    # The original character first: case folding moves some (Cherokee capitals) out of the table.
    from bastion.text.confusables import confusable_letter, excluded

    if not excluded(ch):
        letter = confusable_letter(ch)
        if letter is not None:
            return letter
    return "".join(c if c in _KEEP_MARKS or excluded(c) else (confusable_letter(c) or c) for c in folded)


# --- views ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoldedText:
    """The folded view of a text and, per folded character, the original range it came from.

    ``starts``/``ends`` are ``None`` when the view is the identity on offsets (pure ASCII input), which
    keeps the common case cheap; use :meth:`span` rather than reading them directly.
    """

    original: str
    text: str
    starts: list[int] | None
    ends: list[int] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``[start, end)`` range covered by folded characters ``[start, end)``."""
        if self.starts is None or self.ends is None:
            return (start, end)
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return (pos, pos)
        return (self.starts[start], self.ends[end - 1])


# Built on every hit: see bastion.text._fast.
_new_foldedtext = frozen_builder(FoldedText)


# Per-character fold results learnt on first sight: a translate table for the characters that fold to
# exactly one character, and the set of those that do not (deleted or expanded), which need offset maps.
_FOLD_TABLE: dict[int, str] = {}
_KNOWN: set[str] = set()
_NOT_ONE_TO_ONE: set[str] = set()


def _learn(chars: set[str]) -> None:
    for ch in chars:
        f = ch.lower() if ch.isascii() else fold_char(ch)
        _FOLD_TABLE[ord(ch)] = f
        if len(f) != 1:
            _NOT_ONE_TO_ONE.add(ch)
        _KNOWN.add(ch)


def fold(text: str) -> FoldedText:
    """Return the folded view of ``text`` (see module docstring)."""
    if text.isascii():
        # casefold == lower for ASCII, and it preserves length: offsets are the identity.
        return _new_foldedtext(text, text.lower(), None, None)
    chars = set(text)
    if not chars <= _KNOWN:
        _learn(chars - _KNOWN)
    if chars.isdisjoint(_NOT_ONE_TO_ONE):
        # Every character folds to exactly one character: offsets are the identity again.
        return _new_foldedtext(text, text.translate(_FOLD_TABLE), None, None)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        f = ch.lower() if ch.isascii() else fold_char(ch)
        if not f:
            continue
        pieces.append(f)
        if len(f) == 1:
            starts.append(i)
            ends.append(i + 1)
        else:
            starts.extend([i] * len(f))
            ends.extend([i + 1] * len(f))
    return _new_foldedtext(text, "".join(pieces), starts, ends)


# Leetspeak: digits and symbols standing in for letters. Mapped 1:1 so offsets do not move.
_LEET_DIGITS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
# The letter 'l' and the digit '1' are written for each other; fold both to 'i' in the match view.
_SKELETON = str.maketrans({"l": "i"})
# Symbols only count as letters inside a word: "$ex" or "n@ked", but not "$50" or "wow!".
_LEET_SYMBOL_RE = re.compile(r"(?<=[^\W_])[@$!|](?=[^\W_])|(?<![^\W_])[@$](?=[^\W\d_])")
_LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "i"}
_SYMBOL_RE = re.compile(r"[@$!|]")


def _leet_symbols(text: str) -> str:
    r"""``_LEET_SYMBOL_RE.sub(...)`` done per symbol instead of per position.

    The pattern's lookarounds make the regex engine try every position of the text; symbols are rare,
    so testing the same context (``[^\W_]`` is ``str.isalnum``, ``\d`` is ``str.isdecimal``) around each
    one is several times cheaper. Lookarounds read the unchanged text in both versions.
    """
    out: list[str] | None = None
    n = len(text)
    for m in _SYMBOL_RE.finditer(text):
        i = m.start()
        c = text[i]
        before = i > 0 and text[i - 1].isalnum()
        after = text[i + 1] if i + 1 < n else ""
        if (before and after.isalnum()) or (c in "@$" and not before and after.isalnum() and not after.isdecimal()):
            if out is None:
                out = list(text)
            out[i] = _LEET_SYMBOLS[c]
    return text if out is None else "".join(out)
# Everything that is not a letter, digit, '+' (kept for "18+") or a kana mark separates words.
_SEPARATOR_RE = re.compile(r"[^\w+\u3099\u309a]|_")
# Single letters separated by one or two separator characters: "n.s.f.w", "n s f w", "n_s_f_w".
# The separator must be the same throughout the run, so "y/o n.s.f.w" joins only "n.s.f.w".
_SPACED_LETTERS_RE = re.compile(
    r"(?<![^\W_])[^\W_](?P<sep>[ ._\-*·•/|~,]{1,2})(?:[^\W_](?P=sep))+[^\W_](?![^\W_])"
)
# A dot, underscore, asterisk or hyphen inside a word: "nu.de", "nu_de".
_INNER_SEPARATOR_RE = re.compile(r"(?<=[^\W\d_])[._*\-·•~]+(?=[^\W\d_])")
_SQUEEZE_RE = re.compile(r"(.)\1+", re.DOTALL)


@dataclass(frozen=True, slots=True)
class MatchView:
    """The match view: what the lexicon automaton runs over.

    ``base[i]``/``base_end[i]`` give the folded range that match-view character ``i`` stands for (several
    folded characters after squeezing); ``runs[i]`` is how many repeats it stood for. All three are
    ``None`` when the view is the identity on the folded text.
    """

    folded: FoldedText
    text: str
    base: list[int] | None
    base_end: list[int] | None
    runs: list[int] | None
    joined: bool  # whether separators between letters were removed

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``[start, end)`` range covered by match-view characters ``[start, end)``."""
        if self.base is None or self.base_end is None:
            return self.folded.span(start, end)
        if end <= start:
            return self.folded.span(self.base[start], self.base[start])
        return self.folded.span(self.base[start], self.base_end[end - 1])

    def folded_index(self, i: int) -> int:
        return i if self.base is None else self.base[i]

    def folded_end(self, i: int) -> int:
        return i + 1 if self.base_end is None else self.base_end[i]

    def run(self, i: int) -> int:
        return 1 if self.runs is None else self.runs[i]

    @property
    def squeezed(self) -> bool:
        return self.runs is not None

    def was_digit(self, i: int) -> bool:
        """True when match-view character ``i`` was written as a digit in the folded text."""
        return self.folded.text[self.folded_index(i)].isdigit()


class PlainView:
    """The plain match view (no joining) with *sparse* maps: only the positions squeezing deleted.

    Why: the plain view is 1:1 with the folded text except for squeezing, so it keeps the sorted deleted
    positions and builds the per-character maps only if a hit asks for them (most texts have none).
    Same interface as :class:`MatchView`.
    """

    __slots__ = ("folded", "text", "dels", "joined", "_base", "_runs", "_owner")

    def __init__(self, folded: FoldedText, text: str, dels: list[int]):
        self.folded = folded
        self.text = text
        self.dels = dels  # sorted folded indices removed by squeezing
        self.joined = False
        self._base: list[int] | None = None
        self._runs: list[int] | None = None
        self._owner: list[int] | None = None

    def _owners(self) -> list[int]:
        """Per deleted position (in order), the index of the kept view character whose run it extends.

        With it, every map question is two binary searches: view character ``i`` sits at folded index
        ``i + #owners < i`` and its run ends at ``i + #owners <= i + 1`` -- no per-character map is built.
        """
        if self._owner is None:
            # j deletions precede d, so the kept character that owns it has index d - j - 1.
            self._owner = [d - j - 1 for j, d in enumerate(self.dels)]
        return self._owner

    @property
    def squeezed(self) -> bool:
        return bool(self.dels)

    def _dense(self) -> tuple[list[int], list[int]]:
        if self._base is None or self._runs is None:
            base: list[int] = []
            prev = 0
            for d in self.dels:
                base.extend(range(prev, d))
                prev = d + 1
            base.extend(range(prev, len(self.text) + len(self.dels)))
            runs = [1] * len(base)
            for j, d in enumerate(self.dels):
                # j deletions precede d, so the kept character that owns it has index d - j - 1.
                runs[d - j - 1] += 1
            self._base, self._runs = base, runs
        return self._base, self._runs

    # Out-of-range indices go through the dense maps so they behave exactly as list indexing does.

    def folded_index(self, i: int) -> int:
        if not self.dels or self.dels[0] > i:
            return i
        if 0 <= i < len(self.text):
            return i + bisect_left(self._owners(), i)
        return self._dense()[0][i]

    def run(self, i: int) -> int:
        if not self.dels:
            return 1
        if 0 <= i < len(self.text):
            owner = self._owners()
            return 1 + bisect_right(owner, i) - bisect_left(owner, i)
        return self._dense()[1][i]

    def folded_end(self, i: int) -> int:
        if not self.dels:
            return i + 1
        if 0 <= i < len(self.text):
            return i + bisect_right(self._owners(), i) + 1
        base, runs = self._dense()
        return base[i] + runs[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        if end <= start:
            f = self.folded_index(start) if start < len(self.text) else len(self.folded.text)
            return self.folded.span(f, f)
        # Called for every hit: two binary searches instead of three method calls.
        if not self.dels:
            f0, f1 = start, end
        elif 0 <= start and end <= len(self.text):
            owner = self._owners()
            f0, f1 = start + bisect_left(owner, start), end + bisect_right(owner, end - 1)
        else:
            base, runs = self._dense()
            f0, f1 = base[start], base[end - 1] + runs[end - 1]
        folded = self.folded
        if folded.starts is None or folded.ends is None:
            return (f0, f1)
        return (folded.starts[f0], folded.ends[f1 - 1])

    def was_digit(self, i: int) -> bool:
        return self.folded.text[self.folded_index(i)].isdigit()


def plain_view(folded: FoldedText) -> PlainView:
    """The plain match view with sparse maps (see :class:`PlainView`)."""
    unsqueezed = plain_text_unsqueezed(folded)
    if _SQUEEZE_RE.search(unsqueezed) is None:
        return PlainView(folded, unsqueezed, [])
    dels = [m.start() + 1 + k for m in _SQUEEZE_RE.finditer(unsqueezed) for k in range(len(m.group()) - 1)]
    return PlainView(folded, squeeze_at(unsqueezed, dels), dels)


def _delete(text: str, base: list[int] | None, pattern: re.Pattern[str], whole: bool) -> tuple[str, list[int] | None]:
    """Delete separator characters (all of each match of ``pattern`` when ``whole`` is False, or the
    non-alphanumeric characters inside each match when it is True), keeping the index map."""
    if pattern.search(text) is None:
        return text, base
    if base is None:
        base = list(range(len(text)))
    deleted: list[int] = []
    for m in pattern.finditer(text):
        if whole:
            deleted.extend(k for k in range(m.start(), m.end()) if not text[k].isalnum())
        else:
            deleted.extend(range(m.start(), m.end()))
    # Copy the kept stretches between deleted characters as slices: Python work per deleted
    # character, C work per kept one.
    pieces: list[str] = []
    new_base: list[int] = []
    last = 0
    for k in deleted:  # increasing: matches do not overlap and come in order
        if k > last:
            pieces.append(text[last:k])
            new_base.extend(base[last:k])
        last = k + 1
    pieces.append(text[last:])
    new_base.extend(base[last:])
    return "".join(pieces), new_base


def _leet(text: str) -> str:
    """Map leetspeak digits and in-word symbols to letters; 1:1, so offsets are untouched."""
    text = text.translate(_LEET_DIGITS).translate(_SKELETON)
    if "@" in text or "$" in text or "!" in text or "|" in text:
        text = _leet_symbols(text)
    return text


def _squeeze(
    text: str, base: list[int] | None
) -> tuple[str, list[int] | None, list[int] | None, list[int] | None]:
    """Squeeze every run of one repeated character to a single character, remembering run lengths."""
    if _SQUEEZE_RE.search(text) is None:
        if base is None:
            return text, None, None, None
        return text, base, [b + 1 for b in base], None
    if base is None:
        base = list(range(len(text)))
    # Stretches without repeats are copied as slices; only each run of a repeated character is
    # handled in Python (one entry per run, standing for all its characters).
    new_base: list[int] = []
    new_end: list[int] = []
    runs: list[int] = []
    last = 0
    for m in _SQUEEZE_RE.finditer(text):
        s, e = m.span()
        new_base.extend(base[last:s])
        new_end.extend([b + 1 for b in base[last:s]])
        runs.extend([1] * (s - last))
        new_base.append(base[s])
        new_end.append(base[e - 1] + 1)
        runs.append(e - s)
        last = e
    new_base.extend(base[last:])
    new_end.extend([b + 1 for b in base[last:]])
    runs.extend([1] * (len(text) - last))
    return squeeze_text(text), new_base, new_end, runs


def _match_view(folded: FoldedText, join: bool) -> MatchView:
    text, base = folded.text, None
    if join:
        text, base = _delete(text, base, _SPACED_LETTERS_RE, whole=True)
        text, base = _delete(text, base, _INNER_SEPARATOR_RE, whole=False)
    text = _plain_of(text)  # leetspeak, separators as spaces: 1:1 again
    text, base, base_end, runs = _squeeze(text, base)
    return MatchView(folded, text, base, base_end, runs, join)


def normalize(text: str, *, join: bool = False) -> MatchView:
    """Return the match view of ``text``.

    ``join=False`` gives the plain view (words stay apart); ``join=True`` also joins letters separated
    by dots/spaces/underscores and removes separators inside words. The lexicon matches both views.
    """
    return _match_view(fold(text), join)


# Pre-checks of the two patterns above, which start with a lookbehind and so are tried at every position of
# a text: letters written apart hold a separator, one letter or digit and a separator again (the middle
# letter and the characters around it: "n.s.f.w", "n. s. f"), and a separator inside a word is one of these.
_SPACED_LETTERS_PRE_RE = re.compile(r"[ ._\-*·•/|~,][^\W_][ ._\-*·•/|~,]")
_INNER_SEPARATORS = (".", "_", "*", "-", "·", "•", "~")


def needs_join(folded: FoldedText) -> bool:
    """Whether the joined view can differ from the plain one (saves a second pass on most texts)."""
    t = folded.text
    if _SPACED_LETTERS_PRE_RE.search(t) is not None and _SPACED_LETTERS_RE.search(t) is not None:
        return True
    for c in _INNER_SEPARATORS:
        if c in t:
            return _INNER_SEPARATOR_RE.search(t) is not None
    return False


def match_views(text: str) -> tuple[FoldedText, list[MatchView | PlainView]]:
    """The folded view plus every match view worth scanning (plain, and joined when it differs)."""
    folded = fold(text)
    return folded, views_of(folded)


def views_of(folded: FoldedText) -> list[MatchView | PlainView]:
    """Every match view of a folded text worth scanning (plain, and joined when it differs)."""
    views: list[MatchView | PlainView] = [plain_view(folded)]
    if needs_join(folded):
        views.append(joined_view(folded))
    return views


def joined_view(folded: FoldedText) -> MatchView:
    """The joined match view (letters separated by dots/spaces joined, in-word separators removed)."""
    return _match_view(folded, True)


# A Latin letter or digit written against a CJK character (kana, kanji, hangul): "JC裸", "cp動画", "儿童cp资源".
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7a3"
_SCRIPT_EDGE_RE = re.compile(f"(?<=[a-z0-9])(?=[{_CJK}])|(?<=[{_CJK}])(?=[a-z0-9])")


# The same test without lookarounds (which the regex engine tries at every position): a pair of characters.
_SCRIPT_PAIR_RE = re.compile(f"[a-z0-9][{_CJK}]|[{_CJK}][a-z0-9]")


def script_edges(folded: FoldedText) -> bool:
    """Whether a Latin letter or digit touches a CJK character in the folded text."""
    return _SCRIPT_PAIR_RE.search(folded.text) is not None


def script_split_view(folded: FoldedText) -> MatchView:
    """The plain match view with a word edge (a space) between Latin letters or digits and CJK characters.

    Why: Japanese, Chinese and Korean text writes Latin codes against its own characters without a space
    ("ＪＣ裸", "儿童cp资源"), so whole-word terms ("cp", "jc") never meet a separator there. The inserted
    spaces stand for no original character (their range is empty), so spans still map to the original."""
    text = folded.text
    cuts = [m.start() for m in _SCRIPT_EDGE_RE.finditer(text)]
    pieces: list[str] = []
    base: list[int] = []
    base_end: list[int] = []
    last = 0
    for c in cuts:
        pieces.append(text[last:c])
        base.extend(range(last, c))
        base_end.extend(range(last + 1, c + 1))
        pieces.append(" ")
        base.append(c)
        base_end.append(c)
        last = c
    pieces.append(text[last:])
    base.extend(range(last, len(text)))
    base_end.extend(range(last + 1, len(text) + 1))
    split = _plain_of("".join(pieces))
    if _SQUEEZE_RE.search(split) is None:
        return MatchView(folded, split, base, base_end, None, False)
    out: list[str] = []
    nb: list[int] = []
    ne: list[int] = []
    runs: list[int] = []
    last = 0
    for m in _SQUEEZE_RE.finditer(split):
        a, b = m.span()
        out.append(split[last:a])
        nb.extend(base[last:a])
        ne.extend(base_end[last:a])
        runs.extend([1] * (a - last))
        out.append(split[a])
        nb.append(base[a])
        ne.append(base_end[b - 1])
        runs.append(b - a)
        last = b
    out.append(split[last:])
    nb.extend(base[last:])
    ne.extend(base_end[last:])
    runs.extend([1] * (len(split) - last))
    return MatchView(folded, "".join(out), nb, ne, runs, False)


def has_spaced_run(folded: FoldedText) -> bool:
    """Whether the folded text has a run of letters written apart (what :func:`spaced_runs` lists)."""
    t = folded.text
    return _SPACED_LETTERS_PRE_RE.search(t) is not None and _SPACED_LETTERS_RE.search(t) is not None


def spaced_runs(folded: FoldedText) -> list[tuple[int, int]]:
    """Original ``[start, end)`` ranges of the runs of letters written apart ("u n d e r a g e"), which the
    joined view reads as one word."""
    return [folded.span(m.start(), m.end()) for m in _SPACED_LETTERS_RE.finditer(folded.text)]


def _alnum_only(m: re.Match[str]) -> str:
    return "".join(c for c in m.group() if c.isalnum())


def joined_source(folded: FoldedText) -> str | None:
    """The folded text with the characters the joined view deletes removed (separators between spaced
    single letters, separators inside words), or ``None`` when it deletes nothing -- exactly when
    :func:`needs_join` is False, since every match of its patterns deletes at least one character."""
    t = folded.text
    # Each substitution only where its pre-check says it can match (see needs_join): the same text.
    text = _SPACED_LETTERS_RE.sub(_alnum_only, t) if _SPACED_LETTERS_PRE_RE.search(t) is not None else t
    for c in _INNER_SEPARATORS:
        if c in text:
            text = _INNER_SEPARATOR_RE.sub("", text)
            break
    return None if text == t else text


def joined_text_of(source: str) -> str:
    """:func:`joined_text` from :func:`joined_source`'s result: leetspeak, separators and squeezing
    as the plain view's fast text (:func:`plain_text_unsqueezed`, which agrees with the mapped steps)."""
    return squeeze_text(_plain_of(source))


def joined_text(folded: FoldedText) -> str:
    """The text of :func:`joined_view` without its offset maps (the same steps as whole-string
    substitutions): enough to learn whether the joined view can match anything before paying for maps."""
    source = joined_source(folded)
    return joined_text_of(folded.text if source is None else source)


def camel_boundaries(original: str) -> set[int]:
    """Original offsets where a ``#CamelCase`` hashtag starts a new word (lower -> upper transition)."""
    out: set[int] = set()
    for m in _HASHTAG_RE.finditer(original):
        tag = m.group()
        for k in range(1, len(tag)):
            if tag[k].isupper() and tag[k - 1].islower():
                out.add(m.start() + k)
    return out


_HASHTAG_RE = re.compile(r"#[^\s#]+")


def hashtags(original: str) -> list[tuple[int, int]]:
    """Original ``[start, end)`` ranges of hashtags (without the ``#``)."""
    return [(m.start() + 1, m.end()) for m in _HASHTAG_RE.finditer(original) if m.end() > m.start() + 1]


# --- fast path -----------------------------------------------------------------------------------
# Most texts match nothing. These functions compute the plain match-view *text* with C-level string
# operations and no offset maps, so a text is only mapped character by character when something hit.
# They must agree exactly with `_match_view(fold(t), join=False).text` (a property test checks it).

_ASCII_TABLE = bytes(
    (
        c
        if chr(c).isalnum() or chr(c) == "+"
        else 0x20
    )
    for c in range(128)
).translate(bytes.maketrans(b"013457", b"oieast")).translate(bytes.maketrans(b"8l", b"bi")) + bytes(
    range(128, 256)
)
_FAST_INNER_RE = re.compile(r"[a-z][._*\-~]+[a-z]")
_FAST_SPACED_RE = re.compile(r" [^ ] [^ ] [^ ] ")


def plain_text_unsqueezed(folded: FoldedText) -> str:
    """The plain match-view text before squeezing (leetspeak mapped, separators turned into spaces)."""
    return _plain_of(folded.text)


def _plain_of(t: str) -> str:
    """:func:`plain_text_unsqueezed` of a folded text given as a string: ``_SEPARATOR_RE.sub(" ", _leet(t))``
    done with translate tables (per character, so it holds for any string of folded characters)."""
    if "@" in t or "$" in t or "!" in t or "|" in t:
        # Same order as the mapped view: digits first, so "$3x" reads as "sex".
        t = _leet_symbols(t.translate(_LEET_DIGITS).translate(_SKELETON))
    if t.isascii():
        return t.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
    return t.translate(_PLAIN_TABLE)


class _PlainTable(dict):  # type: ignore[type-arg]
    """Translate table of the plain view for any character, learnt on first sight: leetspeak digits,
    'l' -> 'i', and every separator (not a letter, digit, '+' or kana mark) to a space."""

    def __missing__(self, cp: int) -> str:
        c = chr(cp)
        if c in "0134578l":
            out = c.translate(_LEET_DIGITS).translate(_SKELETON)
        elif _SEPARATOR_RE.match(c):
            out = " "
        else:
            out = c
        self[cp] = out
        return out


_PLAIN_TABLE = _PlainTable()


def squeeze_at(text: str, ends: list[int]) -> str:
    """Delete the characters at ``ends`` (second characters of doubled pairs, any order, duplicates ok)."""
    out: list[str] = []
    last = 0
    for i in sorted(set(ends)):
        out.append(text[last:i])
        last = i + 1
    out.append(text[last:])
    return "".join(out)


def squeeze_text(text: str) -> str:
    """Squeeze runs of a repeated character (no maps)."""
    # A C-level callable instead of the template r"\1", which Python 3.11 expands in Python per match.
    return _SQUEEZE_RE.sub(_GROUP_1, text)


_GROUP_1 = operator.methodcaller("group", 1)


def may_need_join(folded: FoldedText, squeezed_plain: str) -> bool:
    """Cheap, conservative version of :func:`needs_join` (False means the joined view cannot differ)."""
    t = folded.text
    if t.isascii():
        inner = ("." in t or "_" in t or "*" in t or "-" in t or "~" in t) and _FAST_INNER_RE.search(t) is not None
        return inner or _FAST_SPACED_RE.search(f" {squeezed_plain} ") is not None
    return needs_join(folded)
