"""Nothing one upload does can stall the scan of the others or hide a banked image (issue 12)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

import probes
from bastion import scan
from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.model import Bank, HashEntry
from bastion.scan import Scanner, examine_file, iter_files

_real_examine = scan.examine_file
needs_fork = pytest.mark.skipif(
    os.name != "posix" or multiprocessing.get_start_method() != "fork",
    reason="relies on fork to carry the patched function into workers",
)


@pytest.fixture(autouse=True, scope="module")
def _warm():
    """Import and warm every stage once, so a budget measures the stage under test, not first imports."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "warm.png")
        with open(path, "wb") as f:
            f.write(probes.with_text_run(probes.pattern(0), head="a watercolor", run=10))
        examine_file(path)


def _slow_text(*_a, **_k):
    while True:  # stands in for a detector that never finishes on some input (pure Python: interruptible)
        sum(range(1000))


def test_a_file_over_its_time_budget_is_stopped_and_keeps_its_hashes(tmp_path, monkeypatch):
    import bastion.text

    path = tmp_path / "prompt.png"
    path.write_bytes(probes.with_text_run(probes.pattern(1), key="parameters", head="a watercolor", run=10))
    monkeypatch.setattr(bastion.text, "analyze_item", _slow_text)
    res = examine_file(str(path), time_budget=3)
    assert [e["code"] for e in res.errors] == ["time-budget"]
    assert res.errors[0]["stage"] == "text"
    assert len(res.pdq) == 64 and res.sha256  # what was learnt before the stop still matches


@needs_fork
@pytest.mark.parametrize("jobs", [1, 2])
def test_the_scan_goes_on_after_a_file_over_budget(tmp_path, monkeypatch, jobs):
    import bastion.text

    (tmp_path / "slow.png").write_bytes(probes.with_text_run(probes.pattern(1), head="a watercolor", run=10))
    for i in range(3):
        probes.pattern(10 + i).save(tmp_path / f"ok-{i}.png")
    monkeypatch.setattr(bastion.text, "analyze_item", _slow_text)
    results = {}
    summary = Scanner(jobs=jobs, time_budget=3).run(iter_files([tmp_path]), lambda r: results.setdefault(os.path.basename(r.path), r))
    assert sorted(results) == ["ok-0.png", "ok-1.png", "ok-2.png", "slow.png"]
    assert results["slow.png"].errors[0]["code"] == "time-budget"
    assert all(results[f"ok-{i}.png"].errors == [] for i in range(3))
    assert summary.error_codes == {"time-budget": 1}


def _stuck_in_c(path, **kw):
    if path.endswith("stuck.png"):
        # Stands in for a C library that never returns: the soft timer's signal cannot get through.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    return _real_examine(path, **kw)


@needs_fork
def test_a_worker_stuck_where_no_signal_reaches_is_killed_and_the_file_pinned(tmp_path, monkeypatch):
    probes.pattern(5).save(tmp_path / "stuck.png")
    for i in range(4):
        probes.pattern(20 + i).save(tmp_path / f"ok-{i}.png")
    monkeypatch.setattr(scan, "examine_file", _stuck_in_c)
    monkeypatch.setattr(scan, "HARD_GRACE", 0.5)
    results = {}
    summary = Scanner(jobs=2, time_budget=0.5).run(iter_files([tmp_path]), lambda r: results.setdefault(os.path.basename(r.path), r))
    assert sorted(results) == ["ok-0.png", "ok-1.png", "ok-2.png", "ok-3.png", "stuck.png"]
    assert [e["code"] for e in results["stuck.png"].errors] == ["time-budget"]
    assert all(results[f"ok-{i}.png"].errors == [] and results[f"ok-{i}.png"].pdq for i in range(4))
    assert summary.errors == 1


def test_a_prompt_with_a_long_run_of_spaces_does_not_stall_the_scan(tmp_path):
    # "telegram" and 100,000 spaces in a compressed PNG text chunk: 66 s in one pattern before the fix.
    # No timing here (see tests/text/test_text_linear.py); with a budget the file must finish cleanly.
    path = tmp_path / "run.png"
    path.write_bytes(probes.with_text_run(probes.pattern(2), head="telegram", run=100_000))
    res = examine_file(str(path), time_budget=30)
    assert res.errors == [] and len(res.pdq) == 64


def test_every_damaged_copy_of_a_banked_image_matches_and_is_flagged(tmp_path, store):
    image = probes.pattern(7)
    originals = {"png": probes.png_bytes(image)}
    copies = {
        "ztxt.png": probes.with_huge_ztxt(image),
        "bad-crc.png": probes.with_bad_crc_chunk(image),
        "no-eoi.jpg": probes.jpeg_without_eoi(image),
        "cut.jpg": probes.jpeg_cut(image, 64),
    }
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "orig.png").write_bytes(originals["png"])
    banked = examine_file(str(folder / "orig.png"), provenance=False).pdq
    repo = BankRepository(store)
    repo.create(Bank(name="known", category="test"))
    repo.add_entries("known", [HashEntry("pdq", banked)])
    (folder / "orig.png").unlink()
    for name, data in copies.items():
        (folder / name).write_bytes(data)
    results = {}
    Scanner(Matcher.from_store(store), jobs=1).run(iter_files([folder]), lambda r: results.setdefault(os.path.basename(r.path), r))
    assert sorted(results) == sorted(copies)
    for name, res in results.items():
        assert res.matched, name
        assert res.errors == [], (name, res.errors)
        assert any(s["category"] == "damaged-media" for s in res.signals), name
        assert any(n.startswith("damaged: ") for n in res.notes), name


def test_repeated_notes_are_capped_with_a_count(tmp_path):
    import json

    path = tmp_path / "many.png"
    path.write_bytes(probes.many_text_chunks(probes.pattern(1), n=20_000))
    line = json.dumps(examine_file(str(path)).to_json())
    assert len(line) < 20_000  # 20,000 malformed chunks: one line of a few KB, not megabytes
    notes = json.loads(line)["provenance"]["notes"]
    assert len(notes) <= 10 and any("19,997 more notes like" in n for n in notes)


def test_c2pa_is_looked_for_only_where_the_container_can_hold_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"a plain text file that mentions c2pa and jumb\n")
    res = examine_file(str(path))
    assert not (res.provenance or {}).get("c2pa")
