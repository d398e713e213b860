"""The scan opens the store and loads the banks' index while its workers examine the first files (the `ready`
hook of Scanner.run): nothing is matched or reported before it has run, and when it fails nothing is."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.cli import app
from bastion.demo import generated_pattern
from bastion.media.hashing import pdq_from_image
from bastion.model import Bank, HashEntry
from bastion.scan import Scanner, iter_files
from bastion.store.db import open_store


@pytest.mark.parametrize("jobs", [1, 2])
def test_ready_runs_once_before_the_first_result_and_its_matcher_is_used(tmp_path, jobs):
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(6):
        generated_pattern(i, (320, 240)).save(pics / f"p{i}.png")
    store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    BankRepository(store).create(Bank("known", "test"))
    BankRepository(store).add_entries("known", [HashEntry("pdq", pdq_from_image(generated_pattern(2, (320, 240)))[0])])
    events: list[str] = []
    scanner = Scanner(None, None, jobs=jobs)

    def ready() -> None:
        events.append("ready")
        scanner.matcher = Matcher.from_store(store)

    results = []
    scanner.run(iter_files([pics]), lambda r: (events.append("result"), results.append(r)), ready=ready)
    assert events[0] == "ready" and events.count("ready") == 1 and events.count("result") == 6
    assert [r.path.rsplit("/", 1)[-1] for r in results if r.matched] == ["p2.png"]


def test_a_failing_ready_reports_nothing_and_exits_2(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(4):
        generated_pattern(i, (320, 240)).save(pics / f"p{i}.png")
    assert CliRunner().invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'b.db'}", "bank", "create", "k"]).exit_code == 0
    r = CliRunner().invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'b.db'}", "scan", str(pics), "--jsonl",
                                 "-j", "2", "--bank", "no-such-bank"])
    assert r.exit_code == 2
    assert "no bank named no-such-bank" in r.stderr
    assert not [line for line in r.stdout.splitlines() if line.startswith("{")]
    ok = CliRunner().invoke(app, ["--database-url", f"sqlite:///{tmp_path / 'b.db'}", "scan", str(pics), "--jsonl",
                                  "-j", "2"])
    assert ok.exit_code == 0 and len([json.loads(x) for x in ok.stdout.splitlines() if x.startswith("{")]) == 4


@pytest.mark.parametrize("fast_exit", [True, False])
def test_the_command_ends_with_everything_written_whether_or_not_it_skips_teardown(tmp_path, fast_exit):
    """`bastion scan` run as the command may end its process without the interpreter's teardown: the JSON
    lines, the exit status, the summary and the recorded hashes must be the same as with a normal exit."""
    import os
    import subprocess
    import sys

    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(5):
        generated_pattern(i, (320, 240)).save(pics / f"p{i}.png")
    url = f"sqlite:///{tmp_path / 'b.db'}"
    store = open_store(url)
    BankRepository(store).create(Bank("known", "test"))
    BankRepository(store).add_entries("known", [HashEntry("pdq", pdq_from_image(generated_pattern(3, (320, 240)))[0])])
    store.close()
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "BASTION_NO_FAST_EXIT"}
    if not fast_exit:
        env["BASTION_NO_FAST_EXIT"] = "1"
    r = subprocess.run([sys.executable, "-c", "from bastion.cli import main; main()", "--database-url", url, "scan",
                        str(pics), "--jsonl", "-o", str(out), "-j", "2"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 1, r.stderr  # p3 matched
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 5 and [x["path"].rsplit("/", 1)[-1] for x in lines if x.get("matches")] == ["p3.png"]
    assert "Scan summary" in r.stdout + r.stderr
    from sqlalchemy import text

    again = open_store(url)
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM media")).scalar() == 5
    again.close()
