"""The platform's own lexicon, changed by leads: add a term, remove it, reject a candidate. Plain functions
over a Session; the caller owns the transaction. Each change writes its ``term_changes`` row (which every
server process follows, and retro-scoring works off) and its audit row in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.errors import Conflict, InvalidInput, NotFound
from bastion.store.schema import utcnow
from bastion.terms.models import TERM_MAX, PlatformTermRow, TermChangeRow
from bastion.terms.tokens import term_key

#: the source name of platform terms in signals' evidence (``lexicon:platform``)
SOURCE = "platform"
MATCH_KINDS = ("word", "substring")


def _audit(s: Session, actor: str, action: str, key: str, details: dict) -> None:
    from bastion.effects import audit

    audit.append(s, actor, action, "term", key, details)


def _entry_data(term: str, category: str, language: str, weight: float, match: str) -> dict[str, Any]:
    return {"language": language, "source": SOURCE,
            "categories": {category: {"terms": [{"term": term, "weight": weight, "match": match}]}}}


def validate(term: str, category: str, language: str, weight: float, match: str = "word") -> None:
    """The same checks as a lexicon file's (category known, weight in [0, 1], language code, term long
    enough to match safely), so a term the database accepts always loads."""
    from bastion.text.lexicon import lexicon_from_data

    if not isinstance(term, str) or not term.strip():
        raise InvalidInput("a term must not be empty")
    if len(term.strip()) > TERM_MAX:
        raise InvalidInput(f"a term is at most {TERM_MAX} characters")
    if match not in MATCH_KINDS:
        raise InvalidInput(f"match must be one of {', '.join(MATCH_KINDS)}")
    if category == "vocab":
        raise InvalidInput("vocab words only help split hashtags; add them to a lexicon file instead")
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise InvalidInput(f"weight {weight!r} is not a number") from None
    if weight <= 0:
        raise InvalidInput("weight must be above 0 (remove a term with `bastion terms remove`)")
    _, problems = lexicon_from_data(_entry_data(term.strip().lstrip("#"), category, language, weight, match), "term")
    if problems:
        raise InvalidInput("; ".join(p[2] for p in problems))


def term_dict(r: PlatformTermRow) -> dict[str, Any]:
    return {"term": r.term, "key": r.key, "status": r.status, "category": r.category, "language": r.language,
            "weight": r.weight, "match": r.match, "note": r.note, "updated_by": r.updated_by,
            "created_at": r.created_at.isoformat() if r.created_at else None,
            "updated_at": r.updated_at.isoformat() if r.updated_at else None}


def _row(s: Session, key: str, lock: bool = False) -> PlatformTermRow | None:
    q = select(PlatformTermRow).where(PlatformTermRow.key == key)
    if lock and s.bind.dialect.name == "postgresql":
        q = q.with_for_update()
    return s.scalar(q)


def _log(s: Session, op: str, key: str, details: dict, actor: str, retro: bool = False) -> TermChangeRow:
    from bastion.store.wake import announce

    ch = TermChangeRow(op=op, key=key, details=details, actor=actor, at=utcnow(), retro_done=not retro)
    s.add(ch)
    s.flush()
    announce(s, "term_changes")  # every server's loops run at once (not at their next poll)
    return ch


def add_term(s: Session, term: str, *, category: str = "coded", language: str = "und", weight: float = 0.9,
             match: str = "word", actor: str, note: str = "") -> dict[str, Any]:
    """Add (or change) a platform term. Every server process applies it within a poll of the change log;
    stored items holding it are re-scored in the background (``retro_text``)."""
    language = (language or "und").strip().lower()
    term = (term or "").strip().lstrip("#").strip()
    validate(term, category, language, weight, match)
    key = term_key(term)
    now = utcnow()
    row = _row(s, key, lock=True)
    before = term_dict(row) if row is not None else None
    if row is None:
        row = PlatformTermRow(term=term, key=key, created_at=now)
        s.add(row)
    row.term, row.status, row.category, row.language = term, "active", category, language
    row.weight, row.match, row.note, row.updated_by, row.updated_at = float(weight), match, note or "", actor, now
    details = {"term": term, "category": category, "language": language, "weight": float(weight), "match": match}
    if before is not None and before["status"] != "removed":
        details["before"] = {k: before[k] for k in ("status", "category", "language", "weight", "match")}
    ch = _log(s, "add", key, details, actor, retro=True)
    _audit(s, actor, "term.add", key, {**details, "change": ch.id, **({"note": note} if note else {})})
    return term_dict(row)


def remove_term(s: Session, term: str, *, actor: str, note: str = "") -> dict[str, Any]:
    key = term_key(term)
    row = _row(s, key, lock=True)
    if row is None or row.status != "active":
        raise NotFound(f"{term!r} is not a term of the platform's lexicon")
    row.status, row.updated_by, row.updated_at = "removed", actor, utcnow()
    if note:
        row.note = note
    ch = _log(s, "remove", key, {"term": row.term, "category": row.category}, actor)
    _audit(s, actor, "term.remove", key, {"term": row.term, "category": row.category, "change": ch.id,
                                          **({"note": note} if note else {})})
    return term_dict(row)


def reject_candidate(s: Session, term: str, *, actor: str, note: str = "") -> dict[str, Any]:
    """Mark a candidate as looked at and not a code: it is not proposed again (until it is added)."""
    key = term_key(term)
    if not key:
        raise InvalidInput("a term must not be empty")
    row = _row(s, key, lock=True)
    if row is not None and row.status == "active":
        raise Conflict(f"{term!r} is in the platform's lexicon; remove it first")
    now = utcnow()
    if row is None:
        row = PlatformTermRow(term=term.strip().lstrip("#").strip(), key=key, created_at=now)
        s.add(row)
    row.status, row.category, row.language, row.weight, row.match = "rejected", None, None, None, None
    row.note, row.updated_by, row.updated_at = note or "", actor, now
    ch = _log(s, "reject", key, {"term": row.term}, actor)
    _audit(s, actor, "term.reject", key, {"term": row.term, "change": ch.id, **({"note": note} if note else {})})
    return term_dict(row)


def list_terms(s: Session, status: str | None = None) -> list[dict[str, Any]]:
    q = select(PlatformTermRow).order_by(PlatformTermRow.key)
    if status:
        q = q.where(PlatformTermRow.status == status)
    return [term_dict(r) for r in s.scalars(q)]


def platform_lexicon(s: Session):
    """The active platform terms as a :class:`~bastion.text.lexicon.Lexicon` (source ``platform``)."""
    from bastion.text.lexicon import Lexicon, lexicon_from_data

    lex = Lexicon(())
    rows = s.scalars(select(PlatformTermRow).where(PlatformTermRow.status == "active").order_by(PlatformTermRow.id)).all()
    by: dict[tuple[str, str], list] = {}
    for r in rows:
        by.setdefault((r.language or "und", r.category or "coded"), []).append(
            {"term": r.term, "weight": r.weight, "match": r.match or "word"})
    for (language, category), terms in sorted(by.items()):
        more, problems = lexicon_from_data({"language": language, "source": SOURCE,
                                            "categories": {category: {"terms": terms}}}, SOURCE)
        # rows were validated when written; a row that no longer loads (a category since retired) is skipped
        # here but still listed by `bastion terms list`
        lex = lex.merged(more)
    return lex
