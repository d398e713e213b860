"""`bastion policy replay`: a policy dry-run over the items stored by the service (SQLite and PostgreSQL),
from their stored facts, writing nothing."""

from __future__ import annotations

import hashlib
import json

from policy_builders import facts, hash_signal, text_signal
from typer.testing import CliRunner

import bastion.cli  # noqa: F401  (registers every command module)
from bastion.cli.app import app
from bastion.policy import default_policy

runner = CliRunner()

# Stricter than the default: text `medium` is removed, not reviewed.
STRICT = """\
rules:
  - name: known-abuse-hash
    when: {hash_match: {bank_category: [csam, csam-generated]}}
    actions: [remove, report, preserve]
    priority: 100
  - name: medium-removes
    when: {text_level: medium}
    actions: [remove]
    priority: 60
"""


def store_items(store, items) -> None:
    """Rows as the service stores them: facts and the verdict of the default policy."""
    from bastion.cases.models import ItemRow

    policy = default_policy()
    with store.session() as s:
        for f in items:
            v = policy.evaluate(f).to_dict()
            s.add(ItemRow(external_id=f.item_id, request_sha256=hashlib.sha256(f.item_id.encode()).hexdigest(),
                          kind=f.kind, tags=[], facts=f.to_dict(), verdict=v, action=v["action"],
                          priority=v["priority"], policy_version=policy.version))
        s.commit()


def snapshot(store) -> list:
    from sqlalchemy import select

    from bastion.cases.models import ItemRow

    with store.session() as s:
        return [tuple(r) for r in s.execute(select(ItemRow.external_id, ItemRow.verdict, ItemRow.action,
                                                   ItemRow.priority).order_by(ItemRow.id))]


def test_replay_lists_what_would_change_and_writes_nothing(store, database_url, tmp_path):
    store_items(store, [
        facts(hash_signal("csam"), item_id="i-hash"),
        facts(text_signal("trade"), item_id="i-medium", text_level="medium", text_score=0.45),
        facts(item_id="i-clean"),
    ])
    before = snapshot(store)
    path = tmp_path / "strict.yaml"
    path.write_text(STRICT)
    url = database_url

    r = runner.invoke(app, ["--database-url", url, "policy", "replay", str(path), "--json"])
    assert r.exit_code == 1, r.output  # something would change
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    changed, summary = rows[:-1], rows[-1]["summary"]
    assert [c["item_id"] for c in changed] == ["i-medium"]
    assert changed[0]["old"]["action"] == "review" and changed[0]["new"]["action"] == "remove"
    assert changed[0]["old"]["rules"] == ["text-medium"] and changed[0]["new"]["rules"] == ["medium-removes"]
    assert summary["items"] == 3 and summary["changed"] == 1
    assert summary["moves"] == [{"from": "review", "to": "remove", "items": 1}]
    assert snapshot(store) == before  # a dry run

    r = runner.invoke(app, ["--database-url", url, "policy", "replay", "default"])
    assert r.exit_code == 0, r.output
    assert "3 stored item(s): 0 would change, 3 unchanged" in r.stdout

    r = runner.invoke(app, ["--database-url", url, "policy", "replay", str(path), "--all", "--limit", "2"])
    assert r.exit_code == 1
    assert "i-hash: same" in r.stdout and "i-medium: changed: review" in r.stdout and "i-clean" not in r.stdout
