"""Tables of the service domain. JSON columns hold what is read back whole (facts, verdicts, results);
what is filtered on (status, priority, action, sources) has columns of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

import bastion.auth.models  # noqa: F401  (the users table, referenced by foreign key)
from bastion.store.schema import Base, utcnow

#: BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY is the rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    handle: Mapped[str | None] = mapped_column(String(255), nullable=True)
    platform_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    #: items of this account whose verdict was above `allow`
    flagged_count: Mapped[int] = mapped_column(Integer, default=0)
    #: cases of this account confirmed by a reviewer
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0)
    risk_score: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(32), default="active")


class AccountKeyRow(Base):
    """Something an account showed that another account may share: a contact handle, a payment handle or
    wallet, a media hash, a generation seed or model. Two accounts with the same (kind, value) are linked."""

    __tablename__ = "account_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "value", name="uq_account_keys_account_kind_value"),
        Index("ix_account_keys_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    item_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountLinkRow(Base):
    """A link between two accounts, stored once per direction so "links of X" is one indexed query."""

    __tablename__ = "account_links"
    __table_args__ = (
        UniqueConstraint("account_id", "other_account_id", "kind", "value", name="uq_account_links_pair_kind_value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    other_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_priority", "status", "priority"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True, index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: comma-separated detection sources (hash, provenance, text, account), banks and languages, for filters
    sources: Mapped[str] = mapped_column(String(255), default="")
    banks: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[str] = mapped_column(String(255), default="")
    #: the strongest automated action taken on the case's items (e.g. "remove"), if any
    automated_action: Mapped[str | None] = mapped_column(String(32), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    #: a reviewer rejected an automated removal: a lead must look again
    needs_second_look: Mapped[bool] = mapped_column(Boolean, default=False)


class ItemRow(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    #: SHA-256 of the submitted item in canonical form: a retry must carry the same body
    request_sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True, index=True)
    parent_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    platform_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    policy_version: Mapped[str] = mapped_column(String(32), default="")


class ItemMediaRow(Base):
    """Hashes and what the scan found of one file of an item — never its pixels (see cases/holding.py)."""

    __tablename__ = "item_media"
    #: retro-matching reads every stored PDQ hash from this covering index, not from the rows (cases/retro.py)
    __table_args__ = (Index("ix_item_media_pdq_scan", "id", "pdq", "quality", sqlite_where=text("pdq IS NOT NULL"),
                            postgresql_where=text("pdq IS NOT NULL")),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the bytes are kept in the restricted holding folder (an item that opened a case, or `preserve`)
    held: Mapped[bool] = mapped_column(Boolean, default=False)


class CaseItemRow(Base):
    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "item_id", name="uq_case_items_case_item"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: NULL for a decision the policy took on its own
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_second_look: Mapped[bool] = mapped_column(Boolean, default=False)
    #: with ``suspend_account``: ``temporary`` (for ``suspension_days``) or ``permanent`` (NULL reads permanent)
    suspension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    suspension_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: a confirming decision: ``pending`` until its case's images were compared with recently stored items
    #: (bastion.cases.similar_retro), then ``done``; ``layout`` when only its images' layouts are to be hashed
    #: (migration 0016); NULL for the rest (and for decisions before migration 0014)
    similar_retro: Mapped[str | None] = mapped_column(String(8), nullable=True)
    similar_claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    total: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class JobRow(Base):
    """One item of a batch waiting to be scanned. Workers claim rows (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL; SQLite has one writer) and a claim that outlives ``locked_until`` is taken over."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    item_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
