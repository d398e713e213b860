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
