"""Retro-scoring: when a lead adds a term, the stored items holding it are scored again — the text
counterpart of retro-matching (bastion.cases.retro).

The items are found through the ``term_items`` index (a term of several words: the items holding every
word), never by reading every text. Each is analysed again under the current lexicon (its title, body and
tags as stored; signals found in media, such as embedded prompts, are kept from intake) and the policy is
evaluated again; an item whose verdict now needs people opens or joins a case with the reason
``retro_text``, and a ``retro_text`` webhook goes out through the outbox — in one transaction per chunk of
items, so a crash repeats a chunk (idempotent: a signal already present adds nothing) and never loses one.

Works off the ``add`` rows of ``term_changes`` that are not ``retro_done``. A process claims a change for a
lease before working on it, so two server processes never score the same change twice at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from bastion.store.db import Store
from bastion.store.schema import utcnow
from bastion.terms.models import PlatformTermRow, TermChangeRow, TermItemRow

CHUNK = 200
LEASE_SECONDS = 120
_LEVELS = ("none", "low", "medium", "high", "critical")


@dataclass
class RetroTextResult:
    changes: int = 0
    found: int = 0
    rescored: int = 0
    items: list[str] = field(default_factory=list)
    cases: set[int] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "found": self.found, "rescored": self.rescored,
                "cases": sorted(self.cases), "items": self.items[:100]}


def pending(store: Store) -> int:
    with store.session() as s:
        return len(s.scalars(select(TermChangeRow.id).where(TermChangeRow.retro_done.is_(False))).all())


def _claim(store: Store, lease: float) -> TermChangeRow | None:
    now = utcnow()
    with store.session() as s, s.begin():
        cid = s.scalar(select(TermChangeRow.id).where(
            TermChangeRow.retro_done.is_(False),
            or_(TermChangeRow.retro_claimed_until.is_(None), TermChangeRow.retro_claimed_until < now))
            .order_by(TermChangeRow.id).limit(1))
        if cid is None:
            return None
        got = s.execute(update(TermChangeRow).where(
            TermChangeRow.id == cid, TermChangeRow.retro_done.is_(False),
            or_(TermChangeRow.retro_claimed_until.is_(None), TermChangeRow.retro_claimed_until < now))
            .values(retro_claimed_until=now + timedelta(seconds=lease)))
        if got.rowcount != 1:
            return None
        ch = s.get(TermChangeRow, cid)
        s.expunge(ch)
        return ch


def items_with(store: Store, key: str) -> list[int]:
    """Ids of stored items whose indexed words include every word of ``key``."""
    words = [w for w in key.split(" ") if w]
    if not words:
        return []
    with store.session() as s:
        found: set[int] | None = None
        for w in sorted(words, key=len, reverse=True):  # longer words first: usually the rarer
            ids = set(s.scalars(select(TermItemRow.item_id).where(TermItemRow.term == w)))
            found = ids if found is None else found & ids
            if not found:
                return []
    return sorted(found or ())


def run(store: Store, policy, lexicon, *, max_changes: int = 10, lease: float = LEASE_SECONDS) -> RetroTextResult:
    """Retro-score pending term additions. ``lexicon``: a :class:`~bastion.terms.live.LiveLexicon` (refreshed
    first, so the new term is in it) or a plain lexicon. Returns what it did; ``changes == 0`` means idle."""
    out = RetroTextResult()
    for _ in range(max_changes):
        ch = _claim(store, lease)
        if ch is None:
            break
        if hasattr(lexicon, "refresh"):
            lexicon.refresh()
        lex = lexicon.current if hasattr(lexicon, "current") else lexicon
        result = _one(store, policy, lex, ch, out)
        with store.session() as s, s.begin():
            s.execute(update(TermChangeRow).where(TermChangeRow.id == ch.id)
                      .values(retro_done=True, retro_claimed_until=None, retro_result=result))
        out.changes += 1
    return out


def _one(store: Store, policy, lex, ch: TermChangeRow, out: RetroTextResult) -> dict[str, Any]:
    with store.session() as s:
        row = s.scalar(select(PlatformTermRow).where(PlatformTermRow.key == ch.key))
        active = row is not None and row.status == "active"
    if not active:
        return {"skipped": "the term is no longer in the platform's lexicon"}
    ids = items_with(store, ch.key)
    out.found += len(ids)
    rescored = 0
    cases: set[int] = set()
    for i in range(0, len(ids), CHUNK):
        n, c = _chunk(store, policy, lex, ch, ids[i:i + CHUNK], out)
        rescored += n
        cases |= c
    out.cases |= cases
    return {"found": len(ids), "rescored": rescored, "cases": len(cases)}


def _text_of(item) -> list[tuple[str, str]]:
    from bastion.cases.ingest import TEXT_FIELD

    texts: list[tuple[str, str]] = []
    if item.title:
        texts.append(("title", item.title))
    if item.body:
        texts.append((TEXT_FIELD.get(item.kind, "body"), item.body))
    texts.extend(("tag", t) for t in (item.tags or []) if t)
    return texts


def _sig_key(x: dict[str, Any]) -> tuple:
    span = x.get("span")
    return (x.get("source"), x.get("category"), x.get("field"), x.get("term"), tuple(span) if span else None,
            (x.get("evidence") or {}).get("index"))


def _chunk(store: Store, policy, lex, ch: TermChangeRow, ids: list[int], out: RetroTextResult) -> tuple[int, set[int]]:
    from bastion.cases.ingest import CASE_ACTIONS
    from bastion.cases.persist import open_or_extend_case
    from bastion.effects.webhooks import enqueue
    from bastion.cases.models import AccountRow, ItemRow
    from bastion.policy import Facts
    from bastion.text import analyze_item

    rescored = 0
    cases: set[int] = set()
    with store.session() as s, s.begin():
        now = utcnow()
        for item in s.scalars(select(ItemRow).where(ItemRow.id.in_(ids)).order_by(ItemRow.id)):
            texts = _text_of(item)
            if not texts:
                continue
            result = analyze_item(texts, lexicon=lex)
            facts = dict(item.facts or {})
            old = list(facts.get("signals") or [])
            have = {_sig_key(x) for x in old}
            new = [x.to_dict() for x in result.signals]
            added = [x for x in new if _sig_key(x) not in have]
            if not added:
                continue
            for x in added:
                x.setdefault("evidence", {})["retro"] = True
            facts["signals"] = old + added
            if _LEVELS.index(result.level) > _LEVELS.index(facts.get("text_level", "none")):
                facts["text_level"] = result.level
            facts["text_score"] = max(float(facts.get("text_score") or 0.0), float(result.score))
            facts["text_combinations"] = sorted(set(facts.get("text_combinations") or []) | set(result.combinations))
            verdict = policy.evaluate(Facts.from_dict(facts)).to_dict()
            item.facts, item.verdict, item.action, item.priority = facts, verdict, verdict["action"], verdict["priority"]
            rescored += 1
            if CASE_ACTIONS & set(verdict["actions"]):
                account = s.get(AccountRow, item.account_id) if item.account_id else None
                langs = sorted({x.get("language") for x in added if x.get("language")})
                case = open_or_extend_case(s, item, account, verdict, added, langs, now, reason="retro_text")
                item.case_id = case.id
                cases.add(case.id)
            out.items.append(item.external_id)
            enqueue(s, "retro_text", {"item_id": item.external_id, "case_id": item.case_id, "term": ch.key,
                                       "change_id": ch.id, "signals": added, "verdict": verdict})
    out.rescored += rescored
    return rescored, cases
