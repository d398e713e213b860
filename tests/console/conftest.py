"""Fixtures of the console tests: a real server (uvicorn on 127.0.0.1, SQLite, the service's create_app with
the console mounted) seeded with benign demo cases, and Debian's Chromium driven by Playwright.

Chromium comes from the system (``apt-get install chromium``; `.ci/run` installs it): Playwright's own browser
download needs the network. Without /usr/bin/chromium the browser tests are skipped with a reason starting
"Chromium unavailable", which `.ci/run` treats as a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BASTION_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Live:
    url: str  # http://127.0.0.1:PORT
    app: object
    seed: object
    home: Path

    @property
    def console(self) -> str:
        return self.url + "/console"

    @property
    def store(self):
        return self.app.state.store

    @property
    def service(self):
        return self.app.state.service


def start_server(app):
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def _app(home: Path, background: bool = False):
    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings

    return create_app(ServeSettings(home=home, database_url=f"sqlite:///{home / 'bastion.db'}",
                                    background=background, json_logs=False))


def make_live(home: Path, seeded=None) -> tuple[Live, object, threading.Thread]:
    """Start a server on ``home``; seed it with the demo data unless ``seeded`` says it already is."""
    from bastion.console.demo import seed

    app = _app(home)
    if seeded is None:
        seeded = seed(app.state.service)
    server, thread, url = start_server(app)
    return Live(url, app, seeded, home), server, thread


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory):
    """The demo data, made once (password hashing and scanning take seconds); each test gets a copy."""
    from bastion.console.demo import seed

    home = tmp_path_factory.mktemp("console-seed") / "home"
    app = _app(home)
    try:
        seeded = seed(app.state.service)
    finally:
        # no server ran this app, so no lifespan closes what seeding started: the examine workers that
        # scanned the demo media (left running, they outlived every test after this one) and the store
        app.state.service.examiner.close()
        app.state.store.close()  # checkpoints SQLite's WAL so the folder can be copied
    return home, seeded


@pytest.fixture
def live(tmp_path, seeded_home):
    """A fresh server on a fresh copy of the demo data for each test (tests change cases; none shares state)."""
    import shutil

    template, seeded = seeded_home
    home = tmp_path / "home"
    shutil.copytree(template, home)
    lv, server, thread = make_live(home, seeded)
    yield lv
    server.should_exit = True
    thread.join(30)
    lv.store.close()


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API keeps an event loop running in the main thread while it lives,
    and a later folder's ``asyncio.run`` refuses to start beside it (the whole-suite failures of the stream
    and writer tests); stopping it after each module leaves no loop behind."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium unavailable at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def shots(tmp_path):
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


@pytest.fixture
def helpers():
    """sign_in(page, live, name) and csrf_of(html), for the tests."""
    return Helpers


class Helpers:
    @staticmethod
    def sign_in(page, live, name, password=None, *, next_path="/console/queue"):
        return sign_in(page, live, name, password, next_path=next_path)

    @staticmethod
    def csrf_of(html):
        return csrf_of(html)

    @staticmethod
    def start_server(app):
        return start_server(app)

    @staticmethod
    def case(live, case_id: int) -> dict:
        """The case as the service reports it (``bastion.cases.service.get_case``)."""
        from bastion.cases import service as cases

        with live.store.session() as s:
            return cases.get_case(s, case_id)

    @staticmethod
    def audit(live, action: str) -> list[dict]:
        """The audit log's entries of ``action``."""
        from bastion.effects import audit

        with live.store.session() as s:
            rows, _ = audit.list_entries(s, limit=1000, action=action)
        return rows

    @staticmethod
    def serve_process(home, env=None):
        return serve_process(home, env)

    @staticmethod
    def stop_process(proc):
        return stop_process(proc)

    Live = Live


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bastion() -> list[str]:
    exe = Path(sys.executable).with_name("bastion")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bastion"]


def serve_process(home: Path, env: dict[str, str | None] | None = None):
    """`bastion serve --no-background` on ``home``'s SQLite store, as the README starts it, in a process of its
    own on a free loopback port; ``env`` adds variables (None: unset). Returns (process, url)."""
    import httpx

    environ = {**os.environ, "BASTION_HOME": str(home), "BASTION_DATABASE_URL": f"sqlite:///{home / 'bastion.db'}"}
    for k, v in (env or {}).items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen([*_bastion(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-background"],
                                env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                time.sleep(0.2)
        proc.kill()
        proc.wait(10)
    pytest.fail("bastion serve did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])


def stop_process(proc) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def sign_in(page, live: Live, name: str, password: str | None = None, *, next_path: str = "/console/queue"):
    page.goto(f"{live.console}/login?next={next_path}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password or live.seed.users[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def needs_effects():
    """Tests of audit rows and webhooks need the effects package (audit chain, outbox)."""
    pytest.importorskip("bastion.effects.audit", reason="bastion.effects (audit log, webhooks) is not installed")
