"""The bank change log: one row per change to a bank, in the transaction of the change.

Every process keeps its in-memory index current by reading it (:mod:`bastion.banks.live`), and
retro-matching (:mod:`bastion.cases.retro`) works off its ``add`` rows (``retro_done``), so no change is
missed after a crash. Written only by :func:`bastion.banks.repo.log_change`. It belongs to the banks: the
cases read it, the banks never import the cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.store.schema import Base, utcnow

__all__ = ["BankChangeRow"]

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class BankChangeRow(Base):
    """The bank change log: every process keeps its in-memory index current by reading it, and
    retro-matching works off its ``add`` rows (``retro_done``), so no change is missed after a crash."""

    __tablename__ = "bank_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(Integer, index=True)
    #: add | remove | update (settings) | delete (the whole bank)
    op: Mapped[str] = mapped_column(String(16))
    #: for add: the range of new entry ids (other banks' ids in the range are filtered out by bank_id)
    first_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: for remove: the removed entries as [[id, hash_type, value], ...]
    entries: Mapped[list | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retro_done: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
