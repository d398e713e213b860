"""Issue 11, output: every finding shown as files finish, log lines stay one line, JSON lines that say which
scan and which file, the same key names everywhere, `bastion text` reading JSON-lines items."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

runner = CliRunner()


def with_bank(db: str) -> str:
    """A store with one (empty) bank: a scan refuses a store with none."""
    assert run("--database-url", db, "bank", "create", "k").exit_code == 0
    return db


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def _generated_png(path: Path, prompt: str) -> None:
    info = PngInfo()
    info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512")
    generated_pattern(3).save(path, pnginfo=info)


def test_human_output_shows_provenance_and_text_findings_and_fail_on_gates_them(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    _generated_png(up / "gen.png", "12yo nsfw dm me")  # the repository's shortest critical fixture text
    generated_pattern(4).save(up / "plain.png")
    db = with_bank(f"sqlite:///{tmp_path / 'b.db'}")
    r = run("--database-url", db, "scan", str(up), "-j", "1")
    assert r.exit_code == 0, r.output  # findings are shown; only a bank match exits 1 by default
    ai = [x for x in r.stdout.splitlines() if x.startswith("AI ")]
    text = [x for x in r.stdout.splitlines() if x.startswith("TEXT ")]
    assert len(ai) == 1 and "gen.png" in ai[0] and "AUTOMATIC1111" in ai[0]
    assert len(text) == 1 and "gen.png" in text[0] and "level critical" in text[0]
    assert not any("plain.png" in x for x in r.stdout.splitlines())
    summary = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.stdout.splitlines() if line.count("│") == 3}
    assert summary["AI-generation traces"] == "1" and summary["text at review or above"] == "1"

    assert run("--database-url", db, "scan", str(up), "-j", "1", "--fail-on", "ai-generated").exit_code == 1
    assert run("--database-url", db, "scan", str(up), "-j", "1", "--fail-on", "text-high").exit_code == 1
    assert run("--database-url", db, "scan", str(up / "plain.png"), "-j", "1",
               "--fail-on", "ai-generated,text-low").exit_code == 0


def test_findings_are_printed_as_files_finish_not_at_the_end(tmp_path, monkeypatch):
    """A result is on screen the moment its file is done: a scan that dies later has still shown it."""
    from bastion.scan import FileResult, Scanner

    def run_then_die(self, files, on_result, ready=None):
        if ready is not None:
            ready()
        res = FileResult(path=str(tmp_path / "first.png"))
        res.add_error("truncated-media", "image data ends early", "decode")
        on_result(res)
        raise RuntimeError("worker pool lost")

    monkeypatch.setattr(Scanner, "run", run_then_die)
    generated_pattern(1).save(tmp_path / "first.png")
    r = run("--database-url", with_bank(f"sqlite:///{tmp_path / 'b.db'}"), "scan", str(tmp_path / "first.png"))
    assert r.exit_code == 2
    assert "ERROR " in r.stdout and "first.png: truncated-media" in r.stdout
    assert "RuntimeError: worker pool lost" in r.stderr


def test_standard_error_lines_are_never_wrapped_when_not_a_terminal(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 6) / "missing-file-with-a-long-name.png"
    r = run("scan", str(deep))
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [f"error: no such file or folder: {deep}"]
    # ERROR lines of a scan writing JSON to standard output go to standard error, one line each
    (tmp_path / "x").mkdir()
    bad = tmp_path / "x" / ("undecodable-" * 12 + ".jpg")
    bad.write_bytes(b"not an image at all")
    r = run("--database-url", with_bank(f"sqlite:///{tmp_path / 'b.db'}"), "scan", str(bad), "--jsonl", "-j", "1")
    errors = [x for x in r.stderr.splitlines() if x.startswith("ERROR ")]
    assert len(errors) == 1 and errors[0].endswith("supported: jpeg, png, webp, gif, bmp, tiff, heic, avif")


def test_json_lines_carry_scan_id_time_and_absolute_path(tmp_path, monkeypatch):
    up = tmp_path / "up"
    up.mkdir()
    generated_pattern(1).save(up / "a.png")
    generated_pattern(2).save(up / "b.png")
    monkeypatch.chdir(tmp_path)
    r = run("--database-url", with_bank(f"sqlite:///{tmp_path / 'b.db'}"), "scan", "up", "--jsonl", "-j", "1")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 2 and len({x["scan_id"] for x in rows}) == 1 and len(rows[0]["scan_id"]) == 32
    assert {x["path"] for x in rows} == {str(up / "a.png"), str(up / "b.png")}
    for x in rows:
        assert datetime.fromisoformat(x["time"]).utcoffset().total_seconds() == 0
        assert x["size"] == (up / Path(x["path"]).name).stat().st_size
        assert x["format"] == "png" and "media_format" not in x


def test_hash_uses_the_json_key_names_and_bank_set_reads_like_the_others(tmp_path):
    img = tmp_path / "a.png"
    generated_pattern(1).save(img)
    r = run("hash", str(img))
    keys = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert "format" in keys and "media_format" not in keys
    assert set(keys) <= set(json.loads(run("hash", str(img), "--json").stdout))

    db = f"sqlite:///{tmp_path / 'b.db'}"
    run("--database-url", db, "bank", "create", "b")
    r = run("--database-url", db, "bank", "set", "b", "--threshold", "12")
    assert r.exit_code == 0 and r.stdout.startswith("updated bank 'b'") and "12" in r.stdout
    assert not r.stdout.lstrip().startswith("{")
    r = run("--database-url", db, "bank", "set", "b", "--threshold", "13", "--json")
    assert json.loads(r.stdout)["pdq_threshold"] == 13


def test_text_reads_json_lines_items_and_keeps_blank_lines_in_place():
    lines = [
        json.dumps({"id": "p1", "field": "title", "text": "a red cube"}),
        "",
        json.dumps({"id": "p2", "title": "12yo", "body": "nsfw", "tag": ["dm me"]}),
        "plain text line",
        json.dumps({"id": "p3", "field": "caption", "text": "x"}),  # unknown field: an error in its place
    ]
    r = run("text", "--json", input="\n".join(lines) + "\n")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["line"] for x in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["id"] == "p1" and rows[0]["fields"] == ["title"] and rows[0]["level"] == "none"
    assert rows[1]["text"] == "" and rows[1]["level"] == "none"
    assert rows[2]["id"] == "p2" and set(rows[2]["fields"]) == {"title", "body", "tag"}
    assert rows[2]["level"] == "critical"  # scored as one item: the words are in different fields
    assert rows[3]["text"] == "plain text line"
    assert rows[4]["id"] == "p3" and "caption" in rows[4]["error"]
    assert r.exit_code == 1  # something at the fail level; the bad line is reported, not dropped

    r = run("text", "--json", "--fail-level", "never", input=lines[2] + "\n")
    assert r.exit_code == 0
    r = run("text", "--json", input=lines[4] + "\n")
    assert r.exit_code == 2


def test_text_exit_status_follows_fail_level():
    assert run("text", "see n.s.f.w art").exit_code == 0  # one `low` signal: below review
    assert run("text", "see n.s.f.w art", "--fail-level", "low").exit_code == 1
    assert run("text", "12yo nsfw dm me").exit_code == 1
    assert run("text", "12yo nsfw dm me", "--fail-level", "never").exit_code == 0


def test_archive_mode_json_lines_carry_the_run_id_and_time(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    generated_pattern(1).save(up / "a.png")
    (up / "bad.jpg").write_bytes(b"not an image")
    db = with_bank(f"sqlite:///{tmp_path / 'b.db'}")
    r = run("--database-url", db, "scan", str(up), "--engine", "local", "-j", "1", "--jsonl")
    assert r.exit_code == 2, r.output  # a file could not be examined, nothing matched
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    run_ids = {line.split("scan run ")[1].split()[0] for line in r.stderr.splitlines() if "scan run " in line}
    assert len(rows) == 2 and {x["scan_id"] for x in rows} == run_ids and len(run_ids) == 1
    assert all(datetime.fromisoformat(x["time"]) for x in rows)
    assert any(x.startswith("ERROR ") and "bad.jpg" in x for x in r.stderr.splitlines())


def test_debug_environment_value_never_breaks_a_command(monkeypatch):
    monkeypatch.setenv("BASTION_DEBUG", "2")  # not a boolean click would accept
    assert run("text", "a red cube").exit_code == 0
