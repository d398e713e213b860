import numpy as np
import pytest

from bastion.banks import matcher as matcher_mod
from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.model import Bank, HashEntry


def flip(hex_hash: str, bits: list[int]) -> str:
    v = int(hex_hash, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:064x}"


BASE = "%064x" % 0x0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF


@pytest.fixture
def repo(store):
    r = BankRepository(store)
    r.create(Bank("near", "csam", pdq_threshold=10))
    r.create(Bank("far", "test", pdq_threshold=40))
    r.add_entries("near", [HashEntry("pdq", BASE, "a")])
    r.add_entries("far", [HashEntry("pdq", flip(BASE, list(range(35))), "b")])
    return r


def test_each_bank_applies_its_own_threshold(repo):
    m = Matcher.from_store(repo.store)
    got = m.match({}, {"original": flip(BASE, [0, 1, 2])}, 100)
    assert [(x.bank, x.distance) for x in got] == [("near", 3), ("far", 32)]
    got = m.match({}, {"original": flip(BASE, list(range(12)))}, 100)
    assert [(x.bank, x.distance) for x in got] == [("far", 23)]  # 12 > near's threshold of 10


def test_variant_closest_wins_and_original_breaks_ties(repo):
    m = Matcher.from_store(repo.store)
    got = m.match({}, {"rot90": BASE, "original": flip(BASE, [5]), "flip_x": BASE}, 100)
    near = [x for x in got if x.bank == "near"][0]
    assert (near.distance, near.variant) == (0, "flip_x") or (near.distance, near.variant) == (0, "rot90")
    got = m.match({}, {"rot90": BASE, "original": BASE}, 100)
    assert [x for x in got if x.bank == "near"][0].variant == "original"


def test_index_cache_is_reused_and_invalidated_by_changes(repo, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    m1 = Matcher.from_store(repo.store, cache_dir=cache)
    assert len(list(cache.glob("pdq-*.npz"))) == 2  # the index and its entry arrays

    built = []
    real = matcher_mod.PdqIndex.from_arrays
    monkeypatch.setattr(matcher_mod.PdqIndex, "from_arrays", classmethod(lambda cls, *a: built.append(1) or real(*a)))
    m2 = Matcher.from_store(repo.store, cache_dir=cache)
    assert built == []  # read from the cache file, not rebuilt
    q = {"original": flip(BASE, [7])}
    assert [(x.bank, x.label, x.distance) for x in m2.match({}, q, 100)] == [
        (x.bank, x.label, x.distance) for x in m1.match({}, q, 100)
    ]

    other = flip(BASE, list(range(100, 164)))
    repo.add_entries("near", [HashEntry("pdq", other, "c")])
    m3 = Matcher.from_store(repo.store, cache_dir=cache)
    assert built == [1]  # the bank changed: rebuilt
    assert [x.label for x in m3.match({}, {"original": other}, 100)] == ["c"]
    repo.remove_entries("near", [HashEntry("pdq", other)])
    assert Matcher.from_store(repo.store, cache_dir=cache).match({}, {"original": other}, 100) == []

    # a damaged cache file is ignored, not trusted
    for f in cache.glob("pdq-*.npz"):
        f.write_bytes(b"garbage")
    m5 = Matcher.from_store(repo.store, cache_dir=cache)
    assert [(x.label, x.distance) for x in m5.match({}, {"original": BASE}, 100)] == [("a", 0), ("b", 35)]


def test_many_entries_load_in_id_order(store):
    r = BankRepository(store)
    r.create(Bank("big"))
    rng = np.random.default_rng(3)
    hexes = [h.tobytes().hex() for h in rng.integers(0, 256, (3000, 32), dtype=np.uint8)]
    r.add_entries("big", [HashEntry("pdq", h, str(i)) for i, h in enumerate(hexes)])
    m = Matcher.from_store(store)
    assert m.pdq_entries == 3000
    for i in (0, 1234, 2999):
        assert [x.label for x in m.match({}, {"original": hexes[i]}, 100) if x.distance == 0] == [str(i)]
