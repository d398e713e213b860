"""`bastion terms ...` end to end on a real store (SQLite and PostgreSQL): add, list, reject, remove,
candidates and retro, with their audit rows."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import bastion.cli  # noqa: F401 - registers every command group
from bastion.cli.app import app


def test_terms_commands(database_url):
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--database-url", database_url, *args])

    assert cli("init").exit_code == 0  # commands other than init / bank create / user create refuse a missing store

    r = cli("terms", "add", "#Nimbrel", "--category", "coded", "--language", "en", "--weight", "0.8", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["key"] == "nimbrel"
    bad = cli("terms", "add", "x", "--weight", "2")
    assert bad.exit_code != 0 and "weight" in bad.output
    assert cli("terms", "reject", "nimbrel").exit_code != 0  # in the lexicon: remove it first
    assert cli("terms", "reject", "sunset", "--note", "a popular tag").exit_code == 0
    rows = [json.loads(line) for line in cli("terms", "list", "--json").stdout.splitlines()]
    assert [(x["term"], x["status"]) for x in rows] == [("Nimbrel", "active"), ("sunset", "rejected")]
    r = cli("terms", "retro", "--json")  # no stored items: found nothing, but the change is done
    assert r.exit_code == 0 and json.loads(r.stdout)["changes"] == 1 and json.loads(r.stdout)["found"] == 0
    assert json.loads(cli("terms", "retro", "--json").stdout)["changes"] == 0
    got = json.loads(cli("terms", "candidates", "--json", "--since", "2026-01-01", "--until", "2026-01-28").stdout)
    assert got["window"]["since"] == "2026-01-01" and got["candidates"] == []
    assert cli("terms", "candidates", "--since", "yesterday").exit_code != 0
    assert cli("terms", "remove", "nimbrel").exit_code == 0
    assert cli("terms", "remove", "nimbrel").exit_code != 0
    audit = [json.loads(line) for line in cli("audit", "list", "--json").stdout.splitlines() if line.strip()]
    actions = [a["action"] for a in audit if a.get("target_type") == "term"]
    assert sorted(actions) == ["term.add", "term.reject", "term.remove"]
