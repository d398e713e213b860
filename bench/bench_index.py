"""Benchmark of the exact PDQ index (bastion.banks.index.PdqIndex) against its anchors, fairly.

Run by hand (heavy at 10M: ~1.3 GB for Bastion's process, ~6.6 GB for each python-threatexchange process)::

    .venv/bin/python bench/bench_index.py --sizes 1000000 --te-python /tmp/tevenv/bin/python
    .venv/bin/python bench/bench_index.py --sizes 10000000 --sets random --te-python /tmp/tevenv/bin/python

Fairness (issue 14):

* Every engine lives in its own fresh subprocess, built once, one build at a time: ``bastion``
  (``PdqIndex``), ``numpy_brute`` (``BruteForcePdqIndex``, the oracle), ``faiss_flat_1t`` /
  ``faiss_flat_default`` (faiss ``IndexBinaryFlat.range_search``), ``te_1t`` / ``te_default``
  (python-threatexchange ``PDQIndex``, faiss multi-hash inside; only with ``--te-python`` naming a throw-away
  venv that has it: it is never a Bastion dependency).
* The ``*_1t`` engines and Bastion's and numpy's processes start with ``OMP_NUM_THREADS=1`` (and the BLAS
  equivalents) in their environment, so OpenMP is set up single-threaded before faiss is imported, and call
  ``faiss.omp_set_num_threads(1)`` as well. The ``*_default`` engines start with those variables removed
  (faiss's default: one thread per core). Bastion is timed on one thread, and separately with two
  (``search_many(workers=2)``), labelled.
* Repetitions are interleaved: round 1 times every engine in turn, then round 2, ... (A, B, C, A, B, C),
  so a burst of load from other jobs hits every engine alike. Ratios are computed per round (same round,
  same load) and reported as median, min and max over the rounds, beside each engine's median lookups/s.
* The 1-, 5- and 15-minute load averages are recorded before the run, at each round and at the end.
* After the rounds the anchors exit and Bastion's updates are timed: single adds, removes, the add that
  compacts synchronously, and background compaction repeated ``--update-runs`` times: each run fills the
  delta, and adds go on at ``--add-rate`` per second from the add that starts the build thread until the add
  that publishes the new tables, plus 1,000 more; the latencies are reported per run (p50/p90/p99/max, the
  starting and publishing adds) and as a distribution over runs.

Data are synthetic 256-bit hashes: ``random`` (uniform); ``clustered`` (half uniform singletons, half
near-duplicates at ~0..40 bits of clusters whose sizes follow Zipf(1.5) capped at 5000); ``hotspot`` (a
stress case: the same but with n/200 clusters weighted Zipf(0.9), the largest holding ~5 % of the members,
so near-duplicate queries return hundreds of hits). Queries: half near-duplicates (~0..40 bits) of stored
hashes, half unrelated random hashes. Radius 31. Recall of every engine is checked against numpy brute force
on the first ``--sample`` queries.

Per configuration the script prints a progress line on stderr; it ends by printing one JSON line with every
figure.
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


def _ms(x: float) -> float:
    return round(x * 1e3, 4)


def _pcts(samples: list[float]) -> dict[str, float]:
    """Percentiles of latencies in seconds, reported in ms."""
    s = sorted(samples)

    def at(q: float) -> float:
        return _ms(s[min(len(s) - 1, int(len(s) * q))])

    return {
        "n": len(s),
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": _ms(s[-1]),
        "mean_ms": _ms(statistics.fmean(s)),
    }


def _spread(values: list[float]) -> dict[str, float] | None:
    """Median, min and max of a figure over rounds (or runs)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 4), "min": round(min(vals), 4), "max": round(max(vals), 4), "n": len(vals)}


def _id_lists(results: list[list[tuple[int, int]]]) -> list[list[int]]:
    return [sorted(i for i, _ in hits) for hits in results]


def _omp_threads(one_thread: bool) -> int | None:
    """Pin faiss's OpenMP to one thread (on top of OMP_NUM_THREADS=1) and report what faiss will use."""
    import faiss

    if one_thread:
        faiss.omp_set_num_threads(1)
    return faiss.omp_get_max_threads()


