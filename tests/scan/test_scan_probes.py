"""Issue 12, done when: a scan of a folder holding every probe file plus ordinary images finishes, reports
every bad file, matches every damaged copy of a banked image, and exits with the documented code.

The probe files are written here (benign pictures; the hostility is structural). The scan runs through the
real CLI on two workers. It is bounded by the per-file time budget; the child process timeout below is
only a guard that turns a hang into a failure instead of a stuck test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import probes

HERE = Path(__file__).parent


def _build(folder: Path, outside: Path) -> dict[str, str]:
    """Write the probes; returns name -> what the scan must say about it."""
    banked = probes.pattern(7)
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, what: str) -> None:
        (folder / name).write_bytes(data)
        expect[name] = what

    for i in range(4):
        put(f"ordinary-{i}.png", probes.png_bytes(probes.pattern(30 + i)), "clean")
    put("ordinary.jpg", probes.jpeg_bytes(probes.pattern(40)), "clean")
    put("regex-stall.png", probes.with_text_run(probes.pattern(8), head="telegram", run=100_000), "clean")
    put("cashapp-stall.png", probes.with_text_run(probes.pattern(9), head="cash app", run=100_000), "clean")
    put("damaged-ztxt.png", probes.with_huge_ztxt(banked), "damaged-match")
    put("damaged-crc.png", probes.with_bad_crc_chunk(banked), "damaged-match")
    put("damaged-no-eoi.jpg", probes.jpeg_without_eoi(banked), "damaged-match")
    put("damaged-cut.jpg", probes.jpeg_cut(banked, 64), "damaged-match")
    put("float32-9999.tif", probes.float_tiff(9999), "error:decompression-bomb")
    put("sixteen-bit-9999.png", probes.sixteen_bit_png(9999), "clean")
    put("many-notes.png", probes.many_text_chunks(probes.pattern(10)), "clean")
    put("mentions-c2pa.txt", b"a text file that mentions c2pa\n", "error:unsupported-media")
    put("empty.jpg", b"", "error:unsupported-media")
    raw = os.fsencode(str(folder)) + b"/caf\xe9.png"
    with open(raw, "wb") as f:
        f.write(probes.png_bytes(probes.pattern(11)))
    expect["caf\\xe9.png"] = "clean"
    put("x\x1b[2J.png", b"not an image", "error:unsupported-media")
    os.mkfifo(folder / "pipe.png")
    expect["pipe.png"] = "error:not-a-file"
    secret = outside / "secret.txt"
    secret.write_text("PLACEHOLDER=1\n")
    (folder / "to-secret").symlink_to(secret)
    expect["to-secret"] = "error:link-outside-roots"
    return expect


@pytest.mark.skipif(os.name != "posix", reason="FIFOs, byte names and symlinks")
def test_a_folder_of_every_probe_is_scanned_completely(tmp_path):
    folder = tmp_path / "uploads"
    outside = tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    expect = _build(folder, outside)
    (tmp_path / "original.png").write_bytes(probes.png_bytes(probes.pattern(7)))
    db = f"sqlite:///{tmp_path / 'bastion.db'}"
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home")}

    def bastion(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        code = "import sys; from bastion.cli import main; sys.argv[0] = 'bastion'; sys.exit(main())"
        return subprocess.run([sys.executable, "-c", code, "--database-url", db, *args], capture_output=True,
                              env=env, timeout=timeout)

    assert bastion("bank", "create", "known").returncode == 0
    h = bastion("hash", "--json", str(tmp_path / "original.png"))
    pdq = json.loads(h.stdout)["pdq"]
    assert bastion("bank", "add", "known", pdq, "--type", "pdq", "--label", "pattern seven").returncode == 0

    r = bastion("scan", str(folder), "--jsonl", "--jobs", "2", "--no-progress")
    rows = {}
    for line in r.stdout.decode("utf-8").splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["path"].rsplit("/", 1)[1]] = row
    assert r.returncode == 1, r.stderr.decode("utf-8", "replace")[-3000:]  # documented: 1 = something matched
    assert b"\x1b" not in r.stderr and b"\x1b" not in r.stdout  # no raw escape sequence reaches a terminal
    assert set(rows) == set(expect), set(rows) ^ set(expect)
    for name, what in expect.items():
        row = rows[name]
        codes = [e["code"] for e in row["errors"]]
        if what == "clean":
            assert codes == [] and len(row["pdq"]) == 64, (name, row["errors"])
        elif what == "damaged-match":
            assert codes == [], (name, codes)
            assert [m["label"] for m in row["matches"]] == ["pattern seven"], name
            assert any(s["category"] == "damaged-media" for s in row.get("signals", [])), name
        else:
            assert what.split(":", 1)[1] in codes, (name, codes)
    assert len(json.dumps(rows["many-notes.png"])) < 20_000
    assert not (rows["mentions-c2pa.txt"].get("provenance") or {}).get("c2pa")
    assert bytes.fromhex(rows["caf\\xe9.png"]["path_bytes"]).endswith(b"caf\xe9.png")
