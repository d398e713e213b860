"""Tables of the reports: the state of each NCMEC CyberTipline report (persisted before and after every call
so a crash never leads to a second submission) and the DSA statements of reasons made from decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bastion.store.schema import Base, utcnow


class NcmecReportRow(Base):
    __tablename__ = "ncmec_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: draft | submitting | submitted | finishing | finished | retracting | retracted | failed
    state: Mapped[str] = mapped_column(String(32), default="draft")
    ncmec_report_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    base_url: Mapped[str] = mapped_column(String(500))
    report_xml: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    files: Mapped[list["NcmecFileRow"]] = relationship(
        back_populates="report", order_by="NcmecFileRow.position", cascade="all, delete-orphan"
    )


class NcmecFileRow(Base):
    __tablename__ = "ncmec_files"
    __table_args__ = (UniqueConstraint("report_id", "position", name="uq_ncmec_files_report_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("ncmec_reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    #: pending | uploading | uploaded | described
    state: Mapped[str] = mapped_column(String(32), default="pending")
    ncmec_file_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the fileDetails XML without its reportId/fileId (filled in once NCMEC has given them)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    report: Mapped[NcmecReportRow] = relationship(back_populates="files")


class DsaStatementRow(Base):
    __tablename__ = "dsa_statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    puid: Mapped[str] = mapped_column(String(500), unique=True)
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    statement: Mapped[dict] = mapped_column(JSON)
    #: pending | submitted | rejected
    state: Mapped[str] = mapped_column(String(32), default="pending")
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    remote_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
