"""Issue 21, "small things a user notices" outside the console: each one checked the way a user meets it."""

from __future__ import annotations

import re
import warnings

from typer.testing import CliRunner

from bastion.cli import app

runner = CliRunner()
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_the_readme_te_export_works_after_its_own_csv_import(tmp_path, monkeypatch):
    """README "Use": bank create, bank import hashes.csv (csv has MD5 lines too), bank export --format te."""
    monkeypatch.chdir(tmp_path)
    pdq, md5 = "ab" * 32, "cd" * 16
    (tmp_path / "hashes.csv").write_text(f"hash_type,hash,label\npdq,{pdq},a\nmd5,{md5},b\n")
    assert run("bank", "create", "known-list", "--category", "csam", "--description", "x").exit_code == 0
    assert run("bank", "import", "known-list", "hashes.csv").exit_code == 0
    r = run("bank", "export", "known-list", "--format", "te", "-o", "known.te")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "known.te").read_text().splitlines() == [f"pdq {pdq}"]
    assert "left out 1 md5 entries" in r.stderr  # said, not silently dropped


def test_tables_are_not_wrapped_at_80_columns_when_piped(tmp_path):
    description = "hash list from our hotline partner, refreshed every night from their export feed"
    assert run("bank", "create", "known-list", "--category", "csam", "--description", description).exit_code == 0
    r = run("bank", "list")
    assert r.exit_code == 0
    assert any(description in line for line in r.stdout.splitlines()), r.stdout  # the cell on one line
    assert max(len(line) for line in r.stdout.splitlines()) > 80


def test_case_summaries_are_plain_prose():
    from bastion.cases.persist import case_summary

    reasons = [{"rule": "other-bank", "description": "A hash matched a bank of category `other` (a partner list)."},
               {"rule": "text-medium", "description": "Text signals at medium level."}]
    s = case_summary(reasons)
    assert s == "A hash matched a bank of category other (a partner list); Text signals at medium level"
    assert "`" not in s and ".;" not in s
    from bastion.policy import default_policy

    assert all("`" not in r.description for r in default_policy().rules)  # shipped rule descriptions too


def test_timestamps_carry_their_offset_and_token_use_is_recorded(tmp_path):
    """SQLite hands back naive timestamps; every one Bastion shows is ISO 8601 with its offset, as on
    PostgreSQL. And a token's "last used" is recorded when it is used."""
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'b.db'}",
                                   background=False, json_logs=False))
    with app.state.store.session() as s, s.begin():
        auth.create_user(s, "root", "admin")
        token = auth.create_token(s, "root", "t")[1]
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {token}"}
        users = client.get("/v1/users", headers=h).json()["users"]
        tokens = client.get("/v1/tokens", headers=h).json()["tokens"]
    app.state.store.close()
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
    assert iso.match(users[0]["created_at"]), users
    assert iso.match(tokens[0]["created_at"]) and tokens[0]["last_used_at"] and iso.match(tokens[0]["last_used_at"])
