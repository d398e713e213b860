"""The HTTP connector for external classifiers (issue 24, point 4), against a real HTTP server on 127.0.0.1
started by the test: the declared request and response mapping, timeouts, retries with backoff, the circuit
breaker, "unavailable" (never clean) when the service fails, and a secret that never shows. Benign pictures
only (a generated gradient)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image
from pydantic import SecretStr

from bastion.classifiers import ClassifierUnavailable, Picture, classify, forget, register, unregister
from bastion.classifiers.http import HttpClassifier, HttpConfig, parse_path, parse_scores, read_path

SECRET = "s3cr3t-t0ken-do-not-show"


class Loopback:
    """A scripted classifier service: each request takes the next step (status, body, delay); the last
    step repeats. Records every request's headers and JSON body."""

    def __init__(self):
        self.steps: list[tuple[int, object, float]] = [(200, {"results": [{"nsfw": 0.25}]}, 0.0)]
        self.requests: list[dict] = []
        self.times: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.times.append(time.monotonic())
                outer.requests.append({"headers": dict(self.headers), "body": json.loads(body or b"null"),
                                       "path": self.path})
                i = min(len(outer.requests) - 1, len(outer.steps) - 1)
                status, answer, delay = outer.steps[i]
                if delay:
                    time.sleep(delay)
                raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/score"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    with Loopback() as s:
        yield s


def picture() -> Picture:
    img = Image.linear_gradient("L").resize((64, 48)).convert("RGB")  # benign: a grey gradient
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Picture(image=img, width=64, height=48, format="png", data=buf.getvalue())


def connector(url: str, name: str = "http", **kw) -> HttpClassifier:
    cfg = dict(url=url, model="acme-safety", version="2026-10", scores="nudity=$.results[0].nsfw",
               secret=SecretStr(SECRET), timeout=0.5, retries=2, backoff=0.01, deadline=10.0,
               breaker_failures=3, breaker_seconds=60.0)
    cfg.update(kw)
    clf = HttpClassifier(HttpConfig(**cfg), name=name)
    clf.load()
    return clf


