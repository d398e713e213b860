"""From texts and their fields to explained signals and an item-level score.

Pure functions: no I/O beyond the once-per-process load of the shipped lists. The steps, per text:
fold and normalise (keeping offsets), match the lexicon, run the detectors (contacts, commerce, ages),
drop nothing silently -- hits cancelled by a benign context, by a language mismatch for ``strict`` terms,
or by a missing context for ``needs`` terms are returned in :attr:`TextResult.suppressed` with the why.
Then all texts of an item are scored together, so "minor" in a title and "sexual" in a tag combine.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable

from bastion.model import Signal
from bastion.text._fast import frozen_builder
from bastion.text.detectors.ages import AgeHit, find_ages
from bastion.text.detectors.commerce import CommerceHit, find_commerce
from bastion.text.detectors.contacts import ContactHit, find_contacts
from bastion.text.errors import InvalidText, UnknownField
from bastion.text.lexicon import GLUE_CATEGORIES, STEM_HINT, Lexicon, LexiconHit, default_lexicon
from bastion.text.normalize import (
    FoldedText,
    MatchView,
    PlainView,
    fold,
    joined_source,
    joined_text_of,
    joined_view,
    may_need_join,
    plain_text_unsqueezed,
    has_spaced_run,
    script_edges,
    script_split_view,
)
from bastion.text.score import ScoringConfig, default_scoring_config, field_counts, score_signals

__all__ = ["FIELDS", "TextResult", "analyze", "analyze_item", "configure_memo"]

#: Fields a text can come from. ``negative_prompt`` hits are reported but never counted.
FIELDS: tuple[str, ...] = ("title", "tag", "body", "comment", "prompt", "negative_prompt", "message")

# Detector categories a benign context may cancel (contacts and payments stay whatever surrounds them).
# Guards that make a pattern detector worth running; words ("telegram", "years", "paypal") are hinted by
# the lexicon automaton instead. Guards may fire needlessly (costing one detector run) but must never
# miss what the detector would find: a property test runs the detectors with and without them. They are
# layered so the common text pays for a few single-character-class scans only.
_DIGIT = re.compile(r"\d")
_KANJI_NUMBER = re.compile(r"[一二三四五六七八九十]")
_AGE_GUARD = re.compile(r"\d[\s\-]{0,2}(?:[yaj歳才さ]|\.\s?k)|(?:age|grade|klasse|[小中])[\s:]{0,2}[\d一二三四五六七八九十]|[一二三四五六七八九十]\s?[歳才]")
_DOMAIN = re.compile(r"\.[a-z]{2,6}\b")
_SESSION = re.compile(r"05[0-9a-f]{64}")
_MONEY_SYMBOL = re.compile(r"[$€£¥₹₽₩₺円元/]")
# With a digit: a currency code next to a number, or a long token that may be a wallet address (every
# supported address format contains a digit, and none is shorter than 26 characters).
_COMMERCE_GUARD = re.compile(
    r"(?:usd|eur|gbp|jpy|cad|aud|chf|btc|eth|xmr|usdt)\s?\d"
    r"|\d\s?(?:k|usd|eur|gbp|jpy|yen|cad|aud|chf|dollar|buck|pound|quid|rub|btc|eth|xmr|usdt|peso|reais|zl|kr|ドル|ユーロ)"
)
# Signals are built for every hit: see bastion.text._fast.
_new_signal = frozen_builder(Signal)
# Reasons list at most this many suppressed hits; every one stays in `TextResult.suppressed`.
_MAX_SUPPRESSED_REASONS = 20
_CANCELLABLE = frozenset({"minor", "sexual", "trade", "coded", "price", "real", "material"})
_GLUE_HINTS = frozenset(GLUE_CATEGORIES.values())


@dataclass
class TextResult:
    """Signals and score of one text or of all texts of one item."""

    signals: list[Signal]
    score: float
    level: str  # "none" | "low" | "medium" | "high" | "critical"
    reasons: list[str]
    suppressed: list[Signal] = field(default_factory=list)
    strengths: dict[str, float] = field(default_factory=dict)
    combinations: list[str] = field(default_factory=list)

    @property
    def categories(self) -> set[str]:
        """Categories of the signals that counted toward the score."""
        return {s.category for s in self.signals if s.evidence.get("counted", True)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": self.level,
            "reasons": list(self.reasons),
            "combinations": list(self.combinations),
            "strengths": dict(self.strengths),
            "signals": [s.to_dict() for s in self.signals],
            "suppressed": [s.to_dict() for s in self.suppressed],
        }


_new_object = object.__new__


def _result(
    signals: list[Signal], score: float, level: str, reasons: list[str], suppressed: list[Signal],
    strengths: dict[str, float], combinations: list[str],
) -> TextResult:
    """A :class:`TextResult` with every field given, without the generated ``__init__`` (interpreted even
    when this module is compiled, and it calls a factory per defaulted field): every text builds one."""
    r = _new_object(TextResult)
    r.signals = signals
    r.score = score
    r.level = level
    r.reasons = reasons
    r.suppressed = suppressed
    r.strengths = strengths
    r.combinations = combinations
    return r


def _check(field_name: str, text: object) -> None:
    if field_name not in FIELDS:
        raise UnknownField(f"unknown text field {field_name!r}; expected one of {', '.join(FIELDS)}")
    if not isinstance(text, str):
        raise InvalidText(f"text for field {field_name!r} must be str, got {type(text).__name__}")


# \d on ASCII text, without the per-character Unicode category tests: the bytes deleted by a translate.
_ASCII_DIGIT_BYTES = b"0123456789"
# Next to a number: an age unit after it or an age word before it; a currency code after or before it.
# The tests of _AGE_GUARD / _COMMERCE_GUARD, looser (any run of spaces, not a few): each pattern starts
# with a digit or with one of a few letters, so the regex engine skips to those characters at C speed.
_AGE_AFTER_RE = re.compile(r"\d\s*+-*+\s*+(?:[yaj歳才さ]|\.\s?k)")
_AGE_BEFORE_RE = re.compile(r"(?:age|grade|klasse|[小中])[\s:]*+\d")
_MONEY_AFTER_RE = re.compile(
    r"\d\s*+(?:k|usd|eur|gbp|jpy|yen|cad|aud|chf|dollar|buck|pound|quid|rub|btc|eth|xmr|usdt|peso|reais|zl|kr|ドル|ユーロ)"
)
_MONEY_BEFORE_RE = re.compile(r"(?:usd|eur|gbp|jpy|cad|aud|chf|btc|eth|xmr|usdt)[\s:]*+\d")


def _has_digit(ft: str, ascii_text: bool) -> bool:
    r"""Whether ``ft`` holds a digit (``\d``); on ASCII text by deleting the digits at C speed, which is
    cheaper than a regex search."""
    if ascii_text:
        return len(ft.encode("ascii").translate(None, _ASCII_DIGIT_BYTES)) != len(ft)
    return _DIGIT.search(ft) is not None


def _age_near(ft: str) -> bool:
    """An age unit or age word sits next to a number (see :data:`_AGE_GUARD`)."""
    if _AGE_AFTER_RE.search(ft) is not None:
        return True
    # The words first (a substring test each): the pattern is rarely worth scanning for.
    return ("age" in ft or "grade" in ft or "klasse" in ft or not ft.isascii()) and _AGE_BEFORE_RE.search(ft) is not None


def _money_near(ft: str, hints: frozenset[str]) -> bool:
    """A currency code sits next to a number (see :data:`_COMMERCE_GUARD`). ``hints``: the lexicon scan's
    (its ``money_code`` group says whether any code occurs at all)."""
    if _MONEY_AFTER_RE.search(ft) is not None:
        return True
    return "money_code" in hints and _MONEY_BEFORE_RE.search(ft) is not None


def detector_hits(
    folded: FoldedText, hints: frozenset[str]
) -> tuple[list[AgeHit], list[ContactHit], list[CommerceHit]]:
    """Run each pattern detector whose guard (or lexicon hint) says it may find something."""
    ft = folded.text
    ascii_text = ft.isascii()
    digit = _has_digit(ft, ascii_text)
    run_ages = (
        "age" in hints
        or (digit and _age_near(ft))
        or (not ascii_text and _KANJI_NUMBER.search(ft) is not None and _AGE_GUARD.search(ft))
    )
    run_contacts = (
        "contact" in hints
        or "@" in ft
        or "/" in ft
        or ("." in ft and _DOMAIN.search(ft))
        or (digit and _SESSION.search(ft))
    )
    run_commerce = (
        "commerce" in hints
        or (("$" in ft or "/" in ft) if ascii_text else _MONEY_SYMBOL.search(ft))
        or (digit and _money_near(ft, hints))
        or (digit and len(ft) >= 26 and max(map(len, ft.split())) >= 26)
    )
    ages = find_ages(folded) if run_ages else []
    contacts = find_contacts(folded) if run_contacts else []
    commerce = find_commerce(folded) if run_commerce else []
    return ages, contacts, commerce


# The memo of recent texts' signals (see configure_memo).
_memo_max_texts = 8192
_memo_max_chars = 256


def configure_memo(max_texts: int = 8192, max_chars: int = 256) -> None:
    """Set the bounds of the per-lexicon memo of recent texts' signals; ``max_texts=0`` turns it off.

    Why: on a platform the same short texts come back all the time (tags, stock titles, "so cute!!"),
    and a text's signals depend only on the text, its field, its position in the item, the declared
    language, the lexicon and whether its field counts. Each lexicon keeps the signals of up to
    ``max_texts`` texts of at most ``max_chars`` characters (it is emptied when full), so a repeated text
    costs a dictionary look-up plus scoring. Results are identical with or without it; signals are frozen
    values shared between results (their ``evidence`` mappings must not be modified).
    """
    global _memo_max_texts, _memo_max_chars
    if max_texts < 0 or max_chars < 0:
        raise ValueError("memo bounds must be >= 0")
    _memo_max_texts, _memo_max_chars = max_texts, max_chars


def _memo_signals(
    index: int, field_name: str, text: str, lexicon: Lexicon, language: str | None, counted: bool
) -> tuple[list[Signal], list[Signal]]:
    """:func:`_text_signals` through the lexicon's memo (fresh lists every call: callers may change them)."""
    if len(text) > _memo_max_chars or _memo_max_texts == 0:
        return _text_signals(index, field_name, text, lexicon, language, counted)
    memo = lexicon._memo
    key = (text, field_name, index, language, counted)
    got = memo.get(key)
    if got is not None:
        return list(got[0]), list(got[1])
    signals, suppressed = _text_signals(index, field_name, text, lexicon, language, counted)
    if len(memo) >= _memo_max_texts:
        memo.clear()
    memo[key] = (tuple(signals), tuple(suppressed))
    return signals, suppressed


