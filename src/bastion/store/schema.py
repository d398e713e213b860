"""The relational schema (SQLAlchemy 2 declarative). Changes go through Alembic migrations only.

Portable across SQLite and PostgreSQL: no dialect-specific types; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Explicit constraint names so migrations are stable on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class BankRow(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    category: Mapped[str] = mapped_column(String(64), default="test")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=31)
    #: PDQ hashes of lower quality than this are not matched against this bank.
    min_quality: Mapped[int] = mapped_column(Integer, default=50)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    entries: Mapped[list["BankEntryRow"]] = relationship(
        back_populates="bank", cascade="all, delete-orphan", passive_deletes=True
    )


class BankEntryRow(Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("bank_id", "hash_type", "value", name="uq_bank_entries_bank_type_value"),
        Index("ix_bank_entries_type_value", "hash_type", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the unique (bank_id, hash_type, value) index starts with it (migration 0003).
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    hash_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    label: Mapped[str | None] = mapped_column(String(500), nullable=True)
    source_ref: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: The full value when it is too long for ``value`` (vPDQ: ``value`` is the SHA-256 of this signal).
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Set on derived entries only (migration 0010): the original entry this hash is a sub-region of
    #: (a crop or window of media the bank was built from), and which sub-region (``bastion.banks.from_files``).
    #: Derived entries are matched but never exported as originals.
    derived_from: Mapped[int | None] = mapped_column(
        ForeignKey("bank_entries.id", ondelete="CASCADE", name="fk_bank_entries_derived_from_bank_entries"),
        nullable=True,
        index=True,
    )
    derivation: Mapped[str | None] = mapped_column(String(32), nullable=True)

    bank: Mapped[BankRow] = relationship(back_populates="entries")


class MediaRow(Base):
    """Hashes and metadata of every file scanned — never pixels. Lets a bank update be matched
    retroactively against what was already seen without re-reading media."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)  # videos pass 2 GiB
    media_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScanRunRow(Base):
    """One archive scan (``bastion scan --engine ...``): what it scans, so ``--resume RUN_ID`` can go on."""

    __tablename__ = "scan_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sources: Mapped[str] = mapped_column(Text)  # JSON list of source specs
    shard_size: Mapped[int] = mapped_column(Integer)
    #: JSON list of the image classifiers the run asked for (--classify/--classifiers; [] for none), so
    #: --resume runs them too; NULL for runs started before migration 0017, whose choice is unknown
    classify: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | finished
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScanShardRow(Base):
    """The ledger: a shard of a run whose every file's result is recorded. Written in the same transaction as
    the shard's last results, so a finished shard is never scanned again and an unfinished one always is."""

    __tablename__ = "scan_shards"

    run_id: Mapped[str] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), primary_key=True)
    source_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    shard_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_key: Mapped[str] = mapped_column(Text)
    last_key: Mapped[str] = mapped_column(Text)
    files: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScanResultRow(Base):
    """One file of a run: its hashes, whether it matched, its errors. Keyed by (run, key), so recording it
    twice (a shard redone after a crash) leaves one row."""

    __tablename__ = "scan_results"

    run_id: Mapped[str] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    media_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    pdq: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[str] = mapped_column(Text)  # the JSON line `bastion scan --jsonl` prints for this file
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Tables of the service live beside their domain (Dispatch-style: each noun a folder with models.py). They are
# not imported here: a scan or a bank command maps only the tables above, and importing every model costs more
# than some commands take. Code that needs ``Base.metadata`` to know every table (Alembic's target) calls:
SERVICE_MODELS = (
    "bastion.auth.models",
    "bastion.cases.models",
    "bastion.banks.changes",
    "bastion.reports.models",
    "bastion.vault.models",
    "bastion.effects.models",
    "bastion.console.models",
    "bastion.terms.models",
)


def import_all_models() -> None:
    """Import every module that declares tables, so that ``Base.metadata`` holds the whole schema."""
    import importlib

    for module in SERVICE_MODELS:
        importlib.import_module(module)
