"""Issue 11, errors and exit codes: no traceback ever, exit statuses a script can trust, --debug for detail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

runner = CliRunner()
BASTION = str(Path(sys.executable).with_name("bastion"))
DEAD_PG = "postgresql://someone:s3cr3t-pw@127.0.0.1:9/bastion"  # port 9 (discard): nothing listens


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def no_traceback(r) -> None:
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)


# --- 1. one boundary for everything unexpected -------------------------------------------------------


def test_database_down_is_one_line_exit_2_password_masked_detail_with_debug(tmp_path):
    r = run("--database-url", DEAD_PG, "bank", "list")
    no_traceback(r)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database error at postgresql://someone:***@127.0.0.1:9/")
    assert "--debug" in lines[0] and "s3cr3t-pw" not in r.output

    r = run("--database-url", DEAD_PG, "--debug", "bank", "list")
    assert r.exit_code == 2 and "Traceback" in r.stderr and "OperationalError" in r.stderr
    assert "s3cr3t-pw" not in r.output  # not even in the traceback


def test_a_scan_against_a_dead_database_never_exits_1():
    """For `scan`, 1 means "matched": a monitoring script must never read a dead store as a detection."""
    f = Path(__file__)
    r = run("--database-url", DEAD_PG, "scan", str(f))
    no_traceback(r)
    assert r.exit_code == 2


def test_real_console_script_prints_no_traceback_and_accepts_debug_env(tmp_path):
    env = {**os.environ, "BASTION_DATABASE_URL": DEAD_PG}
    p = subprocess.run([BASTION, "bank", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "s3cr3t-pw" not in p.stderr
    p = subprocess.run([BASTION, "bank", "list"], capture_output=True, text=True, env={**env, "BASTION_DEBUG": "1"},
                       timeout=120)
    assert p.returncode == 2 and "Traceback" in p.stderr and "s3cr3t-pw" not in p.stderr


def test_postgres_scheme_is_accepted_as_postgresql(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL variant only")
    url = "postgres://" + database_url.split("://", 1)[1]
    r = run("--database-url", url, "bank", "create", "pg-alias")
    no_traceback(r)
    assert r.exit_code == 0, r.output
    assert json.loads(run("--database-url", url, "bank", "list", "--json").stdout)["name"] == "pg-alias"


def test_missing_postgres_extra_says_which_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `bastion[postgres]` were not installed
    r = run("--database-url", "postgresql://u:pw@127.0.0.1/x", "bank", "list")
    no_traceback(r)
    assert r.exit_code == 2 and "pip install 'bastion[postgres]'" in r.stderr


@pytest.mark.parametrize("home", ["a-file", "/proc/bastion-test"])
def test_bastion_home_that_cannot_hold_a_store(tmp_path, monkeypatch, home):
    if home == "a-file":
        home = str(tmp_path / "a-file")
        Path(home).write_text("not a folder")
    monkeypatch.setenv("BASTION_HOME", home)
    r = run("bank", "list")
    no_traceback(r)
    assert r.exit_code == 2 and "BASTION_HOME" in r.stderr and home in r.stderr


def test_outputs_into_a_folder_that_does_not_exist(tmp_path):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    img = tmp_path / "a.png"
    generated_pattern(1).save(img)
    r = run("--database-url", db, "scan", str(img), "-o", str(tmp_path / "nope" / "out.jsonl"), "-j", "1")
    no_traceback(r)
    assert r.exit_code == 2 and "cannot write" in r.stderr and "No such file or directory" in r.stderr
    assert run("--database-url", db, "bank", "create", "b").exit_code == 0
    r = run("--database-url", db, "bank", "export", "b", "-o", str(tmp_path / "nope" / "b.csv"))
    no_traceback(r)
    assert r.exit_code == 2 and "cannot write" in r.stderr


def test_a_bug_in_any_command_is_one_line_and_exit_2(monkeypatch, tmp_path):
    """The boundary is the root group: it covers commands it has never heard of (registered later)."""
    import bastion.banks.repo as repo

    def broken(self):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(repo.BankRepository, "list", broken)
    assert run("--database-url", f"sqlite:///{tmp_path / 'b.db'}", "init").exit_code == 0
    r = run("--database-url", f"sqlite:///{tmp_path / 'b.db'}", "bank", "list")
    no_traceback(r)
    assert r.exit_code == 2
    assert r.stderr.strip() == ("error: unexpected ZeroDivisionError: boom — this is a bug in Bastion; run again "
                                "with --debug and report the traceback")


def test_commands_registered_later_get_the_boundary_and_global_options(tmp_path):
    from typer.main import get_command

    from bastion.cli.app import app as real_app
    from bastion.cli.common import settings_of

    extra = typer.Typer()

    @extra.command("explode")
    def explode(ctx: typer.Context) -> None:
        print(settings_of(ctx).database_url)
        raise RuntimeError("late command failed")

    real_app.add_typer(extra, name="late-test-group")
    try:
        r = run("late-test-group", "explode", "--database-url", "sqlite:///x.db")
        no_traceback(r)
        assert r.exit_code == 2 and "RuntimeError: late command failed" in r.stderr
        assert r.stdout.strip() == "sqlite:///x.db"  # --database-url accepted after the subcommand
        r = run("late-test-group", "explode", "--debug")
        assert r.exit_code == 2 and "Traceback" in r.stderr
    finally:
        real_app.registered_groups[:] = [g for g in real_app.registered_groups if g.name != "late-test-group"]
    assert "late-test-group" not in get_command(real_app).commands


# --- 2. user data is never console markup --------------------------------------------------------------


def test_markup_like_names_are_printed_not_parsed(tmp_path):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    name = "[/]odd[bold]name"
    for args in (("bank", "create", name), ("bank", "list"), ("bank", "show", name), ("bank", "set", name, "--threshold", "5"),
                 ("bank", "add", name, "ab" * 16, "--label", "[/]label"), ("bank", "show", name)):
        r = run("--database-url", db, *args)
        no_traceback(r)
        assert r.exit_code == 0, (args, r.output)
        assert "[/]" in r.output or args[1] == "add"
    (tmp_path / "[red]").mkdir()
    bad = tmp_path / "[red]" / "[bold]list.txt"  # with its folder: ".../[red]/[bold]list.txt" closes a tag
    bad.write_text("pdq [/]\n")
    r = run("--database-url", db, "bank", "import", name, str(bad), "--skip-invalid")
    no_traceback(r)
    assert r.exit_code == 0 and "[red]/[bold]list.txt:1:" in r.stderr and "[/]" in r.stderr.split("list.txt")[1]
    r = run("--database-url", db, "bank", "import", name, str(bad))
    no_traceback(r)
    assert r.exit_code == 2 and "[red]/[bold]list.txt:1:" in r.stderr
    r = run("--database-url", db, "bank", "create", name)  # exists: a BastionError through fail/handle_errors
    assert r.exit_code == 2 and "[/]odd[bold]name" in r.stderr
    r = run("--database-url", db, "bank", "delete", name, "--yes")
    assert r.exit_code == 0 and "[/]odd[bold]name" in r.stdout


def test_eval_report_keeps_field_and_language_tags(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "dm me on telegram", "field": "body", "language": "en",
                                  "labels": ["minor"]}) + "\n", encoding="utf-8")
    r = run("eval", "text", str(corpus))
    no_traceback(r)
    assert r.exit_code == 0 and "[body/en]" in r.stdout


def test_fail_message_is_escaped(tmp_path):
    r = run("scan", str(tmp_path / "[/]missing[x]"))
    no_traceback(r)
    assert r.exit_code == 2 and "[/]missing[x]" in r.stderr


# --- 3. scan's exit statuses ------------------------------------------------------------------------------


def test_scan_exit_statuses_match_then_error_then_clean(tmp_path):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not an image")
    (bad / "b.png").write_bytes(b"")
    run("--database-url", db, "bank", "create", "k")
    r = run("--database-url", db, "scan", str(bad), "-j", "1")
    assert r.exit_code == 2, r.output  # nothing could be examined: not "all clear"
    assert run("hash", str(bad / "a.jpg")).exit_code == 2  # the same as `bastion hash`

    good = tmp_path / "good"
    good.mkdir()
    generated_pattern(7).save(good / "g.png")
    assert run("--database-url", db, "scan", str(good), "-j", "1").exit_code == 0
    md5 = json.loads(run("hash", str(good / "g.png"), "--json").stdout)["md5"]
    run("--database-url", db, "bank", "add", "k", md5)
    generated_pattern(7).save(bad / "g.png")
    assert run("--database-url", db, "scan", str(bad), "-j", "1").exit_code == 1  # a match wins over errors


def test_ctrl_c_stops_cleanly_prints_what_was_found_and_exits_130(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    generated_pattern(3).save(up / "0000.png")
    for i in range(1, 3000):  # far more than can be scanned before the signal arrives
        os.link(up / "0000.png", up / f"{i:04}.png")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "BASTION_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}"}
    # SIGINT as a terminal sends it (a test runner started in the background may have it ignored: restore it)
    p = subprocess.Popen([BASTION, "scan", str(up), "-o", str(out), "-j", "2", "--no-record", "--no-banks"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait until the scan has written results (polling, no time limit asserted), then interrupt it
    while not out.exists() or out.read_text().count("\n") < 3:
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "interrupted after" in stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert 3 <= len(rows) < 3000  # everything found so far is written, every line whole
    assert "Scan summary" in stdout and f"{len(rows):,}" in stdout


# --- 9. flags ---------------------------------------------------------------------------------------------


def test_version_and_invalid_values_are_refused_clearly(tmp_path):
    from bastion import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"bastion {__version__}"
    img = tmp_path / "a.png"
    generated_pattern(1).save(img)
    for args, needle in (
        (("scan", str(img), "--jobs", "-3"), "--jobs"),
        (("text", "hello", "--language", "klingon"), "klingon"),
        (("text", "hello", "--fail-level", "loud"), "--fail-level"),
        (("scan", str(img), "--fail-on", "colour"), "colour"),
        (("bank", "create", "t", "--threshold", "300"), "between 0 and 256"),
    ):
        r = run("--database-url", f"sqlite:///{tmp_path / 'b.db'}", *args)
        no_traceback(r)
        assert r.exit_code == 2 and needle in r.output, (args, r.output)


def test_folders_given_where_files_are_expected(tmp_path):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    r = run("hash", str(tmp_path))
    assert r.exit_code == 2 and "a folder" in r.stdout
    run("--database-url", db, "bank", "create", "b")
    r = run("--database-url", db, "bank", "import", "b", str(tmp_path))
    assert r.exit_code == 2 and "is a folder" in r.stderr


def test_all_zero_pdq_gets_a_warning(tmp_path):
    db = f"sqlite:///{tmp_path / 'b.db'}"
    run("--database-url", db, "bank", "create", "b")
    r = run("--database-url", db, "bank", "add", "b", "0" * 64, "--type", "pdq")
    assert r.exit_code == 0 and "warning:" in r.stderr and "all-zero PDQ" in r.stderr
    r = run("--database-url", db, "bank", "add", "b", "ab" * 32, "--type", "pdq")
    assert r.exit_code == 0 and "warning" not in r.stderr


# --- 12. the suite never writes into the real home ----------------------------------------------------


def test_every_test_has_its_own_bastion_home(tmp_path_factory):
    from bastion.config import default_home

    home = default_home()
    assert Path.home() not in home.parents or str(tmp_path_factory.getbasetemp()) in str(home)
    assert str(tmp_path_factory.getbasetemp()) in str(home)