def _text_signals(
    index: int, field_name: str, text: str, lexicon: Lexicon, language: str | None, counted: bool
) -> tuple[list[Signal], list[Signal]]:
    """Signals and suppressed signals of one text (before item-level context checks)."""
    folded = fold(text)
    plain = plain_text_unsqueezed(folded)
    any_hit, hints, squeezed, dels, plain_matches = lexicon.scan(plain)
    lexicon_hits: list[LexiconHit] = []
    # What the joined view deletes, if anything (None: it equals the plain view). For ASCII text a
    # cheap, conservative test first (may_need_join is the exact test itself for non-ASCII text).
    join_source = joined_source(folded) if may_need_join(folded, squeezed) else None
    join = join_source is not None
    tags = field_name == "tag" or "#" in text
    # A minor and a sexual term somewhere in a text that is not all hashtags: they may be glued into one
    # word ("kidnudes"), which only segmentation finds.
    glued = field_name != "tag" and _GLUE_HINTS <= hints
    if any_hit or join or glued or (tags and lexicon.hashtag_may_hit(squeezed)):
        views: list[MatchView | PlainView] = [PlainView(folded, squeezed, dels)]
        # The joined view's maps cost more than the rest of the text's analysis: build them only when
        # its text can match a term, or when hashtags are segmented (which runs over every view).
        if join:
            jt = joined_text_of(join_source)  # type: ignore[arg-type]
            # Letters written apart may also run several words together: segmenting can find those.
            if tags or lexicon.matches_entry(jt) or (has_spaced_run(folded) and lexicon.hashtag_may_hit(jt)):
                views.append(joined_view(folded))
        # Latin codes written against CJK characters ("JC裸", "儿童cp资源"): a view with a word edge there.
        if not folded.text.isascii() and script_edges(folded):
            views.append(script_split_view(folded))
        lexicon_hits = lexicon.find(text, views, all_hashtag=field_name == "tag", plain_matches=plain_matches)
        if glued:
            lexicon_hits += lexicon.find_glued(text, views[0])
    if STEM_HINT in hints:  # a word starts with a term's stem: inflected forms (bastion.text.stems)
        lexicon_hits = lexicon_hits + lexicon.find_stems(folded)
    ages, contacts, commerce = detector_hits(folded, hints)
    if not ages and not contacts and not commerce:
        for h in lexicon_hits:
            if h[0].category != "benign":
                break
        else:
            # The common case -- nothing found -- and texts whose only hits are benign contexts ("lol"
            # meets the key of "loi"; "kid-friendly" alone), which cancel hits but are never signals.
            return [], []
    base_ev: dict[str, Any] = {"text_index": index}
    if not counted:
        base_ev["counted"] = False
    if len(lexicon_hits) > 1:
        # The same word in several languages' lists: keep the heaviest before building signals.
        # (Hits are tuples: unpacked rather than read by field name, which costs a call each.)
        best: dict[tuple[str, tuple[int, int]], LexiconHit] = {}
        for h in lexicon_hits:
            e, span, _n, _how = h
            k = (e.category, span)
            cur = best.get(k)
            if cur is None or e.weight > cur[0].weight:
                best[k] = h
        lexicon_hits = list(best.values())
    # What can suppress a signal is known before any signal is built: benign contexts, one-character CJK
    # terms inside a longer dictionary word and, for ``strict`` terms, the text's language. So each signal
    # is built once, with its final evidence. One pass over the hits sorts out what each check needs.
    benign: list[tuple[tuple[int, int], str]] = []
    # Benign contexts of the whole text (reporting, news, a medical or product sense of a short code):
    # they cancel hits of their categories anywhere in this text, at once or -- with ``unless`` -- only
    # when the item turns out to have none of those categories (decided in _assemble).
    text_benign: list[Any] = []
    seg_keys = lexicon.segment_keys
    seg_spans: set[tuple[int, int]] | None = None
    any_strict = False
    for e, span, _n, how in lexicon_hits:
        if e.category == "benign":
            # A benign context counts only as written (see _as_written): leetspeak and the l/i skeleton
            # read "loli" and "lol" as the French "loi" (law) -- a disguise never reads as a benign context.
            if how == "stem" or _as_written(e.term, text[span[0] : span[1]]):
                if e.scope == "span":
                    benign.append((span, e.term))
                else:
                    text_benign.append(e)
            continue
        if e.strict:
            any_strict = True
        if seg_keys and e.key in seg_keys:
            if seg_spans is None:
                seg_spans = set()
            seg_spans.add(span)
    # One-character CJK terms inside a longer dictionary word (裸 in 裸露): bastion.text.segment decides.
    inside: dict[tuple[int, int], str] | None = None
    if seg_spans:
        from bastion.text.segment import containing_words

        inside = containing_words(text, seg_spans) or None
    covering: Callable[[int, int], str | None] | None = None
    if benign:
        if len(benign) == 1:
            (b_start, b_end), b_term = benign[0]

            def covering_one(start: int, end: int) -> str | None:  # _BenignSpans for one span
                return b_term if b_start <= start and b_end >= end else None

            covering = covering_one
        else:
            covering = _BenignSpans(benign).covering
    # Strict terms: the guessed language of this very text wins; a declared language is the fallback
    # when the guess is unsure (a German platform's users also write English sentences).
    text_language = None
    if any_strict:
        text_language = lexicon.guess_language(folded) or language
    kept: list[Signal] = []
    suppressed: list[Signal] = []
    rule_of = _lexicon_rule
    f_starts = folded.starts
    for e, span, _match_view, how in lexicon_hits:
        category = e.category
        if category == "benign":
            continue
        # What people read as `normalized`: the matched text folded (case, look-alikes, width, invisible
        # characters), not the lexicon's internal match view (leet mapped, repeats squeezed: "itie giri").
        # Folding is per character, so that is the folded text of the span's characters: a slice of the
        # text's folded view (the identity on offsets for most texts), not a second fold.
        if f_starts is None:
            normalized = folded.text[span[0] : span[1]]
        else:
            normalized = folded.text[bisect.bisect_left(f_starts, span[0]) : bisect.bisect_left(f_starts, span[1])]
        ev = {**base_ev, "rule": rule_of(e.source), "match": how, "matched": text[span[0] : span[1]]}
        if e.needs:
            ev["needs"] = list(e.needs)
        why = None
        if covering is not None and category in _CANCELLABLE:
            term = covering(*span)
            if term is not None:
                why = f"benign context {term!r}"
        if e.strict:
            ev["strict"] = True
            if why is None and text_language is not None and text_language != e.language:
                why = f"term of language {e.language!r} in a text read as {text_language!r}"
        if why is None and inside is not None and span in inside and e.key in lexicon.segment_keys:
            why = f"inside the word {inside[span]!r} (dictionary segmentation)"
        if why is None and text_benign:
            why = _text_context(text_benign, category, ev)
        if why is None:
            kept.append(_new_signal("text", category, e.weight, e.term, normalized, span, e.language, field_name, ev))
        else:
            ev["suppressed"] = why
            suppressed.append(_new_signal("text", category, e.weight, e.term, normalized, span, e.language, field_name, ev))
    if ages or contacts or commerce:
        detected: list[Signal] = []
        for a in ages:
            ev = {**base_ev, "rule": f"age:{a.kind}", "age": a.age, "matched": text[a.span[0] : a.span[1]]}
            detected.append(_new_signal("text", "minor", a.weight, a.value, a.value, a.span, a.language, field_name, ev))
        for c in contacts:
            ev = {**base_ev, "rule": f"contact:{c.kind}", "matched": text[c.span[0] : c.span[1]]}
            detected.append(_new_signal("text", c.category, c.weight, c.kind, c.value, c.span, None, field_name, ev))
        for m in commerce:
            ev = {**base_ev, "rule": f"commerce:{m.kind}", "matched": text[m.span[0] : m.span[1]], **m.evidence}
            detected.append(_new_signal("text", m.category, m.weight, m.kind, m.value, m.span, None, field_name, ev))
        if covering is None and text_language is None:
            kept += detected
        else:
            for sig in detected:
                why = None
                if covering is not None and sig.category in _CANCELLABLE and sig.span is not None:
                    term = covering(*sig.span)
                    if term is not None:
                        why = f"benign context {term!r}"
                if why is None and sig.evidence.get("strict") and text_language is not None and text_language != sig.language:
                    why = f"term of language {sig.language!r} in a text read as {text_language!r}"
                if why is None:
                    kept.append(sig)
                else:
                    suppressed.append(_with_evidence(sig, suppressed=why))
    return _with_pairs(_dedupe(kept), text, base_ev, field_name), suppressed


