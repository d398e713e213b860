"""Reports as services: the NCMEC and DSA flows that the CLI (``bastion report``), the API
(``/v1/cases/{id}/reports/ncmec``, ``/v1/reports/dsa``) and the console all call. No caller holds SQL of its
own or decides who may report: every function here takes the acting person (``actor`` with ``.name`` and
``.role``) and asks the one permission table (:mod:`bastion.auth.permissions`) before it does anything.

* ``reports.read`` — see a case's draft report, its review points and the state of a report sent before;
  make and list DSA statements of reasons.
* ``reports.submit`` — send: submit/resume, retract and resolve a CyberTipline report; submit statements.

What sending a case does, in order (each step committed before the next, see :mod:`bastion.reports.ncmec.flow`):
the case's media are sealed into the vault (custody names the actor), the report is built from the case's
standing confirming decision, stored as a draft, sent, and on ``finished`` the case becomes ``reported`` and
its evidence is kept one retention period from the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol, Sequence

from sqlalchemy import select

from bastion.auth.permissions import allowed
from bastion.cases.holding import MediaHolding
from bastion.errors import ConfigError, Forbidden, NotFound, ReportStateError
from bastion.reports import from_cases
from bastion.reports.models import NcmecReportRow
from bastion.reports.ncmec import flow
from bastion.reports.ncmec.client import NcmecClient
from bastion.reports.ncmec.model import IpCaptureEvent, NcmecReportInput
from bastion.reports.ncmec.xml import build_report_xml, review_points
from bastion.store.db import Store
from bastion.vault.service import Vault

#: report states after which a case may be reported afresh (nothing is open at NCMEC)
CLOSED_STATES = ("retracted", "expired")


class Actor(Protocol):
    name: str
    role: str


def check(actor: Actor, action: str) -> None:
    """Raise :class:`Forbidden` unless the one permission table lets ``actor`` do ``action``."""
    if actor is None or not allowed(getattr(actor, "role", None), action):
        who = getattr(actor, "name", None) or "nobody"
        raise Forbidden(f"{who} (role {getattr(actor, 'role', None)!r}) may not {action}")


@dataclass
class NcmecContext:
    """What sending needs, built once by the caller: reporter settings, the vault, the holding folder and a
    way to open a client (tests pass one that talks to the loopback test server)."""

    settings: from_cases.NcmecSettings
    vault: Vault
    holding: MediaHolding | None = None
    client: Callable[[], NcmecClient] | None = None

    def open_client(self) -> NcmecClient:
        if self.client is not None:
            return self.client()
        s = self.settings
        return NcmecClient(s.base_url, s.username, s.password)


@dataclass(frozen=True)
class NcmecDraft:
    report: NcmecReportInput
    points: tuple[str, ...]
    current: dict | None = None

    def summary(self) -> dict:
        p = self.report.reported_person
        return {
            "case_id": self.report.case_id,
            "files": len(self.report.files),
            "reported_user": p.esp_identifier if p else None,
            "check": list(self.points),
            "report": self.current,
        }


def open_report(session, case_id: int) -> NcmecReportRow | None:
    """The case's report that is not closed (retracted or expired), newest first."""
    return session.scalars(
        select(NcmecReportRow)
        .where(NcmecReportRow.case_id == case_id, NcmecReportRow.state.not_in(CLOSED_STATES))
        .order_by(NcmecReportRow.id.desc())
    ).first()


def ncmec_state(store: Store, case_id: int, actor: Actor) -> dict | None:
    """The state of the case's current report (or of its last closed one); None when never reported."""
    check(actor, "reports.read")
    with store.session() as s:
        row = open_report(s, case_id) or s.scalars(
            select(NcmecReportRow).where(NcmecReportRow.case_id == case_id).order_by(NcmecReportRow.id.desc())
        ).first()
        row_id = row.id if row is not None else None
    return flow.report_state(store, row_id) if row_id is not None else None


def ncmec_draft(
    store: Store, case_id: int, actor: Actor, settings: from_cases.NcmecSettings, *, ip_events: Sequence[IpCaptureEvent] = ()
) -> NcmecDraft:
    """The report a confirmed case would make, validated against the schema, with what a person must check
    before sending. Sends nothing, preserves nothing."""
    check(actor, "reports.read")
    with store.session() as s:
        report = from_cases.ncmec_input(s, case_id, settings, ip_events=tuple(ip_events))
    build_report_xml(report)  # validates the values
    return NcmecDraft(report, tuple(review_points(report)), ncmec_state(store, case_id, actor))


def report_case_ncmec(store: Store, ctx: NcmecContext, case_id: int, actor: Actor, *, ip_events: Sequence[IpCaptureEvent] = ()) -> dict:
    """Send (or resume sending) the CyberTipline report of a confirmed case; returns the report's state."""
    check(actor, "reports.submit")
    with store.session() as s, s.begin():
        if ctx.holding is not None:
            from_cases.preserve_case(s, ctx.vault, ctx.holding, case_id, actor=actor.name, reason=f"NCMEC report of case {case_id}")
        report = from_cases.ncmec_input(s, case_id, ctx.settings, ip_events=tuple(ip_events))
        row = open_report(s, case_id)
        if row is None or row.state == "draft":
            if row is not None:
                s.delete(row)
                s.flush()
            row = flow.create_report(s, report, created_by=actor.name, base_url=ctx.settings.base_url)
        row_id = row.id

    def read_file(f):
        with store.session() as s, s.begin():
            return ctx.vault.read(s, f.blob_id, actor=actor.name, role=actor.role, reason=f"upload to NCMEC, case {case_id}")

    with ctx.open_client() as client:
        flow.send(store, row_id, client, read_file, on_finished=lambda row: _finished(store, ctx.vault, case_id, row, actor.name))
    return flow.report_state(store, row_id)


