"""Reporting a confirmed case to NCMEC from its page. The console holds no report logic: it calls the same
flow as the API and the CLI (:func:`bastion.reports.flows.report_case_ncmec`), which checks the permission
table (``reports.submit``), seals the case's media into the vault, sends and records every step."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request

from bastion.api.routes_reports import ncmec_context
from bastion.console.web import ConsoleDep, FormDep, Refused
from bastion.errors import BastionError, ConfigError, Forbidden, NotFound
from bastion.reports import flows

router = APIRouter()


@router.post("/cases/{case_id}/report-ncmec")
def report_ncmec(request: Request, c: ConsoleDep, form: FormDep, case_id: int):
    v = c.actor(request, form, "reports.submit")
    try:
        flows.require_case(c.store, case_id)
        state = flows.report_case_ncmec(c.store, ncmec_context(c.ctx), case_id, v)
    except Forbidden as exc:
        raise Refused(403, str(exc)) from None
    except NotFound as exc:
        raise Refused(404, str(exc)) from None
    except ConfigError as exc:
        raise Refused(503, f"reporting to NCMEC is not set up on this server: {exc}") from None
    except BastionError as exc:
        raise Refused(409, f"the report was not sent: {exc}") from None
    return c.redirect(f"/cases/{case_id}?reported=" + quote(str(state.get("state"))))

