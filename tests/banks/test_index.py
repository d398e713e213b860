"""The fast PDQ index must return exactly what the brute-force reference returns.

Data are synthetic 256-bit values (no images needed): uniformly random sets, and clustered sets — centres
with many near-duplicates at 0..40 bits — because clusters fill multi-index buckets unevenly and put many
hashes right around the search radius. Small ``bits`` values are forced in several tests so that the
multi-index path (not only the linear fallback) runs on sets small enough for a quick test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.banks import _pdqindex
from bastion.banks.index import BruteForcePdqIndex, IndexFileError, PdqIndex, parse_hash, table_layout_for
from bastion.errors import InvalidHash

RADII = (0, 1, 10, 31, 32, 40, 64)
MODES = {"auto": 0, "multi-index": 1, "linear": 2}


def flip_bits(rng: np.random.Generator, hashes: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Copy of ``hashes`` with exactly ``distances[i]`` distinct bits flipped in row i."""
    out = hashes.copy()
    for i, d in enumerate(distances.tolist()):
        mask = np.zeros(256, dtype=np.uint8)
        mask[rng.choice(256, size=d, replace=False)] = 1
        out[i] ^= np.packbits(mask)
    return out


def random_set(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.permutation(n).astype(np.int64) * 1_000_003_000 - 2**40  # sparse, negative and large ids
    return ids, rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered_set(rng: np.random.Generator, n: int, centres: int) -> tuple[np.ndarray, np.ndarray]:
    """``centres`` random hashes, each with a share of n members at 0..40 bits (some exact copies)."""
    centre_hashes = rng.integers(0, 256, size=(centres, 32), dtype=np.uint8)
    owner = rng.integers(0, centres, size=n)
    hashes = flip_bits(rng, centre_hashes[owner], rng.integers(0, 41, size=n))
    ids = rng.permutation(n).astype(np.int64) * 3 + 5
    return ids, hashes


def queries_for(rng: np.random.Generator, hashes: np.ndarray, m: int) -> np.ndarray:
    """Near-duplicates of stored hashes at 0..40 bits, plus a few unrelated random hashes."""
    near = flip_bits(rng, hashes[rng.integers(0, len(hashes), size=m)], rng.integers(0, 41, size=m))
    far = rng.integers(0, 256, size=(m // 4, 32), dtype=np.uint8)
    return np.vstack([near, far])


def assert_same(fast: PdqIndex, ref: BruteForcePdqIndex, queries: np.ndarray, radii=RADII) -> int:
    """Every mode of the fast index equals the reference at every radius; returns the hits seen."""
    seen = 0
    for r in radii:
        expected = ref.search_many(queries, r)
        seen += sum(map(len, expected))
        for name, mode in MODES.items():
            got = fast._search_matrix(queries, r, mode)
            assert got == expected, f"mode {name}, radius {r}"
        assert fast.search_many(queries, r) == expected
        assert fast.search(queries[0].tobytes(), r) == expected[0]
    return seen


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260425)


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("bits", [6, 12])
def test_multi_index_equals_brute_force(rng, kind, bits):
    ids, hashes = random_set(rng, 4000) if kind == "random" else clustered_set(rng, 4000, 40)
    fast = PdqIndex.from_arrays(ids, hashes, bits=bits)
    ref = BruteForcePdqIndex.from_arrays(ids, hashes)
    assert fast.table_bits == bits and len(fast) == len(ref) == 4000
    hits = assert_same(fast, ref, queries_for(rng, hashes, 60))
    assert hits > 60  # the queries do find things, so agreement is not vacuous


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("bits, lo", [(11, 5), (12, 4), (14, 2)])
def test_wide_layout_equals_brute_force(rng, kind, bits, lo):
    """The wide layout (chunks of bits + lo bits, bucketed on bits, lo bits filtered in the row entries)."""
    ids, hashes = random_set(rng, 4000) if kind == "random" else clustered_set(rng, 4000, 40)
    fast = PdqIndex.from_arrays(ids, hashes, bits=bits, lo_bits=lo)
    assert fast.table_layout == (256 // (bits + lo), bits, lo)
    assert int(fast._main.rows.max()) >= 1 << (32 - lo)  # the lo bits are really in the entries
    ref = BruteForcePdqIndex.from_arrays(ids, hashes)
    hits = assert_same(fast, ref, queries_for(rng, hashes, 60))
    assert hits > 60


def test_layout_follows_the_size():
    assert table_layout_for(10_000_000) == (23, 0) and table_layout_for(40_000) == (16, 0)
    assert table_layout_for(50_000_000) == (23, 0) and table_layout_for(100_000_000) == (23, 5)
    assert table_layout_for((1 << 27) + 1) == (23, 4)  # row numbers need 28 bits: one lo bit fewer
    assert _pdqindex.layout(23, 5) == (9, 28) and _pdqindex.layout(23, 0) == (11, 23)
    assert _pdqindex.plan(100_000_000, 23, 31, 5) == "mih"
    for bad in ((10, 5), (23, 6), (24, 0)):  # 17 tables, too many lo bits, too wide buckets
        with pytest.raises(ValueError):
            _pdqindex.layout(*bad)
    with pytest.raises(ValueError):
        PdqIndex(lo_bits=3)  # only together with bits


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_default_configuration_builds_tables_and_agrees(rng, kind):
    ids, hashes = random_set(rng, 40_000) if kind == "random" else clustered_set(rng, 40_000, 300)
    fast = PdqIndex.from_arrays(ids, hashes)
    assert fast.table_bits == 16  # ceil(log2(40000))
    ref = BruteForcePdqIndex.from_arrays(ids, hashes)
    assert_same(fast, ref, queries_for(rng, hashes, 30), radii=(0, 10, 31, 32, 40))


def test_cost_model_uses_tables_at_radius_31_and_scans_when_probing_costs_more():
    assert _pdqindex.plan(10_000_000, 23, 31) == "mih"
    assert _pdqindex.plan(1_000_000, 20, 31) == "mih"
    assert _pdqindex.plan(10_000_000, 23, 256) == "linear"
    assert _pdqindex.plan(1000, 10, 31) == "linear"


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_adds_and_removes_without_rebuild_stay_exact(rng, kind):
    ids, hashes = random_set(rng, 3000) if kind == "random" else clustered_set(rng, 3000, 30)
    fast = PdqIndex.from_arrays(ids[:2000], hashes[:2000], bits=10, delta_limit=10_000)
    ref = BruteForcePdqIndex.from_arrays(ids[:2000], hashes[:2000])
    for ident, h in zip(ids[2000:2600].tolist(), hashes[2000:2600]):
        fast.add(ident, h.tobytes())
        ref.add(ident, h.tobytes())
    fast.add_many(ids[2600:], hashes[2600:])
    ref.add_many(ids[2600:], hashes[2600:])
    # replace some main-segment and some delta entries with new hashes, remove others from both parts
    replaced = rng.choice(3000, size=200, replace=False)
    new_hashes = flip_bits(rng, hashes[replaced], rng.integers(1, 20, size=200))
    for ident, h in zip(ids[replaced].tolist(), new_hashes):
        fast.add(ident, h.tobytes().hex())
        ref.add(ident, h.tobytes().hex())
    for ident in ids[rng.choice(3000, size=300, replace=False)].tolist():
        assert fast.remove(ident) == ref.remove(ident)
    assert fast.table_bits == 10 and fast.delta_size > 0, "delta and tombstones, no rebuild"
    assert len(fast) == len(ref)
    queries = np.vstack([queries_for(rng, hashes, 40), new_hashes[:10]])
    assert_same(fast, ref, queries)
    fast.compact()
    assert fast.delta_size == 0 and len(fast) == len(ref)
    assert_same(fast, ref, queries, radii=(0, 31, 64))


@pytest.mark.parametrize("background", [False, True])
def test_delta_limit_triggers_compaction_and_stays_exact(rng, background):
    ids, hashes = clustered_set(rng, 1500, 20)
    fast = PdqIndex(delta_limit=100, min_table_rows=200, background_compaction=background)
    ref = BruteForcePdqIndex()
    for ident, h in zip(ids.tolist(), hashes):
        fast.add(ident, h.tobytes())
        ref.add(ident, h.tobytes())
    fast.wait_for_compaction()
    assert fast.table_bits > 0 and fast.delta_size < 1500
    if not background:
        assert fast.delta_size < 100
    assert_same(fast, ref, queries_for(rng, hashes, 30), radii=(0, 31, 40))


def test_same_id_replaces_its_hash(rng):
    a, b = rng.integers(0, 256, size=(2, 32), dtype=np.uint8)
    idx = PdqIndex()
    idx.add(7, a.tobytes())
    idx.add(7, b.tobytes())
    assert len(idx) == 1 and 7 in idx
    assert idx.search(b.tobytes(), 0) == [(7, 0)]
    assert idx.search(a.tobytes(), 0) == []
    # duplicates inside one bulk call: the last occurrence wins
    idx = PdqIndex.from_arrays(np.array([3, 3, 4]), np.stack([a, b, a]))
    assert len(idx) == 2 and idx.search(a.tobytes(), 0) == [(4, 0)]
    idx.add_many([4, 5, 4], np.stack([b, a, b]))
    assert idx.search(b.tobytes(), 0) == [(3, 0), (4, 0)]


def test_remove_reports_presence_and_readd_works(rng):
    ids, hashes = random_set(rng, 50)
    idx = PdqIndex.from_arrays(ids, hashes)
    target = int(ids[10])
    assert idx.remove(target) is True
    assert idx.remove(target) is False
    assert idx.remove(123456789) is False
    assert target not in idx and len(idx) == 49
    assert idx.search(hashes[10].tobytes(), 0) == []
    idx.add(target, hashes[10].tobytes())
    assert idx.search(hashes[10].tobytes(), 0) == [(target, 0)]
    assert idx.remove(target) is True and idx.search(hashes[10].tobytes(), 0) == []


def test_hash_forms_and_bad_input():
    raw = bytes(range(32))
    assert parse_hash(raw.hex()) == raw == parse_hash(raw.hex().upper()) == parse_hash(np.frombuffer(raw, np.uint8))
    idx = PdqIndex()
    idx.add(1, raw.hex())
    assert idx.search(raw, 0) == idx.search(raw.hex(), 0) == [(1, 0)]
    for bad in (raw[:31], raw.hex()[:63], "zz" * 32, 12345, None):
        with pytest.raises(InvalidHash):
            idx.search(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidHash):
            idx.add(2, bad)  # type: ignore[arg-type]
    assert len(idx) == 1  # nothing half-added
    with pytest.raises(ValueError):
        idx.search(raw, 257)
    with pytest.raises(ValueError):
        idx.search(raw, -1)
    with pytest.raises(TypeError):
        idx.add("1", raw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        idx.add(2**63, raw)
    with pytest.raises(InvalidHash):
        idx.search_many(np.zeros((3, 31), dtype=np.uint8))
    with pytest.raises(ValueError):
        PdqIndex.from_arrays(np.arange(3), np.zeros((2, 32), dtype=np.uint8))


def test_empty_index_and_full_radius(rng):
    assert PdqIndex().search(bytes(32)) == []
    assert PdqIndex().search_many(np.zeros((2, 32), dtype=np.uint8)) == [[], []]
    ids, hashes = random_set(rng, 300)
    fast = PdqIndex.from_arrays(ids, hashes, bits=8)
    hits = fast.search(bytes(32), 256)
    assert sorted(i for i, _ in hits) == sorted(ids.tolist())
    assert hits == BruteForcePdqIndex.from_arrays(ids, hashes).search(bytes(32), 256)


def test_threaded_batch_equals_single_thread(rng):
    ids, hashes = clustered_set(rng, 5000, 50)
    fast = PdqIndex.from_arrays(ids, hashes, bits=12)
    queries = queries_for(rng, hashes, 80)
    assert fast.search_many(queries, 31, workers=2) == fast.search_many(queries, 31)


def _chunks(hashes: np.ndarray, t: int, bits: int) -> np.ndarray:
    """Chunk t of every hash the way the kernel cuts it: bits [23 t, 23 t + bits) of the little-endian
    256-bit number."""
    return np.array([(int.from_bytes(h.tobytes(), "little") >> (23 * t)) & ((1 << bits) - 1) for h in hashes])


@pytest.mark.parametrize("bits", [5, 13])
def test_every_table_is_a_sorted_bucket_list_whether_built_by_one_thread_or_several(rng, bits):
    ids, hashes = random_set(rng, 70_000)  # above the size that builds with threads
    hashes[:20_000] = flip_bits(rng, hashes[:50], rng.integers(0, 3, 50))[rng.integers(0, 50, 20_000)]  # crowded buckets
    one = PdqIndex.from_arrays(ids, hashes, bits=bits)
    three = PdqIndex.from_arrays(ids, hashes, bits=bits, build_workers=3)
    assert np.array_equal(one._main.offsets, three._main.offsets) and np.array_equal(one._main.rows, three._main.rows)
    main = one._main
    sample = rng.choice(len(ids), 2000, replace=False)
    for t in (0, 5, 10):
        chunk = _chunks(main.hashes[sample], t, bits)  # rows are in id order inside the index
        off, rows = main.offsets[t].astype(np.int64), main.rows[t]
        assert off[0] == 0 and off[-1] == len(ids) and bool(np.all(np.diff(off) >= 0))
        assert np.array_equal(np.sort(rows), np.arange(len(ids)))  # every row once
        bucket_of_row = np.empty(len(ids), dtype=np.int64)
        bucket_of_row[rows] = np.repeat(np.arange(1 << bits), np.diff(off))
        assert np.array_equal(bucket_of_row[sample], chunk)  # each row in its chunk's bucket
        inside = np.diff(rows.astype(np.int64))[np.repeat(np.arange(1 << bits), np.diff(off))[1:] ==
                                                 np.repeat(np.arange(1 << bits), np.diff(off))[:-1]]
        assert bool(np.all(inside > 0))  # rows ascending inside a bucket
    assert_same(three, BruteForcePdqIndex.from_arrays(ids, hashes), queries_for(rng, hashes, 20), radii=(0, 31))
    with pytest.raises(ValueError):
        PdqIndex(build_workers=0)
    with pytest.raises(ValueError):
        _pdqindex.build_tables(hashes, len(ids), bits, np.empty_like(main.offsets), np.empty_like(main.rows), 3, 12)


@pytest.mark.parametrize("tables", [True, False])
@pytest.mark.parametrize("lo", [0, 5])
def test_save_and_load_keep_state(rng, tmp_path, tables, lo):
    ids, hashes = clustered_set(rng, 3000, 30)
    fast = PdqIndex.from_arrays(ids[:2500], hashes[:2500], bits=11, lo_bits=lo or None)
    fast.add_many(ids[2500:], hashes[2500:])
    for ident in ids[:100].tolist():
        fast.remove(ident)
    path = tmp_path / "pdq.idx"
    fast.save(path, tables=tables)
    loaded = PdqIndex.load(path)
    assert len(loaded) == len(fast) and loaded.table_layout == fast.table_layout
    queries = queries_for(rng, hashes, 30)
    assert loaded.search_many(queries, 31) == fast.search_many(queries, 31)
    # the loaded index is fully alive: its delta and tombstones still work
    assert loaded.remove(int(ids[2999])) and not loaded.remove(int(ids[0]))
    loaded.add(int(ids[0]), hashes[0].tobytes())
    assert (int(ids[0]), 0) in loaded.search(hashes[0].tobytes(), 0)


def test_load_rejects_bad_files(tmp_path, rng):
    garbage = tmp_path / "garbage.idx"
    garbage.write_bytes(b"not an index at all")
    with pytest.raises(IndexFileError):
        PdqIndex.load(garbage)
    ids, hashes = random_set(rng, 100)
    good = tmp_path / "good.idx"
    PdqIndex.from_arrays(ids, hashes, bits=8).save(good)
    truncated = tmp_path / "truncated.idx"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(IndexFileError):
        PdqIndex.load(truncated)
    other = tmp_path / "other.npz"
    with open(other, "wb") as fh:
        np.savez(fh, main_ids=ids)
    with pytest.raises(IndexFileError):
        PdqIndex.load(other)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    ops=st.lists(st.tuples(st.sampled_from(["add", "remove", "compact"]), st.integers(0, 40)), max_size=60),
    radius=st.sampled_from(RADII),
    background=st.booleans(),
    wide=st.booleans(),
)
def test_random_operation_sequences_match_reference(seed, ops, radius, background, wide):
    """Any mix of adds (with replacement), removes and compactions; tiny chunks force crowded buckets."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(8, 32), dtype=np.uint8)
    pool = flip_bits(rng, base[rng.integers(0, 8, size=41)], rng.integers(0, 41, size=41))
    layout = {"bits": 11, "lo_bits": 5} if wide else {"bits": 3}
    fast = PdqIndex.from_arrays(np.arange(20), pool[:20], delta_limit=15, background_compaction=background, **layout)
    ref = BruteForcePdqIndex.from_arrays(np.arange(20), pool[:20])
    for op, k in ops:
        if op == "add":
            h = pool[(k * 7) % 41].tobytes()
            fast.add(k, h)
            ref.add(k, h)
        elif op == "remove":
            assert fast.remove(k) == ref.remove(k)
        else:
            fast.compact()
    assert len(fast) == len(ref)
    queries = np.vstack([pool[:5], base[:3]])
    assert fast.search_many(queries, radius) == ref.search_many(queries, radius)  # build may be running
    fast.wait_for_compaction()
    assert len(fast) == len(ref)
    for mode in MODES.values():
        assert fast._search_matrix(queries, radius, mode) == ref.search_many(queries, radius)


def test_searches_in_threads_while_the_index_changes(rng):
    """Searches release the GIL; one running during adds, removes and compactions sees a consistent state."""
    import threading

    ids, hashes = clustered_set(rng, 6000, 40)
    fast = PdqIndex.from_arrays(ids[:3000], hashes[:3000], bits=11, delta_limit=700)
    queries = queries_for(rng, hashes, 40)
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        try:
            while not stop.is_set():
                for hits in fast.search_many(queries, 31):
                    assert hits == sorted(hits, key=lambda h: (h[1], h[0]))
        except BaseException as exc:  # reported below, with the main thread's result
            errors.append(exc)

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        for ident, h in zip(ids[3000:].tolist(), hashes[3000:]):
            fast.add(ident, h.tobytes())
        for ident in ids[:500].tolist():
            fast.remove(ident)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    ref = BruteForcePdqIndex.from_arrays(ids[500:], hashes[500:])
    assert fast.search_many(queries, 31) == ref.search_many(queries, 31)


def test_background_compaction_keeps_changes_made_during_the_build(rng, monkeypatch):
    """Adds, replacements and removes made while the new tables are being built all survive the swap."""
    import threading

    ids, hashes = clustered_set(rng, 4000, 40)
    fast = PdqIndex.from_arrays(ids[:2000], hashes[:2000], bits=10, delta_limit=500, background_compaction=True)
    ref = BruteForcePdqIndex.from_arrays(ids[:2000], hashes[:2000])
    gate = threading.Event()
    real_make_main = fast._make_main

    def slow_make_main(*args):
        assert gate.wait(30)
        return real_make_main(*args)

    monkeypatch.setattr(fast, "_make_main", slow_make_main)
    queries = queries_for(rng, hashes, 30)

    def both(op, *args):
        a, b = getattr(fast, op)(*args), getattr(ref, op)(*args)
        assert a == b

    for ident, h in zip(ids[2000:2500].tolist(), hashes[2000:2500]):  # the 500th add starts the build
        both("add", ident, h.tobytes())
    assert fast._pending is not None and fast._pending.thread.is_alive()
    # while it is blocked: new ids, replacements of main and of snapshot-delta rows, removes of both
    for ident, h in zip(ids[2500:2700].tolist(), hashes[2500:2700]):
        both("add", ident, h.tobytes())
    changed = flip_bits(rng, hashes[[5, 6, 2100, 2101]], np.array([3, 5, 7, 9]))
    for ident, h in zip(ids[[5, 6, 2100, 2101]].tolist(), changed):
        both("add", ident, h.tobytes())
    for ident in ids[[7, 8, 2102, 2103, 2600]].tolist():
        both("remove", ident)
    assert fast.search_many(queries, 31) == ref.search_many(queries, 31)  # searches go on meanwhile
    gate.set()
    fast.wait_for_compaction()
    # the delta now holds only rows appended after the snapshot: 200 new + 4 replacements - 1 removed
    assert fast._pending is None and fast.delta_size == 203
    assert len(fast) == len(ref)
    assert_same(fast, ref, np.vstack([queries, changed]), radii=(0, 31, 40))
    # later operations keep working, including another background round
    monkeypatch.undo()
    for ident, h in zip(ids[2700:].tolist(), hashes[2700:]):
        both("add", ident, h.tobytes())
    fast.wait_for_compaction()
    assert_same(fast, ref, queries, radii=(31,))


def test_merge_rows_skips_removed_rows_and_lets_the_delta_win():
    a_ids = np.array([1, 3, 5, 7], dtype=np.int64)
    a_hashes = np.arange(4, dtype=np.uint8).repeat(32).reshape(4, 32)
    a_tomb = np.array([0, 1, 0, 0], dtype=np.uint8)
    b_ids = np.array([2, 5, 9], dtype=np.int64)
    b_hashes = np.full((3, 32), 200, dtype=np.uint8) + np.arange(3, dtype=np.uint8)[:, None]
    out_ids = np.empty(7, dtype=np.int64)
    out_hashes = np.empty((7, 32), dtype=np.uint8)
    k = _pdqindex.merge_rows(a_hashes, a_ids, a_tomb, 4, b_hashes, b_ids, 3, out_hashes, out_ids)
    assert k == 5
    assert out_ids[:k].tolist() == [1, 2, 5, 7, 9]
    assert out_hashes[:k, 0].tolist() == [0, 200, 201, 3, 202]