# What a benign term and the text it matched must agree on: letters and digits as folded, repeats squeezed,
# separators dropped ("kid-friendly", "#KidFriendly", "kiid friendly" read as "kid friendly").
_NOT_ALNUM = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1+", re.DOTALL)


@lru_cache(maxsize=8192)
def _as_written(term: str, matched: str) -> bool:
    """Whether ``matched`` (original text) spells the benign ``term`` itself, apart from case, width,
    look-alike letters, separators and repeated letters -- not through leetspeak or the l/i skeleton the
    match views apply, which make a disguised indicator ("loli", "l0l1") meet a benign word ("loi")."""
    a = _REPEATS.sub(r"\1", _NOT_ALNUM.sub("", fold(matched).text))
    b = _REPEATS.sub(r"\1", _NOT_ALNUM.sub("", fold(term).text))
    return a == b


def _text_context(text_benign: list[Any], category: str, ev: dict[str, Any]) -> str | None:
    """The benign context of the whole text that cancels a hit of ``category`` at once (a reason), or
    None; a context that holds only ``unless`` the item has other categories is noted in ``ev`` for
    :func:`_assemble` to decide."""
    for b in text_benign:
        if category not in (b.cancels or _CANCELLABLE):
            continue
        if not b.unless:
            return f"benign context {b.term!r} in the text"
        ev["benign_text"] = b.term
        ev["unless"] = list(b.unless)
    return None