# --- engines: each lives in its own process, built once, then timed round after round ----------------


class BastionEngine:
    def __init__(self, kind: str, n: int, a: argparse.Namespace):
        self.kind, self.n, self.a = kind, n, a

    def build(self) -> dict:
        from bastion.banks.index import PdqIndex

        a = self.a
        base_rss = _rss_mb()
        ids, hashes = make_set(self.kind, self.n)
        self.queries = make_queries(hashes, a.queries)
        data_rss = _rss_mb()
        gc.collect()
        t = time.perf_counter()
        self.idx = PdqIndex.from_arrays(ids, hashes)
        build_s = time.perf_counter() - t
        peak_build_rss = _rss_mb()  # input arrays still held here
        del ids, hashes
        gc.collect()
        rss_after = _rss_mb()
        self.qbytes = [q.tobytes() for q in self.queries]
        batch = self.idx.search_many(self.queries, RADIUS)
        return {
            "table_bits": self.idx.table_bits,
            "build_s": round(build_s, 2),
            "rss_process_mb": round(rss_after, 1),
            "rss_baseline_mb": round(base_rss, 1),
            "rss_index_mb": round(rss_after - base_rss - self.queries.nbytes / 2**20, 1),
            "rss_during_build_mb": round(peak_build_rss, 1),
            "data_rss_mb": round(data_rss, 1),
            "hits_per_query": round(sum(len(b) for b in batch) / len(batch), 2),
            "queries_with_hits": round(sum(1 for b in batch if b) / len(batch), 3),
            "sample_ids": _id_lists(batch[: a.sample]),
        }

    def round(self) -> dict:
        a, idx, m = self.a, self.idx, len(self.qbytes)
        t = time.perf_counter()
        single = [idx.search(q, RADIUS) for q in self.qbytes]
        single_s = time.perf_counter() - t
        t = time.perf_counter()
        batch = idx.search_many(self.queries, RADIUS)
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        batch2 = idx.search_many(self.queries, RADIUS, workers=2)
        batch2_s = time.perf_counter() - t
        qs = self.queries[: a.sample]
        t = time.perf_counter()
        linear = idx._search_matrix(qs, RADIUS, 2)  # Bastion's own compiled linear scan, one thread
        linear_s = time.perf_counter() - t
        return {
            "single_lookups_per_s": round(m / single_s, 1),
            "batch_lookups_per_s": round(m / batch_s, 1),
            "batch_2threads_lookups_per_s": round(m / batch2_s, 1),
            "linear_scan_lookups_per_s": round(len(qs) / linear_s, 2),
            "same_results": single == batch == batch2 and linear == batch[: a.sample],
        }

    def updates(self) -> dict:
        a, idx = self.a, self.idx
        out: dict = {}
        rng = np.random.default_rng(7)
        pool = rng.integers(0, 256, size=(65_536, 32), dtype=np.uint8)
        counter = iter(range(1, 10**12))

        def add_timed(lat: list[float] | None = None) -> float:
            i = next(counter)
            h = pool[i % len(pool)].tobytes()
            t = time.perf_counter()
            idx.add(-i, h)
            dt = time.perf_counter() - t
            if lat is not None:
                lat.append(dt)
            return dt

        # single adds of new ids into the delta, up to one short of the compaction
        lat: list[float] = []
        while idx.delta_size < idx.delta_limit - 1:
            add_timed(lat)
        out["add"] = _pcts(lat)
        out["delta_rows"] = idx.delta_size
        t = time.perf_counter()
        idx.search_many(self.queries, RADIUS)
        out["batch_lookups_per_s_full_delta"] = round(len(self.queries) / (time.perf_counter() - t), 1)
        lat = []
        for i in range(2000):
            t = time.perf_counter()
            idx.remove(-(i + 1) if i % 2 else int(1_000_000 + 13 * i))
            lat.append(time.perf_counter() - t)
        out["remove"] = _pcts(lat)

        # synchronous compaction: the add that reaches delta_limit rebuilds inside the add
        sync = []
        for r in range(a.update_runs):
            while idx.delta_size < idx.delta_limit - 1:
                add_timed()
            sync.append(round(add_timed(), 3))
            assert idx.delta_size == 0
        out["add_that_compacts_s"] = sync

        # background compaction: that add only starts a build thread; adds go on at --add-rate per second
        idx.background_compaction = True
        runs = []
        for r in range(a.update_runs):
            while idx.delta_size < idx.delta_limit - 1:
                add_timed()
            lat = []
            period = 1.0 / a.add_rate if a.add_rate > 0 else 0.0
            t0 = time.perf_counter()
            start_add = add_timed(lat)  # reaches delta_limit: starts the build thread
            publish_add = None
            after = 0
            next_t = time.perf_counter()
            while after < 1000:
                if period:
                    next_t += period
                    pause = next_t - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                before = idx.delta_size
                dt = add_timed(lat)
                if publish_add is None and idx.delta_size < before:  # this add published the new tables
                    publish_add = dt
                    window_s = time.perf_counter() - t0
                    adds_in_window = len(lat)
                elif publish_add is not None:
                    after += 1
                if publish_add is None and time.perf_counter() - t0 > 600:
                    raise RuntimeError("background compaction did not publish within 600 s")
            run = _pcts(lat)
            run.update(
                start_add_ms=_ms(start_add),
                publish_add_ms=_ms(publish_add),
                build_window_s=round(window_s, 2),
                adds_during_build=adds_in_window,
                load_avg=os.getloadavg(),
            )
            runs.append(run)
        idx.wait_for_compaction()
        idx.background_compaction = False
        out["background_compaction"] = {
            "add_rate_per_s": a.add_rate,
            "runs": runs,
            "over_runs": {
                k: _spread([r[k] for r in runs])
                for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "start_add_ms", "publish_add_ms", "build_window_s")
            },
        }
        if a.save_dir:
            path = os.path.join(a.save_dir, f"bench-index-{self.kind}-{self.n}.npz")
            t = time.perf_counter()
            idx.save(path)
            out["save_s"] = round(time.perf_counter() - t, 2)
            out["file_mb"] = round(os.path.getsize(path) / 2**20, 1)
            before = idx.search_many(self.queries[:200], RADIUS)
            from bastion.banks.index import PdqIndex

            t = time.perf_counter()
            loaded = PdqIndex.load(path)
            out["load_s"] = round(time.perf_counter() - t, 2)
            out["load_same_results"] = loaded.search_many(self.queries[:200], RADIUS) == before
            os.unlink(path)
        return out


