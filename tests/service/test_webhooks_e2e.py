"""End to end: an item's verdict, the case it opens, the decision and a retro-match reach a real HTTP receiver
on loopback through the transactional outbox, signed; the audit chain records the decision and verifies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from svc_helpers import make_api

from bastion.effects import webhooks
from bastion.effects.delivery import deliver_due


@pytest.fixture
def api(database_url, tmp_path):
    """The service with its webhook receivers' network allowed: they listen on loopback, which delivery
    refuses unless the operator says so (BASTION_WEBHOOK_ALLOW_NETWORKS)."""
    a = make_api(database_url, tmp_path / "home", webhook_allow_networks=("127.0.0.0/8",))
    with a.client:
        yield a
    a.app.state.store.close()


def deliver_pass(api):
    from bastion.effects.delivery import DeliveryPolicy

    return deliver_due(api.store, policy=DeliveryPolicy.from_settings(api.app.state.settings))


HIGH = "teen nsfw"


class _Receiver:
    def __init__(self):
        self.got: list[tuple[dict, bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_events_are_delivered_signed_and_decisions_audited(api):
    rx = _Receiver()
    try:
        r = api.client.post("/v1/webhooks", headers=api.h("admin"),
                            json={"url": rx.url, "events": ["verdict", "case.opened", "case.decided"]})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        item = api.submit({"id": "w1", "body": HIGH, "account": {"id": "acc-w"}}).json()
        api.client.post(f"/v1/cases/{item['case_id']}/decisions", headers=api.h("reviewer"),
                        json={"outcome": "confirm", "category": "csam-generated", "actions": ["remove"]})
        for _ in range(5):  # bounded: each call delivers what is due
            deliver_pass(api)
        events = {}
        for headers, body in rx.got:
            sig = next(v for k, v in headers.items() if k.endswith("signature"))
            webhooks.verify_signature(secret, sig, body)  # raises if the signature is wrong
            payload = json.loads(body)
            events[next(v for k, v in headers.items() if k.endswith("-event"))] = payload
        assert set(events) == {"verdict", "case.opened", "case.decided"}
        assert json.dumps(events["verdict"]).count('"w1"') >= 1
        assert json.dumps(events["case.decided"]).count("confirm") >= 1
    finally:
        rx.close()
    log = api.client.get("/v1/audit?action=case.decide", headers=api.h("auditor")).json()["entries"]
    assert len(log) == 1 and log[0]["actor"] == "reviewer-user"
    v = api.client.get("/v1/audit/verify", headers=api.h("auditor")).json()
    assert v["ok"] is True and v["checked"] >= 2


def test_no_subscription_no_outbox_rows_and_receiver_down_keeps_them(api):
    from sqlalchemy import func, select

    from bastion.effects.models import OutboxRow

    api.submit({"id": "n1", "title": "x"})
    with api.store.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 0
    api.client.post("/v1/webhooks", headers=api.h("admin"), json={"url": "http://127.0.0.1:9/down", "events": ["verdict"]})
    api.submit({"id": "n2", "title": "y"})
    deliver_pass(api)
    with api.store.session() as s:
        rows = s.scalars(select(OutboxRow)).all()
    assert len(rows) == 1 and rows[0].status != "delivered"  # kept for a retry, never lost


def test_bank_changes_and_the_active_policy_are_in_the_audit_log(api):
    from bastion.banks.repo import BankRepository
    from bastion.model import Bank

    BankRepository(api.store, actor="lead-user").create(Bank(name="audited", category="csam"))
    r = api.client.post("/v1/banks/audited/entries", headers=api.h("admin"),
                        json={"entries": [{"hash_type": "md5", "value": "0" * 32}]})
    assert r.status_code == 201
    entries = api.client.get("/v1/audit?target_type=bank", headers=api.h("auditor")).json()["entries"]
    assert [(e["action"], e["actor"]) for e in entries] == [("bank.add", "admin-user"), ("bank.update", "lead-user")]
    policy = api.client.get("/v1/audit?action=policy.activate", headers=api.h("auditor")).json()["entries"]
    assert len(policy) == 1 and policy[0]["target_id"] == api.app.state.service.policy.version
    assert api.client.get("/v1/audit/verify", headers=api.h("auditor")).json()["ok"] is True