# Only separators between two signals for them to be "side by side" (no word in between).
_SIDE_BY_SIDE = re.compile(r"[\W_]{0,3}")
#: Weight of a compact pair's signal: a minor and a sexual word written side by side.
PAIR_WEIGHT = 0.9
#: A pair gets its signal only when one of its words is weaker than this (the default scoring's
#: ``min_strength``): stronger pairs are scored by the category combinations already.
PAIR_WEAK_BELOW = 0.5


def _with_pairs(signals: list[Signal], text: str, base_ev: dict[str, Any], field_name: str) -> list[Signal]:
    """Add a ``pair`` signal for each minor and sexual indicator written side by side ("teen lewd",
    "spicy teen", glued "kidnudes"), in either order.

    Why: each word alone may be weak ("spicy", "baby") and the category strengths stay under the
    combination threshold, but two short indicator words next to each other are the compact phrasing of
    tags and titles. Side by side means nothing but up to three separators between them, or overlapping.
    Only pairs with a weak word (weight under :data:`PAIR_WEAK_BELOW`) get the signal: two strong words
    fire ``minor_and_sexual`` already, and their results stay as they were.
    """
    minors = [s for s in signals if s.category == "minor" and s.span is not None]
    if not minors:
        return signals
    sexual = [s for s in signals if s.category == "sexual" and s.span is not None]
    if not sexual:
        return signals
    pairs: list[Signal] = []
    for m in minors:
        for x in sexual:
            a, b = (m, x) if m.span[0] <= x.span[0] else (x, m)  # type: ignore[index]
            gap = text[a.span[1] : b.span[0]] if b.span[0] > a.span[1] else ""  # type: ignore[index]
            if min(m.weight, x.weight) >= PAIR_WEAK_BELOW or not _SIDE_BY_SIDE.fullmatch(gap):
                continue
            span = (a.span[0], max(a.span[1], b.span[1]))  # type: ignore[index]
            ev = {**base_ev, "rule": "pair:minor+sexual", "matched": text[span[0] : span[1]],
                  "minor": m.term, "sexual": x.term}
            pairs.append(_new_signal("text", "pair", PAIR_WEIGHT, f"{a.term} {b.term}", None, span, None, field_name, ev))
    return signals + pairs if pairs else signals


