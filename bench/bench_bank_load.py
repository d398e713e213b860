"""How fast a bank is imported into the store and loaded back into a ready matcher.

    python bench/bench_bank_load.py [--n 1000000] [--db sqlite:///path | postgresql+psycopg://...]

Measures, in one run: importing N PDQ hashes through the bank repository (with duplicate merging), the
time `Matcher.from_store` takes to read them back and build the PDQ index, the same from the on-disk index
cache, and — as the baseline — the index built from arrays already in memory (so the ratio shows what the
store costs). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import psutil

from bastion.banks.index import PdqIndex
from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.model import Bank, HashEntry
from bastion.store.db import open_store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.db or f"sqlite:///{tmp}/bench.db"
    store = open_store(url)
    repo = BankRepository(store)
    repo.create(Bank("bench", "test"))
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, size=(args.n, 32), dtype=np.uint8)
    hexes = [h.tobytes().hex() for h in hashes]

    t = time.perf_counter()
    repo.add_entries("bench", (HashEntry("pdq", h) for h in hexes))
    import_s = time.perf_counter() - t

    rss0 = psutil.Process().memory_info().rss
    t = time.perf_counter()
    matcher = Matcher.from_store(store)
    load_s = time.perf_counter() - t
    rss_load = psutil.Process().memory_info().rss - rss0

    t = time.perf_counter()
    PdqIndex.from_arrays(np.arange(args.n, dtype=np.int64), hashes)
    arrays_s = time.perf_counter() - t

    cache = os.path.join(tmp, "cache")
    Matcher.from_store(store, cache_dir=cache)  # builds and writes the cache
    t = time.perf_counter()
    cached = Matcher.from_store(store, cache_dir=cache)
    cached_s = time.perf_counter() - t
    assert cached.pdq_entries == args.n

    t = time.perf_counter()
    q = 200
    for h in hexes[:q]:
        matcher.match({"md5": "0" * 32, "sha256": "0" * 64}, {"original": h}, 100)
    match_ms = (time.perf_counter() - t) / q * 1000

    figures = {
        "bench": "bank_load",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "backend": store.engine.url.get_backend_name(),
        "n": args.n,
        "import_s": round(import_s, 2),
        "import_rows_per_s": round(args.n / import_s),
        "load_from_store_s": round(load_s, 2),
        "build_from_arrays_s": round(arrays_s, 2),
        "load_vs_arrays_ratio": round(load_s / arrays_s, 1),
        "load_from_cache_s": round(cached_s, 2),
        "load_rss_mb": round(rss_load / 2**20),
        "match_ms_per_file_exact_plus_pdq": round(match_ms, 3),
        "pdq_entries": matcher.pdq_entries,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
