"""Image classifier scores on the case page, beside the blurred image (issue 24): a real server with
``classifiers=local`` on a copy of the demo data, a benign item submitted through the service, Chromium."""

from __future__ import annotations

import shutil

import pytest

from bastion.console.caseview import case_view


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global sign_in, start_server, Live
    sign_in, start_server, Live = helpers.sign_in, helpers.start_server, helpers.Live


def test_the_case_view_groups_classifier_signals_by_media():
    sig = lambda media, name, **ev: {"source": "classifier", "category": name,  # noqa: E731
                                     "evidence": {"classifier": name, "media": media, **ev}}
    case = {"items": [{"item_id": "i1", "media": [{"sha256": "a"}, {"sha256": "b"}], "signals": [
        sig(0, "nudity", model="yahoo-open-nsfw", version="onnx-1.0.0", status="ok", scores={"nudity": 0.034}, ms=23.4),
        sig(1, "faces", model="m", version="v", status="ok", scores={"faces": 2.0, "face_area": 0.071}),
        {"source": "classifier", "category": "unavailable",
         "evidence": {"classifier": "photoreal", "media": 1, "status": "unavailable", "error": "not installed"}},
        {"source": "text", "category": "minor", "field": "body"},
    ]}]}
    media = case_view(case)["items"][0]["media"]
    assert [c["name"] for c in media[0]["classifiers"]] == ["nudity"]
    assert media[0]["classifiers"][0]["scores"] == [("nudity", "0.03")]
    assert media[0]["classifiers"][0]["model"] == "yahoo-open-nsfw"
    assert [(c["name"], c["status"]) for c in media[1]["classifiers"]] == [("faces", "ok"), ("photoreal", "unavailable")]
    assert media[1]["classifiers"][0]["scores"] == [("faces", "2"), ("face_area", "0.07")]
    assert media[1]["classifiers"][1]["error"] == "not installed"


def test_the_case_page_shows_scores_and_models_beside_the_blurred_image(seeded_home, tmp_path, page, shots):
    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings
    from bastion.cases.ingest import Upload
    from bastion.cases.schemas import ItemIn
    from bastion.console.demo import generated_pattern, jpeg_bytes

    template, seeded = seeded_home
    home = tmp_path / "home"
    shutil.copytree(template, home)
    app = create_app(ServeSettings(home=home, database_url=f"sqlite:///{home / 'bastion.db'}", background=False,
                                   json_logs=False, classifiers=("local",)))
    server, thread, url = start_server(app)
    live = Live(url, app, seeded, home)
    try:
        # A benign generated pattern in the partner list (a review case), now also classified.
        answer = live.service.submit(
            ItemIn(id="post-9001", kind="post", account={"id": "acct-echo", "handle": "echo"}, body="shapes again"),
            [Upload("post-9001-0.jpg", jpeg_bytes(generated_pattern(22)))])
        case_id = answer["case_id"]
        assert case_id
        sign_in(page, live, "reviewer")
        page.goto(f"{live.console}/cases/{case_id}")
        figure = page.locator("figure.media").first
        assert figure.locator("img.safe").count() == 1  # the image is the blurred derivative
        table = figure.locator("table.classifiers")
        assert table.count() == 1
        rows = {table.locator("tbody tr").nth(i).get_attribute("data-classifier"): table.locator("tbody tr").nth(i).inner_text()
                for i in range(table.locator("tbody tr").count())}
        assert set(rows) == {"photoreal", "nudity", "faces"}
        assert "yahoo-open-nsfw" in rows["nudity"] and "onnx-" in rows["nudity"]
        assert "bastion-photoreal-heuristic" in rows["photoreal"]
        assert "lbpcascade" in rows["faces"] and "face_area" in rows["faces"]
        photoreal = float(table.locator("tr[data-classifier=photoreal] .score b").inner_text())
        nudity = float(table.locator("tr[data-classifier=nudity] .score b").inner_text())
        assert 0.0 <= photoreal <= 1.0 and 0.0 <= nudity < 0.5  # a benign generated pattern
        # what the page shows is what was stored as the item's signals (like every other signal)
        from bastion.cases import service as cases

        with live.store.session() as s:
            stored = cases.get_case(s, case_id)
        item = next(i for i in stored["items"] if i.get("item_id", i.get("external_id")) == "post-9001")
        sigs = item.get("signals") or (item.get("facts") or {}).get("signals") or []
        by_name = {x["evidence"]["classifier"]: x for x in sigs if x["source"] == "classifier"}
        assert set(by_name) == {"photoreal", "nudity", "faces"}
        assert f"{by_name['nudity']['evidence']['scores']['nudity']:.2f}" == f"{nudity:.2f}"
        assert by_name["nudity"]["evidence"]["media"] == 0
        assert "never a verdict" in table.locator("caption").inner_text()
        page.screenshot(path=str(shots / "case-classifiers.png"), full_page=True)
    finally:
        server.should_exit = True
        thread.join(30)
        app.state.store.close()