class BruteEngine:
    """numpy brute force: the oracle for every engine's recall, and the slowest anchor."""

    def __init__(self, kind: str, n: int, a: argparse.Namespace):
        self.kind, self.n, self.a = kind, n, a

    def build(self) -> dict:
        from bastion.banks.index import BruteForcePdqIndex

        ids, hashes = make_set(self.kind, self.n)
        self.qs = make_queries(hashes, self.a.queries)[: self.a.sample]
        self.ref = BruteForcePdqIndex.from_arrays(ids, hashes)
        del ids, hashes
        gc.collect()
        t = time.perf_counter()
        expected = self.ref.search_many(self.qs, RADIUS)
        per_s = len(self.qs) / (time.perf_counter() - t)
        return {"lookups_per_s_build_pass": round(per_s, 2), "sample_ids": _id_lists(expected)}

    def round(self) -> dict:
        qs = self.qs[: self.a.brute_queries]
        t = time.perf_counter()
        self.ref.search_many(qs, RADIUS)
        return {"lookups_per_s": round(len(qs) / (time.perf_counter() - t), 2), "queries": len(qs)}


class FaissFlatEngine:
    """faiss IndexBinaryFlat range search over the sample queries (one call, as faiss is meant to be used)."""

    def __init__(self, kind: str, n: int, a: argparse.Namespace, one_thread: bool):
        self.kind, self.n, self.a, self.one_thread = kind, n, a, one_thread

    def build(self) -> dict:
        import faiss

        threads = _omp_threads(self.one_thread)
        ids, hashes = make_set(self.kind, self.n)
        self.qs = make_queries(hashes, self.a.queries)[: self.a.sample]
        self.ids = ids
        self.fidx = faiss.IndexBinaryFlat(256)
        t = time.perf_counter()
        self.fidx.add(hashes)
        build_s = time.perf_counter() - t
        del hashes
        gc.collect()
        lims, _, labels = self.fidx.range_search(self.qs, RADIUS + 1)  # faiss keeps distances < radius
        found = [sorted(int(x) for x in self.ids[labels[lims[i] : lims[i + 1]]]) for i in range(len(self.qs))]
        return {
            "version": faiss.__version__,
            "omp_threads": threads,
            "env_OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "build_s": round(build_s, 2),
            "sample_ids": found,
        }

    def round(self) -> dict:
        t = time.perf_counter()
        self.fidx.range_search(self.qs, RADIUS + 1)
        return {"lookups_per_s": round(len(self.qs) / (time.perf_counter() - t), 2)}


