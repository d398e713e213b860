"""Issue 21 leftover: decisions carry a suspension kind and length (and reports follow them), and now the
console's decision form sets them too — a temporary suspension for a number of days, or a permanent one — and
the case page says which suspension the account is under. Chromium on a real server (demo data)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, csrf_of, _case
    sign_in, csrf_of, _case = helpers.sign_in, helpers.csrf_of, helpers.case


def _active_account_cases(live) -> list[int]:
    return [c for c in live.seed.cases if (_case(live, c).get("account") or {}).get("status") == "active"]


def test_a_temporary_suspension_is_chosen_on_the_form_recorded_and_shown(needs_effects, live, page, shots):
    case_id = _active_account_cases(live)[0]
    sign_in(page, live, "lead")
    page.goto(f"{live.console}/cases/{case_id}")
    assert page.locator("#account-suspension").inner_text() == ""
    page.keyboard.press("c")
    page.get_by_role("checkbox", name="suspend account").check()
    page.get_by_role("checkbox", name="remove").check()
    page.get_by_role("radio", name="temporary").check()
    page.get_by_label("Suspension length in days").fill("30")
    page.get_by_role("button", name="Record decision").click()
    page.locator("#decide-result").filter(has_text="confirmed").wait_for()
    assert page.locator("#account-status").inner_text() == "suspended"
    assert page.locator("#account-suspension").inner_text().startswith("(temporary, 30 day(s), until ")
    decision = _case(live, case_id)["decisions"][-1]
    assert (decision["suspension"], decision["suspension_days"]) == ("temporary", 30)
    page.reload()
    assert "temporary, 30 day(s)" in page.locator("#account-suspension").inner_text()
    assert "(suspension: temporary, 30 day(s))" in page.locator("section.history").inner_text()
    page.screenshot(path=str(shots / "suspension.png"))


def test_the_form_default_is_permanent_and_wrong_combinations_are_refused(needs_effects, live, page):
    first, second = _active_account_cases(live)[:2]
    sign_in(page, live, "lead")
    page.goto(f"{live.console}/cases/{first}")
    token = csrf_of(page.content())
    url = f"{live.console}/cases/{first}/decide"
    base = {"csrf_token": token, "outcome": "confirm", "actions": "suspend_account"}
    for form, message in (
        ({**base, "suspension": "temporary"}, "needs its length"),
        ({**base, "suspension": "temporary", "suspension_days": "ten"}, "whole number of days"),
        ({**base, "suspension": "temporary", "suspension_days": "0"}, "between 1 and 3650"),
        ({**base, "suspension": "permanent", "suspension_days": "30"}, "permanent suspension has no length"),
        ({"csrf_token": token, "outcome": "confirm", "actions": "remove", "suspension": "temporary",
          "suspension_days": "30"}, "needs the suspend_account action"),
    ):
        r = page.request.post(url, form=form, headers={"X-CSRF-Token": token})
        assert r.status == 400 and message in r.json()["error"], (form, r.text())
    assert _case(live, first)["decisions"] == []  # nothing recorded by the refusals
    # the form's default kind with suspend_account: permanent, no length
    r = page.request.post(url, form={**base, "suspension": "permanent"}, headers={"X-CSRF-Token": token})
    assert r.status == 200 and r.json()["suspension"] == "permanent"
    assert (_case(live, first)["decisions"][-1]["suspension"], _case(live, first)["decisions"][-1]["suspension_days"]) == ("permanent", None)
    # the default kind without suspend_account means nothing: no suspension
    page.goto(f"{live.console}/cases/{second}")
    r = page.request.post(f"{live.console}/cases/{second}/decide", headers={"X-CSRF-Token": token},
                          form={"csrf_token": token, "outcome": "confirm", "actions": "remove", "suspension": "permanent"})
    assert r.status == 200, r.text()
    assert _case(live, second)["decisions"][-1]["suspension"] is None
