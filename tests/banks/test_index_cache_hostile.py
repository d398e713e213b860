"""A crafted or stale index cache never reaches the C kernel (issue 12, item 8): every bucket offset and
row is checked on load; any inconsistency is refused (IndexFileError) and the matcher rebuilds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bastion.banks.index import IndexFileError, PdqIndex

rng = np.random.default_rng(12)
HASHES = rng.integers(0, 256, (400, 32), dtype=np.uint8)


def saved(tmp_path):
    index = PdqIndex.from_arrays(np.arange(len(HASHES), dtype=np.int64), HASHES, min_table_rows=16)
    path = tmp_path / "index.npz"
    index.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    assert int(arrays["bits"]) > 0  # tables are saved, so the kernel would use them
    return path, arrays


def write(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


CORRUPTIONS = {
    # a bucket that ends past the rows: out-of-bounds reads in the kernel (a crash)
    "offset past the end": lambda a: a["offsets"].__setitem__((0, 1), np.uint32(10**6)),
    # offsets that go down
    "decreasing offsets": lambda a: a["offsets"].__setitem__((1, 2), np.uint32(0)) or a["offsets"].__setitem__((1, 1), np.uint32(50)),
    # the first offset not zero
    "first offset": lambda a: a["offsets"].__setitem__((2, 0), np.uint32(3)),
    # a row listed twice in a table, another missing: its hash could never be found
    "row missing": lambda a: a["rows"].__setitem__((0, 5), a["rows"][0, 6]),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_tables_are_refused_on_load(tmp_path, name):
    path, arrays = saved(tmp_path)
    arrays["offsets"] = arrays["offsets"].copy()
    arrays["rows"] = arrays["rows"].copy()
    CORRUPTIONS[name](arrays)
    write(path, arrays)
    with pytest.raises(IndexFileError):
        PdqIndex.load(path)


def test_an_intact_cache_still_loads_and_finds_every_hash(tmp_path):
    path, _ = saved(tmp_path)
    index = PdqIndex.load(path)
    for i in (0, 137, 399):
        assert [h[0] for h in index.search(HASHES[i], 0)] == [i]


CHILD = r"""
import sys, numpy as np
from bastion.banks.index import PdqIndex, IndexFileError
try:
    index = PdqIndex.load(sys.argv[1])
except IndexFileError:
    print("refused"); sys.exit(0)
rng = np.random.default_rng(1)
for h in rng.integers(0, 256, (200, 32), dtype=np.uint8):
    index.search(h, 31)
print("searched")
"""


def test_a_crafted_cache_cannot_crash_the_process(tmp_path):
    """In a child process, so that the crash this guards against cannot take the test run with it."""
    path, arrays = saved(tmp_path)
    arrays["offsets"] = np.full_like(arrays["offsets"], 2**31)
    arrays["offsets"][:, 0] = 0
    arrays["offsets"][:, -1] = len(HASHES)
    write(path, arrays)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "refused", (proc.returncode, proc.stderr[-500:])


def test_the_matcher_rebuilds_from_a_corrupt_cache_and_still_matches(tmp_path, store):
    from bastion.banks.matcher import Matcher
    from bastion.banks.repo import BankRepository
    from bastion.model import Bank, HashEntry

    repo = BankRepository(store)
    repo.create(Bank(name="k"))
    values = [bytes(h).hex() for h in HASHES[:50]]
    repo.add_entries("k", [HashEntry("pdq", v) for v in values])
    cache = tmp_path / "cache"
    Matcher.from_store(store, cache_dir=cache)
    files = sorted(cache.glob("pdq-*.npz"))
    index_file = next(p for p in files if not p.name.endswith(".entries.npz"))
    with np.load(index_file) as data:
        arrays = {k: data[k].copy() for k in data.files}
    arrays["main_hashes"][:] = 0  # stale rows: the cache no longer holds the banks' hashes
    arrays["main_ids"] = arrays["main_ids"][::-1].copy()  # and its ids out of order
    write(index_file, arrays)
    m = Matcher.from_store(store, cache_dir=cache)
    hits = m.match({}, {"original": values[7]}, 100)
    assert [h.value for h in hits] == [values[7]]