class TeEngine:
    """python-threatexchange PDQIndex (run with another venv's python), queried one hash at a time."""

    def __init__(self, kind: str, n: int, a: argparse.Namespace, one_thread: bool):
        self.kind, self.n, self.a, self.one_thread = kind, n, a, one_thread

    def build(self) -> dict:
        from importlib.metadata import version

        from threatexchange.signal_type.pdq.pdq_index import PDQIndex

        threads = _omp_threads(self.one_thread)
        a = self.a
        base_rss = _rss_mb()
        ids, hashes = make_set(self.kind, self.n)
        queries = make_queries(hashes, a.queries)
        entries = [(h.tobytes().hex(), int(i)) for i, h in zip(ids, hashes)]
        del hashes, ids
        gc.collect()
        data_rss = _rss_mb()
        t = time.perf_counter()
        self.idx = PDQIndex(entries)
        build_s = time.perf_counter() - t
        rss = _rss_mb()
        del entries
        self.qhex = [q.tobytes().hex() for q in queries[: max(a.te_queries, a.sample)]]
        found = [sorted(int(r.metadata) for r in self.idx.query(q)) for q in self.qhex[: a.sample]]
        return {
            "version": version("threatexchange"),
            "faiss_version": version("faiss-cpu") if _has_dist("faiss-cpu") else None,
            "omp_threads": threads,
            "env_OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "build_s": round(build_s, 2),
            "rss_index_mb": round(rss - data_rss, 1),
            "rss_process_mb": round(rss, 1),
            "rss_baseline_mb": round(base_rss, 1),
            "sample_ids": found,
        }

    def round(self) -> dict:
        qhex = self.qhex[: self.a.te_queries]
        t = time.perf_counter()
        for q in qhex:
            self.idx.query(q)
        return {"lookups_per_s": round(len(qhex) / (time.perf_counter() - t), 2), "queries": len(qhex)}


def _has_dist(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


# name -> (which python runs it, one thread?)
ENGINES = {
    "bastion": ("main", True),
    "numpy_brute": ("main", True),
    "faiss_flat_1t": ("main", True),
    "faiss_flat_default": ("main", False),
    "te_1t": ("te", True),
    "te_default": ("te", False),
}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MARK = "@@bench@@ "


def _make_engine(name: str, kind: str, n: int, a: argparse.Namespace):
    one = ENGINES[name][1]
    if name == "bastion":
        return BastionEngine(kind, n, a)
    if name == "numpy_brute":
        return BruteEngine(kind, n, a)
    if name.startswith("faiss_flat"):
        return FaissFlatEngine(kind, n, a, one)
    return TeEngine(kind, n, a, one)


def worker(name: str, kind: str, n: int, a: argparse.Namespace) -> None:
    """Serve build / round / updates commands (one JSON line each on stdin) until quit or end of input."""
    engine = _make_engine(name, kind, n, a)
    for line in sys.stdin:
        cmd = json.loads(line)["cmd"]
        if cmd == "quit":
            break
        try:
            res = getattr(engine, cmd)()
        except Exception as exc:  # reported to the orchestrator, which drops this engine
            import traceback

            res = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc().splitlines()[-6:]}
        print(MARK + json.dumps(res), flush=True)


