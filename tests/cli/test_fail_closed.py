"""Issue 21, fail closed: a mistyped store is not an empty store, a scan with no bank cannot say "clean",
signals end a scan cleanly, and `serve` on a busy port says so in one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

runner = CliRunner()
BASTION = str(Path(sys.executable).with_name("bastion"))


def run(*args, input=None, env=None):
    return runner.invoke(app, list(args), input=input, env=env)


def _one_image(tmp_path) -> Path:
    img = tmp_path / "a.png"
    generated_pattern(5).save(img)
    return img


# --- a store that does not exist ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["scan", "{img}"], ["scan", "{img}", "--no-banks"], ["bank", "list"], ["stats"], ["audit", "verify"],
    ["report", "ncmec", "1"], ["webhook", "list"], ["user", "list"], ["token", "list"],
    ["scan", "{img}", "--engine", "local"],
])
def test_commands_that_read_refuse_a_mistyped_home_and_create_nothing(tmp_path, monkeypatch, command):
    home = tmp_path / "srv" / "bastoin"  # a typo of an existing store's home
    monkeypatch.setenv("BASTION_HOME", str(home))
    img = _one_image(tmp_path)
    r = run(*[c.format(img=img) for c in command])
    assert r.exit_code == 2, r.output
    assert "no Bastion store at" in r.stderr and str(home) in r.stderr and "bastion init" in r.stderr, r.stderr
    assert "Traceback" not in r.output
    assert not home.exists()  # nothing was created: not the folder, not an empty store


def test_init_creates_the_store_once_and_then_reads_work(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    r = run("init")
    assert r.exit_code == 0 and "created the store" in r.stdout, r.output
    assert (home / "bastion.db").is_file() and oct((home / "bastion.db").stat().st_mode & 0o777) == "0o600"
    r = run("init")
    assert r.exit_code == 0 and "already exists" in r.stdout
    assert run("bank", "list").exit_code == 0


@pytest.mark.parametrize("first", [["bank", "create", "k"], ["user", "create", "ann", "--role", "admin", "--no-password"]])
def test_the_first_bank_or_user_creates_the_store(tmp_path, monkeypatch, first):
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    r = run(*first)
    assert r.exit_code == 0, r.output
    assert (home / "bastion.db").is_file()


def test_a_sqlite_url_into_a_missing_folder_creates_no_folders(tmp_path):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'b.db'}"
    r = run("--database-url", url, "bank", "create", "k")
    assert r.exit_code == 2 and "does not exist" in r.stderr, r.output
    r = run("--database-url", url, "init")
    assert r.exit_code == 2 and not (tmp_path / "no").exists()
    r = run("--database-url", url, "bank", "list")
    assert r.exit_code == 2 and "no Bastion store" in r.stderr
    assert not (tmp_path / "no").exists()


def test_an_empty_postgres_database_is_not_a_store(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL variant: a schema with no tables")
    r = run("--database-url", database_url, "bank", "list")
    assert r.exit_code == 2 and "no Bastion store" in r.stderr, r.output
    assert run("--database-url", database_url, "init").exit_code == 0
    assert run("--database-url", database_url, "bank", "list").exit_code == 0


# --- a scan with no bank ---------------------------------------------------------------------------------


def test_a_scan_with_no_enabled_bank_says_so_every_time_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("BASTION_HOME", str(tmp_path / "home"))
    img = _one_image(tmp_path)
    assert run("init").exit_code == 0
    for _ in range(2):  # every run, not only the first
        r = run("scan", str(img), "-j", "1")
        assert r.exit_code == 2 and "no enabled bank" in r.stderr and "--no-banks" in r.stderr, r.output
    # an allow-list alone does not count; a disabled bank does not either
    assert run("bank", "create", "fine", "--category", "known-benign").exit_code == 0
    assert run("bank", "create", "off", "--category", "csam", "--disabled").exit_code == 0
    r = run("scan", str(img), "-j", "2")
    assert r.exit_code == 2 and "no enabled bank" in r.stderr
    r = run("scan", str(img), "--engine", "local", "-j", "1")  # archive mode too
    assert r.exit_code == 2 and "no enabled bank" in r.stderr, r.output
    # --no-banks: scanned, with a warning that nothing was matched
    r = run("scan", str(img), "-j", "1", "--no-banks", "--jsonl")
    assert r.exit_code == 0, r.output
    assert "not matched against any hash bank" in r.stderr
    assert json.loads(r.stdout.splitlines()[0])["path"] == str(img)
    # an enabled bank: a plain scan runs
    assert run("bank", "set", "off", "--enable").exit_code == 0
    assert run("scan", str(img), "-j", "1").exit_code == 0


def test_no_banks_and_no_record_needs_no_store(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BASTION_HOME", str(home))
    r = run("scan", str(_one_image(tmp_path)), "-j", "1", "--no-banks", "--no-record")
    assert r.exit_code == 0, r.output
    assert not home.exists()


# --- signals ---------------------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids |= {int(x) for x in f.read().split()}
    except FileNotFoundError:
        pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_a_scan_like_ctrl_c_writes_what_was_found_and_leaves_no_worker(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    generated_pattern(3).save(up / "0000.png")
    for i in range(1, 3000):  # far more than can be scanned before the signal arrives
        os.link(up / "0000.png", up / f"{i:04}.png")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home")}
    p = subprocess.Popen([BASTION, "scan", str(up), "-o", str(out), "-j", "2", "--no-banks", "--no-record"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not out.exists() or out.read_text().count("\n") < 3:
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    workers = _children(p.pid)
    assert workers  # the pool is running
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 143, (stdout, stderr)
    assert "Traceback" not in stderr and "terminated (SIGTERM) after" in stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert 3 <= len(rows) < 3000  # what was found is written, every line whole
    assert "Scan summary" in stdout and f"{len(rows):,}" in stdout
    deadline = time.monotonic() + 30  # bounded: the workers end with their parent, not 57 s later
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived its scan"


def test_sigterm_stops_a_one_process_scan_too(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    generated_pattern(4).save(up / "0000.png")
    for i in range(1, 3000):
        os.link(up / "0000.png", up / f"{i:04}.png")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home")}
    p = subprocess.Popen([BASTION, "scan", str(up), "-o", str(out), "-j", "1", "--no-banks", "--no-record"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not out.exists() or out.read_text().count("\n") < 3:
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 143 and "Scan summary" in stdout, (stdout, stderr)


def test_serve_on_a_busy_port_is_one_error_line_and_exit_2(tmp_path):
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home")}
    assert subprocess.run([BASTION, "init"], env=env, capture_output=True, timeout=120).returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = subprocess.run([BASTION, "serve", "--port", str(port), "--no-background"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(port) in lines[0], p.stderr
    assert "ERROR:" not in p.stderr and p.stdout == ""