def test_the_request_follows_the_template_and_the_scores_come_from_their_paths(service):
    body = ('{"image": {"b64": "{image_base64}", "sha": "{sha256}"}, "size": ["{width}", "{height}"], '
            '"kind": "{media_type}", "fixed": "{not a placeholder}"}')
    clf = connector(service.url, body=body, scores="nudity=$.results[0].nsfw, other=results[1][\"a b\"]")
    service.steps = [(200, {"results": [{"nsfw": 0.25}, {"a b": 3}]}, 0.0)]
    p = picture()
    assert clf.classify(p) == {"nudity": 0.25, "other": 3.0}
    sent = service.requests[0]
    assert sent["body"] == {"image": {"b64": base64.b64encode(p.data).decode(), "sha": hashlib.sha256(p.data).hexdigest()},
                            "size": [64, 48], "kind": "image/png", "fixed": "{not a placeholder}"}
    assert sent["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert sent["headers"]["Content-Type"] == "application/json"
    # through the runner: a classifier signal with the model and version
    register("http-test", lambda: connector(service.url, name="http-test"))
    try:
        service.steps = [(200, {"results": [{"nsfw": 0.5}]}, 0.0)]
        (r,) = classify(p, ["http-test"])
        assert (r.status, r.scores, r.model, r.version) == ("ok", {"nudity": 0.5}, "acme-safety", "2026-10")
        assert r.to_signal().evidence["scores"] == {"nudity": 0.5}
    finally:
        unregister("http-test")


def test_a_header_and_scheme_of_the_platforms_choice_and_the_decode_when_no_bytes(service):
    clf = connector(service.url, auth_header="X-Api-Key", auth_scheme="")
    p = picture()
    assert clf.classify(Picture(image=p.image, width=640, height=480, format="webp", data=None)) == {"nudity": 0.25}
    sent = service.requests[0]
    assert sent["headers"]["X-Api-Key"] == SECRET and "Authorization" not in sent["headers"]
    assert base64.b64decode(sent["body"]["image"])[:2] == b"\xff\xd8"  # no original bytes: the decode as JPEG


def test_5xx_and_429_are_retried_with_backoff_and_a_4xx_is_not(service):
    sleeps: list[float] = []
    clf = connector(service.url, retries=3, backoff=0.05)
    clf._sleep = lambda s: (sleeps.append(s), time.sleep(s))
    service.steps = [(503, {}, 0.0), (429, {}, 0.0), (200, {"results": [{"nsfw": 0.75}]}, 0.0)]
    assert clf.classify(picture()) == {"nudity": 0.75}
    assert len(service.requests) == 3 and sleeps == [0.05, 0.1]  # exponential backoff
    assert service.times[1] - service.times[0] >= 0.05 and service.times[2] - service.times[1] >= 0.1
    assert clf.failures == 0
    service.requests.clear()
    service.steps = [(401, {"detail": f"bad token {SECRET}"}, 0.0)]
    with pytest.raises(ClassifierUnavailable) as err:
        clf.classify(picture())
    assert len(service.requests) == 1 and "HTTP 401" in str(err.value) and "check the secret" in str(err.value)
    assert SECRET not in str(err.value)


def test_a_slow_service_times_out_and_is_reported_unavailable_never_clean(service):
    clf = connector(service.url, timeout=0.2, retries=1, backoff=0.0)
    service.steps = [(200, {"results": [{"nsfw": 0.0}]}, 1.0)]  # would say "clean", too late
    t0 = time.monotonic()
    with pytest.raises(ClassifierUnavailable) as err:
        clf.classify(picture())
    took = time.monotonic() - t0
    assert "no answer within 0.2 s" in str(err.value) and "2 attempt(s)" in str(err.value)
    assert took < 1.5  # two 0.2 s attempts, not the service's 1 s each
    # through the runner the picture is "unavailable": no scores, never an ok result
    register("http-slow", lambda: connector(service.url, name="http-slow", timeout=0.2, retries=0))
    try:
        (r,) = classify(picture(), ["http-slow"])
        assert r.status == "unavailable" and not r.scores and "no answer" in r.error
        assert r.to_signal().category == "unavailable"
    finally:
        unregister("http-slow")


def test_a_refused_connection_and_answers_without_the_scores_are_unavailable(service):
    import socket

    with socket.socket() as sk:  # a port with nobody listening
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    clf = connector(f"http://127.0.0.1:{port}/x", retries=1, backoff=0.0)
    with pytest.raises(ClassifierUnavailable, match="request failed: ConnectError"):
        clf.classify(picture())
    for answer, message in (({"results": []}, r"has no score 'nudity' at \$\.results\[0\]\.nsfw \(missing 0\)"),
                            ({"results": [{"nsfw": "high"}]}, "is not a number"),
                            (b"<html>busy</html>", "not JSON")):
        service.steps = [(200, answer, 0.0)]
        with pytest.raises(ClassifierUnavailable, match=message):
            connector(service.url).classify(picture())


def test_the_breaker_opens_after_failures_in_a_row_then_one_trial_closes_it(service):
    now = [1000.0]
    clf = connector(service.url, retries=0, breaker_failures=3, breaker_seconds=30.0)
    clf._clock = lambda: now[0]
    service.steps = [(500, {}, 0.0)]
    for _ in range(3):
        with pytest.raises(ClassifierUnavailable, match="HTTP 500"):
            clf.classify(picture())
    assert len(service.requests) == 3 and clf.opened_at is not None
    # open: no request at all, every picture unavailable at once
    with pytest.raises(ClassifierUnavailable, match="circuit open after 3 failures"):
        clf.classify(picture())
    assert len(service.requests) == 3
    now[0] += 31  # half-open: one trial; it fails, so the circuit opens again at once
    with pytest.raises(ClassifierUnavailable, match="HTTP 500"):
        clf.classify(picture())
    assert len(service.requests) == 4
    with pytest.raises(ClassifierUnavailable, match="circuit open"):
        clf.classify(picture())
    now[0] += 31
    service.steps = [(200, {"results": [{"nsfw": 0.1}]}, 0.0)]
    service.requests.clear()
    assert clf.classify(picture()) == {"nudity": 0.1}  # the trial succeeds: closed
    assert clf.failures == 0 and clf.opened_at is None
    assert clf.classify(picture()) == {"nudity": 0.1} and len(service.requests) == 2


def test_the_secret_is_never_logged_shown_or_put_in_an_error(service, caplog):
    caplog.set_level(logging.DEBUG)
    clf = connector(service.url + "?tenant=abc", retries=1, backoff=0.0, breaker_failures=2)
    service.steps = [(500, {"echo": SECRET}, 0.0)]
    errors = []
    for _ in range(3):
        try:
            clf.classify(picture())
        except ClassifierUnavailable as exc:
            errors.append(str(exc))
    assert len(errors) == 3 and any("circuit open" in e for e in errors)
    assert "circuit open" in caplog.text  # the breaker said so in the log ...
    shown = "\n".join([*errors, caplog.text, repr(clf), str(clf), repr(clf._config)])
    assert SECRET not in shown  # ... and nowhere the secret (not even echoed back by the service)
    # errors and reprs show no query either (httpx's own request log does: credentials go in the secret)
    assert "tenant=abc" not in "\n".join([*errors, repr(clf), repr(clf._config)])
    # the settings carry it as a secret too
    from bastion.config import Settings

    st = Settings.from_env({"BASTION_CLASSIFIER_HTTP_SECRET": SECRET, "BASTION_CLASSIFIER_HTTP_URL": service.url})
    assert SECRET not in repr(st) and SECRET not in str(st.model_dump())
    assert st.classifier_http_secret.get_secret_value() == SECRET


def test_configuration_from_settings_and_its_mistakes(service, tmp_path):
    from bastion.config import Settings

    env = {"BASTION_CLASSIFIER_HTTP_URL": service.url, "BASTION_CLASSIFIER_HTTP_MODEL": "acme",
           "BASTION_CLASSIFIER_HTTP_VERSION": "1", "BASTION_CLASSIFIER_HTTP_SCORES": "nudity=$.results[0].nsfw",
           "BASTION_CLASSIFIER_HTTP_SECRET": SECRET, "BASTION_CLASSIFIER_HTTP_RETRIES": "0",
           "BASTION_CLASSIFIER_HTTP_TIMEOUT": "2"}
    clf = HttpClassifier(HttpConfig.from_settings(Settings.from_env(env)))
    clf.load()
    assert (clf.name, clf.model, clf.version, clf.scores) == ("http", "acme", "1", ("nudity",))
    assert clf.classify(picture()) == {"nudity": 0.25}
    with pytest.raises(ClassifierUnavailable, match="BASTION_CLASSIFIER_HTTP_MODEL, BASTION_CLASSIFIER_HTTP_VERSION"):
        HttpConfig.from_settings(Settings.from_env({"BASTION_CLASSIFIER_HTTP_URL": service.url,
                                                    "BASTION_CLASSIFIER_HTTP_SCORES": "a=$.a"}))
    for bad, message in ((dict(body='{"image": 1}'), "does not send the image"),
                         (dict(body="not json"), "not JSON"),
                         (dict(scores="Nudity=$.a"), "score name 'Nudity'"),
                         (dict(scores="nudity=$.a..b"), "cannot read"),
                         (dict(url="ftp://127.0.0.1/x"), r"must be http\(s\)")):
        with pytest.raises(ClassifierUnavailable, match=message):
            connector(**{"url": service.url, **bad})
    forget()


def test_json_paths():
    assert parse_path("$.a.b[0][\"c d\"]") == ("a", "b", 0, "c d")
    assert parse_path("a[2]") == ("a", 2)
    assert read_path({"a": [{"b": 1}]}, parse_path("$.a[0].b")) == 1
    with pytest.raises(KeyError):
        read_path({"a": []}, ("a", 0))
    assert list(parse_scores({"x": "$.y"})) == ["x"]
    with pytest.raises(ValueError, match="no JSON path"):
        parse_scores("x")


def test_bastion_declares_it_as_the_classifier_http_read_from_settings(service, monkeypatch):
    """The entry point in pyproject.toml names the class; its no-argument factory reads the settings."""
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["bastion.classifiers"] == {"http": "bastion.classifiers.http:HttpClassifier"}
    clf = HttpClassifier()
    assert clf.name == "http"
    with pytest.raises(ClassifierUnavailable, match="not configured: set BASTION_CLASSIFIER_HTTP_URL"):
        clf.load()
    for var, value in (("URL", service.url), ("MODEL", "acme"), ("VERSION", "3"),
                       ("SCORES", "nudity=$.results[0].nsfw"), ("SECRET", SECRET)):
        monkeypatch.setenv(f"BASTION_CLASSIFIER_HTTP_{var}", value)
    clf = HttpClassifier()
    clf.load()
    assert (clf.model, clf.version) == ("acme", "3") and clf.classify(picture()) == {"nudity": 0.25}
    assert service.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