# --- orchestration -------------------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, python: str, kind: str, n: int, passthrough: list[str]):
        env = dict(os.environ)
        for var in THREAD_VARS:
            env.pop(var, None)
            if ENGINES[name][1]:
                env[var] = "1"
        cmd = [python, os.path.abspath(__file__), "--worker", name, kind, str(n), *passthrough]
        self.name = name
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, cmd: str) -> dict:
        try:
            self.p.stdin.write(json.dumps({"cmd": cmd}) + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            return {"error": f"{self.name} exited (code {self.p.poll()})"}
        while line := self.p.stdout.readline():
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])
        return {"error": f"{self.name} exited (code {self.p.wait()})"}

    def close(self) -> None:
        try:
            self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait()


def _recall(truth: list[list[int]], found: list[list[int]]) -> dict:
    want = sum(len(t) for t in truth)
    got = sum(len(set(t) & set(f)) for t, f in zip(truth, found))
    extra = sum(len(set(f) - set(t)) for t, f in zip(truth, found))
    return {"recall": round(got / want, 6) if want else None, "false_hits": extra, "sample_hits": want}


# (label, numerator engine, figure, denominator engine, figure)
RATIOS = [
    ("batch_vs_numpy_brute", "bastion", "batch_lookups_per_s", "numpy_brute", "lookups_per_s"),
    ("batch_vs_linear_kernel", "bastion", "batch_lookups_per_s", "bastion", "linear_scan_lookups_per_s"),
    ("batch_vs_faiss_flat_1t", "bastion", "batch_lookups_per_s", "faiss_flat_1t", "lookups_per_s"),
    ("single_vs_te_1t", "bastion", "single_lookups_per_s", "te_1t", "lookups_per_s"),
    ("batch_vs_te_1t", "bastion", "batch_lookups_per_s", "te_1t", "lookups_per_s"),
    # labelled: the anchor on faiss's default threads (one per core), Bastion on one thread, then on two
    ("batch_vs_faiss_flat_default", "bastion", "batch_lookups_per_s", "faiss_flat_default", "lookups_per_s"),
    ("batch_2threads_vs_faiss_flat_default", "bastion", "batch_2threads_lookups_per_s", "faiss_flat_default", "lookups_per_s"),
    ("single_vs_te_default", "bastion", "single_lookups_per_s", "te_default", "lookups_per_s"),
]


