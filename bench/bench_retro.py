"""Retro-matching benchmark: N new bank hashes against M stored media hashes (issue 20 item 5: 100k new
against 10M stored in <= 60 s on this 2-core machine).

The store is built once by the bulk loader (``bench/bulk_store.py``: executemany in large transactions,
secondary indexes built after the load) and may be reused across runs with ``--store DIR``. Each run adds
a new ``csam`` bank of N PDQ hashes through ``BankRepository.add_entries`` (which writes the change log):
N - planted random hashes and ``--planted`` near copies (1..20 bits flipped) of randomly chosen stored
hashes, so retro-matching must find exactly those stored media. Then ``bastion.cases.retro.run`` is timed,
with its own breakdown (read / build / search / apply).

Same-run baselines:

* ``floor``: the same stored hashes already in memory — ``PdqIndex.from_arrays`` (same build threads) and
  ``search_many`` of the same N new hashes on both cores: what retro-matching costs without the store.
* ``numpy_join_scaled``: numpy XOR + popcount of a sample of the stored hashes against all N new hashes,
  scaled to M (what a plain vectorised join would cost).

    python bench/bench_retro.py --stored 1000000 --new 100000
    python bench/bench_retro.py --stored 10000000 --new 100000 --store /tmp/retro-10m   # ~6.7 GB of SQLite

The code before issue 20 item 5 as a same-store baseline (its retro has no stage timings, no build threads):
    git archive cf36ebe src | tar -x -C /tmp/old && (build its _pdqindex extension in place)
    PYTHONPATH=/tmp/old/src python bench/bench_retro.py --stored 10000000 --store /tmp/retro-10m --no-floor
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stored", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=200)
    ap.add_argument("--per-item", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7, help="seed of this run's new hashes")
    ap.add_argument("--store", type=Path, help="folder of a store to build once and reuse")
    ap.add_argument("--no-floor", action="store_true", help="skip the in-memory baseline")
    args = ap.parse_args()
    import bulk_store
    from bastion.banks.index import PdqIndex
    from bastion.banks.repo import BankRepository
    from bastion.cases import retro
    from bastion.model import Bank, HashEntry
    from bastion.policy import default_policy
    from bastion.store.db import open_store

    load_before = [round(x, 2) for x in os.getloadavg()]
    home = args.store or Path(tempfile.mkdtemp(prefix="bastion-retro-"))
    db = home / "bastion.db"
    built = None
    if not db.exists():
        log(f"building a store of {args.stored:,} media hashes in {home}")
        built = bulk_store.build(home, args.stored, per_item=args.per_item, log=log)
        log(json.dumps(built))
    con = sqlite3.connect(db)
    have = con.execute("SELECT count(*) FROM item_media").fetchone()[0]
    if have != args.stored:
        raise SystemExit(f"{db} holds {have} media rows, not {args.stored}")
    per_item = con.execute("SELECT count(*) FROM item_media WHERE item_id = 1").fetchone()[0]
    rng = np.random.default_rng(args.seed)
    planted_ids = np.sort(rng.choice(args.stored, args.planted, replace=False) + 1)
    near = {}
    for mid, hx in con.execute(f"SELECT id, pdq FROM item_media WHERE id IN ({','.join(map(str, planted_ids.tolist()))})"):
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(hx), dtype=np.uint8))
        bits[rng.choice(256, int(rng.integers(1, 21)), replace=False)] ^= 1
        near[mid] = np.packbits(bits)
    con.close()
    new = rng.integers(0, 256, (args.new, 32), dtype=np.uint8)
    slots = rng.choice(args.new, args.planted, replace=False)
    for slot, mid in zip(slots, planted_ids.tolist()):
        new[slot] = near[mid]

    store = open_store(f"sqlite:///{db}")
    bank = f"new-list-{args.seed}-{int(time.time())}"
    BankRepository(store).create(Bank(name=bank, category="csam"))
    t0 = time.perf_counter()
    BankRepository(store).add_entries(bank, (HashEntry("pdq", h.tobytes().hex()) for h in new))
    import_s = time.perf_counter() - t0
    load_at_retro = [round(x, 2) for x in os.getloadavg()]
    log(f"retro-matching {args.new:,} new against {args.stored:,} stored (load {load_at_retro})")
    t0, c0 = time.perf_counter(), time.process_time()
    out = retro.run(store, default_policy())
    retro_s, retro_cpu = time.perf_counter() - t0, time.process_time() - c0
    store.close()
    rss_retro = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = {(int(m["item_id"].split("-")[1]) * per_item + m["media"] + 1) for m in out.matches}
    expected = set(planted_ids.tolist())
    res = {
        "bench": "retro", "stored": args.stored, "new": args.new, "planted": args.planted,
        "found_planted": len(expected & found), "false_matches": len(found - expected),
        "retro_s": round(retro_s, 2), "retro_cpu_s": round(retro_cpu, 2), "retro_stages_s": {k: round(v, 2) for k, v in getattr(out, "timings", {}).items()},
        "import_s": round(import_s, 2), "peak_rss_mb": round(rss_retro), "store_build": built,
        "store_bytes": db.stat().st_size,
    }
    log(json.dumps(res))
    gc.collect()

    if not args.no_floor:  # same run: the same stored hashes from memory, the same new hashes
        con = sqlite3.connect(db)
        ids, hexes = [], []
        for mid, hx in con.execute("SELECT id, pdq FROM item_media ORDER BY id"):
            ids.append(mid)
            hexes.append(hx)
        con.close()
        stored = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)
        ids_arr = np.asarray(ids, dtype=np.int64)
        del ids, hexes
        workers = os.cpu_count() or 1
        t0, c0 = time.perf_counter(), time.process_time()
        index = PdqIndex.from_arrays(ids_arr, stored, build_workers=workers)
        build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        hits = index.search_many(new, 31, workers=workers)
        search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
        floor_found = {mid for row in hits for mid, _ in row}
        del index
        sample = stored[:: max(1, args.stored // 10_000)][:10_000]
        t0 = time.perf_counter()
        for q in sample[:100]:
            (np.bitwise_count(np.bitwise_xor(new, q)).sum(axis=1, dtype=np.uint16) <= 31).nonzero()
        brute_per_row = (time.perf_counter() - t0) / 100
        res["floor"] = {"build_s": round(build_s, 2), "search_s": round(search_s, 2),
                        "build_cpu_s": round(build_cpu, 2), "search_cpu_s": round(search_cpu, 2),
                        "total_s": round(build_s + search_s, 2), "found": len(floor_found),
                        "same_matches": floor_found == found}
        res["retro_vs_floor"] = round(retro_s / (build_s + search_s), 2)
        res["retro_vs_floor_cpu"] = round(retro_cpu / (build_cpu + search_cpu), 2)
        res["numpy_join_scaled_s"] = round(brute_per_row * args.stored, 1)
    res.update({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
                   f"sqlite {sqlite3.sqlite_version}",
        "load_before": load_before, "load_at_retro": load_at_retro,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    })
    print(json.dumps(res))


if __name__ == "__main__":
    main()
