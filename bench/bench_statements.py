"""SQL statements per item of the service's item path (issue 20: "fewer statements per item — measure them").

Runs the bench's item mix (text items of the serve benchmark: 97 accounts, a third of the items reviewed and
so opening or joining a case) through the service object, one at a time and as concurrent groups, and counts
the statements the database saw (SQLAlchemy's before_cursor_execute; an executemany counts once) and the
executions they cost it (an executemany that the driver runs row by row counts once per row).

    python bench/bench_statements.py                       # SQLite in a temporary folder
    python bench/bench_statements.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Three modes: one item at a time (Service.submit), --threads threads calling Service.submit (group commit, each
item's reads its own), and --threads items in flight through Service.submit_async (the lane `bastion serve`
and `bastion consume` use for items without files: the group's reads shared too).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import threading
import uuid
from pathlib import Path

from sqlalchemy import event

TEXTS = [
    ("new watercolour", "commissions open, prices in bio", ["art", "watercolour"]),
    ("sketch dump", "placeholder text for a benign post", ["sketch"]),
    ("teen nsfw", "placeholder", ["tag"]),  # goes to review: opens or joins the account's case
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--threads", type=int, default=16, help="concurrent submitters (group commit)")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()

    from bastion.api.settings import ServeSettings
    from bastion.api.app import build_service
    from bastion.cases.schemas import ItemIn

    home = Path(tempfile.mkdtemp(prefix="bastion-stmts-"))
    schema = None
    url = args.database_url
    if url:
        import psycopg

        schema = f"stmts_{uuid.uuid4().hex[:8]}"
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    svc = build_service(ServeSettings(home=home, database_url=url, json_logs=False))
    counts: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()

    @event.listens_for(svc.store.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        counts["statements"] += 1
        # what the database executes: an executemany without multi-row VALUES runs once per row
        counts["executions"] += len(parameters) if executemany and context.execute_style.name == "EXECUTEMANY" else 1
        kinds[statement.split(None, 1)[0].upper()] += 1

    @event.listens_for(svc.store.engine, "commit")
    def _commits(conn):
        counts["commits"] += 1

    def item(i: int) -> ItemIn:
        t, b, g = TEXTS[i % 3]
        return ItemIn.model_validate({"id": f"s-{i}", "title": t, "body": b, "tags": g, "account": {"id": f"acc-{i % 97}"}})

    # warm-up (accounts exist from here on, as in a long-running server)
    for i in range(200):
        svc.submit(item(10_000_000 + i))
    results = {}
    for mode, threads in (("one at a time", 1), (f"{args.threads} concurrent", args.threads)):
        counts.clear()
        kinds.clear()
        groups0, writes0 = svc.writer.groups, svc.writer.writes
        base = len(results) * 1_000_000
        todo = list(range(base, base + args.items))
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                svc.submit(item(i))

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        groups = svc.writer.groups - groups0
        results[mode] = {
            "items": args.items, "statements_per_item": round(counts["statements"] / args.items, 2),
            "executions_per_item": round(counts["executions"] / args.items, 2),
            "commits_per_item": round(counts["commits"] / args.items, 3),
            "items_per_group": round((svc.writer.writes - writes0) / max(1, groups), 2),
            "by_kind_per_item": {k: round(v / args.items, 2) for k, v in kinds.most_common()},
        }
    # as `bastion serve` and `bastion consume` run items without files: Service.submit_async (the writer's lane:
    # the group's reads are shared), args.threads in flight
    import asyncio

    counts.clear()
    kinds.clear()
    groups0, writes0 = svc.writer.groups, svc.writer.writes
    base = len(results) * 1_000_000

    async def lane():
        sem = asyncio.Semaphore(args.threads)

        async def one(i):
            async with sem:
                await svc.submit_async(item(i))

        await asyncio.gather(*(one(i) for i in range(base, base + args.items)))

    import time

    cpu0 = time.process_time()
    asyncio.run(lane())
    cpu = time.process_time() - cpu0
    groups = svc.writer.groups - groups0
    results[f"{args.threads} in flight, submit_async (the server's path)"] = {
        "items": args.items, "statements_per_item": round(counts["statements"] / args.items, 2),
            "executions_per_item": round(counts["executions"] / args.items, 2),
        "commits_per_item": round(counts["commits"] / args.items, 3),
        "items_per_group": round((svc.writer.writes - writes0) / max(1, groups), 2),
        "by_kind_per_item": {k: round(v / args.items, 2) for k, v in kinds.most_common()},
        # this process's CPU (all its threads: reads, scan, policy, the driver's work), not the database's
        "process_cpu_ms_per_item": round(1000 * cpu / args.items, 3),
    }
    svc.writer.close()
    svc.store.close()
    if schema:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(json.dumps({"database": "postgresql" if url else "sqlite", **results}, indent=1))


if __name__ == "__main__":
    main()
