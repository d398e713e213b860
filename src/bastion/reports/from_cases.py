"""The glue between the service's cases and decisions (:mod:`bastion.cases`) and the report builders, which
know nothing of the database: a decided case becomes an :class:`NcmecReportInput`, a decision one
:class:`StatementInput` per item, the decisions of a period :class:`DecisionRecord` rows for statistics, and
confirmed media :class:`ConfirmedMedia` for sharing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.cases.holding import MediaHolding
from bastion.cases.service import suspension_of
from bastion.cases.models import AccountRow, CaseItemRow, CaseRow, DecisionRow, ItemMediaRow, ItemRow
from bastion.errors import ConfigError, NotFound, ReportError, ReportStateError
from bastion.media.formats import VIDEO_FORMATS
from bastion.reports.dsa.builder import StatementInput
from bastion.reports.models import DsaStatementRow, NcmecReportRow
from bastion.reports.ncmec.model import IpCaptureEvent, NcmecFile, NcmecReportInput, Person, Reporter, ReportedPerson
from bastion.reports.sharing import ConfirmedMedia, reference_pdq
from bastion.reports.stats import DecisionRecord
from bastion.vault.models import VaultBlobRow
from bastion.vault.service import Vault
from bastion.clock import as_utc

if TYPE_CHECKING:
    from bastion.config import Settings

GENERATED_CATEGORIES = ("csam-generated",)


@dataclass(frozen=True)
class NcmecSettings:
    """Who reports and where: :meth:`from_settings` (see ``docs/reporting.md``)."""

    reporter: Reporter
    platform: str | None = None
    base_url: str = ""
    username: str = ""
    password: str = ""
    #: ``https://example.org/u/{handle}`` — {handle} and {account} are filled in
    profile_url: str | None = None
    #: ``https://example.org/p/{item}`` — where an item was on the platform
    item_url: str | None = None
    industry_mou: bool = False

    @classmethod
    def from_settings(cls, settings: "Settings") -> "NcmecSettings":
        """From the ``ncmec_*``, ``platform_name``, ``profile_url`` and ``item_url`` settings (the
        ``BASTION_NCMEC_*`` variables; ``docs/configuration.md``)."""
        from bastion.reports.ncmec.client import TEST_BASE_URL

        s = settings
        email, phone = s.ncmec_reporter_email, s.ncmec_reporter_phone
        if not (email or phone):
            raise ConfigError("set BASTION_NCMEC_REPORTER_EMAIL (or _PHONE): NCMEC needs to reach the reporting person")
        person = Person(s.ncmec_reporter_first_name, s.ncmec_reporter_last_name, email, phone)
        return cls(
            reporter=Reporter(person, company_template=s.ncmec_company, terms_of_service=s.ncmec_terms, legal_url=s.ncmec_legal_url),
            platform=s.platform_name,
            base_url=s.ncmec_url or TEST_BASE_URL,
            username=s.ncmec_username or "",
            password=s.ncmec_password.get_secret_value() if s.ncmec_password is not None else "",
            profile_url=s.profile_url,
            item_url=s.item_url,
            industry_mou=s.ncmec_industry_mou,
        )

    @classmethod
    def from_env(cls) -> "NcmecSettings":
        """:meth:`from_settings` of the process's settings (for a library caller; commands pass theirs)."""
        from bastion.config import Settings

        return cls.from_settings(Settings.from_env())


def latest_decision(s: Session, case_id: int) -> DecisionRow | None:
    return s.scalars(select(DecisionRow).where(DecisionRow.case_id == case_id).order_by(DecisionRow.id.desc())).first()


def _case_items(s: Session, case_id: int) -> list[ItemRow]:
    return list(
        s.scalars(select(ItemRow).join(CaseItemRow, CaseItemRow.item_id == ItemRow.id).where(CaseItemRow.case_id == case_id).order_by(ItemRow.id))
    )


def _media(s: Session, item_ids: list[int]) -> list[ItemMediaRow]:
    if not item_ids:
        return []
    return list(s.scalars(select(ItemMediaRow).where(ItemMediaRow.item_id.in_(item_ids)).order_by(ItemMediaRow.item_id, ItemMediaRow.position)))


