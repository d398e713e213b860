"""Likeness to confirmed material on the case page (issue 24, point 3): a real server on a copy of the demo
data, a benign generated pattern confirmed by a reviewer, a re-cropped, colour-changed copy of it posted by the
same account; Chromium shows the confirmed case it is near, the distance and the account relation, labelled as
not a match."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, start_server, Live
    sign_in, start_server, Live = helpers.sign_in, helpers.start_server, helpers.Live


def test_the_case_page_shows_the_confirmed_case_an_image_is_near(seeded_home, tmp_path, page, shots):
    from PIL import ImageEnhance
    from sqlalchemy import select

    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings
    from bastion.auth.models import UserRow
    from bastion.cases import service as cases
    from bastion.cases.ingest import Upload
    from bastion.cases.schemas import ItemIn
    from bastion.console.demo import jpeg_bytes
    from bastion.demo import generated_pattern

    template, seeded = seeded_home
    home = tmp_path / "home"
    shutil.copytree(template, home)
    app = create_app(ServeSettings(home=home, database_url=f"sqlite:///{home / 'bastion.db'}", background=False,
                                   json_logs=False))
    server, thread, url = start_server(app)
    live = Live(url, app, seeded, home)
    try:
        base = generated_pattern(31)
        w, h = base.size
        member = ImageEnhance.Color(base.crop((10, 8, w - 12, h - 6)).resize((w, h))).enhance(1.3)
        first = live.service.submit(
            ItemIn(id="post-9101", kind="post", account={"id": "acct-series", "handle": "series"}, body="teen nsfw"),
            [Upload("post-9101-0.jpg", jpeg_bytes(base))])
        with live.store.session() as s, s.begin():
            reviewer = s.scalar(select(UserRow).where(UserRow.name == "reviewer"))
            cases.decide(s, first["case_id"], reviewer, "confirm", "csam-generated", ["remove"])
        near = live.service.submit(
            ItemIn(id="post-9102", kind="post", account={"id": "acct-series", "handle": "series"}, body="new set"),
            [Upload("post-9102-0.jpg", jpeg_bytes(member))])
        assert near["case_id"] and near["verdict"]["action"] == "review"

        sign_in(page, live, "reviewer")
        page.goto(f"{live.console}/cases/{near['case_id']}")
        figure = page.locator("figure.media").first
        assert figure.locator("img.safe").count() == 1  # the image is the blurred derivative
        table = figure.locator("table.similar")
        assert "not a match" in table.locator("caption").inner_text()
        row = table.locator("tbody tr").first
        cells = [row.locator("td").nth(i).inner_text() for i in range(4)]
        assert cells[0] == f"case {first['case_id']}" and cells[1].startswith("post-9101")
        distance = int(cells[2].split(" of ")[0])
        assert 0 <= distance <= 76 and cells[2].endswith("of 76")
        assert cells[3] == "the same account"
        assert row.locator("a").get_attribute("href").endswith(f"/cases/{first['case_id']}")
        page.screenshot(path=str(shots / "case-similar.png"), full_page=True)
    finally:
        server.should_exit = True
        thread.join(30)
        app.state.store.close()
