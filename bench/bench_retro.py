"""Retro-matching benchmark: N new bank hashes against M stored media hashes (issue 7 goal: 100k new against
10M stored in <= 60 s on this 2-core machine).

Builds a SQLite store with M item_media rows (random PDQ hashes; `--planted` of them are near copies —
distance 1..20 — of new bank hashes, so the join must find exactly those), adds N random PDQ hashes to a
`csam` bank through the repository (which writes the change log), then times `bastion.cases.retro.run`.
Baseline in the same run: numpy brute force (XOR + popcount) of a 10k-row sample of the stored hashes
against all N new hashes, scaled to M — what a plain vectorised join would cost.

    python bench/bench_retro.py --stored 1000000 --new 100000
    python bench/bench_retro.py --stored 10000000 --new 100000     # the issue's size (~3 GB of SQLite)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stored", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--planted", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from bastion.banks.repo import BankRepository
    from bastion.cases import retro
    from bastion.model import Bank, HashEntry
    from bastion.policy import default_policy
    from bastion.store.db import open_store

    rng = np.random.default_rng(args.seed)
    home = Path(tempfile.mkdtemp(prefix="bastion-retro-"))
    url = f"sqlite:///{home / 'bastion.db'}"
    store = open_store(url)
    new = rng.integers(0, 256, (args.new, 32), dtype=np.uint8)
    stored = rng.integers(0, 256, (args.stored, 32), dtype=np.uint8)
    planted_rows = rng.choice(args.stored, args.planted, replace=False)
    planted_src = rng.choice(args.new, args.planted, replace=False)
    for row, src in zip(planted_rows, planted_src):
        h = np.unpackbits(new[src]).copy()
        flips = rng.choice(256, int(rng.integers(1, 21)), replace=False)
        h[flips] ^= 1
        stored[row] = np.packbits(h)
    t0 = time.perf_counter()
    con = sqlite3.connect(home / "bastion.db")
    con.execute("INSERT INTO items (id, external_id, request_sha256, kind, tags, facts, verdict, action, priority, "
                "policy_version, received_at) VALUES (1, 'bench', '', 'post', '[]', '{\"item_id\": \"bench\", \"signals\": []}', "
                "'{}', 'allow', 0, '', '2026-01-01')")
    chunk = 200_000
    for i in range(0, args.stored, chunk):
        block = stored[i:i + chunk]
        con.executemany("INSERT INTO item_media (item_id, position, pdq, quality, result, held) VALUES (1, ?, ?, 100, '{}', 0)",
                        ((i + j, h.tobytes().hex()) for j, h in enumerate(block)))
    con.commit()
    con.close()
    build_s = time.perf_counter() - t0
    BankRepository(store).create(Bank(name="new-list", category="csam"))
    t0 = time.perf_counter()
    BankRepository(store).add_entries("new-list", (HashEntry("pdq", h.tobytes().hex()) for h in new))
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    out = retro.run(store, default_policy())
    retro_s = time.perf_counter() - t0
    found_rows = {m["media"] for m in out.matches}  # media position == row number in this bench
    expected = set(int(r) for r in planted_rows)

    # same-run baseline: numpy brute force on a sample, scaled
    sample = stored[:10_000]
    t0 = time.perf_counter()
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    for q in sample[:200]:
        (table[np.bitwise_xor(new, q)].sum(axis=1, dtype=np.uint16) <= 31).nonzero()
    brute_per_row = (time.perf_counter() - t0) / 200
    res = {
        "stored": args.stored, "new": args.new, "planted": args.planted, "found_planted": len(expected & found_rows),
        "false_matches": len(found_rows - expected), "retro_s": round(retro_s, 2), "import_s": round(import_s, 2),
        "build_s": round(build_s, 1), "numpy_brute_force_s_scaled": round(brute_per_row * args.stored, 1),
        "speedup_vs_brute_force": round(brute_per_row * args.stored / retro_s, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores", "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(res))
    store.close()


if __name__ == "__main__":
    main()
