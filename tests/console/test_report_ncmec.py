"""The console's "Report to NCMEC" action on a decided case: the same flow as the CLI and the API, for the
roles the permission table allows (a lead here; a reviewer sees no button and is refused). The loopback
NCMEC TEST server stands in for NCMEC; demo media are benign stand-ins."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from ncmec_test_server import NcmecTestServer  # noqa: E402

from bastion.auth.permissions import allowed  # noqa: E402

KEY = base64.b64encode(bytes(range(40, 72))).decode()


@pytest.fixture
def ncmec_env():
    with NcmecTestServer() as server:
        yield server


def configure(live, server) -> None:
    """The server's settings as an operator would give them (BASTION_NCMEC_*, BASTION_VAULT_KEYS)."""
    from pydantic import SecretStr

    st = live.app.state
    st.settings = st.settings.model_copy(update={
        "ncmec_url": server.url, "ncmec_username": server.username, "ncmec_password": SecretStr(server.password),
        "ncmec_reporter_email": "tips@example.org", "vault_keys": SecretStr(f"k1:{KEY}")})


def test_a_lead_reports_a_decided_case_from_the_console(ncmec_env, live, page, helpers):
    from bastion.auth.models import UserRow
    from bastion.cases import service as cases
    from bastion.cases.models import CaseRow

    with live.store.session() as s, s.begin():
        users = {u.name: u for u in s.query(UserRow)}
        lead = next(u for u in users.values() if u.role == "lead")
        reviewer = next(u for u in users.values() if u.role == "reviewer")
        case = next(c for c in s.query(CaseRow).order_by(CaseRow.id) if c.status == "open")
        case_id = case.id
        cases.decide(s, case_id, lead, "confirm", category="csam", actions=["remove", "report"])
    configure(live, ncmec_env)
    assert allowed("lead", "reports.submit") and not allowed("reviewer", "reports.submit")
    helpers.sign_in(page, live, reviewer.name)
    page.goto(f"{live.console}/cases/{case_id}")
    assert page.locator("#report-ncmec").count() == 0
    csrf = helpers.csrf_of(page.content())
    r = page.request.post(f"{live.console}/cases/{case_id}/report-ncmec", form={"csrf_token": csrf}, max_redirects=0)
    assert r.status == 403 and ncmec_env.calls == []
    page.context.clear_cookies()
    helpers.sign_in(page, live, lead.name)
    page.goto(f"{live.console}/cases/{case_id}")
    page.locator("#report-ncmec button").click()
    page.wait_for_url(f"**/cases/{case_id}?reported=finished")
    assert "This case is reported" in page.content()
    (remote,) = ncmec_env.reports.values()
    assert remote.state == "finished" and len(remote.files) >= 1
    with live.store.session() as s:
        assert s.get(CaseRow, case_id).status == "reported"
