"""`bastion scan --classify` and `bastion inspect --classify` through the real CLI, with the local classifiers
(ONNX Runtime and the packaged open_nsfw model are in the test extra) on benign images only."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import skimage
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from bastion.cli import app

runner = CliRunner()
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "uploads"
    d.mkdir()
    shutil.copy(os.path.join(DATA, "astronaut.png"), d / "astronaut.png")  # a photograph with a face
    shutil.copy(os.path.join(DATA, "coffee.png"), d / "coffee.png")
    im = Image.new("RGB", (640, 480), (120, 180, 240))  # a flat drawing: sky, ground, a house
    dr = ImageDraw.Draw(im)
    dr.rectangle([0, 330, 640, 480], fill=(80, 160, 70))
    dr.rectangle([200, 200, 380, 330], fill=(200, 60, 50), outline=(0, 0, 0), width=3)
    dr.polygon([(190, 200), (290, 120), (390, 200)], fill=(90, 60, 40), outline=(0, 0, 0))
    im.save(d / "drawing.png")
    return d


def rows(output: str) -> dict[str, dict]:
    out = {}
    for line in output.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            out[(r.get("path") or r.get("file")).rsplit("/", 1)[-1]] = r
    return out


def scores(row: dict) -> dict[str, dict]:
    return {s["evidence"]["classifier"]: s["evidence"] for s in row.get("signals", []) if s["source"] == "classifier"}


def test_scan_classify_writes_scores_with_models_for_every_image(folder):
    r = runner.invoke(app, ["scan", str(folder), "--classify", "--no-banks", "--no-record", "--jsonl", "--jobs", "2",
                            "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    got = rows(r.stdout)
    assert set(got) == {"astronaut.png", "coffee.png", "drawing.png"}
    for name, row in got.items():
        s = scores(row)
        assert set(s) == {"photoreal", "nudity", "faces"}, name
        assert s["nudity"]["model"] == "yahoo-open-nsfw" and s["nudity"]["version"].startswith("onnx-")
        assert all(e["status"] == "ok" and e["ms"] >= 0 for e in s.values())
        assert 0.0 <= s["nudity"]["scores"]["nudity"] < 0.5  # benign
    assert scores(got["astronaut.png"])["photoreal"]["scores"]["photoreal"] > 0.5
    assert scores(got["coffee.png"])["photoreal"]["scores"]["photoreal"] > 0.5
    assert scores(got["drawing.png"])["photoreal"]["scores"]["photoreal"] < 0.5
    assert scores(got["astronaut.png"])["faces"]["scores"]["faces"] >= 1
    assert scores(got["drawing.png"])["faces"]["scores"]["faces"] == 0


def test_scan_classify_prints_scores_for_people(folder):
    r = runner.invoke(app, ["scan", str(folder / "drawing.png"), "--classifiers", "photoreal,nudity", "--no-banks",
                            "--no-record", "--jobs", "1", "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if "CLASSIFY" in ln]
    assert len(lines) == 2
    assert any("nudity" in ln and "yahoo-open-nsfw" in ln for ln in lines)
    assert not any("faces" in ln for ln in lines)  # only the classifiers asked for


def test_an_unknown_or_unavailable_classifier_stops_before_any_file(folder, unavailable_classifier):
    r = runner.invoke(app, ["scan", str(folder), "--classifiers", "nope", "--no-banks", "--no-record"])
    assert r.exit_code == 2 and "unknown classifier 'nope'" in r.output

    unavailable_classifier("missing", "missing: pip install 'bastion[classifiers]'")
    r = runner.invoke(app, ["scan", str(folder), "--classifiers", "local,missing", "--no-banks", "--no-record",
                            "--jsonl", "--jobs", "1"])
    assert r.exit_code == 2
    assert "classification is unavailable" in r.output and not rows(r.stdout)  # no file reported as clean
    r = runner.invoke(app, ["inspect", "--classifiers", "missing", str(folder / "coffee.png")])
    assert r.exit_code == 2 and "unavailable" in r.output


def test_inspect_classify_prints_and_writes_json(folder):
    r = runner.invoke(app, ["inspect", "--classify", "--json", str(folder / "astronaut.png"), str(folder / "drawing.png")],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    got = rows(r.stdout)
    for name in ("astronaut.png", "drawing.png"):
        by = {c["classifier"]: c for c in got[name]["classifiers"]}
        assert set(by) == {"photoreal", "nudity", "faces"}
        assert by["faces"]["model"] == "opencv-lbpcascade-frontalface"
    by = {c["classifier"]: c for c in got["astronaut.png"]["classifiers"]}
    assert by["photoreal"]["scores"]["photoreal"] > 0.5
    r = runner.invoke(app, ["inspect", "--classify", str(folder / "coffee.png")], catch_exceptions=False)
    assert r.exit_code == 0
    assert "classifier  nudity: nudity" in r.stdout and "yahoo-open-nsfw" in r.stdout


def test_a_video_is_reported_unclassified(tmp_path):
    """Stills only: a video gets an 'unavailable' result and an error, never a clean pass."""
    from bastion.scan import examine_bytes

    ftyp = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
    res = examine_bytes("clip.mp4", ftyp, provenance=False, classify=("photoreal",))
    sig = [s for s in res.signals if s["source"] == "classifier"]
    assert sig and sig[0]["category"] == "unavailable" and "videos" in sig[0]["evidence"]["error"]
