"""Keeping the counts current: at intake (in the item's own transaction) and when a case is decided.

Intake writes, for one item, its ``item_terms`` row, one upsert of ``term_counts`` (``all`` for every term
and for the item itself, ``tag`` for tag terms), its ``term_items`` index rows, and — only for items where
the lexicon found something — the co-occurrence pairs with those known terms. A decision moves the
decided items' terms from the outcome they were counted under to the new one (``item_terms.outcome``), so
a reversed decision never counts twice.

Rows are written in key order: two PostgreSQL transactions upserting the same days take the row locks in
the same order and cannot deadlock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.clock import as_utc
from bastion.model import DECISION_OUTCOMES
from bastion.terms.models import ItemTermsRow, TermCaseRow, TermCountRow, TermItemRow, TermPairRow
from bastion.terms.tokens import ItemTerms, term_key

#: outcomes a decision can count an item under
DECIDED = DECISION_OUTCOMES
#: the pseudo-term counting items
TOTAL = ""


def _insert(s: Session, model):
    if s.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


#: the intake's statements, built once per dialect on the tables (Core): built per transaction on the ORM
#: classes they cost more than the writes themselves (ORM bulk-insert machinery, a new ``excluded`` alias
#: each time; measured ~18 % of a text item's server time before)
_STATEMENTS: dict[str, dict[str, object]] = {}


#: PostgreSQL: the many-row upserts as one statement over arrays (``unnest``), whatever the number of rows.
#: psycopg ran a many-row ``executemany`` once per row (5–8 executions per text item for these three tables)
#: and SQLAlchemy cannot send ON CONFLICT statements as one multi-row VALUES; the text of these is the same for
#: every group, so psycopg and PostgreSQL keep it prepared. Rows are passed in key order: the row locks are
#: taken in that order, as before.
_PG_UNNEST = {
    "counts": ("INSERT INTO term_counts (outcome, term, day, language, n) "
               "SELECT * FROM unnest(CAST(:outcome AS VARCHAR[]), CAST(:term AS VARCHAR[]), CAST(:day AS DATE[]), "
               "CAST(:language AS VARCHAR[]), CAST(:n AS INTEGER[])) "
               "ON CONFLICT (outcome, term, day, language) DO UPDATE SET n = term_counts.n + excluded.n",
               ("outcome", "term", "day", "language", "n")),
    "index": ("INSERT INTO term_items (term, item_id) "
              "SELECT * FROM unnest(CAST(:term AS VARCHAR[]), CAST(:item_id AS BIGINT[])) ON CONFLICT DO NOTHING",
              ("term", "item_id")),
    "pairs": ("INSERT INTO term_pairs (term, known, n) "
              "SELECT * FROM unnest(CAST(:term AS VARCHAR[]), CAST(:known AS VARCHAR[]), CAST(:n AS INTEGER[])) "
              "ON CONFLICT (term, known) DO UPDATE SET n = term_pairs.n + excluded.n",
              ("term", "known", "n")),
}


class _Columns:
    """A PostgreSQL ``unnest`` statement: run with the rows' values as one array per column."""

    __slots__ = ("statement", "columns")

    def __init__(self, sql: str, columns: tuple[str, ...]):
        from sqlalchemy import text

        self.statement = text(sql)
        self.columns = columns


def _run(s: Session, statement, rows: list[dict]) -> None:
    """``rows`` through ``statement``: a list of rows for SQLAlchemy, or one array per column (PostgreSQL)."""
    if isinstance(statement, _Columns):
        s.execute(statement.statement, {c: [r[c] for r in rows] for c in statement.columns})
    else:
        s.execute(statement, rows)


def _statements(s: Session) -> dict[str, object]:
    name = s.bind.dialect.name
    st = _STATEMENTS.get(name)
    if st is None:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        counts, pairs = TermCountRow.__table__, TermPairRow.__table__
        ins_counts, ins_pairs = insert(counts), insert(pairs)
        st = _STATEMENTS[name] = {
            "items": insert(ItemTermsRow.__table__),
            "counts": ins_counts.on_conflict_do_update(index_elements=["outcome", "term", "day", "language"],
                                                       set_={"n": counts.c.n + ins_counts.excluded.n}),
            "index": insert(TermItemRow.__table__).on_conflict_do_nothing(),
            "pairs": ins_pairs.on_conflict_do_update(index_elements=["term", "known"],
                                                     set_={"n": pairs.c.n + ins_pairs.excluded.n}),
        }
        if name == "postgresql":
            st.update({k: _Columns(sql, cols) for k, (sql, cols) in _PG_UNNEST.items()})
    return st


