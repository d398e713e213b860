"""CyberTipline XML: the ``<report>`` sent to ``/submit`` and one ``<fileDetails>`` per file sent to
``/fileinfo``. Element order follows the schema's sequences; the tests validate every output against the
schema. Values are checked here (enumerations, hash formats) so a bad input fails before anything is sent.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from bastion.errors import ReportError
from bastion.reports.ncmec.model import (
    INCIDENT_TYPES,
    INDUSTRY_CLASSIFICATIONS,
    IP_EVENTS,
    REPORT_ANNOTATIONS,
    IpCaptureEvent,
    NcmecFile,
    NcmecReportInput,
    Person,
)
from bastion.clock import as_utc

_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$"), "pdq": re.compile(r"^[0-9a-f]{64}$")}


def xml_datetime(dt: datetime) -> str:
    """xs:dateTime in UTC with an explicit zone (a naive time is taken as UTC)."""
    return as_utc(dt).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _el(parent: ET.Element, name: str, text: str | None = None, **attrs) -> ET.Element:
    e = ET.SubElement(parent, name, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        e.text = text
    return e


def _opt(parent: ET.Element, name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        value = "true" if value else "false"
    _el(parent, name, str(value))


def _person(parent: ET.Element, name: str, p: Person) -> None:
    e = _el(parent, name)
    _opt(e, "firstName", p.first_name)
    _opt(e, "lastName", p.last_name)
    _opt(e, "phone", p.phone)
    _opt(e, "email", p.email)


def _ip_event(parent: ET.Element, ev: IpCaptureEvent) -> None:
    if ev.event is not None and ev.event not in IP_EVENTS:
        raise ReportError(f"IP capture event {ev.event!r} is not one of {', '.join(IP_EVENTS)}")
    e = _el(parent, "ipCaptureEvent")
    _el(e, "ipAddress", ev.ip_address)
    _opt(e, "eventName", ev.event)
    _opt(e, "dateTime", xml_datetime(ev.at) if ev.at else None)
    _opt(e, "possibleProxy", ev.possible_proxy)
    _opt(e, "port", ev.port)


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def check_report_input(r: NcmecReportInput) -> None:
    if r.incident_type not in INCIDENT_TYPES:
        raise ReportError(f"incident type {r.incident_type!r} is not one of the CyberTipline's types")
    bad = [a for a in r.annotations if a not in REPORT_ANNOTATIONS]
    if bad:
        raise ReportError(f"unknown report annotation(s) {', '.join(bad)} (known: {', '.join(REPORT_ANNOTATIONS)})")
    p = r.reporter.reporting_person
    if not (p.email or p.phone):
        raise ReportError("the reporting person needs an email or a phone number NCMEC can reach")
    for f in r.files:
        check_file(f)


def check_file(f: NcmecFile) -> None:
    for kind in ("md5", "sha256", "pdq"):
        v = getattr(f, kind)
        if v is not None and not _HEX[kind].match(v):
            raise ReportError(f"{f.filename}: {kind} {v!r} is not a lowercase hex digest of the right length")
    if f.industry_classification is not None and f.industry_classification not in INDUSTRY_CLASSIFICATIONS:
        raise ReportError(f"{f.filename}: industry classification must be one of {', '.join(INDUSTRY_CLASSIFICATIONS)}")
    if f.ai_confirmed and not f.viewed_by_esp:
        # A reviewer can only confirm what a reviewer looked at.
        raise ReportError(f"{f.filename}: AI generation is marked confirmed but the file was not viewed by the ESP")


def build_report_xml(r: NcmecReportInput) -> bytes:
    """The ``<report>`` document (no files: those follow by upload + fileinfo)."""
    check_report_input(r)
    root = ET.Element("report")
    s = _el(root, "incidentSummary")
    _el(s, "incidentType", r.incident_type)
    _opt(s, "platform", r.platform)
    _opt(s, "escalateToHighPriority", r.escalate)
    if r.annotations:
        a = _el(s, "reportAnnotations")
        for name in REPORT_ANNOTATIONS:  # xs:all, but a stable order reads better
            if name in r.annotations:
                _el(a, name, "true")
    _el(s, "incidentDateTime", xml_datetime(r.incident_at))
    _opt(s, "incidentDateTimeDescription", r.incident_description)

    if r.urls:
        web = _el(_el(root, "internetDetails"), "webPageIncident")
        for url in r.urls:
            _el(web, "url", url)

    rep = _el(root, "reporter")
    _person(rep, "reportingPerson", r.reporter.reporting_person)
    if r.reporter.contact_person is not None:
        _person(rep, "contactPerson", r.reporter.contact_person)
    _opt(rep, "companyTemplate", r.reporter.company_template)
    _opt(rep, "termsOfService", r.reporter.terms_of_service)
    _opt(rep, "legalURL", r.reporter.legal_url)

    u = r.reported_person
    if u is not None:
        e = _el(root, "personOrUserReported")
        if u.email:
            _person(e, "personOrUserReportedPerson", Person(email=u.email))
        _opt(e, "espIdentifier", u.esp_identifier)
        _opt(e, "espService", u.esp_service)
        _opt(e, "screenName", u.screen_name)
        for name in u.display_names:
            _el(e, "displayName", name)
        for url in u.profile_urls:
            _el(e, "profileUrl", url)
        for ev in u.ip_events:
            _ip_event(e, ev)
        if u.disabled_at is not None and u.reenabled_at is not None:
            _el(e, "accountTemporarilyDisabled", "true", disabledDate=xml_datetime(u.disabled_at),
                reenabledDate=xml_datetime(u.reenabled_at))
        elif u.disabled_at is not None:
            _el(e, "accountPermanentlyDisabled", "true", disabledDate=xml_datetime(u.disabled_at))
        _opt(e, "additionalInfo", u.additional_info)
    _opt(root, "additionalInfo", r.additional_info)
    return _serialize(root)


def build_file_details_xml(report_id: int, file_id: str, f: NcmecFile, *, industry_mou: bool = False) -> bytes:
    """One ``<fileDetails>`` for a file NCMEC accepted by upload (it gave ``file_id``)."""
    check_file(f)
    root = ET.Element("fileDetails")
    _el(root, "reportId", str(int(report_id)))
    _el(root, "fileId", file_id)
    _el(root, "fileName", f.filename)
    _el(root, "originalFileName", f.filename)
    _opt(root, "uploadedToEspTimestamp", xml_datetime(f.uploaded_at) if f.uploaded_at else None)
    _opt(root, "locationOfFile", f.location)
    _opt(root, "fileViewedByEsp", f.viewed_by_esp)
    _opt(root, "publiclyAvailable", f.publicly_available)
    if f.ai_confirmed:
        _el(_el(root, "fileAnnotations"), "generativeAi", "true")
    if industry_mou and f.industry_classification:
        _el(root, "industryClassification", f.industry_classification)
    _el(root, "originalFileHash", f.md5, hashType="MD5")
    _el(root, "originalFileHash", f.sha256, hashType="SHA256")
    if f.ip_event is not None:
        _ip_event(root, f.ip_event)
    if f.pdq:
        # PDQ is perceptual, not a hash of the original bytes (which originalFileHash is defined as): it goes
        # into the schema's HASH details instead, computed with the reference PDQ.
        d = _el(root, "details", type="HASH")
        nv = _el(d, "nameValuePair")
        _el(nv, "name", "PDQ")
        _el(nv, "value", f.pdq)
    _opt(root, "additionalInfo", f.additional_info)
    return _serialize(root)


def review_points(r: NcmecReportInput) -> list[str]:
    """What a person must still check before this report is sent (shown by ``bastion report ncmec``)."""
    points = []
    for f in r.files:
        if f.ai_suggested and not f.ai_confirmed:
            points.append(f"{f.filename}: provenance suggests AI generation; a reviewer has not confirmed it, so generativeAi is not set")
        if not f.viewed_by_esp:
            points.append(f"{f.filename}: not marked as viewed by a person at the ESP (hash match only)")
        if f.publicly_available is None:
            points.append(f"{f.filename}: publiclyAvailable is unknown")
        if f.blob_id is None:
            points.append(f"{f.filename}: no copy in the evidence vault; it cannot be uploaded")
    if r.reported_person is None:
        points.append("no reported user: the case has no account")
    elif not r.reported_person.ip_events:
        points.append("no IP capture events: the platform supplied none for this account")
    if not r.files:
        points.append("no files: the report carries no media")
    return points