@lru_cache(maxsize=1024)
def _lexicon_rule(source: str) -> str:
    """The evidence rule of a list's hits, formatted once per list rather than once per hit."""
    return f"lexicon:{source}"


def _with_evidence(s: Signal, **extra: Any) -> Signal:
    """A copy of a signal with more evidence (``dataclasses.replace`` is several times slower)."""
    return _new_signal(s.source, s.category, s.weight, s.term, s.normalized, s.span, s.language, s.field, {**s.evidence, **extra})


def _dedupe(signals: list[Signal]) -> list[Signal]:
    """One signal per (category, span): the same word in several languages' lists counts once, and a
    hit inside a longer hit of the same category ("dm" inside "dm me") gives way to the longer one.

    A sweep over spans sorted by (start, -end), so a text with thousands of hits stays O(n log n)."""
    if len(signals) < 2:
        return signals
    if len({s.category for s in signals}) == len(signals):
        return signals  # one signal per category: no key repeats and no span can cover another
    best: dict[tuple[str, tuple[int, int] | None], Signal] = {}
    for s in signals:
        k = (s.category, s.span)
        cur = best.get(k)
        if cur is None or s.weight > cur.weight:
            best[k] = s
    out = list(best.values())
    drop: set[int] = set()
    reach: dict[str, int] = {}  # per category: furthest end among spans that started earlier
    for s in sorted((s for s in out if s.span is not None), key=lambda s: (s.span[0], -s.span[1])):  # type: ignore[index]
        start, end = s.span  # type: ignore[misc]
        if reach.get(s.category, -1) >= end:
            drop.add(id(s))  # an earlier-starting (or same-start, longer) span covers it
        else:
            reach[s.category] = end
    return [s for s in out if id(s) not in drop]


