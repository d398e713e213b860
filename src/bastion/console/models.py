"""The console's own tables: sign-in sessions, reviewer preferences, organisation defaults, shifts and
reveals (the exposure budget). Everything about cases, users and decisions lives in the service's tables;
the console only adds what a web page for people needs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

import bastion.auth.models  # noqa: F401  (the users table, referenced by foreign key)
from bastion.store.schema import Base, utcnow


class ConsoleSessionRow(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a copy of the
    database does not sign anyone in. ``csrf_token`` is the synchroniser token every state-changing request
    must carry."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsolePreferenceRow(Base):
    """A reviewer's own media settings; NULL means "the organisation default"."""

    __tablename__ = "console_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blur: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grayscale: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    mute_video: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ConsoleOrgSettingRow(Base):
    """Organisation defaults as key -> JSON value (blur, grayscale, mute_video, reveal_budget, ...)."""

    __tablename__ = "console_org_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ConsoleShiftRow(Base):
    """A reviewer's shift: the window the reveal budget counts over. ``extra`` is what leads added."""

    __tablename__ = "console_shifts"
    __table_args__ = (Index("ix_console_shifts_user_started", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    budget: Mapped[int] = mapped_column(Integer)
    extra: Mapped[int] = mapped_column(Integer, default=0)
    #: set when the reviewer starts a break (or ends the shift early); the next shift waits for the break.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsoleRevealRow(Base):
    """One reveal of one original: who, when, which case and media, in which shift."""

    __tablename__ = "console_reveals"
    __table_args__ = (Index("ix_console_reveals_shift", "shift_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("console_shifts.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(BigInteger)
    media_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