def run_config(kind: str, n: int, engines: list[str], a: argparse.Namespace, passthrough: list[str]) -> dict:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res: dict = {"set": kind, "n": n, "started": started, "load_avg_before": os.getloadavg(), "engines": {}}
    t_start = time.perf_counter()
    procs: dict[str, Proc] = {}
    truth = None
    for name in engines:  # one build at a time
        python = sys.executable if ENGINES[name][0] == "main" else a.te_python
        proc = Proc(name, python, kind, n, passthrough)
        built = proc.ask("build")
        built["load_avg_after_build"] = os.getloadavg()
        if "error" in built:
            proc.close()
        else:
            procs[name] = proc
        res["engines"][name] = built
        print(f"# {kind} {n}: built {name}: {({k: v for k, v in built.items() if k != 'sample_ids'})}", file=sys.stderr, flush=True)
    truth = res["engines"].get("numpy_brute", {}).get("sample_ids")
    for name, built in res["engines"].items():
        found = built.pop("sample_ids", None)
        if truth is not None and found is not None:
            built["vs_numpy_brute"] = _recall(truth, found)

    rounds = []
    for r in range(a.rounds):  # interleaved: every engine once per round, in the same order
        rec: dict = {"round": r + 1, "load_avg": os.getloadavg()}
        for name, proc in list(procs.items()):
            rec[name] = proc.ask("round")
            if "error" in rec[name]:
                proc.close()
                del procs[name]
        rec["ratios"] = {}
        for label, num, nfig, den, dfig in RATIOS:
            x, y = rec.get(num, {}).get(nfig), rec.get(den, {}).get(dfig)
            if x and y:
                rec["ratios"][label] = round(x / y, 2)
        rounds.append(rec)
        print(f"# {kind} {n}: round {r + 1}: {json.dumps(rec)}", file=sys.stderr, flush=True)
    res["rounds"] = rounds

    figures: dict = {}
    for name in engines:
        keys = sorted({k for rec in rounds for k, v in rec.get(name, {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        figures[name] = {k: _spread([rec[name].get(k) for rec in rounds if name in rec]) for k in keys}
        flags = [rec[name]["same_results"] for rec in rounds if "same_results" in rec.get(name, {})]
        if flags:
            figures[name]["same_results_every_round"] = all(flags)
    res["figures_over_rounds"] = figures
    res["ratios_over_rounds"] = {label: _spread([rec["ratios"].get(label) for rec in rounds]) for label, *_ in RATIOS}
    res["ratios_over_rounds"] = {k: v for k, v in res["ratios_over_rounds"].items() if v}

    for name in list(procs):  # the anchors leave before the update timings
        if name != "bastion":
            procs.pop(name).close()
    if "bastion" in procs and not a.no_updates:
        res["load_avg_before_updates"] = os.getloadavg()
        res["updates"] = procs["bastion"].ask("updates")
        print(f"# {kind} {n}: updates: {json.dumps(res['updates'])}", file=sys.stderr, flush=True)
    for proc in procs.values():
        proc.close()
    res["load_avg_after"] = os.getloadavg()
    res["wall_s"] = round(time.perf_counter() - t_start, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--sets", default="random,clustered")
    ap.add_argument("--engines", default=",".join(ENGINES), help="te_* engines need --te-python")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved repetitions")
    ap.add_argument("--queries", type=int, default=4000, help="queries per round for Bastion")
    ap.add_argument("--sample", type=int, default=50, help="queries checked against brute force; faiss's per round")
    ap.add_argument("--brute-queries", type=int, default=None, help="numpy brute force queries per round (default 50 per 1M rows down to 5)")
    ap.add_argument("--te-python", default=None, help="python of a throw-away venv with threatexchange")
    ap.add_argument("--te-queries", type=int, default=1000, help="queries per round for threatexchange")
    ap.add_argument("--update-runs", type=int, default=5, help="repeated compactions (synchronous and background)")
    ap.add_argument("--add-rate", type=float, default=1000.0, help="adds per second during a background build (0: flat out)")
    ap.add_argument("--no-updates", action="store_true", help="skip the update timings")
    ap.add_argument("--save-dir", default=None, help="also time save/load through this directory")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker is not None:
        name, kind, n = a.worker[0], a.worker[1], int(a.worker[2])
        if a.brute_queries is None:
            a.brute_queries = max(5, min(a.sample, 50 * 1_000_000 // n))
        worker(name, kind, n, a)
        return

    engines = [e for e in a.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}; known: {', '.join(ENGINES)}")
    if not a.te_python:
        engines = [e for e in engines if ENGINES[e][0] != "te"]
    passthrough = ["--queries", str(a.queries), "--sample", str(a.sample), "--te-queries", str(a.te_queries)]
    passthrough += ["--update-runs", str(a.update_runs), "--add-rate", str(a.add_rate)]
    if a.brute_queries is not None:
        passthrough += ["--brute-queries", str(a.brute_queries)]
    if a.save_dir:
        passthrough += ["--save-dir", a.save_dir]
    load_before = os.getloadavg()
    runs = [run_config(kind, int(n), engines, a, passthrough) for n in a.sizes.split(",") for kind in a.sets.split(",")]
    summary = {
        "bench": "index",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "load_avg_before": load_before,
        "load_avg_at_end": os.getloadavg(),
        "radius": RADIUS,
        "rounds": a.rounds,
        "runs": runs,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