class _BenignSpans:
    """Benign spans sorted by start with a running maximum of their ends: "is [s, e) inside one of
    them?" in O(log n), so long texts with many benign and indicator hits stay fast."""

    def __init__(self, spans: list[tuple[tuple[int, int], str]]):
        spans = sorted(spans)
        self.starts = [sp[0] for sp, _ in spans]
        self.best: list[tuple[int, str]] = []
        top = (-1, "")
        for (_, end), term in spans:
            if end > top[0]:
                top = (end, term)
            self.best.append(top)

    def covering(self, start: int, end: int) -> str | None:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.best[i][0] >= end:
            return self.best[i][1]
        return None


def _position(s: Signal) -> tuple[int, tuple[int, int]]:
    """Where a signal sits in an item: text first, then span (the order signals are reported in)."""
    return (s.evidence.get("text_index", 0), s.span or (0, 0))


def _span_or_start(s: Signal) -> tuple[int, int]:
    """:func:`_position` within one text, where every signal has the same text index."""
    return s.span or (0, 0)


def analyze_item(
    texts: Iterable[tuple[str, str]],
    *,
    lexicon: Lexicon | None = None,
    config: ScoringConfig | None = None,
    language: str | None = None,
) -> TextResult:
    """Analyse all ``(field, text)`` pairs of one item and score them together.

    ``language`` (optional) declares the language of every text; otherwise it is guessed per text, and
    only for ``strict`` terms. Raises :class:`UnknownField` / :class:`InvalidText` on bad input.
    """
    lexicon = lexicon if lexicon is not None else default_lexicon()
    config = config if config is not None else default_scoring_config()
    pairs = texts if isinstance(texts, (list, tuple)) else list(texts)
    for f, t in pairs:
        _check(f, t)
    signals: list[Signal] = []
    suppressed: list[Signal] = []
    all_counted = True  # no text from a zero-weight field: every signal counts, nothing to filter
    for i, (f, t) in enumerate(pairs):
        counted = field_counts(config, f)
        all_counted = all_counted and counted
        s, sup = _memo_signals(i, f, t, lexicon, language, counted)
        signals.extend(s)
        suppressed.extend(sup)
    if not signals and not suppressed:
        return _result([], 0.0, "none", [], [], {}, [])
    return _assemble(signals, suppressed, config, all_counted, len(pairs) > 1)


