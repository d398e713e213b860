"""`bastion scan`, `bastion hash`, `bastion bank` and `bastion demo` end to end, through the real CLI."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import _bomb_png, build_corpus, check, generated_pattern

runner = CliRunner()


def cli(db_url, *args, input=None):
    return runner.invoke(app, ["--database-url", db_url, *args], input=input, catch_exceptions=False)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "uploads"
    (d / "sub").mkdir(parents=True)
    generated_pattern(1).save(d / "known.png")
    generated_pattern(1).resize((320, 240)).save(d / "sub" / "known-small.jpg", quality=85)
    generated_pattern(2).save(d / "other.png")
    (d / "bomb.png").write_bytes(_bomb_png())
    data = (d / "known.png").read_bytes()
    (d / "sub" / "truncated.png").write_bytes(data[: len(data) // 3])
    (d / "empty.jpg").write_bytes(b"")
    return d


def jsonl(output: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {r["path"].rsplit("/", 1)[-1]: r for r in rows}


def test_scan_reports_every_file_and_exits_by_outcome(database_url, folder, tmp_path):
    assert cli(database_url, "bank", "create", "known", "--category", "test").exit_code == 0
    # nothing in the bank yet, but some files cannot be examined: exit 2, every file reported, bad ones with
    # typed errors
    r = cli(database_url, "scan", str(folder), "--jsonl", "--jobs", "2")
    assert r.exit_code == 2, r.output
    rows = jsonl(r.stdout)
    assert set(rows) == {"known.png", "known-small.jpg", "other.png", "bomb.png", "truncated.png", "empty.jpg"}
    assert rows["bomb.png"]["errors"][0]["code"] == "decompression-bomb"
    assert rows["truncated.png"]["errors"][0]["code"] == "truncated-media"
    assert rows["empty.jpg"]["errors"][0]["code"] == "unsupported-media"
    assert rows["bomb.png"]["sha256"] and rows["bomb.png"]["pdq"] is None  # exact hashes even when undecodable
    good = rows["known.png"]
    assert len(good["pdq"]) == 64 and good["quality"] >= 50 and good["errors"] == [] and good["matches"] == []

    # the known image's PDQ goes into the bank: the original and its resized JPEG copy now match
    assert cli(database_url, "bank", "add", "known", good["pdq"], "--type", "pdq", "--label", "[pattern one]").exit_code == 0
    out = tmp_path / "out.jsonl"
    r = cli(database_url, "scan", str(folder), "-o", str(out), "--jobs", "1")
    assert r.exit_code == 1, r.output
    rows = jsonl(out.read_text())
    assert rows["known.png"]["matches"][0] | {} == {
        "bank": "known", "category": "test", "hash_type": "pdq", "hash": good["pdq"], "label": "[pattern one]",
        "distance": 0, "variant": "original",
    }
    small = rows["known-small.jpg"]["matches"]
    assert small and 0 < small[0]["distance"] <= 31
    assert rows["other.png"]["matches"] == []
    assert "MATCH" in r.stdout and "decompression-bomb" in r.stdout
    assert "label '[pattern one]'" in r.stdout  # user data is printed, never read as console markup


def test_scan_exact_md5_and_missing_path(database_url, folder):
    from bastion.media.hashing import crypto_hashes

    md5 = crypto_hashes((folder / "other.png").read_bytes()).md5
    cli(database_url, "bank", "create", "exact")
    cli(database_url, "bank", "add", "exact", md5)
    r = cli(database_url, "scan", str(folder / "other.png"), "--jsonl", "--jobs", "1")
    assert r.exit_code == 1
    m = jsonl(r.stdout)["other.png"]["matches"]
    assert [(x["hash_type"], x["distance"], x["variant"]) for x in m] == [("md5", 0, None)]
    r = cli(database_url, "scan", str(folder / "nope.png"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_bank_rules_threshold_quality_disabled_allowlist(database_url, folder):
    from bastion.media.hashing import pdq_from_image

    pdq, _ = pdq_from_image(Image.open(folder / "known.png").convert("RGB"))
    cli(database_url, "bank", "create", "strict", "--threshold", "0")
    cli(database_url, "bank", "add", "strict", pdq, "--type", "pdq")
    r = cli(database_url, "scan", str(folder / "sub" / "known-small.jpg"), "--jsonl", "-j", "1")
    assert r.exit_code == 0  # the resized copy is a few bits away: not within threshold 0
    cli(database_url, "bank", "set", "strict", "--threshold", "31")
    r = cli(database_url, "scan", str(folder / "sub" / "known-small.jpg"), "--jsonl", "-j", "1")
    assert r.exit_code == 1
    assert cli(database_url, "bank", "set", "strict", "--min-quality", "101").exit_code == 2

    # a nearly flat image hashes with quality 0: recorded, but matched only by a bank that asks for it. (Not a
    # perfectly constant one: its DCT is all zeros, so its bits are float rounding noise in any implementation.)
    import numpy as np

    flat = folder / "flat.png"
    ramp = np.linspace(120, 136, 200)[None, :] + np.linspace(0, 6, 200)[:, None]
    Image.fromarray(np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)).save(flat)
    flat_pdq, quality = pdq_from_image(Image.open(flat).convert("RGB"))
    assert quality < 50
    cli(database_url, "bank", "add", "strict", flat_pdq, "--type", "pdq")
    r = cli(database_url, "scan", str(flat), "--jsonl", "-j", "1")
    assert r.exit_code == 0 and jsonl(r.stdout)["flat.png"]["quality"] == quality
    cli(database_url, "bank", "set", "strict", "--min-quality", "0")
    assert cli(database_url, "scan", str(flat), "--jsonl", "-j", "1").exit_code == 1

    cli(database_url, "bank", "set", "strict", "--min-quality", "50", "--disable")
    r = cli(database_url, "scan", str(folder / "known.png"), "--jsonl", "-j", "1")
    assert r.exit_code == 2 and "no enabled bank" in r.stderr  # the only bank is off: no "clean" from nothing
    # a disabled bank can still be asked for by name
    assert cli(database_url, "scan", str(folder / "known.png"), "--bank", "strict", "-j", "1").exit_code == 1
    assert cli(database_url, "scan", str(folder / "known.png"), "--bank", "nope", "-j", "1").exit_code == 2

    cli(database_url, "bank", "create", "fine", "--category", "known-benign")
    cli(database_url, "bank", "add", "fine", pdq, "--type", "pdq")
    r = cli(database_url, "scan", str(folder / "known.png"), "--jsonl", "-j", "1")
    assert r.exit_code == 2 and "no enabled bank" in r.stderr  # an allow-list alone is no bank to match against
    cli(database_url, "bank", "create", "other")  # an enabled bank without this image
    r = cli(database_url, "scan", str(folder / "known.png"), "--jsonl", "-j", "1")
    assert r.exit_code == 0  # allow-list matches are reported but never count
    assert jsonl(r.stdout)["known.png"]["matches"][0]["category"] == "known-benign"


def test_bank_import_export_cli_roundtrip_and_bad_lines(database_url, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("hash_type,hash,label\npdq,%s,a\nmd5,%s,b\n" % ("ab" * 32, "cd" * 16))
    cli(database_url, "bank", "create", "b")
    r = cli(database_url, "bank", "import", "b", str(src))
    assert r.exit_code == 0 and "added 2" in r.output
    r = cli(database_url, "bank", "import", "b", str(src))
    assert "added 0, already present 2" in r.output
    for fmt in ("csv", "lines"):
        out = tmp_path / f"out.{fmt}"
        assert cli(database_url, "bank", "export", "b", "--format", fmt, "-o", str(out)).exit_code == 0
        cli(database_url, "bank", "create", f"copy-{fmt}")
        assert cli(database_url, "bank", "import", f"copy-{fmt}", str(out), "--format", fmt).exit_code == 0
        r = cli(database_url, "bank", "show", f"copy-{fmt}", "--json")
        got = {(e["hash_type"], e["hash"]) for e in json.loads(r.stdout)["entries"]}
        assert got == {("pdq", "ab" * 32), ("md5", "cd" * 16)}
    bad = tmp_path / "bad.txt"
    bad.write_text("pdq " + "ef" * 32 + "\npdq 12\n")
    r = cli(database_url, "bank", "import", "b", str(bad))
    assert r.exit_code == 2 and f"{bad}:2:" in r.output
    assert json.loads(cli(database_url, "bank", "show", "b", "--json").stdout)["entry_count"] == 2
    r = cli(database_url, "bank", "import", "b", str(bad), "--skip-invalid")
    assert r.exit_code == 0 and "added 1" in r.output and "invalid 1" in r.output
    assert cli(database_url, "bank", "import", "nope", str(bad)).exit_code == 2
    assert cli(database_url, "bank", "delete", "b", "--yes").exit_code == 0
    assert "b" not in [json.loads(x)["name"] for x in cli(database_url, "bank", "list", "--json").stdout.splitlines()]


def test_hash_command(tmp_path):
    f = tmp_path / "p.png"
    generated_pattern(5).save(f)
    r = runner.invoke(app, ["hash", str(f), "--json", "--dihedral"])
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert len(d["sha256"]) == 64 and len(d["pdq_variants"]) == 8 and d["pdq_variants"]["original"] == d["pdq"]
    (tmp_path / "x.txt").write_text("hello")
    r = runner.invoke(app, ["hash", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and "unsupported-media" in r.stdout


def test_demo_corpus_transformed_copies_match_and_distractors_do_not(tmp_path):
    r = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo"), "--jsonl", "--jobs", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "demo" / "scan.jsonl").read_text().splitlines()]
    _, uploads, expectations = build_corpus(tmp_path / "again")  # same corpus, deterministic
    by_rel = {r["path"].split("/uploads/", 1)[1]: r for r in rows}
    assert set(by_rel) == {e.path for e in expectations}
    kinds = {e.expect for e in expectations}
    assert {"match", "no-match", "allow-listed"} <= kinds and any(k.startswith("error:") for k in kinds)
    for e in expectations:
        ok, why = check(e, by_rel[e.path])
        assert ok, f"{e.path}: {why}"


def test_linked_folders_and_special_files_are_reported_not_dropped(tmp_path):
    import os

    from bastion.scan import examine_file, iter_files

    d = tmp_path / "d"
    (d / "real").mkdir(parents=True)
    generated_pattern(1).save(d / "real" / "a.png")
    os.symlink(d / "real", d / "link")  # would loop if it pointed upwards; never followed
    os.mkfifo(d / "pipe")
    files = list(iter_files([d]))
    assert sorted(os.path.relpath(f, d) for f in files) == ["link", "pipe", "real/a.png"]
    errors = {os.path.basename(f): examine_file(f).errors for f in files}
    assert errors["a.png"] == []
    assert errors["link"][0]["code"] == "not-a-file" and "linked folder" in errors["link"][0]["message"]
    assert errors["pipe"][0]["code"] == "not-a-file"
