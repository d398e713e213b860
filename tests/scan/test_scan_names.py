"""Names, terminals, folders and special files (issue 12, items 4 and 5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import stat
import sys
import threading

import pytest
from typer.testing import CliRunner

import probes
from bastion.cli import app
from bastion.names import display_path, path_bytes_hex, path_text, printable
from bastion.scan import Scanner, examine_file, iter_files

runner = CliRunner()
posix_only = pytest.mark.skipif(os.name != "posix" or sys.platform == "darwin", reason="POSIX byte names")


def cli(db_url, *args):
    return runner.invoke(app, ["--database-url", db_url, *args], catch_exceptions=False)


def rows_of(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_helpers_escape_losslessly():
    raw = b"caf\xe9-\xff.png"  # Latin-1 bytes: not UTF-8
    name = os.fsdecode(raw)
    assert path_text(name) == "caf\\xe9-\\xff.png"
    assert bytes.fromhex(path_bytes_hex(name)) == raw
    assert path_text("plain é.png") == "plain é.png" and path_bytes_hex("plain é.png") is None
    assert printable("a\x1b[2Jb\u202egnp.exe\n") == "a\\x1b[2Jb\\u202egnp.exe\\x0a"
    assert display_path(os.fsdecode(b"\x1b]0;x\x07\xff")) == "\\x1b]0;x\\x07\\xff"


@posix_only
def test_a_name_that_is_not_utf8_is_kept_in_json_store_and_console(database_url, tmp_path):
    folder = tmp_path / "up"
    folder.mkdir()
    raw = os.fsencode(str(folder)) + b"/caf\xe9.png"
    with open(raw, "wb") as f:
        f.write(probes.png_bytes(probes.pattern(1)))
    probes.pattern(2).save(folder / "ok.png")
    assert cli(database_url, "bank", "create", "k").exit_code == 0
    r = cli(database_url, "scan", str(folder), "--jsonl", "--jobs", "1")
    assert r.exit_code == 0, r.output
    rows = {row["path"].rsplit("/", 1)[1]: row for row in rows_of(r.stdout)}
    assert set(rows) == {"caf\\xe9.png", "ok.png"}
    bad = rows["caf\\xe9.png"]
    assert bytes.fromhex(bad["path_bytes"]) == raw and len(bad["pdq"]) == 64 and bad["errors"] == []
    assert "path_bytes" not in rows["ok.png"]
    # recorded in the store too (the scan records by default): a second scan still works
    assert cli(database_url, "scan", str(folder), "--jobs", "1").exit_code == 0


@posix_only
def test_control_characters_in_names_never_reach_the_terminal_raw(database_url, tmp_path):
    folder = tmp_path / "up"
    folder.mkdir()
    evil = folder / "x\x1b[2J\x1b]0;title\x07.png"
    evil.write_bytes(b"not an image")  # an error line prints its path
    assert cli(database_url, "bank", "create", "k").exit_code == 0
    for args in (("scan", str(folder), "--jobs", "1", "--no-progress"), ("hash", str(evil))):
        r = cli(database_url, *args)
        assert "\x1b" not in r.output and "\x07" not in r.output, args
        assert "\\x1b[2J" in r.output, args
    r = runner.invoke(app, ["inspect", str(evil)])
    assert "\x1b" not in r.output and "\\x1b" in r.output


_UNREADABLE_SCRIPT = """
import json, os, sys
from bastion.scan import Scanner, iter_files
results = {}
Scanner(jobs=1).run(iter_files([sys.argv[1]]), lambda r: results.setdefault(os.path.basename(r.path), r.errors))
print(json.dumps(results))
"""


def _unprivileged() -> list[str]:
    """A command prefix that runs a process without the power to read every folder. As root (CI's containers)
    that power is CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: setpriv drops them from the bounding set, so the
    child is as unprivileged about file modes as any user (the uid stays, so the interpreter under /root can
    still be run, which ``--reuid=nobody`` could not)."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to run this test unprivileged")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


@posix_only
def test_an_unreadable_subfolder_is_reported(tmp_path):
    """Run unprivileged in a child process, as root too (it used to be skipped as root, so CI never ran it)."""
    probes.pattern(1).save(tmp_path / "ok.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    probes.pattern(2).save(locked / "inside.png")
    locked.chmod(0)
    try:
        p = subprocess.run([*_unprivileged(), sys.executable, "-c", _UNREADABLE_SCRIPT, str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o700)
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)
    assert results["locked"][0]["code"] == "unreadable"
    assert results["ok.png"] == []
    assert "inside.png" not in results


def test_an_unreadable_subfolder_is_reported_even_as_root(tmp_path, monkeypatch):
    """Root reads every folder, so the listing error is raised the way os.walk meets it."""
    probes.pattern(1).save(tmp_path / "ok.png")
    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(iter_files([tmp_path]))
    monkeypatch.undo()
    results = {}
    Scanner(jobs=1).run(items, lambda r: results.setdefault(os.path.basename(r.path), r))
    assert sorted(results) == ["locked", "ok.png"]
    assert results["locked"].errors[0]["code"] == "unreadable"
    assert "Permission denied" in results["locked"].errors[0]["message"]


@posix_only
def test_a_fifo_never_hangs_scan_hash_or_inspect(database_url, tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome = {}

    def run():
        outcome["examine"] = examine_file(str(fifo))
        outcome["inspect"] = runner.invoke(app, ["inspect", str(fifo)])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert outcome["examine"].errors[0]["code"] == "not-a-file"
    assert outcome["inspect"].exit_code == 2 and "not a regular file" in outcome["inspect"].output


@posix_only
def test_links_out_of_the_roots_are_not_followed_unless_asked(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("PLACEHOLDER_SECRET=1\n")
    probes.pattern(3).save(outside / "pic.png")
    root = tmp_path / "root"
    root.mkdir()
    probes.pattern(4).save(root / "inside.png")
    (root / "to-secret").symlink_to(secret)
    (root / "to-pic.png").symlink_to(outside / "pic.png")
    (root / "to-inside.png").symlink_to(root / "inside.png")
    results = {}
    Scanner(jobs=1, provenance=False).run(iter_files([root]), lambda r: results.setdefault(os.path.basename(r.path), r))
    assert results["to-secret"].errors[0]["code"] == "link-outside-roots"
    assert results["to-pic.png"].errors[0]["code"] == "link-outside-roots" and results["to-pic.png"].sha256 is None
    assert results["to-inside.png"].errors == [] and results["to-inside.png"].pdq  # inside the root: followed
    followed = {}
    Scanner(jobs=1, provenance=False).run(iter_files([root], follow_links=True),
                                          lambda r: followed.setdefault(os.path.basename(r.path), r))
    assert followed["to-pic.png"].errors == [] and followed["to-pic.png"].pdq
    # never an echo of the content in an error
    err = followed["to-secret"].errors[0]
    assert err["code"] == "unsupported-media" and "PLACEHOLDER" not in err["message"]
    assert "504c414345" not in err["message"]  # nor its bytes in hex


def test_control_characters_in_embedded_prompts_are_escaped_by_inspect(tmp_path):
    path = tmp_path / "prompt.png"
    path.write_bytes(probes.with_text_run(probes.pattern(1), key="parameters", head="a watercolor\x1b[2J", run=1))
    r = runner.invoke(app, ["inspect", "--no-pixels", str(path)])
    assert "\x1b" not in r.output