def _assemble(
    signals: list[Signal], suppressed: list[Signal], config: ScoringConfig, all_counted: bool, many_texts: bool
) -> TextResult:
    """Item-level context checks, ordering, scoring and reasons over the signals of all texts."""
    # Item-level context: a benign context of a whole text gives way when the item has a category it
    # names in ``unless`` (an offer beside the "report" word); a `needs` term counts only next to a
    # counted signal of a needed category. Either way the evidence says which context decided.
    final: list[Signal] = signals
    context_notes: list[str] = []
    text_context = needs_context = False
    for s in signals:  # a plain loop: cheaper than two any() scans over generators
        ev = s.evidence
        if "benign_text" in ev:
            text_context = True
        if "needs" in ev:
            needs_context = True
    if text_context:
        plain_cats = {s.category for s in signals if "benign_text" not in s.evidence and s.evidence.get("counted", True)}
        final = []
        for s in signals:
            term = s.evidence.get("benign_text")
            if term is None:
                final.append(s)
                continue
            found = sorted(set(s.evidence["unless"]) & plain_cats)
            if found:
                final.append(_with_evidence(s, context=f"benign context {term!r} overridden by {', '.join(found)} in the item"))
            else:
                suppressed.append(_with_evidence(
                    s, suppressed=f"benign context {term!r} in the text, and no {', '.join(s.evidence['unless'])} in the item"))
        signals = final
    if needs_context:
        if all_counted:
            counted_cats = {s.category for s in signals}
        else:
            counted_cats = {s.category for s in signals if s.evidence.get("counted", True)}
        final = []
        for s in signals:
            needs = s.evidence.get("needs")
            if not needs or not s.evidence.get("counted", True):
                final.append(s)
                continue
            support = sorted(set(needs) & (counted_cats - {s.category}))
            if not support:
                suppressed.append(_with_evidence(s, suppressed=f"needs one of {needs} in the item: no supporting context"))
            else:
                final.append(_with_evidence(s, context=support))
                context_notes.append(f"{s.category} {s.term!r} counted by its context: {', '.join(support)}")
    if len(final) > 1:
        final.sort(key=_position if many_texts else _span_or_start)
    if all_counted:
        result = score_signals(final, config)
        not_counted: list[Signal] = []
    else:
        result = score_signals([s for s in final if s.evidence.get("counted", True)], config)
        not_counted = [s for s in final if not s.evidence.get("counted", True)]
    reasons = list(result.reasons)
    reasons.extend(context_notes)
    if not_counted:
        fields = sorted({s.field or "" for s in not_counted})
        reasons.append(f"{len(not_counted)} signal(s) in {', '.join(fields)} reported but not counted toward intent")
    for s in suppressed[:_MAX_SUPPRESSED_REASONS]:
        reasons.append(f"not counted: {s.category} {s.term!r} ({s.evidence['suppressed']})")
    if len(suppressed) > _MAX_SUPPRESSED_REASONS:
        reasons.append(f"... and {len(suppressed) - _MAX_SUPPRESSED_REASONS} more not counted (see `suppressed`)")
    return _result(final, result.score, result.level, reasons, suppressed, result.strengths, list(result.fired))


def analyze(
    text: str,
    field: str = "body",
    language: str | None = None,
    *,
    lexicon: Lexicon | None = None,
    config: ScoringConfig | None = None,
) -> TextResult:
    """Analyse one text from one field (see :func:`analyze_item`)."""
    # The same steps as analyze_item for a one-pair item, without building and walking the pair list.
    lexicon = lexicon if lexicon is not None else default_lexicon()
    config = config if config is not None else default_scoring_config()
    _check(field, text)
    counted = field_counts(config, field)
    signals, suppressed = _memo_signals(0, field, text, lexicon, language, counted)
    if not signals and not suppressed:
        return _result([], 0.0, "none", [], [], {}, [])
    return _assemble(signals, suppressed, config, counted, False)