def add_counts(s: Session, deltas: dict[tuple[str, str, date, str], int]) -> None:
    """Add ``deltas`` {(outcome, term, day, language): n} to ``term_counts`` in one statement."""
    rows = [{"outcome": o, "term": t, "day": d, "language": l, "n": n}
            for (o, t, d, l), n in sorted(deltas.items()) if n]
    if not rows:
        return
    _run(s, _statements(s)["counts"], rows)


def day_of(received: datetime, created: datetime | None) -> date:
    """The UTC day an item counts for: when the platform says it was posted, unless that is after it reached
    Bastion (a clock in the future is not believed). Both times go through :func:`bastion.clock.as_utc`: a
    naive time is UTC, never the other timestamp's zone, and an aware one counts on its UTC day."""
    r = as_utc(received)
    if created is not None:
        c = as_utc(created)
        if c <= r:
            return c.date()
    return r.date()


class _Pending:
    """What the items of one transaction add, written in one statement per table when it commits."""

    __slots__ = ("items", "counts", "index", "pairs")

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.counts: dict[tuple[str, str, date, str], int] = {}
        self.index: list[dict] = []
        self.pairs: dict[tuple[str, str], int] = {}


_PENDING = "bastion_terms_pending"
_hooked = False


def _hook() -> None:
    """Once per process: write the pending counts of a session's transaction just before it commits, and drop
    them when it rolls back (the group committer then retries each item alone: nothing counts twice)."""
    global _hooked
    if _hooked:
        return
    from sqlalchemy import event

    event.listen(Session, "before_commit", _flush_pending)
    event.listen(Session, "after_rollback", lambda s: s.info.pop(_PENDING, None))
    _hooked = True


def _flush_pending(s: Session) -> None:
    p: _Pending | None = s.info.pop(_PENDING, None)
    if p is None:
        return
    st = _statements(s)
    if p.items:
        s.execute(st["items"], p.items)
    add_counts(s, p.counts)
    if p.index:
        _run(s, st["index"], sorted(p.index, key=lambda r: (r["term"], r["item_id"])))
    if p.pairs:
        _run(s, st["pairs"], [{"term": t, "known": k, "n": n} for (t, k), n in sorted(p.pairs.items())])


def record_item(s: Session, item_id: int, day: date, language: str, found: ItemTerms,
                known: Iterable[str] = ()) -> None:
    """Count one stored item's terms, in the transaction that stores the item. The rows of every item of the
    transaction are written together when it commits: one statement per table for a whole group of items
    (bastion.cases.writer), the counts of a term on a day summed first."""
    _hook()
    p = s.info.get(_PENDING)
    if p is None:
        p = s.info[_PENDING] = _Pending()
    p.items.append({"item_id": item_id, "day": day, "language": language, "terms": list(found.terms),
                    "tag_terms": list(found.tag_terms), "outcome": "none"})
    c = p.counts
    k = ("all", TOTAL, day, language)
    c[k] = c.get(k, 0) + 1
    for t in found.terms:
        k = ("all", t, day, language)
        c[k] = c.get(k, 0) + 1
    for t in found.tag_terms:
        k = ("tag", t, day, language)
        c[k] = c.get(k, 0) + 1
    p.index.extend({"term": w, "item_id": item_id} for w in found.words)
    known_keys = {k for k in (term_key(x) for x in known) if k}
    for t in found.terms:
        for kk in known_keys:
            if t != kk:
                p.pairs[(t, kk)] = p.pairs.get((t, kk), 0) + 1


def record_case_outcome(s: Session, case_id: int, outcome: str) -> int:
    """Count the items of a decided case under ``outcome`` (confirm | reject). Returns how many items moved."""
    from bastion.cases.models import CaseItemRow

    if outcome not in DECIDED:
        raise ValueError(f"outcome must be one of {DECIDED}")
    _flush_pending(s)  # items stored earlier in this same transaction
    rows = s.scalars(select(ItemTermsRow).join(CaseItemRow, CaseItemRow.item_id == ItemTermsRow.item_id)
                     .where(CaseItemRow.case_id == case_id).order_by(ItemTermsRow.item_id)).all()
    deltas: dict[tuple[str, str, date, str], int] = {}
    moved = 0
    case_terms: set[str] = set()
    for r in rows:
        case_terms.update(r.terms)
        if r.outcome == outcome:
            continue
        moved += 1
        for old_new, sign in ((r.outcome, -1), (outcome, 1)):
            if old_new not in DECIDED:
                continue
            for t in (TOTAL, *r.terms):
                k = (old_new, t, r.day, r.language)
                deltas[k] = deltas.get(k, 0) + sign
        r.outcome = outcome
    s.flush()
    add_counts(s, deltas)
    if case_terms:
        ins = _insert(s, TermCaseRow)
        s.execute(ins.on_conflict_do_update(index_elements=["term", "case_id"], set_={"outcome": ins.excluded.outcome}),
                  [{"term": t, "case_id": case_id, "outcome": outcome} for t in sorted(case_terms)])
    return moved
