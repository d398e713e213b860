"""What a CyberTipline report is built from: small plain dataclasses, filled from a decided case by
:mod:`bastion.reports.ncmec.from_case` or by hand, so the XML builder needs no database.

Field names follow the CyberTipline schema's meaning; the builder orders them as the schema requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

INCIDENT_CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
INCIDENT_TYPES = (
    INCIDENT_CHILD_PORNOGRAPHY,
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
IP_EVENTS = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
#: The industry classification scale; only for ESPs that signed the Industry Hash Sharing MOU.
INDUSTRY_CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
REPORT_ANNOTATIONS = ("sextortion", "csamSolicitation", "minorToMinorInteraction", "spam", "sadisticOnlineExploitation")


@dataclass(frozen=True)
class Person:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Reporter:
    """The ESP's reporting person (required by NCMEC) and the company's standing texts."""

    reporting_person: Person
    contact_person: Person | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None


@dataclass(frozen=True)
class IpCaptureEvent:
    ip_address: str
    event: str | None = None  # one of IP_EVENTS
    at: datetime | None = None
    possible_proxy: bool | None = None
    port: int | None = None


@dataclass(frozen=True)
class ReportedPerson:
    esp_identifier: str | None = None
    esp_service: str | None = None
    screen_name: str | None = None
    display_names: tuple[str, ...] = ()
    profile_urls: tuple[str, ...] = ()
    email: str | None = None
    ip_events: tuple[IpCaptureEvent, ...] = ()
    #: when the platform disabled the account (a decision's ``suspend_account``)
    disabled_at: datetime | None = None
    #: a temporary suspension: when the account is re-enabled (None: disabled for good)
    reenabled_at: datetime | None = None
    additional_info: str | None = None


@dataclass(frozen=True)
class NcmecFile:
    """One file of the report. ``data`` is read from the vault at upload time, never kept here."""

    filename: str
    sha256: str
    md5: str
    #: PDQ from the reference computation (``fast=False``), sent as a HASH detail.
    pdq: str | None = None
    blob_id: str | None = None
    uploaded_at: datetime | None = None
    location: str | None = None
    viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    #: provenance (C2PA, generator metadata, watermark) says the file was AI-made: a suggestion only
    ai_suggested: bool = False
    #: a reviewer confirmed the file is AI-generated: only this sets the ``generativeAi`` annotation
    ai_confirmed: bool = False
    industry_classification: str | None = None
    ip_event: IpCaptureEvent | None = None
    additional_info: str | None = None


@dataclass(frozen=True)
class NcmecReportInput:
    incident_at: datetime
    reporter: Reporter
    files: tuple[NcmecFile, ...] = ()
    incident_type: str = INCIDENT_CHILD_PORNOGRAPHY
    platform: str | None = None
    incident_description: str | None = None
    urls: tuple[str, ...] = ()
    reported_person: ReportedPerson | None = None
    annotations: tuple[str, ...] = ()  # of REPORT_ANNOTATIONS
    escalate: str | None = None
    additional_info: str | None = None
    #: the case this report is made from (kept in Bastion, not sent)
    case_id: int | None = None
    #: the ESP signed the Industry Hash Sharing MOU: send industryClassification when a reviewer gave one
    industry_mou: bool = False
    notes: tuple[str, ...] = field(default=())
