"""Tables of the effects: webhook subscriptions, the webhook outbox, and the hash-chained audit log.

Portable across SQLite and PostgreSQL (no dialect types). Timestamps are stored as UTC; SQLite hands them
back naive, so code reading them goes through :func:`as_utc`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.store.schema import Base, utcnow
from bastion.clock import as_utc as _as_utc

#: prev_hash of the first audit row, and the head's hash while the log is empty.
GENESIS_HASH = "0" * 64


#: a stored timestamp as an aware UTC datetime (the one helper, :func:`bastion.clock.as_utc`)
as_utc = _as_utc


class WebhookSubscriptionRow(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    #: comma-separated, sorted event names (a subset of bastion.effects.webhooks.EVENTS).
    events: Mapped[str] = mapped_column(String(200))
    #: the HMAC key. Kept in clear because signing needs it; shown to the user once, at creation.
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class OutboxRow(Base):
    """One delivery of one event to one subscription. Written in the transaction of the change it reports
    (transactional outbox), sent afterwards by a Deliverer; ``status`` pending -> delivered | dead."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    #: sent as the Bastion-Delivery header and inside the body; stays the same across retries and replays,
    #: so a receiver can drop duplicates (delivery is at least once).
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: the exact JSON body that is signed and sent.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: attempts started (counted when a deliverer claims the row).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when the row is due next; while a deliverer holds it, the end of its lease.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the claim token of the deliverer currently holding the row (NULL when nobody does).
    claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditRow(Base):
    """One audit entry. ``id`` is the position in the chain (1, 2, 3, ... without gaps, assigned under the
    head's lock, not by a sequence); ``row_hash`` = sha256 of the canonical JSON of every other field,
    ``prev_hash`` included. Rows are only ever inserted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: canonical JSON text (sorted keys, no spaces) — hashed exactly as stored.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row (id 1) naming the last audit entry: its id and hash. Appends update it first, which
    serialises them on every backend and lets `verify` notice rows deleted from the end."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    row_hash: Mapped[str] = mapped_column(String(64))
