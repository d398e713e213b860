"""What intake hands to the counts: the item's terms, its language and the known terms the lexicon found
in it. Pure (no database): runs in the scan, outside the item's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bastion.terms.tokens import Extractor, ItemTerms, term_key

#: lexicon categories whose hits are "known terms" a candidate can co-occur with
KNOWN_CATEGORIES = frozenset({"minor", "sexual", "trade", "coded", "real"})


@dataclass(frozen=True)
class IntakeTerms:
    found: ItemTerms
    language: str
    known: tuple[str, ...]


def intake_terms(lexicon, title: str | None, body: str | None, tags: Sequence[str],
                 signals: Iterable = (), languages: Sequence[str] = (), body_field: str = "body") -> IntakeTerms:
    text_signals = [s for s in signals if getattr(s, "source", None) == "text"]
    spans: dict[str, list[tuple[int, int]]] = {}
    for s in text_signals:
        if s.span and s.field in ("title", body_field):
            spans.setdefault(s.field, []).append((int(s.span[0]), int(s.span[1])))
    found = Extractor.for_lexicon(lexicon).extract(title, body, tags, (spans.get("title", ()), spans.get(body_field, ())))
    known = tuple(sorted({str(s.term) for s in text_signals
                          if getattr(s, "category", None) in KNOWN_CATEGORIES and getattr(s, "term", None)}))
    # what a detector or the lexicon already found in this item (a contact service, a payment word) is known:
    # not counted as a candidate (the word index keeps it, so retro-scoring still finds the item)
    detected = {term_key(str(v)) for s in text_signals for v in (getattr(s, "term", None), getattr(s, "normalized", None)) if v}
    if detected:
        found = ItemTerms(tuple(t for t in found.terms if t not in detected),
                          tuple(t for t in found.tag_terms if t not in detected), found.words)
    language = languages[0] if languages else None
    if language is None and (title or body) and lexicon.stopwords:
        from bastion.text.normalize import fold

        language = lexicon.guess_language(fold(f"{title or ''} {body or ''}"))
    return IntakeTerms(found, (language or "und")[:8], known)
