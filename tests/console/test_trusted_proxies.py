"""Issue 21 leftover: which client address the sign-in throttle counts. ``X-Forwarded-For`` (and
``X-Forwarded-Proto``) are believed only from a peer named in ``BASTION_TRUSTED_PROXIES``; by default no proxy
is, so a client cannot choose the address it is throttled as — not even from loopback, which uvicorn would
otherwise trust on its own (checked against a real ``bastion serve``)."""

from __future__ import annotations

import re
import warnings

import httpx
import pytest
from sqlalchemy import select

from bastion.config import Settings
from bastion.errors import ConfigError

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

PEER = ("10.0.0.9", 5000)


def _throttled_addresses(store) -> set[str]:
    from bastion.auth.models import SignInThrottleRow

    with store.session() as s:
        return {k.removeprefix("addr:") for k in s.scalars(select(SignInThrottleRow.key)) if k.startswith("addr:")}


def _wrong_sign_in(client, headers: dict[str, str]):
    page = client.get("/console/login", headers=headers)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/console/login", data={"csrf_token": csrf, "name": "nobody-here", "password": "wrong guess",
                                            "next": "/console/queue"}, headers=headers, follow_redirects=False)
    assert r.status_code == 401, r.text[:300]
    return page


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else():
    assert Settings.from_env({}).trusted_proxies == ()
    got = Settings.from_env({"BASTION_TRUSTED_PROXIES": "127.0.0.1, 10.1.2.3/8,::1"}).trusted_proxies
    assert got == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    for bad in ("10.0.0.300", "*", "proxy.example.org"):
        with pytest.raises(ConfigError, match="BASTION_TRUSTED_PROXIES"):
            Settings.from_env({"BASTION_TRUSTED_PROXIES": bad})


@pytest.fixture
def console_with(tmp_path):
    from starlette.testclient import TestClient

    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings

    opened = []

    def make(trusted: tuple[str, ...]):
        home = tmp_path / f"home{len(opened)}"
        app = create_app(ServeSettings(home=home, database_url=f"sqlite:///{home}.db", background=False,
                                       json_logs=False, trusted_proxies=trusted))
        client = TestClient(app, raise_server_exceptions=False, client=PEER)
        client.__enter__()
        opened.append((app, client))
        return app, client

    yield make
    for app, client in opened:
        client.__exit__(None, None, None)
        app.state.store.close()


def test_by_default_forwarded_headers_are_ignored(console_with):
    app, client = console_with(())
    page = _wrong_sign_in(client, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert _throttled_addresses(app.state.store) == {PEER[0]}
    assert "secure" not in page.headers["set-cookie"].lower()  # the scheme is the connection's: http


def test_from_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client(console_with):
    app, client = console_with(("10.0.0.0/8",))
    # the client's own (spoofed) entry is left of the one the proxy appended; a second proxy hop is skipped
    _wrong_sign_in(client, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    _wrong_sign_in(client, {"X-Forwarded-For": "192.0.2.44, 10.0.0.5"})
    assert _throttled_addresses(app.state.store) == {"203.0.113.7", "192.0.2.44"}
    page = client.get("/console/login", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert "secure" in page.headers["set-cookie"].lower()


def test_a_peer_outside_the_trusted_networks_is_not_believed(console_with):
    app, client = console_with(("192.168.0.0/16",))
    _wrong_sign_in(client, {"X-Forwarded-For": "203.0.113.7"})
    assert _throttled_addresses(app.state.store) == {PEER[0]}


def test_bastion_serve_does_not_believe_a_loopback_client_by_default(tmp_path, helpers):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: `bastion serve` tells it."""
    from bastion.store.db import open_store

    home = tmp_path / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'bastion.db'}")
    open_store(settings=settings).close()  # an empty store: an unknown name counts against the address only
    proc, url = helpers.serve_process(home, {"BASTION_TRUSTED_PROXIES": None, "FORWARDED_ALLOW_IPS": None})
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            _wrong_sign_in(client, {"X-Forwarded-For": "203.0.113.7"})
    finally:
        helpers.stop_process(proc)
    store = open_store(settings=settings)
    try:
        assert _throttled_addresses(store) == {"127.0.0.1"}
    finally:
        store.close()
