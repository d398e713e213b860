"""Routes over bastion.reports.flows: a case's CyberTipline report and DSA statements of reasons. Thin, as
every route: the CLI (`bastion report`) and the console call the same functions. Plain ``def`` handlers, so
the database, the vault and the calls to NCMEC run in the thread pool, never on the event loop."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from bastion.api.deps import Principal, require
from bastion.reports import flows
from bastion.clock import as_utc

router = APIRouter()


class IpEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip: str = Field(max_length=64)
    event: str | None = Field(default=None, max_length=32)
    at: datetime | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    possible_proxy: bool | None = None


class NcmecSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip_events: list[IpEventIn] = Field(default_factory=list, max_length=100)


class NcmecResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: NCMEC's report id of an interrupted submission that arrived (none: nothing arrived)
    report_id: int | None = Field(default=None, ge=1)
    #: NCMEC's file id of an interrupted upload that arrived (none: upload it again)
    file_id: str | None = Field(default=None, max_length=200)


class DsaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: datetime | None = None
    #: also send the pending statements (needs reports.submit)
    submit: bool = False


def _events(body: NcmecSendIn | None):
    from bastion.reports.ncmec.model import IpCaptureEvent

    return tuple(
        IpCaptureEvent(ip_address=e.ip, event=e.event, at=e.at, possible_proxy=e.possible_proxy, port=e.port)
        for e in (body.ip_events if body else ())
    )


def ncmec_context(app_state) -> flows.NcmecContext:
    """Reporter settings, vault and holding folder of this server (the console uses it too)."""
    from bastion.reports.from_cases import NcmecSettings
    from bastion.vault import Vault

    settings = app_state.settings  # built once when the server started
    factory = getattr(app_state, "ncmec_client", None)  # tests point it at the loopback test server
    return flows.NcmecContext(NcmecSettings.from_settings(settings), Vault.from_settings(settings), app_state.service.holding,
                              factory)


@router.get("/v1/cases/{case_id}/reports/ncmec")
def ncmec_draft(case_id: int, request: Request, p: Principal = Depends(require("reports.read"))):
    """The report the case would make (summary and what a person must check) and the state of any report
    sent before. Sends nothing."""
    store = request.app.state.store
    flows.require_case(store, case_id)
    from bastion.reports.from_cases import NcmecSettings

    return flows.ncmec_draft(store, case_id, p, NcmecSettings.from_settings(request.app.state.settings)).summary()


@router.post("/v1/cases/{case_id}/reports/ncmec")
def ncmec_send(case_id: int, request: Request, body: NcmecSendIn | None = None,
               p: Principal = Depends(require("reports.submit"))):
    """Send (or resume) the CyberTipline report of a confirmed case: the case's media are sealed into the
    vault, the report submitted, uploaded, described and finished; the answer is the report's state."""
    store = request.app.state.store
    flows.require_case(store, case_id)
    return flows.report_case_ncmec(store, ncmec_context(request.app.state), case_id, p, ip_events=_events(body))


@router.post("/v1/cases/{case_id}/reports/ncmec:retract")
def ncmec_retract(case_id: int, request: Request, p: Principal = Depends(require("reports.submit"))):
    store = request.app.state.store
    flows.require_case(store, case_id)
    return flows.retract_case_ncmec(store, ncmec_context(request.app.state), case_id, p)


@router.post("/v1/cases/{case_id}/reports/ncmec:resolve")
def ncmec_resolve(case_id: int, request: Request, body: NcmecResolveIn | None = None,
                  p: Principal = Depends(require("reports.submit"))):
    """Settle a report stuck between two states (see docs/reporting.md)."""
    store = request.app.state.store
    flows.require_case(store, case_id)
    body = body or NcmecResolveIn()
    return flows.resolve_case_ncmec(store, ncmec_context(request.app.state), case_id, p, report_id=body.report_id,
                                    file_id=body.file_id)


@router.post("/v1/reports/dsa")
def dsa(request: Request, body: DsaIn | None = None, p: Principal = Depends(require("reports.read"))):
    """Make (and keep) the statements of reasons of every standing restricting decision since ``since``;
    with ``submit`` (reports.submit) send the pending ones to the configured endpoint."""
    body = body or DsaIn()
    since = as_utc(body.since)
    settings = request.app.state.settings
    res = flows.report_dsa(
        request.app.state.store, p, since=since, submit=body.submit, reference_url=settings.dsa_terms_url,
        endpoint=settings.dsa_endpoint, token=settings.dsa_token.get_secret_value() if settings.dsa_token else None,
    )
    return {"statements": res.statements, "submitted": res.submitted}