def _confirmed_case(s: Session, case_id: int) -> tuple[CaseRow, DecisionRow]:
    case = s.get(CaseRow, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    d = latest_decision(s, case_id)
    if d is None or d.outcome != "confirm" or d.needs_second_look:
        raise ReportStateError(f"case {case_id} has no standing confirming decision; only confirmed cases are reported")
    return case, d


def preserve_case(s: Session, vault: Vault, holding: MediaHolding, case_id: int, *, actor: str, reason: str) -> list[VaultBlobRow]:
    """Copy the held media of a case into the evidence vault (sealed, with custody). Media already in the
    vault for the case are not copied twice; media whose bytes were not held cannot be preserved."""
    rows = []
    items = _case_items(s, case_id)
    by_id = {it.id: it for it in items}
    for m in _media(s, list(by_id)):
        if not m.sha256 or not holding.exists(m.sha256):
            continue
        rows.append(
            vault.preserve(s, holding.get(m.sha256), actor=actor, reason=reason, case_id=case_id, item_external_id=by_id[m.item_id].external_id, filename=m.filename)
        )
    return rows


def _provenance_says_ai(result: dict | None) -> bool:
    prov = (result or {}).get("provenance") or {}
    return bool(prov.get("provenances") or prov.get("c2pa") or (prov.get("watermark") or {}).get("found"))


def ncmec_input(
    s: Session, case_id: int, settings: NcmecSettings, *, ip_events: tuple[IpCaptureEvent, ...] = ()
) -> NcmecReportInput:
    """The report of a confirmed case, its files taken from the evidence vault (hashes and reference PDQ)."""
    case, d = _confirmed_case(s, case_id)
    items = _case_items(s, case_id)
    by_id = {it.id: it for it in items}
    blobs = {b.sha256: b for b in s.scalars(select(VaultBlobRow).where(VaultBlobRow.case_id == case_id, VaultBlobRow.purged_at.is_(None)))}
    person_decided = d.user_id is not None and not d.automated
    confirmed_ai = (d.category or case.category) in GENERATED_CATEGORIES
    files, seen = [], set()
    for m in _media(s, list(by_id)):
        if not m.sha256 or m.sha256 in seen:
            continue
        seen.add(m.sha256)
        it = by_id[m.item_id]
        blob = blobs.get(m.sha256)
        suggested = _provenance_says_ai(m.result)
        files.append(
            NcmecFile(
                filename=m.filename or f"{it.external_id}-{m.position}",
                sha256=m.sha256,
                md5=m.md5 or (blob.md5 if blob else ""),
                pdq=blob.pdq if blob else None,  # reference PDQ only; the fast-path hash of item_media never leaves
                blob_id=blob.id if blob else None,
                uploaded_at=as_utc(it.platform_created_at or it.received_at),
                location=settings.item_url.format(item=it.external_id) if settings.item_url else None,
                viewed_by_esp=person_decided,
                publicly_available=False if it.kind == "message" else None,
                ai_suggested=suggested,
                ai_confirmed=confirmed_ai and person_decided,
            )
        )
    account = s.get(AccountRow, case.account_id) if case.account_id else None
    kind = suspension_of(d)
    person = None
    if account is not None:
        urls = ()
        if settings.profile_url:
            urls = (settings.profile_url.format(handle=account.handle or account.external_id, account=account.external_id),)
        person = ReportedPerson(
            esp_identifier=account.external_id,
            screen_name=account.handle,
            profile_urls=urls,
            ip_events=tuple(ip_events),
            disabled_at=as_utc(d.created_at) if kind else None,
            reenabled_at=as_utc(d.created_at) + timedelta(days=d.suspension_days) if kind == "temporary" else None,
        )
    times = [as_utc(it.platform_created_at or it.received_at) for it in items] or [as_utc(case.opened_at)]
    urls = tuple(settings.item_url.format(item=it.external_id) for it in items) if settings.item_url else ()
    return NcmecReportInput(
        incident_at=min(times),
        reporter=settings.reporter,
        files=tuple(files),
        platform=settings.platform,
        urls=urls,
        reported_person=person,
        case_id=case_id,
        industry_mou=settings.industry_mou,
    )


def load_ip_events(path: Path | str) -> tuple[IpCaptureEvent, ...]:
    """IP capture events the platform supplies for the reported account: a JSON list of
    ``{"ip": ..., "event": "Login", "at": "2026-01-01T10:00:00Z", "port": 443, "possible_proxy": false}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return tuple(
            IpCaptureEvent(
                ip_address=e["ip"],
                event=e.get("event"),
                at=datetime.fromisoformat(e["at"].replace("Z", "+00:00")) if e.get("at") else None,
                possible_proxy=e.get("possible_proxy"),
                port=e.get("port"),
            )
            for e in data
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"{path}: not a list of IP capture events ({type(exc).__name__}: {exc})") from None


def statement_inputs(s: Session, since: datetime | None = None) -> list[StatementInput]:
    """One statement input per item of every decision since ``since`` that stands (no second look pending)."""
    q = select(DecisionRow).where(DecisionRow.needs_second_look.is_(False)).order_by(DecisionRow.id)
    if since is not None:
        q = q.where(DecisionRow.created_at >= since)
    out = []
    for d in s.scalars(q):
        if d.outcome != "confirm":
            continue
        case = s.get(CaseRow, d.case_id)
        items = _case_items(s, d.case_id)
        media = _media(s, [it.id for it in items])
        sources = tuple(x for x in (case.sources or "").split(",") if x)
        languages = [x for x in (case.languages or "").split(",") if x]
        for it in items:
            own = [m for m in media if m.item_id == it.id]
            basis, reasons = _basis(it, own, d)
            out.append(
                StatementInput(
                    decision_id=d.id,
                    case_id=d.case_id,
                    item_ref=it.external_id,
                    actions=tuple(d.actions or ()),
                    media=_media_kinds(it, own),
                    generated=(d.category or case.category) in GENERATED_CATEGORIES,
                    sources=sources,
                    decided_by_person=d.user_id is not None and not d.automated,
                    automated_action_first=case.automated_action is not None,
                    language=languages[0] if languages else None,
                    content_date=as_utc(it.platform_created_at or it.received_at).date(),
                    application_date=as_utc(d.created_at).date(),
                    basis=basis,
                    text_reasons=reasons,
                    suspension=suspension_of(d),
                    suspension_end=(as_utc(d.created_at) + timedelta(days=d.suspension_days)).date()
                    if suspension_of(d) == "temporary" else None,
                )
            )
    return out


MEDIA_SOURCES = ("hash", "provenance", "similarity")


def _basis(item: ItemRow, media: list[ItemMediaRow], d: DecisionRow) -> tuple[str, tuple[str, ...]]:
    """What a statement about ``item`` rests on, from the signals that fired for it: ``media`` when a hash
    match or provenance concerned its media, ``text`` when only text signals fired (an offer in words), and
    ``media`` when nothing fired but a person decided on an item with media (a notice, looked at)."""
    signals = ((item.facts or {}).get("signals") or [])
    sources = {s.get("source") for s in signals if isinstance(s, dict)}
    reasons = tuple((item.facts or {}).get("text_combinations") or ())
    if sources & set(MEDIA_SOURCES) or any((m.result or {}).get("matches") for m in media):
        return "media", reasons
    if "text" in sources or reasons:
        return "text", reasons
    return ("media" if media else "text"), reasons


def _media_kinds(item: ItemRow, media: list[ItemMediaRow]) -> tuple[str, ...]:
    kinds = []
    fmts = [m.media_format or "" for m in media]
    if any(f.lower() in VIDEO_FORMATS for f in fmts):
        kinds.append("video")
    if any(f and f.lower() not in VIDEO_FORMATS for f in fmts):
        kinds.append("image")
    if item.title or item.body or item.tags:
        kinds.append("text")
    return tuple(kinds)


def automated_removal_input(s: Session, item: ItemRow, case: CaseRow) -> StatementInput:
    """The statement input of an item the policy removed on its own, at the time of the removal
    (``automated_decision`` FULLY; no person has decided yet)."""
    media = _media(s, [item.id])
    basis, reasons = _basis(item, media, None)
    signals = ((item.facts or {}).get("signals") or [])
    sources = tuple(sorted({"hash" if x.get("source") == "hash" else x.get("source") for x in signals
                            if isinstance(x, dict) and x.get("source")})) or ("hash",)
    generated = any(x.get("category") in GENERATED_CATEGORIES for x in signals if isinstance(x, dict) and x.get("source") == "hash")
    languages = [x for x in (case.languages or "").split(",") if x]
    when = as_utc(item.received_at)
    return StatementInput(
        decision_id=0, case_id=case.id, item_ref=item.external_id, actions=("remove",), media=_media_kinds(item, media),
        generated=generated, sources=sources, decided_by_person=False, automated_action_first=True,
        language=languages[0] if languages else None, content_date=as_utc(item.platform_created_at or item.received_at).date(),
        application_date=when.date(), basis=basis, text_reasons=reasons, automated_removal=True,
    )


def decision_records(s: Session, since: datetime | None = None, until: datetime | None = None) -> list[DecisionRecord]:
    q = select(DecisionRow).order_by(DecisionRow.id)
    if since is not None:
        q = q.where(DecisionRow.created_at >= since)
    if until is not None:
        q = q.where(DecisionRow.created_at < until)
    decisions = list(s.scalars(q))
    reported = dict(
        s.execute(
            select(NcmecReportRow.case_id, func.min(NcmecReportRow.finished_at)).where(NcmecReportRow.state == "finished").group_by(NcmecReportRow.case_id)
        ).all()
    )
    with_statement = set(s.scalars(select(DsaStatementRow.decision_id).where(DsaStatementRow.decision_id.is_not(None))))
    out = []
    for d in decisions:
        case = s.get(CaseRow, d.case_id)
        cat = d.category or case.category
        out.append(
            DecisionRecord(
                decision_id=d.id,
                case_id=d.case_id,
                detected_at=as_utc(case.opened_at),
                decided_at=as_utc(d.created_at),
                outcome=d.outcome,
                category=cat,
                actions=tuple(d.actions or ()),
                sources=tuple(x for x in (case.sources or "").split(",") if x),
                automated=d.user_id is None or d.automated,
                reported_at=as_utc(reported.get(d.case_id)),
                generated=cat in GENERATED_CATEGORIES,
                statement=d.id in with_statement,
            )
        )
    return out


def confirmed_media(s: Session, holding: MediaHolding | None = None) -> tuple[list[ConfirmedMedia], int]:
    """Media of every case whose latest decision confirms it, with the reference PDQ (from the vault, or
    computed from the held bytes). Returns the media and how many images had no bytes left for a PDQ."""
    latest = select(DecisionRow.case_id, func.max(DecisionRow.id).label("d")).group_by(DecisionRow.case_id).subquery()
    decisions = list(s.scalars(select(DecisionRow).join(latest, DecisionRow.id == latest.c.d).order_by(DecisionRow.id)))
    out, without_pdq = [], 0
    for d in decisions:
        if d.outcome != "confirm" or d.needs_second_look:
            continue
        case = s.get(CaseRow, d.case_id)
        items = _case_items(s, d.case_id)
        for m in _media(s, [it.id for it in items]):
            if not m.sha256:
                continue
            blob = s.scalars(select(VaultBlobRow).where(VaultBlobRow.sha256 == m.sha256, VaultBlobRow.pdq.is_not(None))).first()
            pdq = blob.pdq if blob else None
            if pdq is None and m.pdq is not None:  # an image: compute the reference from the held bytes if any
                if holding is not None and holding.exists(m.sha256):
                    ref = reference_pdq(holding.get(m.sha256))
                    pdq = ref[0] if ref else None
                if pdq is None:
                    without_pdq += 1
            out.append(ConfirmedMedia(m.sha256, m.md5, pdq, d.category or case.category, d.id, d.case_id))
    return out, without_pdq
