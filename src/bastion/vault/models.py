"""Tables of the evidence vault: one row per preserved blob, and its chain of custody.

``case_id`` refers to ``cases.id`` but carries no foreign key: evidence and its custody record must outlive a
case row that an operator deletes or archives, and the vault is usable before a case exists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.store.schema import Base, utcnow


class VaultBlobRow(Base):
    __tablename__ = "vault_blobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    item_external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    md5: Mapped[str] = mapped_column(String(32))
    #: PDQ from the reference computation (full decode, ``fast=False``): what may leave Bastion.
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    media_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retain_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class VaultCustodyRow(Base):
    """Who did what with a blob, when, why, for which case. Append-only."""

    __tablename__ = "vault_custody"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_id: Mapped[str] = mapped_column(ForeignKey("vault_blobs.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))  # preserve | read | hold | release | reported | reseal | purge
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
