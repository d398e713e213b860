"""The image-classifier plug-in interface (issue 24, item 1): entry points, the registry, results as
signals, and the fail-closed paths (unavailable, error) — with a benign test classifier, no model needed."""

from __future__ import annotations

import io
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import bastion.classifiers as clf
from bastion.classifiers import ClassifierResult, Outcome, Picture
from bastion.scan import examine_bytes

PLUGIN = textwrap.dedent('''
    from bastion.classifiers.base import Classifier, ClassifierUnavailable, Outcome

    class Brightness(Classifier):
        """Mean brightness of the picture, 0..1: a stand-in plug-in that needs no model."""
        name = "brightness"
        model = "test-brightness"
        version = "0.1"
        scores = ("brightness",)
        loads = 0

        def load(self):
            type(self).loads += 1

        def classify(self, picture):
            import numpy as np
            px = np.asarray(picture.image.convert("L"), dtype=float)
            return Outcome({"brightness": float(px.mean()) / 255.0}, {"size": list(picture.image.size)})

    class Missing(Classifier):
        name = "missing"
        model = "test-missing"
        version = "0"

        def load(self):
            raise ClassifierUnavailable("missing: its model is not installed")
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution on sys.path declaring two classifiers as entry points in ``bastion.classifiers``."""
    (tmp_path / "bastion_test_plugin.py").write_text(PLUGIN)
    info = tmp_path / "bastion_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bastion-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[bastion.classifiers]\nbrightness = bastion_test_plugin:Brightness\nmissing = bastion_test_plugin:Missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("brightness", "missing"):
        clf.unregister(name)  # forget what this process loaded
    sys.modules.pop("bastion_test_plugin", None)


def _png(value: int, size=(300, 280)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (value, value, value)).save(buf, "PNG")
    return buf.getvalue()


def test_an_entry_point_classifier_is_found_and_its_scores_become_a_signal(plugin):
    assert "brightness" in clf.known()
    assert clf.resolve("brightness, brightness") == ("brightness",)
    res = examine_bytes("grey.png", _png(200), provenance=False, classify=("brightness",))
    sigs = [s for s in res.signals if s["source"] == "classifier"]
    assert len(sigs) == 1
    ev = sigs[0]["evidence"]
    assert sigs[0]["category"] == "brightness"
    assert ev["model"] == "test-brightness" and ev["version"] == "0.1" and ev["status"] == "ok"
    assert ev["scores"]["brightness"] == pytest.approx(200 / 255, abs=0.01)
    assert ev["ms"] >= 0 and ev["details"]["size"] == [300, 280]
    assert sigs[0]["weight"] == pytest.approx(200 / 255, abs=0.01)
    assert not res.errors
    # a darker picture scores lower: the score is the classifier's, not a constant
    dark = examine_bytes("dark.png", _png(20), provenance=False, classify=("brightness",))
    assert dark.signals[0]["evidence"]["scores"]["brightness"] < 0.1


def test_a_classifier_loads_once_per_process(plugin):
    for v in (10, 100, 250):
        examine_bytes("g.png", _png(v), provenance=False, classify=("brightness",))
    import bastion_test_plugin

    assert bastion_test_plugin.Brightness.loads == 1


def test_an_unavailable_classifier_is_reported_never_clean(plugin):
    res = examine_bytes("g.png", _png(90), provenance=False, classify=("missing", "brightness"))
    by_cat = {s["category"]: s for s in res.signals if s["source"] == "classifier"}
    assert by_cat["unavailable"]["evidence"]["classifier"] == "missing"
    assert "not installed" in by_cat["unavailable"]["evidence"]["error"]
    assert "brightness" in by_cat  # the others still ran
    assert [e["code"] for e in res.errors] == ["classifier-unavailable"]
    assert clf.check(["missing", "brightness"]) == {"missing": "missing: its model is not installed"}


def test_an_undecodable_file_is_not_classified_and_says_so(plugin):
    res = examine_bytes("junk.png", b"\x89PNG\r\n\x1a\nnot really", provenance=False, classify=("brightness",))
    sig = [s for s in res.signals if s["source"] == "classifier"]
    assert sig and sig[0]["category"] == "unavailable"
    assert any(e["code"] == "classifier-unavailable" for e in res.errors)


def test_in_process_registration_and_bad_answers_are_errors(monkeypatch):
    class Bad(clf.Classifier):
        name, model, version = "bad-answer", "test-bad", "1"

        def classify(self, picture):
            return {"score": float("nan")}

    class Crash(clf.Classifier):
        name, model, version = "crash", "test-crash", "1"

        def classify(self, picture):
            raise RuntimeError("boom")

    clf.register("bad-answer", Bad)
    clf.register("crash", Crash)
    try:
        pic = Picture(image=Image.new("RGB", (300, 300)), width=300, height=300)
        out = clf.classify(pic, ["bad-answer", "crash"])
        assert [r.status for r in out] == ["error", "error"]
        assert "finite number" in out[0].error and "boom" in out[1].error
        assert out[1].model == "test-crash"
    finally:
        clf.unregister("bad-answer")
        clf.unregister("crash")


def test_unknown_names_are_refused_with_what_is_known():
    with pytest.raises(clf.UnknownClassifier) as e:
        clf.resolve("local,nope")
    assert "nope" in str(e.value) and "photoreal" in str(e.value)
    assert clf.resolve("local") == clf.LOCAL
    assert clf.resolve(None) == () and clf.resolve("") == ()


def test_a_name_mismatch_is_unavailable():
    class Liar(clf.Classifier):
        name, model, version = "someone-else", "m", "1"

    clf.register("liar", Liar)
    try:
        with pytest.raises(clf.ClassifierUnavailable, match="calls itself"):
            clf.get("liar")
    finally:
        clf.unregister("liar")


def test_results_round_trip_through_signals():
    r = ClassifierResult(name="nudity", model="m", version="v", scores={"nudity": 0.25}, seconds=0.012,
                         details={"k": 1})
    s = r.to_signal()
    assert s.source == "classifier" and s.category == "nudity" and s.weight == 0.25
    back = clf.results_of([s, s.to_dict(), {"source": "text", "category": "minor"}])
    assert len(back) == 2 and back[0].scores == {"nudity": 0.25} and back[1].seconds == pytest.approx(0.012)
    bad = ClassifierResult(name="x", model="", version="", status="unavailable", error="why")
    assert bad.to_signal().category == "unavailable" and bad.to_signal().weight == 1.0


def test_outcome_and_plain_mappings_are_both_accepted():
    assert clf.check_scores("a", {"s": 1})[0] == {"s": 1.0}
    assert clf.check_scores("a", Outcome({"s": 0.5}, {"d": [1]})) == ({"s": 0.5}, {"d": [1]})
    for bad in ([("s", 1)], {"S": 1}, {"s": True}, {"s": "0.5"}):
        with pytest.raises(ValueError):
            clf.check_scores("a", bad)


def test_classify_gets_a_colour_decode_even_for_a_large_jpeg(plugin):
    """The hashing path decodes reduced JPEGs as luma only; with classifiers on, the picture is RGB."""
    seen = {}

    class Probe(clf.Classifier):
        name, model, version = "probe", "test-probe", "1"

        def classify(self, picture):
            seen["mode"], seen["size"], seen["full"] = picture.image.mode, picture.image.size, (picture.width, picture.height)
            return {"probe": 1.0}

    clf.register("probe", Probe)
    try:
        rng = np.random.default_rng(1)
        arr = rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=85)
        res = examine_bytes("big.jpg", buf.getvalue(), provenance=False, classify=("probe",))
        assert res.pdq is not None
        assert seen["mode"] == "RGB" and seen["full"] == (1600, 1200) and min(seen["size"]) < 1200
        assert min(seen["size"]) >= 256
    finally:
        clf.unregister("probe")


def test_reserved_names_are_refused():
    for name in ("unavailable", "error", "local"):
        with pytest.raises(ValueError, match="reserved"):
            clf.register(name, clf.Classifier)


def test_the_service_refuses_to_start_with_an_unknown_or_unavailable_classifier(tmp_path, unavailable_classifier):
    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings
    from bastion.errors import ConfigError

    assert ServeSettings.from_env({"BASTION_CLASSIFIERS": "Local, nudity"}).classifiers == ("local", "nudity")
    base = dict(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'b.db'}", background=False, json_logs=False)
    with pytest.raises(ConfigError, match="unknown classifier 'nope'"):
        create_app(ServeSettings(**base, classifiers=("nope",)))

    unavailable_classifier("missing-svc", "missing-svc: its model is not installed")
    with pytest.raises(ConfigError, match="cannot run missing-svc: its model is not installed"):
        create_app(ServeSettings(**base, classifiers=("local", "missing-svc")))
