"""The PDQ index at industry-list size (issue 20 item 6): 100M hashes on one machine, exact lookups at radius
31 >= 1,000/s on one thread, <= 10 GB of memory, build <= 3 min. Measured at several sizes to show the growth.

Each size runs in its own fresh process (so its memory is its own and is returned), one after another:

* data: ``n`` synthetic 256-bit hashes generated in place (no copies): 99 % uniform random, 1 % near copies
  (1..40 bits flipped) of other stored hashes, so some queries have several hits, some right at the radius.
  Ids are sorted and sparse (``7 + 3 i``), as bank entry ids read in id order are.
* build: ``PdqIndex.from_arrays`` with ``--build-workers`` threads; wall time; RSS before the data, after the
  data, after the build, and the process peak (``ru_maxrss``: data + index + build scratch).
* lookups, one thread: ``--queries`` queries, half near copies (0..31 bits flipped, so each must be found)
  of stored hashes, half uniform random; single ``search`` calls and one batched ``search_many`` call;
  then ``search_many(workers=2)`` for reference.
* exactness: ``--oracle`` of those queries checked against numpy brute force (XOR + popcount over every
  stored hash, in chunks) — every (id, distance) within the radius, nothing else.
* same-run baseline: Bastion's own compiled linear scan (``mode=2``: every row, no tables) on a few queries,
  as a ratio; and the first size of the run as the growth baseline (``growth_vs_first``).

    .venv/bin/python bench/bench_index_scale.py --sizes 10000000,25000000,50000000,100000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

RADIUS = 31


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def flip(rng: np.random.Generator, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Copy of rows (m, 32) with counts[i] distinct random bits flipped in row i."""
    bits = np.unpackbits(rows, axis=1)
    for i, c in enumerate(counts):
        bits[i, rng.choice(256, int(c), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    hashes = np.empty((n, 32), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    step = 1 << 22
    for a in range(0, n, step):
        b = min(n, a + step)
        hashes[a:b] = rng.integers(0, 256, (b - a, 32), dtype=np.uint8)
    # 1 % near copies of other rows (1..40 bits), in place, vectorised per block
    copies = n // 100
    dst = rng.choice(n, copies, replace=False)
    src = rng.integers(0, n, copies)
    for a in range(0, copies, 100_000):
        d, s = dst[a:a + 100_000], src[a:a + 100_000]
        m = d.shape[0]
        mean = rng.integers(1, 41, m)
        mask = rng.integers(0, 256, (m, 256), dtype=np.uint16) < mean[:, None]  # ~mean bits each
        hashes[d] = hashes[s] ^ np.packbits(mask, axis=1)
    ids = np.arange(n, dtype=np.int64) * 3 + 7
    return ids, hashes


def brute(ids: np.ndarray, hashes: np.ndarray, queries: np.ndarray, r: int) -> list[list[tuple[int, int]]]:
    """Every (id, distance <= r) per query, by XOR + popcount over all rows (1M-row chunks)."""
    words = hashes.view(np.uint64)  # (n, 4)
    qw = np.ascontiguousarray(queries).view(np.uint64)
    out: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
    step = 1 << 20
    for a in range(0, len(words), step):
        block = words[a:a + step]
        for qi in range(len(qw)):
            d = np.bitwise_count(block ^ qw[qi]).sum(axis=1, dtype=np.int32)
            hit = np.flatnonzero(d <= r)
            out[qi].extend(zip((ids[a + hit]).tolist(), d[hit].tolist()))
    return [sorted(h, key=lambda x: (x[1], x[0])) for h in out]


def one_size(n: int, queries_n: int, oracle_n: int, build_workers: int, seed: int, layout: str = "auto",
             baseline_kernel: str | None = None, ab_rounds: int = 3) -> dict:
    from bastion.banks import _pdqindex as kernel
    from bastion.banks.index import PdqIndex

    res: dict = {"n": n, "layout_asked": layout, "load_before": [round(x, 2) for x in os.getloadavg()]}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    ids, hashes = make_data(n, seed)
    res["data_s"] = round(time.perf_counter() - t0, 1)
    rss_data = rss_mb()
    rng = np.random.default_rng(seed + 1)
    half = queries_n // 2
    src, flips = rng.integers(0, n, half), rng.integers(0, RADIUS + 1, half)
    flips[: half // 4] = rng.integers(RADIUS - 3, RADIUS + 1, half // 4)  # a quarter right at the radius
    near = flip(rng, hashes[src], flips)
    queries = np.concatenate([near, rng.integers(0, 256, (queries_n - half, 32), dtype=np.uint8)])
    order = rng.permutation(queries_n)
    queries = queries[order]
    source = np.full(queries_n, -1)
    source[np.argsort(order)[:half]] = np.arange(half)  # query position -> near-copy number, or -1

    t0, c0 = time.perf_counter(), time.process_time()
    forced = {"bits": 23} if layout == "narrow" else {}  # narrow: the 11 x 23-bit layout at any size
    index = PdqIndex.from_arrays(ids, hashes, build_workers=build_workers, **forced)
    res["build_s"] = round(time.perf_counter() - t0, 1)
    res["build_cpu_s"] = round(time.process_time() - c0, 1)
    res["build_workers"] = build_workers
    res["table_layout"] = dict(zip(("tables", "bucket_bits", "lo_bits"), index.table_layout))
    main = index._main
    res["index_arrays_mb"] = round(sum(a.nbytes for a in (main.ids, main.hashes, main.tomb, main.offsets, main.rows)) / 2**20)
    res["rss_mb"] = {"start": round(rss0), "after_data": round(rss_data), "after_build": round(rss_mb()),
                     "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    res["load_after_build"] = [round(x, 2) for x in os.getloadavg()]

    # warm-up (page faults of a fresh index are not lookups)
    index.search_many(queries[:50])
    t0, c0 = time.perf_counter(), time.thread_time()
    single = [index.search(q) for q in queries]
    single_s, single_cpu = time.perf_counter() - t0, time.thread_time() - c0
    t0, c0 = time.perf_counter(), time.thread_time()
    batch = index.search_many(queries)
    batch_s, batch_cpu = time.perf_counter() - t0, time.thread_time() - c0
    t0 = time.perf_counter()
    batch2 = index.search_many(queries, workers=2)
    batch2_s = time.perf_counter() - t0
    hits = sum(len(h) for h in batch)
    res["lookups"] = {
        "queries": queries_n, "hits_per_query": round(hits / queries_n, 2),
        "queries_with_hits": round(sum(1 for h in batch if h) / queries_n, 3),
        "single_per_s": round(queries_n / single_s), "batch_1thread_per_s": round(queries_n / batch_s),
        "batch_2threads_per_s": round(queries_n / batch2_s),
        # per second of this thread's CPU time: what one thread does when it has a core to itself (the
        # machine is shared; wall-clock rates above fall with the other jobs' load)
        "single_per_cpu_s": round(queries_n / single_cpu), "batch_per_cpu_s": round(queries_n / batch_cpu),
        "same_results": single == batch == batch2, "load": [round(x, 2) for x in os.getloadavg()],
    }
    if baseline_kernel:  # same index, same queries: other compiled kernels against this one, rounds interleaved
        import importlib.machinery
        import importlib.util

        kernels = {"this": kernel}
        for i, path in enumerate(baseline_kernel.split(",")):
            loader = importlib.machinery.ExtensionFileLoader("_pdqindex", path)
            spec = importlib.util.spec_from_file_location("_pdqindex", path, loader=loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            kernels[path] = mod
        segs = index._segments()
        cpu = dict.fromkeys(kernels, 0.0)
        same = True
        for _ in range(ab_rounds):
            for name, k in kernels.items():
                c0 = time.thread_time()
                got = k.search(segs, queries, queries_n, RADIUS, 0)
                cpu[name] += time.thread_time() - c0
                same = same and got == batch
        res["kernel_ab"] = {"rounds": ab_rounds, "same_results": same,
                            "per_cpu_s": {name: round(ab_rounds * queries_n / c) for name, c in cpu.items()},
                            "this_vs": {name: round(c / cpu["this"], 3) for name, c in cpu.items() if name != "this"},
                            "load": [round(x, 2) for x in os.getloadavg()]}
    lin_q = queries[:5]
    t0 = time.perf_counter()
    lin = kernel.search(index._segments(), lin_q, len(lin_q), RADIUS, 2)
    lin_s = (time.perf_counter() - t0) / len(lin_q)
    res["linear_scan_per_s"] = round(1 / lin_s, 2)
    res["batch_vs_linear_scan"] = round((queries_n / batch_s) * lin_s, 1)
    # every near copy finds its source at exactly its flip count; every reported hit is at its true distance
    missed = sum(1 for qi in range(queries_n) if source[qi] >= 0
                 and (int(ids[src[source[qi]]]), int(flips[source[qi]])) not in set(batch[qi]))
    wrong = sum(1 for qi in range(queries_n) for i, d in batch[qi]
                if d > RADIUS or int(np.bitwise_count(hashes[(i - 7) // 3] ^ queries[qi]).sum()) != d)
    res["checks"] = {"near_copies": half, "near_copies_missed": missed, "hits_checked": hits, "hits_wrong": wrong}
    oracle_q = queries[:oracle_n]
    t0 = time.perf_counter()
    truth = brute(ids, hashes, oracle_q, RADIUS)
    res["oracle"] = {"queries": oracle_n, "brute_s_per_query": round((time.perf_counter() - t0) / oracle_n, 2),
                     "hits": sum(len(h) for h in truth), "exact": truth == batch[:oracle_n] and lin == batch[:len(lin_q)],
                     "at_radius_or_29_31": sum(1 for h in truth for _, d in h if d >= 29)}
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--oracle", type=int, default=40)
    ap.add_argument("--build-workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--narrow-too", action="store_true",
                    help="at sizes that use the wide layout, also measure the narrow one (same run, own process)")
    ap.add_argument("--baseline-kernel", help="paths (comma-separated) of other compiled _pdqindex builds (e.g. main's) to "
                    "compare in the same process: same index, same queries, rounds interleaved, CPU time of the searching thread")
    ap.add_argument("--ab-rounds", type=int, default=3)
    ap.add_argument("--layout", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.queries, args.oracle, args.build_workers, args.seed, args.layout,
                                  args.baseline_kernel, args.ab_rounds)))
        return
    from bastion.banks.index import WIDE_FROM

    runs = []
    plan = [(int(x), "auto") for x in args.sizes.split(",")]
    if args.narrow_too:
        plan += [(n, "narrow") for n, _ in plan if n >= WIDE_FROM]
    for n, layout in plan:
        print(f"size {n:,} {layout} (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        cp = subprocess.run([sys.executable, __file__, "--one", str(n), "--queries", str(args.queries),
                             "--oracle", str(args.oracle), "--build-workers", str(args.build_workers),
                             "--seed", str(args.seed), "--layout", layout, "--ab-rounds", str(args.ab_rounds)]
                            + (["--baseline-kernel", args.baseline_kernel] if args.baseline_kernel else []),
                            capture_output=True, text=True)
        if cp.returncode:
            runs.append({"n": n, "error": cp.stderr[-2000:]})
            print(cp.stderr[-2000:], file=sys.stderr)
            continue
        r = json.loads(cp.stdout.strip().splitlines()[-1])
        print(json.dumps(r), file=sys.stderr, flush=True)
        runs.append(r)
    ok = [r for r in runs if "error" not in r and r["layout_asked"] == "auto"]
    if ok:
        first = ok[0]
        for r in ok[1:]:
            r["growth_vs_first"] = {
                "n": round(r["n"] / first["n"], 2),
                "build_s": round(r["build_s"] / first["build_s"], 2),
                "index_arrays_mb": round(r["index_arrays_mb"] / first["index_arrays_mb"], 2),
                "batch_1thread_per_s": round(r["lookups"]["batch_1thread_per_s"] / first["lookups"]["batch_1thread_per_s"], 3),
                "batch_per_cpu_s": round(r["lookups"]["batch_per_cpu_s"] / first["lookups"]["batch_per_cpu_s"], 3),
            }
    for r in runs:  # wide vs narrow at the same size, same data, same run
        other = next((x for x in runs if "error" not in x and "error" not in r and x["n"] == r["n"]
                      and x["layout_asked"] == "narrow" and r["layout_asked"] == "auto"), None)
        if other:
            r["vs_narrow_same_run"] = {
                "batch_per_cpu_s": round(r["lookups"]["batch_per_cpu_s"] / other["lookups"]["batch_per_cpu_s"], 2),
                "single_per_cpu_s": round(r["lookups"]["single_per_cpu_s"] / other["lookups"]["single_per_cpu_s"], 2),
                "index_arrays_mb": round(r["index_arrays_mb"] / other["index_arrays_mb"], 2),
                "build_cpu_s": round(r["build_cpu_s"] / other["build_cpu_s"], 2),
            }
    print(json.dumps({
        "bench": "index-scale", "radius": RADIUS,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, numpy {np.__version__}",
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
