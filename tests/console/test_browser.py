"""The console in a real browser (Debian's Chromium driven by Playwright) against a real server on
127.0.0.1 with SQLite, seeded with benign demo cases (generated patterns, placeholder texts)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select



@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, csrf_of, _case, _audit
    sign_in, csrf_of, _case, _audit = helpers.sign_in, helpers.csrf_of, helpers.case, helpers.audit


def _detail(data: bytes) -> float:
    a = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(a, axis=1)).mean())


def test_sign_in_and_work_the_queue_by_priority_with_filters(live, page, shots):
    page.goto(live.console + "/queue")
    assert "/console/login" in page.url  # not signed in: sent to the sign-in page
    sign_in(page, live, "reviewer")
    assert page.url.endswith("/console/queue")
    ids = [int(x) for x in page.locator("table.cases tbody tr").evaluate_all("rs => rs.map(r => r.dataset.case)")]
    rows = page.locator("table.cases tbody tr")
    prios = [int(rows.nth(i).locator(".prio").inner_text()) for i in range(rows.count())]
    assert len(ids) == len(live.seed.cases) >= 4
    assert prios == sorted(prios, reverse=True)
    # equal priority: oldest (lowest id) first
    for (p1, i1), (p2, i2) in zip(zip(prios, ids), zip(prios[1:], ids[1:])):
        if p1 == p2:
            assert i1 < i2
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    # counts per filter, and a filter narrows the queue to its count
    bank_link = page.locator(".filters a", has_text="partner-list")
    count = int(bank_link.locator("xpath=../span[@class='count']").inner_text())
    bank_link.click()
    page.wait_for_load_state("networkidle")
    assert "bank=partner-list" in page.url
    assert page.locator("table.cases tbody tr[data-case]").count() == count == 1
    page.locator(".filters a", has_text="acct-aurora").click()  # filters combine
    assert page.locator("table.cases tbody tr[data-case]").count() == 0

    # "n" claims the most urgent case and opens it
    page.goto(live.console + "/queue")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/console/cases/\d+$"))
    first = int(page.url.rsplit("/", 1)[1])
    assert first == ids[0]
    assert "You hold this case" in page.content()
    assert _case(live, first)["claimed_by"] == "reviewer"


def test_media_is_blurred_until_revealed_and_a_reveal_is_logged_and_counted(needs_effects, live, page, shots):
    sign_in(page, live, "reviewer")
    case_id = live.seed.cases[0]
    page.goto(f"{live.console}/cases/{case_id}")
    img = page.locator("figure.media img").first
    img.wait_for()
    src = img.get_attribute("src")
    assert src.endswith("/safe") and "blob:" not in src
    sha = page.locator("figure.media").first.get_attribute("data-sha")
    original = live.service.holding.get(sha)

    safe = page.request.get(live.url + src)
    assert safe.status == 200 and safe.headers["content-type"] == "image/jpeg"
    assert "no-store" in safe.headers["cache-control"]
    derivative = Image.open(io.BytesIO(safe.body()))
    assert derivative.mode == "L"  # grayscale by default
    assert max(derivative.size) <= 480
    # blurred: far less detail than the original scaled to the same size
    reference = Image.open(io.BytesIO(original)).convert("L").resize(derivative.size)
    buf = io.BytesIO()
    reference.save(buf, format="PNG")
    assert _detail(safe.body()) < _detail(buf.getvalue()) / 3
    # the browser really shows a loaded, grayscale derivative
    assert page.evaluate("el => el.complete && el.naturalWidth > 0", img.element_handle())
    page.screenshot(path=str(shots / "case-blurred.png"), full_page=True)

    assert _audit(live, "media.reveal") == []
    page.keyboard.press("v")
    page.wait_for_function("() => document.querySelector('figure.media img').src.startsWith('blob:')")
    assert page.locator("#budget-used").inner_text() == "1"
    page.wait_for_function("() => { const i = document.querySelector('figure.media img'); "
                           "return i.complete && i.naturalWidth > 0; }")
    # what the browser shows now: read its pixels back through a canvas
    w, h, rgba = page.evaluate("""() => {
        const img = document.querySelector('figure.media img');
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data)];
    }""")
    shown = Image.frombytes("RGBA", (w, h), bytes(rgba)).convert("RGB")
    arr = np.asarray(shown, dtype=np.int16)
    assert np.abs(arr[..., 0] - arr[..., 1]).mean() > 5  # colour, not the grayscale derivative
    # the original's pixels (re-encoded), at its own size: not blurred, not downscaled
    orig = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"), dtype=np.int16)
    assert arr.shape == orig.shape
    assert np.abs(arr - orig).mean() < 4
    page.screenshot(path=str(shots / "case-revealed.png"), full_page=True)

    entries = _audit(live, "media.reveal")
    assert len(entries) == 1
    assert entries[0]["actor"] == "reviewer" and entries[0]["target_id"] == str(case_id)
    assert entries[0]["details"]["sha256"] == sha and entries[0]["details"]["used"] == 1
    from bastion.console.models import ConsoleRevealRow

    with live.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsoleRevealRow)) == 1
    # a reload shows the derivative again: a reveal is for one look
    page.reload()
    assert page.locator("figure.media img").first.get_attribute("src").endswith("/safe")


def test_media_needs_the_session_and_originals_need_a_csrf_post(needs_effects, live, browser, page):
    sign_in(page, live, "reviewer")
    case_id = live.seed.cases[0]
    page.goto(f"{live.console}/cases/{case_id}")
    src = page.locator("figure.media img").first.get_attribute("src")
    reveal = page.locator("button.reveal").first.get_attribute("data-reveal")
    # another browser without the session cookie gets nothing
    other = browser.new_context()
    try:
        r = other.request.get(live.url + src)
        assert r.status == 401 and r.headers["content-type"].startswith("application/json")
        r = other.request.post(live.url + reveal)
        assert r.status == 401
    finally:
        other.close()
    # with the session: no GET route to an original, and a POST without the token is refused
    assert page.request.get(live.url + reveal).status == 405
    r = page.request.post(live.url + reveal)
    assert r.status == 403
    assert _audit(live, "media.reveal") == []


def test_csrf_less_posts_are_refused_and_change_nothing(live, page):
    sign_in(page, live, "reviewer")
    case_id = live.seed.cases[1]
    page.goto(f"{live.console}/cases/{case_id}")
    token = csrf_of(page.content())
    for headers, form in (
        ({}, {}),                                             # no token at all
        ({}, {"csrf_token": "not-the-token"}),                # a wrong token
        ({"Origin": "http://evil.example"}, {"csrf_token": token}),  # the right token from another site
    ):
        r = page.request.post(f"{live.console}/cases/{case_id}/claim", form=form, headers=headers)
        assert r.status == 403, (headers, form)
        r = page.request.post(f"{live.console}/cases/{case_id}/decide",
                              form={**form, "outcome": "confirm"}, headers=headers)
        assert r.status == 403
    case = _case(live, case_id)
    assert case["claimed_by"] is None and case["status"] == "open" and case["decisions"] == []
    # the same claim with the token works (the refusals were the token's doing)
    r = page.request.post(f"{live.console}/cases/{case_id}/claim", form={"csrf_token": token})
    assert r.status == 200 and _case(live, case_id)["claimed_by"] == "reviewer"
    # sign-in without the sign-in form's token is refused too
    r = page.request.post(f"{live.console}/login", form={"name": "reviewer", "password": live.seed.users["reviewer"]})
    assert r.status == 403


def test_a_reviewer_cannot_open_admin_pages(live, page):
    sign_in(page, live, "reviewer")
    assert page.get_by_role("link", name="Admin").count() == 0
    for path in ("/admin", "/admin/users", "/admin/audit", "/admin/webhooks", "/admin/wellness"):
        resp = page.goto(live.console + path)
        assert resp.status == 403, path
        assert "may not" in page.content() or "only leads" in page.content() or "no admin" in page.content()
    r = page.request.post(live.console + "/admin/users",
                          form={"csrf_token": csrf_of(page.content() if "csrf" in page.content() else _fresh(page, live)),
                                "name": "intruder", "role": "admin", "password": "x" * 16})
    assert r.status == 403
    from bastion.auth import service as auth

    with live.store.session() as s:
        assert "intruder" not in [u.name for u in auth.list_users(s)]


def _fresh(page, live) -> str:
    page.goto(live.console + "/queue")
    return page.content()


def test_another_reviewers_claim_is_never_opened_unknowingly(live, browser, page, shots):
    sign_in(page, live, "reviewer2")
    page.goto(live.console + "/queue")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/console/cases/\d+$"))
    held = int(page.url.rsplit("/", 1)[1])

    ctx = browser.new_context()
    try:
        other = ctx.new_page()
        sign_in(other, live, "reviewer")
        row = other.locator(f"table.cases tr[data-case='{held}']")
        assert "reviewer2" in row.inner_text()
        resp = other.goto(f"{live.console}/cases/{held}")
        assert resp.status == 409
        assert "is being worked by reviewer2" in other.content()
        other.screenshot(path=str(shots / "claimed.png"))
        other.get_by_role("link", name=re.compile("Open read-only")).click()
        other.wait_for_load_state("networkidle")
        assert "reviewer2 holds this case" in other.content()
        assert other.locator("form#decide").count() == 0  # no decision form on someone else's case
        # "next" skips the held case
        other.goto(live.console + "/queue")
        other.keyboard.press("n")
        other.wait_for_url(re.compile(r"/console/cases/\d+$"))
        assert int(other.url.rsplit("/", 1)[1]) != held
        # a crafted decision on the held case is refused and records nothing
        token = csrf_of(other.content())
        r = other.request.post(f"{live.console}/cases/{held}/decide",
                               form={"csrf_token": token, "outcome": "reject"})
        assert r.status == 409
        assert _case(live, held)["decisions"] == []
    finally:
        ctx.close()
