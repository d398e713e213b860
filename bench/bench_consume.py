"""Stream intake (`bastion consume`, RabbitMQ) against the HTTP API (`bastion serve`), in the same run.

Both as the docs start them (defaults: one process, background work on for the server, prefetch 64 for the
consumer), SQLite in a fresh temporary BASTION_HOME each, the same text items (bench_serve.py's templates).

* HTTP: `bastion serve`, wrk POST /v1/items for --seconds with --connections (bench_serve.py's Lua script);
* broker: --items messages published to a queue of the run's own first (not timed), then `bastion consume`;
  the rate is counted on the verdict queue from the first verdict to the last (start-up excluded, as the
  HTTP figure excludes the server's start). The store is checked to hold exactly one row per item.

    python bench/bench_consume.py --seconds 15 --items 3000

Needs wrk and a RabbitMQ at --amqp (default amqp://guest:guest@127.0.0.1:5672/). Prints one JSON line and
appends it to bench/out/consume.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import TEXTS, _lua, _parse_wrk, _port  # noqa: E402

BASTION = str(Path(sys.executable).with_name("bastion"))


def _http(seconds: int, connections: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="bastion-bench-http-"))
    env = {**os.environ, "BASTION_HOME": str(home)}
    env.pop("BASTION_DATABASE_URL", None)
    subprocess.run([BASTION, "user", "create", "bench", "--role", "integration", "--no-password"], env=env, check=True,
                   capture_output=True)
    token = subprocess.run([BASTION, "token", "create", "--user", "bench"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    port = _port()
    server = subprocess.Popen([BASTION, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        run = f"h{int(time.time())}"
        script, warm = home / "load.lua", home / "warm.lua"
        script.write_text(_lua("text", token, run, home / f"acks-{run}"))
        warm.write_text(_lua("text", token, run + "w", home / f"acks-{run}w"))
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", "-s", str(warm), f"http://127.0.0.1:{port}"], capture_output=True)
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
        res = _parse_wrk(out)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    res["stored"] = _count(f"sqlite:///{home / 'bastion.db'}", run + "-%")
    shutil.rmtree(home, ignore_errors=True)
    return res


def _count(url: str, like: str) -> int:
    from sqlalchemy import func, select

    from bastion.cases.models import ItemRow
    from bastion.store.db import open_store

    store = open_store(url)
    try:
        with store.session() as s:
            return s.scalar(select(func.count(func.distinct(ItemRow.external_id))).where(ItemRow.external_id.like(like)))
    finally:
        store.close()


async def _amqp(url: str, fn):
    import aio_pika

    conn = await aio_pika.connect(url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        return await fn(ch, aio_pika)


def _broker(amqp: str, n: int) -> dict:
    tag = uuid.uuid4().hex[:10]
    items, verdicts, dead = f"bench.items.{tag}", f"bench.verdicts.{tag}", f"bench.dead.{tag}"
    run = f"b{tag}"

    async def publish(ch, aio_pika):
        for name in (items, verdicts, dead):
            await ch.declare_queue(name, durable=True)
        for i in range(n):
            t, b, g = TEXTS[i % len(TEXTS)]
            body = json.dumps({"id": f"{run}-{i}", "title": t, "body": b, "tags": g, "account": {"id": f"acc-{i % 97}"}})
            await ch.default_exchange.publish(aio_pika.Message(body.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                              routing_key=items)

    async def count(ch, aio_pika):
        q = await ch.declare_queue(verdicts, durable=True)
        return q.declaration_result.message_count

    async def delete(ch, aio_pika):
        for name in (items, verdicts, dead):
            await ch.queue_delete(name)

    asyncio.run(_amqp(amqp, publish))
    home = Path(tempfile.mkdtemp(prefix="bastion-bench-consume-"))
    env = {**os.environ, "BASTION_HOME": str(home), "BASTION_BROKER_URL": amqp}
    env.pop("BASTION_DATABASE_URL", None)
    proc = subprocess.Popen([BASTION, "consume", "--queue", items, "--verdicts", verdicts, "--dead-letter", dead,
                             "--idle-exit", "3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = t0 = t1 = None
    last = 0
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            c = asyncio.run(_amqp(amqp, count))
            now = time.monotonic()
            if first is None and c > 0:
                first, t0 = c, now
            if c != last:
                last, t1 = c, now
            if c >= n or proc.poll() is not None:
                break
            time.sleep(0.1)
        summary = json.loads(proc.communicate(timeout=120)[0].decode().strip().splitlines()[-1])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        asyncio.run(_amqp(amqp, delete))
    stored = _count(f"sqlite:///{home / 'bastion.db'}", run + "-%")
    shutil.rmtree(home, ignore_errors=True)
    rate = (last - first) / (t1 - t0) if t1 and t0 and t1 > t0 else None
    return {"items_per_s": round(rate, 1) if rate else None, "items": n, "verdicts": last, "stored": stored,
            "dead_lettered": summary.get("dead_lettered")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    http = _http(args.seconds, args.connections)
    broker = _broker(args.amqp, args.items)
    res = {
        "http_items_per_s": http["per_s"], "http_p99_ms": http.get("p99_ms"), "http_non_2xx": http["non_2xx"],
        "http_answered_2xx": http["requests"] - http["non_2xx"], "http_stored": http["stored"],
        "broker_items_per_s": broker["items_per_s"], "broker_items": broker["items"],
        "broker_verdicts": broker["verdicts"], "broker_stored": broker["stored"],
        "broker_dead_lettered": broker["dead_lettered"],
        "ratio_broker_to_http": round(broker["items_per_s"] / http["per_s"], 3)
        if broker["items_per_s"] and http["per_s"] else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores", "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(res))
    outdir = Path(__file__).with_name("out")
    outdir.mkdir(exist_ok=True)
    with open(outdir / "consume.jsonl", "a") as fh:
        fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
