"""A worker process that dies takes no other file with it, and the file that killed it is named."""

import os

import pytest

from bastion import scan
from bastion.demo import generated_pattern

_real_examine = scan.examine_file


def examine_or_die(path, **kw):
    # Stands in for a decoder that crashes the process (a segfault in a C library) on one file.
    if path.endswith("crash.png"):
        os._exit(3)
    return _real_examine(path, **kw)


@pytest.mark.skipif(os.name != "posix", reason="relies on fork to carry the patched function into workers")
def test_a_crashing_file_is_pinned_and_the_others_are_still_reported(tmp_path, monkeypatch):
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("needs the fork start method")
    for i in range(6):
        generated_pattern(i).save(tmp_path / f"ok-{i}.png")
    generated_pattern(9).save(tmp_path / "crash.png")
    monkeypatch.setattr(scan, "examine_file", examine_or_die)
    results = {}
    summary = scan.Scanner(jobs=2, provenance=False).run(scan.iter_files([tmp_path]), lambda r: results.setdefault(r.path, r))
    assert sorted(os.path.basename(p) for p in results) == ["crash.png"] + [f"ok-{i}.png" for i in range(6)]
    crashed = results[str(tmp_path / "crash.png")]
    assert [e["code"] for e in crashed.errors] == ["worker-crashed"]
    for i in range(6):
        r = results[str(tmp_path / f"ok-{i}.png")]
        assert r.errors == [] and len(r.pdq) == 64
    assert summary.files == 7 and summary.errors == 1


def examine_or_raise(path, **kw):
    if path.endswith("bug.png"):
        raise RuntimeError("a bug in some detector")
    return _real_examine(path, **kw)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_unexpected_exception_is_reported_against_its_file(tmp_path, monkeypatch, jobs):
    import multiprocessing

    if jobs > 1 and multiprocessing.get_start_method() != "fork":
        pytest.skip("needs the fork start method")
    for name in ("a.png", "bug.png", "c.png"):
        generated_pattern(len(name)).save(tmp_path / name)
    monkeypatch.setattr(scan, "examine_file", examine_or_raise)
    results = {}
    scan.Scanner(jobs=jobs, provenance=False).run(scan.iter_files([tmp_path]), lambda r: results.setdefault(os.path.basename(r.path), r))
    assert sorted(results) == ["a.png", "bug.png", "c.png"]
    assert results["bug.png"].errors[0]["code"] == "internal-error" and "a bug in some detector" in results["bug.png"].errors[0]["message"]
    assert results["a.png"].errors == [] and results["c.png"].errors == []
