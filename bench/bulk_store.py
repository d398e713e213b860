"""Bench helper: build a SQLite store with millions of stored items and media hashes in minutes, not hours.

Not item by item through the service: the store is created by Bastion (``open_store``: every migration),
then ``items`` and ``item_media`` are filled with ``executemany`` in large transactions, with the
``item_media`` secondary indexes dropped during the load and created again afterwards (a B-tree built once
from sorted keys instead of 10M random inserts into it) — the SQLite counterpart of PostgreSQL's COPY.

Every value is synthetic and benign: random 256-bit PDQ hashes (or near copies made by flipping bits),
random MD5/SHA-256 strings, a small result JSON of the shape the service stores (no matches, no
provenance). Rows: ``per_item`` media per item, item ``k`` owns media ``k*per_item .. k*per_item+per_item-1``
(0-based), so the media row number tells the item.

    python bench/bulk_store.py /tmp/retro-10m --stored 10000000      # a reusable store for bench_retro.py
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

#: the shape of a stored scan result (cases/ingest.py) for a plain image with nothing found
RESULT_JSON = json.dumps({"matches": [], "provenance": {"c2pa": None, "ai_generated": False, "watermark": None,
                                                       "metadata": {"software": None}}, "errors": [], "notes": []})
FACTS_JSON = '{"item_id": "%s", "kind": "post", "signals": [], "text_level": "none", "text_score": 0.0}'
VERDICT_JSON = '{"action": "allow", "actions": ["allow"], "priority": 0, "reasons": []}'
CHUNK = 250_000


def stored_hashes(n: int, seed: int) -> np.ndarray:
    """The (n, 32) uint8 PDQ hashes of the store, deterministic in (n, seed), generated in chunks."""
    out = np.empty((n, 32), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for a in range(0, n, 1 << 20):
        b = min(n, a + (1 << 20))
        out[a:b] = rng.integers(0, 256, (b - a, 32), dtype=np.uint8)
    return out


def _hexes(block: np.ndarray) -> list[str]:
    width = 2 * block.shape[1]
    text = block.tobytes().hex()
    return [text[i:i + width] for i in range(0, len(text), width)]


def build(path: Path, stored: int, *, per_item: int = 2, seed: int = 1, log=print) -> dict:
    """Create ``path/bastion.db`` with ``stored`` media rows; returns timings. ``path`` must not hold a store."""
    from bastion.store.db import open_store

    path.mkdir(parents=True, exist_ok=True)
    db = path / "bastion.db"
    if db.exists():
        raise SystemExit(f"{db} exists: remove it or reuse it")
    t_all = time.perf_counter()
    open_store(f"sqlite:///{db}").close()  # schema through Bastion's own migrations
    hashes = stored_hashes(stored, seed)
    rng = np.random.default_rng(seed + 1)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")  # a throw-away bench store: no journal, no fsync
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-524288")
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='item_media' "
                          "AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    items = -(-stored // per_item)
    t0 = time.perf_counter()
    con.execute("BEGIN")
    for a in range(0, items, CHUNK):
        b = min(items, a + CHUNK)
        con.executemany(
            "INSERT INTO items (id, external_id, request_sha256, kind, tags, facts, verdict, action, priority, "
            "policy_version, received_at) VALUES (?, ?, '', 'post', '[]', ?, ?, 'allow', 0, '', "
            "'2026-12-01 00:00:00.000000')",
            ((k + 1, f"bench-{k}", FACTS_JSON % f"bench-{k}", VERDICT_JSON) for k in range(a, b)))
    con.execute("COMMIT")
    items_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    con.execute("BEGIN")
    for a in range(0, stored, CHUNK):
        b = min(stored, a + CHUNK)
        pdq = _hexes(hashes[a:b])
        md5 = _hexes(rng.integers(0, 256, (b - a, 16), dtype=np.uint8))
        sha = _hexes(rng.integers(0, 256, (b - a, 32), dtype=np.uint8))
        con.executemany(
            "INSERT INTO item_media (id, item_id, position, filename, sha256, md5, pdq, quality, media_format, "
            "width, height, size, result, held) VALUES (?, ?, ?, NULL, ?, ?, ?, 100, 'jpeg', 1200, 900, 150000, ?, 0)",
            ((a + j + 1, (a + j) // per_item + 1, (a + j) % per_item, sha[j], md5[j], pdq[j], RESULT_JSON)
             for j in range(b - a)))
        if a // CHUNK % 8 == 0:
            log(f"  media rows {b:,} / {stored:,} ({time.perf_counter() - t0:.0f} s)")
    con.execute("COMMIT")
    media_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, sql in indexes:
        con.execute(sql)
    index_s = time.perf_counter() - t0
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    return {"stored": stored, "items": items, "per_item": per_item, "items_s": round(items_s, 1),
            "media_s": round(media_s, 1), "indexes_s": round(index_s, 1), "indexes": [n for n, _ in indexes],
            "build_s": round(time.perf_counter() - t_all, 1), "db_bytes": db.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--stored", type=int, default=1_000_000)
    ap.add_argument("--per-item", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(build(args.path, args.stored, per_item=args.per_item, seed=args.seed)))


if __name__ == "__main__":
    main()
