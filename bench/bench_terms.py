"""Emerging-term benchmarks (issue 23): the candidate ranking on the counts of a 10M-item store, and
retro-scoring after a term is added to a store of 1M items of which 1,000 hold it.

rank:  bulk-loads ``term_counts`` as a platform of ``--items`` items over 60 days would leave it (a Zipf
       vocabulary of ``--vocab`` terms, ~5 terms per item, ``--confirmed`` of the items in confirmed cases,
       planted codes among them) and times ``bastion.terms.candidates.rank`` over the last 28 days.
       Baseline in the same run: the same window aggregated over every term (one GROUP BY over all rows of the
       window) — what a ranking that does not start from the confirmed rows would pay before any statistics.
retro: bulk-loads ``--stored`` items (title + 3 tags each, in ``items`` and the ``term_items`` index),
       ``--planted`` of them holding a placeholder term, adds the term through ``bastion.terms.service`` and
       times ``bastion.terms.retro.run`` until every case is open. Baseline in the same run: reading every
       stored item's title and tags once (what finding the items without the index costs, before any scoring).

    python bench/bench_terms.py rank --items 10000000
    python bench/bench_terms.py retro --stored 1000000 --planted 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np


def _machine() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "load": os.getloadavg(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _store(home: Path):
    from bastion.store.db import open_store

    return open_store(f"sqlite:///{home / 'bastion.db'}")


def _rank_at(rev: str):
    """``rank`` as ``src/bastion/terms/candidates.py`` was at git revision ``rev`` (it imports today's other
    modules), for a same-run comparison."""
    import subprocess
    import types

    src = subprocess.run(["git", "show", f"{rev}:src/bastion/terms/candidates.py"], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent).stdout
    import sys

    mod = types.ModuleType("bastion.terms._candidates_at_rev")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, f"candidates@{rev}", "exec"), mod.__dict__)
    return mod.rank


def bench_rank(args) -> dict:
    from bastion.terms.candidates import rank
    from bastion.text.lexicon import default_lexicon

    rng = np.random.default_rng(args.seed)
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bastion-bench-terms-"))
    reuse = (home / "bastion.db").exists()  # a store an earlier run with the same --home built
    home.mkdir(parents=True, exist_ok=True)
    store = _store(home)
    days, per_item = 60, 5
    per_day = args.items // days
    ranks = np.arange(1, args.vocab + 1)
    p = 1.0 / ranks ** 1.05
    p /= p.sum()
    vocab = [f"t{i:06d}" for i in range(args.vocab)]
    codes = [f"zqcode{i:02d}" for i in range(args.codes)]
    until = date(2026, 6, 30)
    t0 = time.perf_counter()
    con = sqlite3.connect(home / "bastion.db")
    con.execute("PRAGMA synchronous=OFF")
    rows = 0
    conf_per_day = max(1, int(per_day * args.confirmed))
    confirmed_vocab: set[int] = set()
    for d in range(0 if reuse else days):
        day = (until - timedelta(days=days - 1 - d)).isoformat()
        all_counts = rng.multinomial(per_day * per_item, p)
        conf_counts = rng.multinomial(conf_per_day * per_item, p)
        nz = np.nonzero(all_counts)[0]
        batch = [("all", vocab[i], day, "und", int(all_counts[i])) for i in nz]
        batch += [("tag", vocab[i], day, "und", int(all_counts[i]) // 2) for i in nz[: len(nz) // 2]]
        cz = np.nonzero(conf_counts)[0]
        confirmed_vocab.update(int(i) for i in cz)
        batch += [("confirm", vocab[i], day, "und", int(conf_counts[i])) for i in cz]
        for k, c in enumerate(codes):  # planted codes: few items, most of them confirmed
            if d >= k:
                n = int(rng.integers(3, 12))
                batch += [("all", c, day, "und", n + 1), ("confirm", c, day, "und", n)]
        batch += [("all", "", day, "und", per_day), ("confirm", "", day, "und", conf_per_day)]
        con.executemany("INSERT INTO term_counts (outcome, term, day, language, n) VALUES (?, ?, ?, ?, ?)", batch)
        rows += len(batch)
    if reuse:
        rows = con.execute("SELECT count(*) FROM term_counts").fetchone()[0]
        confirmed_vocab = {int(t[1:]) for (t,) in con.execute(
            "SELECT DISTINCT term FROM term_counts WHERE outcome = 'confirm' AND term LIKE 't%'")}
    # confirmed cases per term (the ranking's distinct-case evidence)
    case_rows = [(vocab[i], int(cid), "confirm") for i in confirmed_vocab for cid in range(1, 4)]
    case_rows += [(c, int(cid), "confirm") for c in codes for cid in range(1, 4)]
    con.executemany("INSERT OR IGNORE INTO term_cases (term, case_id, outcome) VALUES (?, ?, ?)", case_rows)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    load_s = time.perf_counter() - t0
    lex = default_lexicon()
    since = until - timedelta(days=27)
    old_rank = _rank_at(args.compare_rev) if args.compare_rev else None
    timings, cpu, base, old_t, old_cpu = [], [], [], [], []
    got = None
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        with store.session() as s:
            got = rank(s, lex, since=since, until=until, limit=30)
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if old_rank is not None:  # the ranking as it was at --compare-rev, same store, taking turns
            t0, c0 = time.perf_counter(), time.process_time()
            with store.session() as s:
                old_top = old_rank(s, lex, since=since, until=until, limit=30)
            old_t.append(time.perf_counter() - t0)
            old_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        c2 = sqlite3.connect(home / "bastion.db")
        c2.execute("SELECT term, SUM(n) FROM term_counts WHERE outcome = 'all' AND day >= ? AND day <= ? GROUP BY term",
                   (since.isoformat(), until.isoformat())).fetchall()
        c2.close()
        base.append(time.perf_counter() - t0)
    store.close()
    top = [c["term"] for c in got["candidates"]]
    more = {}
    if old_rank is not None:
        more = {"compare_rev": args.compare_rev, "rev_rank_seconds": [round(t, 3) for t in old_t],
                "rev_rank_median": round(statistics.median(old_t), 3),
                "rev_rank_cpu_median": round(statistics.median(old_cpu), 3),
                "speedup_vs_rev_wall": round(statistics.median(old_t) / statistics.median(timings), 2),
                "speedup_vs_rev_cpu": round(statistics.median(old_cpu) / statistics.median(cpu), 2),
                "rev_codes_in_top20": sum(1 for c in old_top["candidates"][:20] if c["term"].startswith("zqcode"))}
    return {**more, "bench": "rank", "items": args.items, "vocab": args.vocab, "term_count_rows": rows,
            "confirmed_vocab": len(confirmed_vocab), "load_seconds": round(load_s, 1),
            "rank_seconds": [round(t, 3) for t in timings], "rank_median": round(statistics.median(timings), 3),
            "rank_cpu_seconds": [round(t, 3) for t in cpu], "rank_cpu_median": round(statistics.median(cpu), 3),
            "baseline_group_by_all_seconds": round(statistics.median(base), 3),
            "ratio_rank_over_baseline": round(statistics.median(timings) / statistics.median(base), 3),
            "codes_in_top20": sum(1 for t in top[:20] if t.startswith("zqcode")), "codes": len(codes),
            "db_mb": round((home / "bastion.db").stat().st_size / 1e6), "machine": _machine()}


def bench_retro(args) -> dict:
    from bastion.policy import default_policy
    from bastion.terms import retro, service
    from bastion.terms.live import LiveLexicon

    rng = np.random.default_rng(args.seed)
    home = Path(tempfile.mkdtemp(prefix="bastion-bench-retro-text-"))
    store = _store(home)
    words = [f"w{i:05d}" for i in range(20000)]
    planted = set(int(i) for i in rng.choice(args.stored, args.planted, replace=False))
    term = "zqpromoted"
    t0 = time.perf_counter()
    con = sqlite3.connect(home / "bastion.db")
    con.execute("PRAGMA synchronous=OFF")
    chunk = 100_000
    for start in range(0, args.stored, chunk):
        items, index = [], []
        for i in range(start, min(start + chunk, args.stored)):
            tags = [words[int(x)] for x in rng.integers(0, len(words), 3)]
            if i in planted:
                tags[0] = term
            ext = f"i{i}"
            facts = json.dumps({"item_id": ext, "kind": "post", "signals": []})
            items.append((i + 1, ext, "", "post", "a drawing", json.dumps(tags), facts, "{}", "allow", 0, "", "2026-06-01 00:00:00"))
            index += [(t, i + 1) for t in set(tags)]
        con.executemany("INSERT INTO items (id, external_id, request_sha256, kind, title, tags, facts, verdict, action, "
                        "priority, policy_version, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
        con.executemany("INSERT OR IGNORE INTO term_items (term, item_id) VALUES (?, ?)", index)
        con.commit()
    con.execute("ANALYZE")
    con.close()
    load_s = time.perf_counter() - t0
    # baseline: read every stored text once (finding the items without an index), nothing else
    t0 = time.perf_counter()
    c2 = sqlite3.connect(home / "bastion.db")
    hits = sum(1 for title, tags in c2.execute("SELECT title, tags FROM items") if term in tags or term in (title or ""))
    c2.close()
    scan_s = time.perf_counter() - t0
    policy = default_policy()
    live = LiveLexicon(store)
    idle0 = time.perf_counter()
    idle = retro.run(store, policy, live)
    idle_s = time.perf_counter() - idle0
    with store.session() as s, s.begin():
        service.add_term(s, term, category="coded", language="und", weight=0.9, actor="bench")
    t0 = time.perf_counter()
    res = retro.run(store, policy, live)
    retro_s = time.perf_counter() - t0
    store.close()
    return {"bench": "retro", "stored": args.stored, "planted": args.planted, "load_seconds": round(load_s, 1),
            "retro_seconds": round(retro_s, 2), "found": res.found, "rescored": res.rescored,
            "cases": len(res.cases), "baseline_read_every_text_seconds": round(scan_s, 2), "baseline_hits": hits,
            "idle_poll_seconds": round(idle_s, 4), "idle_changes": idle.changes, "machine": _machine()}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("rank")
    r.add_argument("--items", type=int, default=10_000_000)
    r.add_argument("--vocab", type=int, default=300_000)
    r.add_argument("--confirmed", type=float, default=0.005)
    r.add_argument("--codes", type=int, default=12)
    r.add_argument("--repeat", type=int, default=5)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--compare-rev", default=None, help="also time the ranking as it was at this git revision")
    r.add_argument("--home", default=None, help="keep the store here; a later run with the same folder reuses it")
    t = sub.add_parser("retro")
    t.add_argument("--stored", type=int, default=1_000_000)
    t.add_argument("--planted", type=int, default=1000)
    t.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = bench_rank(args) if args.what == "rank" else bench_retro(args)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
