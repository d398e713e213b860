"""Issue 21 point 5: webhook targets get the URL-media SSRF guard. Loopback, private, link-local and metadata
addresses are refused unless an operator allows a network (metadata never); the dead-letter list keeps the
target's status line, never its reply body."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bastion.effects import webhooks
from bastion.effects.delivery import Deliverer, DeliveryPolicy, http_post
from bastion.effects.models import OutboxRow
from bastion.errors import BastionError


def _resolver(answer: list[str]):
    return lambda host, port: answer


@pytest.mark.parametrize("address,reason", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.5", "private"), ("169.254.10.1", "link-local"),
    ("169.254.169.254", "metadata"), ("::1", "loopback"), ("100.64.0.1", "carrier-grade-nat"),
])
def test_targets_resolving_into_internal_networks_are_refused_before_connecting(address, reason):
    r = http_post("http://hooks.example.org/in", {}, b"{}", 2, resolver=_resolver([address]))
    assert r.status is None and r.error.startswith("refused:") and f"({reason})" in r.error, r.error


def test_an_allowed_network_lets_its_addresses_through_but_never_metadata(loopback):
    loopback.routes["/hook"] = lambda h, body: (h.send_response(204), h.send_header("Content-Length", "0"), h.end_headers())
    url = loopback.url("/hook")
    assert "(loopback)" in http_post(url, {}, b"{}", 2).error  # the default: refused
    assert http_post(url, {}, b"{}", 2, allow_networks=("127.0.0.0/8",)).status == 204
    r = http_post("http://hooks.example.org/", {}, b"{}", 2, allow_networks=("169.254.0.0/16",),
                  resolver=_resolver(["169.254.169.254"]))
    assert r.error and "(metadata)" in r.error


def test_one_internal_answer_among_public_ones_refuses_the_target():
    r = http_post("http://hooks.example.org/", {}, b"{}", 2, resolver=_resolver(["93.184.216.34", "10.0.0.1"]))
    assert r.error and "(private)" in r.error


def test_subscribing_an_internal_address_is_refused_at_once(store):
    for url in ("http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://localhost/hook",
                "http://169.254.169.254/latest", "http://10.0.0.7/hook"):
        with store.session() as s, s.begin(), pytest.raises(BastionError, match="refused"):
            webhooks.create_subscription(s, url, ["verdict"])
    with store.session() as s, s.begin():
        # the operator's explicit choice (BASTION_WEBHOOK_ALLOW_NETWORKS)
        webhooks.create_subscription(s, "http://10.0.0.7/hook", ["verdict"], allow_networks=("10.0.0.0/8",))
        with pytest.raises(BastionError, match="metadata"):
            webhooks.create_subscription(s, "http://169.254.169.254/latest", ["verdict"],
                                         allow_networks=("169.254.0.0/16",))


def test_the_allowed_networks_are_a_setting_checked_at_start(monkeypatch):
    from bastion.config import Settings
    from bastion.errors import ConfigError

    monkeypatch.setenv("BASTION_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8, 10.20.0.0/16")
    s = Settings.from_env()
    assert DeliveryPolicy.from_settings(s).allow_networks == ("127.0.0.0/8", "10.20.0.0/16")
    monkeypatch.setenv("BASTION_WEBHOOK_ALLOW_NETWORKS", "our office")
    with pytest.raises(ConfigError, match="BASTION_WEBHOOK_ALLOW_NETWORKS"):
        Settings.from_env()
    assert DeliveryPolicy().allow_networks == ()  # nothing internal unless said


def test_delivery_to_a_name_that_resolves_to_loopback_is_refused_and_recorded(store, loopback):
    """Without the operator's opt-in, a delivery to a loopback receiver fails (and is retried, then dead)."""
    hits = []
    loopback.routes["/hook"] = lambda h, body: (hits.append(1), h.send_response(204), h.send_header("Content-Length", "0"), h.end_headers())
    with store.session() as s, s.begin():  # subscribed while loopback was allowed; delivered after it no longer is
        webhooks.create_subscription(s, f"http://localhost:{loopback.port}/hook", ["verdict"],
                                     allow_networks=("127.0.0.0/8",))
        webhooks.enqueue(s, "verdict", {"item_id": "x"})
    report = Deliverer(store, DeliveryPolicy(max_attempts=1)).deliver_due(datetime.now(timezone.utc))
    assert report.dead == 1 and hits == []
    with store.session() as s:
        row = s.scalars(select(OutboxRow)).one()
    assert row.status == "dead" and row.last_error.startswith("refused:") and "loopback" in row.last_error


def test_a_dead_letter_does_not_echo_the_targets_reply(store, loopback):
    def answer(h, body):
        page = b"<secret internal page> token=abc123"
        h.send_response(500)
        h.send_header("Content-Length", str(len(page)))
        h.end_headers()
        h.wfile.write(page)
    loopback.routes["/hook"] = answer
    r = http_post(loopback.url("/hook"), {}, b"{}", 2, allow_networks=("127.0.0.0/8",))
    assert r.status == 500 and r.error.startswith("HTTP 500")
    assert "secret" not in r.error and "abc123" not in r.error