def _finished(store: Store, vault: Vault, case_id: int, row: NcmecReportRow, actor: str) -> None:
    from bastion.cases.models import CaseRow
    from bastion.cases.service import set_status

    with store.session() as s, s.begin():
        vault.mark_reported(s, actor=actor, reported_at=row.finished_at, case_id=case_id)
        case = s.get(CaseRow, case_id)
        if case is not None and case.status == "decided":
            set_status(s, case, "reported", actor=actor)


def _current(store: Store, case_id: int, what: str) -> int:
    with store.session() as s:
        row = open_report(s, case_id)
        if row is None:
            raise NotFound(f"case {case_id} has no open NCMEC report to {what}")
        return row.id


def retract_case_ncmec(store: Store, ctx: NcmecContext, case_id: int, actor: Actor) -> dict:
    """Retract the case's opened, unfinished report (asked again after a lost answer: NCMEC's "already
    retracted" counts as done)."""
    check(actor, "reports.submit")
    row_id = _current(store, case_id, "retract")
    with ctx.open_client() as client:
        flow.retract(store, row_id, client)
    return flow.report_state(store, row_id)


def resolve_case_ncmec(
    store: Store, ctx: NcmecContext, case_id: int, actor: Actor, *, report_id: int | None = None, file_id: str | None = None
) -> dict:
    """Settle a report stuck between two states, whichever it is (see :func:`flow.resolve`)."""
    check(actor, "reports.submit")
    row_id = _current(store, case_id, "resolve")
    flow.resolve(store, row_id, report_id=report_id, file_id=file_id, open_client=ctx.open_client,
                 on_finished=lambda row: _finished(store, ctx.vault, case_id, row, actor.name))
    return flow.report_state(store, row_id)


# --- DSA statements of reasons ---------------------------------------------------------------------


@dataclass
class DsaResult:
    statements: list[dict] = field(default_factory=list)
    submitted: dict[str, Any] | None = None


def dsa_statements(store: Store, actor: Actor, *, since: datetime | None = None, reference_url: str | None = None) -> list[dict]:
    """Make (and keep) a statement of reasons for each item of every standing restricting decision since
    ``since``; returns them. Making the same statement again returns the one kept (same puid)."""
    from bastion.reports.dsa import service
    from bastion.reports.dsa.builder import DsaConfig, build_statement

    check(actor, "reports.read")
    cfg = DsaConfig(reference_url=reference_url)
    out = []
    with store.session() as s, s.begin():
        for inp in from_cases.statement_inputs(s, since):
            st = build_statement(inp, cfg)
            if st is not None:
                service.record_statement(s, st, decision_id=inp.decision_id, case_id=inp.case_id)
                out.append(st)
    return out


def automated_removal_statement(reference_url: str | None = None):
    """The hook the service calls in an item's transaction when the policy removed the item on its own: the
    DSA statement of reasons is made and kept then, not only after a person decides."""
    from bastion.reports.dsa import service
    from bastion.reports.dsa.builder import DsaConfig, build_statement

    cfg = DsaConfig(reference_url=reference_url)

    def hook(session, item, case) -> None:
        st = build_statement(from_cases.automated_removal_input(session, item, case), cfg)
        if st is not None:
            service.record_statement(session, st, decision_id=None, case_id=case.id)

    return hook


def submit_dsa(store: Store, actor: Actor, *, endpoint: str | None, token: str | None, client=None) -> dict:
    """Send every pending statement, 100 a call; returns the counts."""
    from bastion.reports.dsa import service

    check(actor, "reports.submit")
    if client is None:
        if not endpoint or not token:
            raise ConfigError("set BASTION_DSA_ENDPOINT and BASTION_DSA_TOKEN to submit statements")
        client = service.DsaClient(endpoint, token)
        try:
            return service.submit_pending(store, client, since=None)
        finally:
            client.close()
    return service.submit_pending(store, client, since=None)


def report_dsa(
    store: Store, actor: Actor, *, since: datetime | None = None, submit: bool = False, reference_url: str | None = None,
    endpoint: str | None = None, token: str | None = None,
) -> DsaResult:
    """What ``bastion report dsa`` and ``POST /v1/reports/dsa`` do: make the statements, and with ``submit``
    send the pending ones. The permission to send is checked before anything is made."""
    if submit:
        check(actor, "reports.submit")
    res = DsaResult(dsa_statements(store, actor, since=since, reference_url=reference_url))
    if submit:
        res.submitted = submit_dsa(store, actor, endpoint=endpoint, token=token)
    return res


def require_case(store: Store, case_id: int) -> None:
    from bastion.cases.models import CaseRow

    with store.session() as s:
        if s.get(CaseRow, case_id) is None:
            raise NotFound(f"no case {case_id}")


__all__ = [
    "Actor", "CLOSED_STATES", "DsaResult", "NcmecContext", "NcmecDraft", "check", "dsa_statements", "ncmec_draft",
    "ncmec_state", "open_report", "report_case_ncmec", "report_dsa", "require_case", "resolve_case_ncmec",
    "retract_case_ncmec", "submit_dsa", "ReportStateError",
]
