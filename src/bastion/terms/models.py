"""Tables of emerging-term discovery and of the platform's own lexicon.

* ``term_counts`` — how many items carried a term, per day, outcome and language. ``outcome`` is ``all``
  (every item, written at intake), ``tag`` (items where the term was a tag or a hashtag), ``confirm`` and
  ``reject`` (items of cases a reviewer decided that way, written at the decision). The empty term ``""``
  counts the items themselves, so totals are read the same way as terms. The ranking reads only the confirmed
  rows of its window and then the other rows of those few terms: its cost follows the confirmed vocabulary,
  not the number of stored items.
* ``item_terms`` — the terms extracted from one item at intake (and the outcome it is counted under), so a
  decision moves exactly what intake counted, even after the lexicon (and so the segmentation) changed.
* ``term_items`` — term -> item index of single words, hashtags and tag pieces: retro-scoring finds the items
  holding a promoted term without reading any text it does not need.
* ``term_pairs`` — on items with known lexicon terms: how often a word occurred beside each known term
  (the co-occurrence graph behind the PMI evidence).
* ``platform_terms`` — the platform's own lexicon (status ``active``) and rejected candidates (``rejected``).
* ``term_changes`` — the change log every server process follows (the live lexicon) and retro-scoring works
  off (``retro_done``), like ``bank_changes``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.store.schema import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")
#: the longest term kept (longer words are not terms anyone types as a code)
TERM_MAX = 120


class TermCountRow(Base):
    __tablename__ = "term_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    outcome: Mapped[str] = mapped_column(String(8), primary_key=True)
    term: Mapped[str] = mapped_column(String(TERM_MAX), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ItemTermsRow(Base):
    __tablename__ = "item_terms"

    item_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(8))
    #: every term counted for the item (words, hashtags, tag pieces, word pairs)
    terms: Mapped[list[str]] = mapped_column(JSON)
    #: the subset seen as a tag or hashtag
    tag_terms: Mapped[list[str]] = mapped_column(JSON)
    #: the outcome its terms are counted under besides ``all``: none | confirm | reject
    outcome: Mapped[str] = mapped_column(String(8), default="none")


class TermItemRow(Base):
    __tablename__ = "term_items"
    __table_args__ = {"sqlite_with_rowid": False}

    term: Mapped[str] = mapped_column(String(TERM_MAX), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class TermPairRow(Base):
    __tablename__ = "term_pairs"
    __table_args__ = {"sqlite_with_rowid": False}

    term: Mapped[str] = mapped_column(String(TERM_MAX), primary_key=True)
    known: Mapped[str] = mapped_column(String(TERM_MAX), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class PlatformTermRow(Base):
    __tablename__ = "platform_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the term as the lead wrote it, and its match key (casefolded, single spaces): one row per key
    term: Mapped[str] = mapped_column(String(TERM_MAX))
    key: Mapped[str] = mapped_column(String(TERM_MAX), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | rejected | removed
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    match: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TermChangeRow(Base):
    __tablename__ = "term_changes"
    __table_args__ = (Index("ix_term_changes_retro_pending", "retro_done", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    op: Mapped[str] = mapped_column(String(16))  # add | remove | reject
    key: Mapped[str] = mapped_column(String(TERM_MAX))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retro_done: Mapped[bool] = mapped_column(Boolean, default=True)
    #: a process working on the retro-scoring of this change holds it until then (another takes it over after)
    retro_claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retro_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class TermCaseRow(Base):
    """Which decided cases held a term (written at the decision): distinct-case support and example cases
    of a candidate, without touching items."""

    __tablename__ = "term_cases"
    __table_args__ = {"sqlite_with_rowid": False}

    term: Mapped[str] = mapped_column(String(TERM_MAX), primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    outcome: Mapped[str] = mapped_column(String(8))
