"""The organisation's wellness floors, visible bidi controls, and what a user noticed on the case and admin
pages (issue 21: point 6 and "small things"), in Chromium against a live server with benign demo data."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, csrf_of, _case
    sign_in, csrf_of, _case = helpers.sign_in, helpers.csrf_of, helpers.case


def _prefs(live, name: str):
    from bastion.auth import service as auth
    from bastion.console import exposure

    with live.store.session() as s:
        return exposure.preferences(s, auth.get_user(s, name).id)


def _derivative_mode(page, live) -> str:
    page.goto(f"{live.console}/cases/{live.seed.cases[0]}")
    src = page.locator("figure.media img").first.get_attribute("src")
    return Image.open(io.BytesIO(page.request.get(live.url + src).body())).mode


# --- wellness floors ------------------------------------------------------------------------------


def test_a_reviewer_cannot_set_a_recognisable_view_below_the_organisations_floors(live, browser, page):
    sign_in(page, live, "reviewer")
    page.goto(live.console + "/preferences")
    token = csrf_of(page.content())
    # the form offers nothing below the floor, and a crafted request is refused
    offered = page.locator("#blur option").evaluate_all("os => os.map(o => o.value)")
    assert "1" not in offered and "default" in offered
    assert page.locator("#grayscale option[value=off]").count() == 0
    for form in ({"blur": "1"}, {"grayscale": "off"}, {"blur": "1", "grayscale": "off"}):
        r = page.request.post(live.console + "/preferences", form={"csrf_token": token, **form})
        assert r.status == 400, form
    p = _prefs(live, "reviewer")
    assert p.overridden == () and p.grayscale and p.blur == 6
    assert _derivative_mode(page, live) == "L"

    # an admin sets the policy: colour allowed, floor 2; then the reviewer may choose colour at blur 2
    ctx = browser.new_context()
    try:
        admin = ctx.new_page()
        sign_in(admin, live, "admin")
        admin.goto(live.console + "/admin/wellness")
        admin.get_by_label("Lowest blur a reviewer may choose").fill("2")
        admin.get_by_label("Reviewers may switch to colour").check()
        admin.get_by_role("button", name="Save defaults").click()
        admin.wait_for_load_state("networkidle")
        assert "saved" in admin.content()
        # a lead cannot: the floors are the organisation's, set by an admin
        lead_ctx = browser.new_context()
        try:
            lead = lead_ctx.new_page()
            sign_in(lead, live, "lead")
            lead.goto(live.console + "/admin/wellness")
            r = lead.request.post(live.console + "/admin/wellness",
                                  form={"csrf_token": csrf_of(lead.content()), "min_blur": "1", "reviewer_colour": "on"})
            assert r.status == 403
        finally:
            lead_ctx.close()
    finally:
        ctx.close()
    r = page.request.post(live.console + "/preferences", form={"csrf_token": token, "blur": "2", "grayscale": "off"})
    assert r.status == 200
    p = _prefs(live, "reviewer")
    assert (p.blur, p.grayscale) == (2, False)
    assert _derivative_mode(page, live) == "RGB"

    # the organisation raises its floors again: the reviewer's choice no longer holds, at once
    from bastion.console import exposure

    with live.store.session() as s, s.begin():
        exposure.set_org_defaults(s, {"min_blur": 5, "reviewer_colour": False})
    p = _prefs(live, "reviewer")
    assert (p.blur, p.grayscale, p.overridden) == (6, True, ())
    assert _derivative_mode(page, live) == "L"


def test_a_lead_cannot_extend_their_own_reveal_budget(needs_effects, live, page):
    from bastion.console import exposure

    with live.store.session() as s, s.begin():
        exposure.set_org_defaults(s, {"reveal_budget": 1})
    sign_in(page, live, "lead")
    page.goto(live.console + "/admin/wellness")
    own = page.locator("tr", has_text="lead (lead)")
    assert own.get_by_role("button", name="Extend").count() == 0 and "not your own" in own.inner_text()
    r = page.request.post(live.console + "/admin/wellness/lead/extend",
                          form={"csrf_token": csrf_of(page.content()), "extra": "50"})
    assert r.status == 403
    from bastion.auth import service as auth

    with live.store.session() as s, s.begin():
        st = exposure.budget_state(s, auth.get_user(s, "lead").id, _now())
    assert st.budget == 1
    # another reviewer's budget: still extendable by the lead
    r = page.request.post(live.console + "/admin/wellness/reviewer/extend",
                          form={"csrf_token": csrf_of(page.content()), "extra": "2"})
    assert r.status == 200


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


# --- bidi controls ------------------------------------------------------------------------------


def test_bidi_controls_in_names_and_texts_are_shown_not_obeyed(needs_effects, live, page):
    from bastion.cases.ingest import Upload
    from bastion.cases.schemas import ItemIn
    from bastion.console.demo import jpeg_bytes
    from bastion.demo import generated_pattern

    answer = live.service.submit(ItemIn(id="post-bidi", kind="post",
                                        account={"id": "acct-bidi", "handle": "shop\u202e1"},
                                        title="set \u2067one\u2069", body="see file \u202egpj.exe here"),
                                 [Upload("photo\u202egpj.exe", jpeg_bytes(generated_pattern(11), 75))])
    assert answer.get("case_id"), answer
    sign_in(page, live, "reviewer")
    page.goto(f"{live.console}/cases/{answer['case_id']}")
    text = page.locator("main").inner_text()
    assert "see file <U+202E>gpj.exe here" in text
    assert "set <U+2067>one<U+2069>" in text
    assert "@shop<U+202E>1" in text
    assert "photo<U+202E>gpj.exe" in text
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", text)


def test_templates_show_controls_in_plain_text_and_in_markup():
    from types import SimpleNamespace

    from markupsafe import Markup

    from bastion.console.web import Console

    env = Console(SimpleNamespace(store=None), "/console").env
    out = env.from_string("{{ a }}|{{ b|safe }}|{{ c }}|{{ d }}").render(
        a="x\u202ey", b=Markup("<mark>\u202e</mark>"), c="<b>\u200f", d=7)
    assert out == "x&lt;U+202E&gt;y|<mark>&lt;U+202E&gt;</mark>|&lt;b&gt;&lt;U+200F&gt;|7"


# --- small things -------------------------------------------------------------------------------


def test_after_a_decision_the_case_page_shows_the_new_state_and_the_account_suspended(needs_effects, live, page):
    case_id = next(c for c in live.seed.cases if (_case(live, c).get("account") or {}).get("status") == "active")
    sign_in(page, live, "lead")
    page.goto(f"{live.console}/cases/{case_id}")
    assert page.locator("#case-status").text_content() == "open"
    assert page.locator("#account-status").inner_text() == "active"
    page.evaluate("window.__same_page = 1")
    page.keyboard.press("c")
    page.get_by_role("checkbox", name="suspend account").check()
    page.get_by_role("checkbox", name="remove").check()
    page.get_by_role("button", name="Record decision").click()
    page.locator("#decide-result").filter(has_text="confirmed").wait_for()
    assert page.evaluate("window.__same_page") == 1
    assert page.locator("#case-status").text_content() == "decided"
    assert page.locator("#account-status").inner_text() == "suspended"
    case = _case(live, case_id)
    assert case["status"] == "decided" and case["account"]["status"] == "suspended"
    page.reload()
    assert page.locator("#case-status").text_content() == "decided"
    assert page.locator("#account-status").inner_text() == "suspended"


def test_a_confirm_with_no_action_is_refused(live, page):
    case_id = live.seed.cases[1]
    sign_in(page, live, "reviewer")
    page.goto(f"{live.console}/cases/{case_id}")
    page.keyboard.press("c")
    page.get_by_role("button", name="Record decision").click()
    page.locator("#decide-result").filter(has_text="at least one action").wait_for()
    assert not page.get_by_role("button", name="Record decision").is_disabled()  # the reviewer can fix it
    token = csrf_of(page.content())
    r = page.request.post(f"{live.console}/cases/{case_id}/decide", form={"csrf_token": token, "outcome": "confirm"})
    assert r.status == 400 and "at least one action" in r.text()
    r = page.request.post(f"{live.console}/cases/{case_id}/decide",
                          form={"csrf_token": token, "outcome": "confirm", "actions": "no-such-action"})
    assert r.status == 400
    assert _case(live, case_id)["decisions"] == []
    # a reject needs none
    r = page.request.post(f"{live.console}/cases/{case_id}/decide", form={"csrf_token": token, "outcome": "reject"})
    assert r.status == 200 and _case(live, case_id)["decisions"][-1]["outcome"] == "reject"


def test_the_new_user_form_has_no_default_role(needs_effects, live, page):
    from bastion.auth import service as auth

    sign_in(page, live, "admin")
    page.goto(live.console + "/admin/users")
    assert page.locator("#new-role").input_value() == ""
    page.get_by_label("Name", exact=True).fill("newcomer")
    page.get_by_role("button", name="Create user").click()  # the browser asks for a role first
    with live.store.session() as s:
        assert "newcomer" not in [u.name for u in auth.list_users(s)]
    r = page.request.post(live.console + "/admin/users", form={"csrf_token": csrf_of(page.content()), "name": "newcomer"})
    assert r.status == 400
    with live.store.session() as s:
        assert "newcomer" not in [u.name for u in auth.list_users(s)]
    page.get_by_label("Role", exact=True).select_option("reviewer")
    page.get_by_role("button", name="Create user").click()
    page.wait_for_load_state("networkidle")
    with live.store.session() as s:
        assert auth.get_user(s, "newcomer").role == "reviewer"
