"""`bastion webhook ...` and `bastion audit ...` end to end on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from bastion.cli.app import app
import bastion.cli  # noqa: F401 - registers every command group

from .conftest import start_server, stop_server
from .test_webhooks import Receiver


@pytest.fixture
def cli(database_url, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(app, ["--database-url", database_url, "init"]).exit_code == 0
    # the receivers here listen on loopback: webhook delivery refuses it unless allowed, so these tests opt in
    monkeypatch.setenv("BASTION_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8")

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, ["--database-url", database_url, *args], input=input)

    return run


def tamper(database_url: str, statement: str) -> None:
    from bastion.store.db import make_engine

    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_webhook_commands_and_their_audit_trail(cli):
    r = cli("webhook", "add", "https://hooks.example.org/b", "--event", "verdict", "-e", "case.opened")
    assert r.exit_code == 0, r.output
    assert "created webhook 1" in r.output and "secret (shown only now): whsec_" in r.output
    r = cli("webhook", "add", "https://hooks.example.org/c", "--event", "case.decided", "--secret-stdin", "--json",
            input="given-secret-0123456789\n")
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)
    assert created["id"] == 2 and "secret" not in created

    r = cli("webhook", "list", "--json")
    subs = [json.loads(line) for line in r.output.splitlines()]
    assert [(s["id"], s["events"]) for s in subs] == [(1, ["case.opened", "verdict"]), (2, ["case.decided"])]
    assert "whsec_" not in r.output and "given-secret" not in r.output
    assert cli("webhook", "list").exit_code == 0

    assert cli("webhook", "disable", "1").exit_code == 0
    assert cli("webhook", "remove", "2").exit_code == 0
    r = cli("webhook", "remove", "2")
    assert r.exit_code == 2 and "no webhook subscription 2" in r.output

    r = cli("webhook", "add", "https://hooks.example.org/d", "--event", "item.deleted")
    assert r.exit_code == 2 and "unknown webhook event" in r.output
    r = cli("webhook", "add", "https://hooks.example.org/d", "--event", "verdict", "--secret-stdin", input="short")
    assert r.exit_code == 2

    r = cli("audit", "list", "--json")
    actions = [json.loads(line)["action"] for line in r.output.splitlines()]
    assert actions == ["webhook.delete", "webhook.disable", "webhook.create", "webhook.create"]
    assert all(json.loads(line)["actor"].startswith("cli") for line in r.output.splitlines())
    r = cli("audit", "verify")
    assert r.exit_code == 0 and "audit chain intact: 4 rows" in r.output


def test_dead_letters_replay_and_deliver(cli, database_url):
    receiver = Receiver()
    try:
        down = start_server()
        down_url = down.url("/hook")
        stop_server(down)
        secret = receiver.secret
        assert cli("webhook", "add", down_url, "-e", "verdict", "--secret-stdin", input=secret).exit_code == 0
        from bastion.effects import webhooks
        from bastion.store.db import open_store

        store = open_store(database_url)
        with store.session() as s, s.begin():
            webhooks.enqueue(s, "verdict", {"item_id": "p-1"})
        store.close()
        tamper(database_url, "UPDATE webhook_outbox SET status = 'dead', attempts = 8")

        r = cli("webhook", "dead", "--json")
        dead = [json.loads(line) for line in r.output.splitlines()]
        assert len(dead) == 1 and dead[0]["status"] == "dead"
        assert "Dead letters" in cli("webhook", "dead").output

        r = cli("webhook", "replay")
        assert r.exit_code == 2 and "--all" in r.output
        r = cli("webhook", "replay", "999")
        assert r.exit_code == 2 and "not dead letters: 999" in r.output
        tamper(database_url, f"UPDATE webhook_subscriptions SET url = '{receiver.url}'")
        r = cli("webhook", "replay", str(dead[0]["id"]))
        assert r.exit_code == 0 and "queued 1 dead letter again" in r.output
        assert cli("webhook", "dead").output.strip() == "no dead letters"

        r = cli("webhook", "deliver", "--json")
        assert json.loads(r.output)["delivered"] == 1
        assert receiver.verified == [True] and receiver.got[0]["body"]["data"] == {"item_id": "p-1"}
        assert cli("webhook", "replay", "--all").output.strip() == "queued 0 dead letters again"
    finally:
        stop_server(receiver.server)


def test_audit_verify_exit_codes(cli, database_url):
    for i in range(3):
        assert cli("webhook", "add", f"https://hooks.example.org/{i}", "-e", "verdict").exit_code == 0
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["ok"] is True

    tamper(database_url, "UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert "first bad row: 2" in r.output
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 1 and json.loads(r.output)["first_bad_id"] == 2

    r = cli("audit", "list", "--limit", "2")
    assert r.exit_code == 0 and "more: --cursor 2" in r.output
    r = cli("audit", "list", "--cursor", "2", "--json")
    assert [json.loads(line)["id"] for line in r.output.splitlines()] == [1]
    assert cli("audit", "list", "--cursor", "x").exit_code == 2


def test_audit_verify_on_a_database_that_cannot_be_opened(tmp_path):
    for url in ("nonsense://", f"sqlite:///{tmp_path / 'garbage.db'}"):
        (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
        r = CliRunner().invoke(app, ["--database-url", url, "audit", "verify"])
        assert r.exit_code == 2 and "error" in r.output
