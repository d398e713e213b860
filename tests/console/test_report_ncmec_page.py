"""Reporting a confirmed case to NCMEC from the console (issue 19, point 4): the page offers it to the roles
the permission table allows, and calls the same flow as the API and the CLI. Against the loopback NCMEC
TEST server of tests/reports — never NCMEC. Benign demo data."""

from __future__ import annotations

import base64
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from ncmec_test_server import NcmecTestServer  # noqa: E402

KEY = base64.b64encode(bytes(range(7, 39))).decode()


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, csrf_of, _case
    sign_in, csrf_of, _case = helpers.sign_in, helpers.csrf_of, helpers.case


@pytest.fixture
def reporting(tmp_path, seeded_home, helpers):
    """A console server on a copy of the demo data, set up to report to the loopback NCMEC test server."""
    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings

    template, seeded = seeded_home
    home = tmp_path / "home"
    shutil.copytree(template, home)
    with NcmecTestServer() as ncmec:
        app = create_app(ServeSettings(
            home=home, database_url=f"sqlite:///{home / 'bastion.db'}", background=False, json_logs=False,
            vault_keys=f"k1:{KEY}", ncmec_url=ncmec.url, ncmec_username=ncmec.username,
            ncmec_password=ncmec.password, ncmec_reporter_email="tips@example.org",
            ncmec_reporter_first_name="Rae", platform_name="Example Art Site",
            profile_url="https://example.org/u/{handle}", item_url="https://example.org/p/{item}"))
        server, thread, url = helpers.start_server(app)
        try:
            yield helpers.Live(url, app, seeded, home), ncmec
        finally:
            server.should_exit = True
            thread.join(30)
            app.state.store.close()


def test_a_lead_reports_a_confirmed_case_to_ncmec_from_its_page_and_a_reviewer_cannot(needs_effects, reporting, browser, page):
    live, ncmec = reporting
    case_id = live.seed.cases[0]
    sign_in(page, live, "lead")
    page.goto(f"{live.console}/cases/{case_id}")
    assert page.locator("#report-ncmec").count() == 0  # not before a confirming decision
    page.keyboard.press("c")
    page.get_by_label("Violation category").select_option("csam")
    for action in ("remove", "report", "preserve"):
        page.get_by_role("checkbox", name=action, exact=True).check()
    page.get_by_role("button", name="Record decision").click()
    page.locator("#decide-result").filter(has_text="confirmed").wait_for()

    # a reviewer reads the case but is not offered the report, and a crafted request is refused
    ctx = browser.new_context()
    try:
        other = ctx.new_page()
        sign_in(other, live, "reviewer")
        other.goto(f"{live.console}/cases/{case_id}")
        assert other.locator("#report-ncmec").count() == 0
        r = other.request.post(f"{live.console}/cases/{case_id}/report-ncmec",
                               form={"csrf_token": csrf_of(other.content())})
        assert r.status == 403
    finally:
        ctx.close()
    assert ncmec.calls == []

    page.goto(f"{live.console}/cases/{case_id}")
    assert "Not reported." in page.locator("#ncmec").inner_text()
    page.locator("#report-ncmec button").click()
    page.wait_for_url(re.compile(rf"/console/cases/{case_id}\?reported=finished"))
    assert page.locator("#ncmec-state").inner_text() == "finished"
    assert page.locator("#report-ncmec").count() == 0  # sent once; not offered again
    case = _case(live, case_id)
    assert case["status"] == "reported"
    assert [r.state for r in ncmec.reports.values()] == ["finished"]
