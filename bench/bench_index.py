"""Benchmark of the exact PDQ index (bastion.banks.index.PdqIndex) against brute force and two anchors.

Run by hand (heavy at 10M: ~1.3 GB per index process, plus the anchors)::

    .venv/bin/python bench/bench_index.py                          # 1M and 10M, random and clustered
    .venv/bin/python bench/bench_index.py --sizes 1000000 --te-python /tmp/tevenv/bin/python

Every figure of one configuration comes from one fresh subprocess, so RSS is the index's own (the process
baseline after imports is reported and subtracted). Baselines measured in the same run: numpy brute force
(``BruteForcePdqIndex``) and Bastion's own compiled linear scan on a query sample; faiss ``IndexBinaryFlat``
range search on the same sample; python-threatexchange ``PDQIndex`` (only if ``--te-python`` names a
throw-away venv that has it: it is never a Bastion dependency) in its own subprocess.

Data are synthetic 256-bit hashes: ``random`` (uniform); ``clustered`` (half uniform singletons, half
near-duplicates at ~0..40 bits of clusters whose sizes follow Zipf(1.5) capped at 5000); ``hotspot`` (a
stress case: the same but with n/200 clusters weighted Zipf(0.9), the largest holding ~5 % of the members,
so near-duplicate queries return hundreds of hits). Queries: half
near-duplicates (~0..40 bits) of stored hashes, half unrelated random hashes. Radius 31.

The script ends by printing one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

RADIUS = 31


# --- data (deterministic, identical in every subprocess) ---------------------------------------------


def _flip_about(rng: np.random.Generator, hashes: np.ndarray, mean_bits: np.ndarray) -> np.ndarray:
    """Flip each bit of row i with probability mean_bits[i]/256 (so ~mean_bits[i] bits), in chunks."""
    out = hashes.copy()
    step = 250_000
    for a in range(0, len(out), step):
        b = min(a + step, len(out))
        thresh = (mean_bits[a:b].astype(np.uint32) * 65536 // 256).astype(np.uint32)[:, None]
        flips = rng.integers(0, 65536, size=(b - a, 256), dtype=np.uint32) < thresh
        out[a:b] ^= np.packbits(flips, axis=1)
    return out


def make_set(kind: str, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(ids, hashes): sparse unsorted int64 ids, (n, 32) uint8 hashes."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n).astype(np.int64) * 13 + 1_000_000
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    members = n // 2
    if kind == "clustered":
        # cluster sizes Zipf(1.5) capped at 5000: mostly small clusters, some with thousands of members
        sizes = np.minimum(rng.zipf(1.5, size=members), 5000)
        centres = int(np.searchsorted(np.cumsum(sizes), members)) + 1
        owner = np.repeat(np.arange(centres), sizes[:centres])[:members]
    elif kind == "hotspot":
        # stress case: n/200 clusters with Zipf(0.9) weights; the largest holds ~5 % of all members
        centres = max(1, n // 200)
        weights = 1.0 / np.arange(1, centres + 1) ** 0.9
        owner = rng.choice(centres, size=members, p=weights / weights.sum())
    if kind in ("clustered", "hotspot"):
        # the first `centres` rows (uniform, stored too, like an original beside its copies) are the centres
        hashes[n - members :] = _flip_about(rng, hashes[owner], rng.integers(0, 41, size=members))
        hashes = hashes[rng.permutation(n)]
    elif kind != "random":
        raise ValueError(kind)
    return ids, hashes


def make_queries(hashes: np.ndarray, m: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    near = _flip_about(rng, hashes[rng.integers(0, len(hashes), size=m // 2)], rng.integers(0, 41, size=m // 2))
    far = rng.integers(0, 256, size=(m - m // 2, 32), dtype=np.uint8)
    both = np.vstack([near, far])
    return both[rng.permutation(m)]


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _pcts(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(s[len(s) // 2] * 1e3, 4),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3, 4),
        "max_ms": round(s[-1] * 1e3, 4),
        "mean_ms": round(statistics.fmean(s) * 1e3, 4),
    }


# --- one configuration of Bastion's index, in a fresh process --------------------------------------


def worker_bastion(kind: str, n: int, m: int, sample: int, save_dir: str | None) -> dict:
    from bastion.banks.index import BruteForcePdqIndex, PdqIndex

    base_rss = _rss_mb()
    ids, hashes = make_set(kind, n)
    queries = make_queries(hashes, m)
    data_rss = _rss_mb()
    gc.collect()

    t = time.perf_counter()
    idx = PdqIndex.from_arrays(ids, hashes)
    build_s = time.perf_counter() - t
    peak_build_rss = _rss_mb()  # input arrays still held here
    del ids, hashes
    gc.collect()
    rss_after = _rss_mb()
    out: dict = {
        "set": kind,
        "n": n,
        "table_bits": idx.table_bits,
        "build_s": round(build_s, 2),
        "rss_process_mb": round(rss_after, 1),
        "rss_baseline_mb": round(base_rss, 1),
        "rss_index_mb": round(rss_after - base_rss - queries.nbytes / 2**20, 1),
        "rss_during_build_mb": round(peak_build_rss, 1),
        "data_rss_mb": round(data_rss, 1),
    }

    # single lookups (the API a scanner calls per image)
    qbytes = [q.tobytes() for q in queries]
    t = time.perf_counter()
    hits = 0
    for q in qbytes:
        hits += len(idx.search(q, RADIUS))
    single_s = time.perf_counter() - t
    out["single_lookups_per_s"] = round(m / single_s)
    out["hits_per_query"] = round(hits / m, 2)
    out["queries_with_hits"] = sum(1 for q in qbytes[:500] if idx.search(q, RADIUS)) / min(500, m)

    t = time.perf_counter()
    batch = idx.search_many(queries, RADIUS)
    out["batch_lookups_per_s"] = round(m / (time.perf_counter() - t))
    t = time.perf_counter()
    batch2 = idx.search_many(queries, RADIUS, workers=2)
    out["batch_2threads_lookups_per_s"] = round(m / (time.perf_counter() - t))
    assert batch == batch2

    # baselines in the same run, on a sample: Bastion's compiled linear scan, numpy brute force
    qs = queries[:sample]
    t = time.perf_counter()
    linear = idx._search_matrix(qs, RADIUS, 2)
    out["linear_scan_lookups_per_s"] = round(sample / (time.perf_counter() - t), 1)
    ids, hashes = make_set(kind, n)
    ref = BruteForcePdqIndex.from_arrays(ids, hashes)
    t = time.perf_counter()
    expected = ref.search_many(qs, RADIUS)
    out["numpy_brute_lookups_per_s"] = round(sample / (time.perf_counter() - t), 1)
    del ref
    gc.collect()
    want = sum(len(e) for e in expected)
    got = sum(len(set(e) & set(b)) for e, b in zip(expected, batch[:sample]))
    out["recall_sample"] = sample
    out["recall_vs_brute"] = round(got / want, 6) if want else None
    out["exact_vs_brute"] = batch[:sample] == expected and linear == expected
    out["sample_hits"] = want
    out["speedup_vs_numpy_brute"] = round(out["batch_lookups_per_s"] / out["numpy_brute_lookups_per_s"], 1)

    # faiss IndexBinaryFlat range search on the same sample (anchor)
    try:
        import faiss

        fidx = faiss.IndexBinaryFlat(256)
        t = time.perf_counter()
        fidx.add(hashes)
        out["faiss_flat_build_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        lims, _, _ = fidx.range_search(qs, RADIUS + 1)  # faiss keeps distances < radius
        out["faiss_flat_lookups_per_s"] = round(sample / (time.perf_counter() - t), 1)
        out["faiss_flat_hits"] = int(lims[-1])
        del fidx
    except ImportError:
        out["faiss_flat_lookups_per_s"] = None
    out["sample_expected"] = [[i for i, _ in e] for e in expected]  # ids, for the threatexchange recall
    del ids, hashes
    gc.collect()

    # incremental updates: single adds of new ids, searches with a full delta, removes, compaction
    rng = np.random.default_rng(7)
    new = rng.integers(0, 256, size=(idx.delta_limit - 1, 32), dtype=np.uint8)
    new_ids = -np.arange(1, len(new) + 1, dtype=np.int64)
    lat = []
    for i in range(len(new)):
        h = new[i].tobytes()
        t = time.perf_counter()
        idx.add(int(new_ids[i]), h)
        lat.append(time.perf_counter() - t)
    out["add"] = _pcts(lat)
    out["delta_rows"] = idx.delta_size
    t = time.perf_counter()
    idx.search_many(queries, RADIUS)
    out["batch_lookups_per_s_full_delta"] = round(m / (time.perf_counter() - t))
    lat = []
    for i in range(2000):
        t = time.perf_counter()
        idx.remove(int(new_ids[i]) if i % 2 else int(1_000_000 + 13 * i))
        lat.append(time.perf_counter() - t)
    out["remove"] = _pcts(lat)
    t = time.perf_counter()
    idx.add(-10**9, new[0].tobytes())  # reaches delta_limit: folds the delta into the tables
    out["add_that_compacts_s"] = round(time.perf_counter() - t, 2)
    out["delta_rows_after"] = idx.delta_size

    # the same with background compaction: the add that fills the delta only starts a build thread
    idx.background_compaction = True
    lat = []
    base_id = -(10**10)
    for i in range(idx.delta_limit + 5000):
        h = new[i % len(new)].tobytes()
        t = time.perf_counter()
        idx.add(base_id - i, h)
        lat.append(time.perf_counter() - t)
    out["add_background_compaction"] = _pcts(lat)
    t = time.perf_counter()
    idx.wait_for_compaction()
    out["background_compaction_wait_s"] = round(time.perf_counter() - t, 2)
    idx.background_compaction = False

    if save_dir:
        path = os.path.join(save_dir, f"bench-index-{kind}-{n}.npz")
        t = time.perf_counter()
        idx.save(path)
        out["save_s"] = round(time.perf_counter() - t, 2)
        out["file_mb"] = round(os.path.getsize(path) / 2**20, 1)
        before = idx.search_many(queries[:200], RADIUS)
        del idx
        gc.collect()
        t = time.perf_counter()
        idx = PdqIndex.load(path)
        out["load_s"] = round(time.perf_counter() - t, 2)
        out["load_same_results"] = idx.search_many(queries[:200], RADIUS) == before
        os.unlink(path)
    return out


# --- python-threatexchange PDQIndex, run with another venv's python ------------------------------


def worker_threatexchange(kind: str, n: int, m: int, sample: int, limit: int) -> dict:
    """Same data and queries as worker_bastion (same m), timing only the first ``limit`` queries."""
    import threatexchange  # noqa: F401 - only to fail early with a clear error
    from importlib.metadata import version

    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    base_rss = _rss_mb()
    ids, hashes = make_set(kind, n)
    queries = make_queries(hashes, m)
    entries = [(h.tobytes().hex(), int(i)) for i, h in zip(ids, hashes)]
    del hashes
    gc.collect()
    data_rss = _rss_mb()
    t = time.perf_counter()
    idx = PDQIndex(entries)
    build_s = time.perf_counter() - t
    rss = _rss_mb()
    del entries
    qhex = [q.tobytes().hex() for q in queries[: max(limit, sample)]]
    t = time.perf_counter()
    results = [idx.query(q) for q in qhex]
    per_s = len(qhex) / (time.perf_counter() - t)
    return {
        "version": version("threatexchange"),
        "faiss_version": version("faiss-cpu") if _has_dist("faiss-cpu") else None,
        "set": kind,
        "n": n,
        "build_s": round(build_s, 2),
        "rss_index_mb": round(rss - data_rss, 1),
        "rss_process_mb": round(rss, 1),
        "rss_baseline_mb": round(base_rss, 1),
        "lookups_per_s": round(per_s, 1),
        "sample_found": [[int(r.metadata) for r in res] for res in results[:sample]],
    }


def _has_dist(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


# --- orchestration -------------------------------------------------------------------------------


def _run_worker(python: str, args: list[str]) -> dict:
    cmd = [python, os.path.abspath(__file__), "--worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-5:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--sets", default="random,clustered")
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--sample", type=int, default=50, help="queries checked against brute force and anchors")
    ap.add_argument("--te-python", default=None, help="python of a throw-away venv with threatexchange")
    ap.add_argument("--te-sizes", default=None, help="sizes for threatexchange (default: all --sizes)")
    ap.add_argument("--save-dir", default=None, help="also time save/load through this directory")
    ap.add_argument("--te-sets", default=None, help="sets for threatexchange (default: all --sets)")
    ap.add_argument("--te-queries", type=int, default=1000, help="queries timed for threatexchange")
    ap.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker is not None:
        which, kind, n = a.worker[0], a.worker[1], int(a.worker[2])
        if which == "bastion":
            res = worker_bastion(kind, n, a.queries, a.sample, a.save_dir)
        else:
            res = worker_threatexchange(kind, n, a.queries, a.sample, a.te_queries)
        print(json.dumps(res))
        return

    te_sizes = {int(s) for s in (a.te_sizes or a.sizes).split(",")}
    te_sets = set((a.te_sets or a.sets).split(","))
    runs = []
    for n in (int(s) for s in a.sizes.split(",")):
        for kind in a.sets.split(","):
            extra = ["--queries", str(a.queries), "--sample", str(a.sample)]
            if a.save_dir:
                extra += ["--save-dir", a.save_dir]
            t = time.perf_counter()
            res = _run_worker(sys.executable, ["bastion", kind, str(n), *extra])
            res["wall_s"] = round(time.perf_counter() - t, 1)
            expected = res.pop("sample_expected", None)
            if a.te_python and n in te_sizes and kind in te_sets:
                te_args = ["--queries", str(a.queries), "--sample", str(a.sample), "--te-queries", str(a.te_queries)]
                te = _run_worker(a.te_python, ["te", kind, str(n), *te_args])
                found = te.pop("sample_found", None)
                if expected is not None and found is not None:
                    want = sum(len(e) for e in expected)
                    got = sum(len(set(e) & set(f)) for e, f in zip(expected, found))
                    te["recall_vs_brute"] = round(got / want, 6) if want else None
                if "lookups_per_s" in te and res.get("batch_lookups_per_s"):
                    res["speedup_vs_threatexchange_single"] = round(res["single_lookups_per_s"] / te["lookups_per_s"], 1)
                res["threatexchange"] = te
            if res.get("faiss_flat_lookups_per_s"):
                res["speedup_vs_faiss_flat"] = round(res["batch_lookups_per_s"] / res["faiss_flat_lookups_per_s"], 1)
            print(f"# {kind} {n}: {json.dumps(res)}", file=sys.stderr, flush=True)
            runs.append(res)
    summary = {
        "bench": "index",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "load_avg_at_end": os.getloadavg()[0],
        "radius": RADIUS,
        "runs": runs,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
