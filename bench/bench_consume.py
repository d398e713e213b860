"""Stream intake (`bastion consume`, RabbitMQ and NATS JetStream) against the HTTP API (`bastion serve`), in
the same run.

All as the docs start them (defaults: one process, background work on for the server, prefetch 64 for the
consumer), SQLite in a fresh temporary BASTION_HOME each, the same text items (bench_serve.py's templates).

* HTTP: `bastion serve`, wrk POST /v1/items for --seconds with --connections (bench_serve.py's Lua script);
* each broker: --items messages published to a queue (RabbitMQ) or a stream (NATS) of the run's own first
  (not timed), then `bastion consume`; the rate is counted on the verdict queue/subject from the first
  verdict to the last (start-up excluded, as the HTTP figure excludes the server's start). The store is
  checked to hold exactly one row per item.
* CPU: the server's or consumer's process tree (utime+stime from /proc) over the measured window, per item:
  on a shared machine this is the steadier figure (the rate depends on what the other sessions take).

    python bench/bench_consume.py --seconds 15 --items 4000 [--brokers rabbitmq,nats] [--rounds 2]

Needs wrk, a RabbitMQ at --amqp (default amqp://guest:guest@127.0.0.1:5672/) and a NATS JetStream at --nats
(default nats://127.0.0.1:4222). Prints one JSON line per round and appends it to bench/out/consume.jsonl.
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
from bench_serve import TEXTS, _cpu_seconds, _lua, _parse_wrk, _port, _tree  # noqa: E402

BASTION = str(Path(sys.executable).with_name("bastion"))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


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
        cpu0 = _cpu_seconds(_tree(server.pid))
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
        cpu = _cpu_seconds(_tree(server.pid)) - cpu0
        res = _parse_wrk(out)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    res["stored"] = _count(f"sqlite:///{home / 'bastion.db'}", run + "-%")
    answered = res["requests"] - res["non_2xx"]
    res["cpu_ms_per_item"] = round(1000 * cpu / answered, 3) if answered else None
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


def _bodies(run: str, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        t, b, g = TEXTS[i % len(TEXTS)]
        out.append(json.dumps({"id": f"{run}-{i}", "title": t, "body": b, "tags": g,
                               "account": {"id": f"acc-{i % 97}"}}).encode())
    return out


class _Rabbit:
    name = "rabbitmq"

    def __init__(self, url: str, tag: str):
        self.url = url
        self.items, self.verdicts, self.dead = f"bench.items.{tag}", f"bench.verdicts.{tag}", f"bench.dead.{tag}"

    async def _with(self, fn):
        import aio_pika

        conn = await aio_pika.connect(self.url)
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            return await fn(ch, aio_pika)

    def publish(self, bodies: list[bytes]) -> None:
        async def go(ch, aio_pika):
            for name in (self.items, self.verdicts, self.dead):
                await ch.declare_queue(name, durable=True)
            for body in bodies:
                await ch.default_exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                                  routing_key=self.items)
        asyncio.run(self._with(go))

    def env(self) -> dict:
        return {"BASTION_BROKER_URL": self.url}

    async def count(self) -> int:
        async def go(ch, aio_pika):
            q = await ch.declare_queue(self.verdicts, durable=True)
            return q.declaration_result.message_count
        return await self._with(go)

    def delete(self) -> None:
        async def go(ch, aio_pika):
            for name in (self.items, self.verdicts, self.dead):
                await ch.queue_delete(name)
        asyncio.run(self._with(go))


class _Nats:
    name = "nats"

    def __init__(self, url: str, tag: str):
        self.url, self.stream, self.durable = url, f"BENCH_{tag}", f"bench-{tag}"
        self.items, self.verdicts, self.dead = f"bench.items.{tag}", f"bench.verdicts.{tag}", f"bench.dead.{tag}"

    async def _with(self, fn):
        import nats

        nc = await nats.connect(self.url, allow_reconnect=False, max_reconnect_attempts=1)
        try:
            return await fn(nc.jetstream())
        finally:
            await nc.close()

    def publish(self, bodies: list[bytes]) -> None:
        async def go(js):
            await js.add_stream(name=self.stream, subjects=[self.items, self.verdicts, self.dead])
            for i in range(0, len(bodies), 200):
                await asyncio.gather(*(js.publish(self.items, b, timeout=30) for b in bodies[i:i + 200]))
        asyncio.run(self._with(go))

    def env(self) -> dict:
        return {"BASTION_BROKER_URL": self.url, "BASTION_NATS_STREAM": self.stream, "BASTION_NATS_DURABLE": self.durable}

    async def count(self) -> int:
        async def go(js):
            info = await js.stream_info(self.stream, subjects_filter=self.verdicts)
            return (info.state.subjects or {}).get(self.verdicts, 0)
        return await self._with(go)

    def delete(self) -> None:
        async def go(js):
            await js.delete_stream(self.stream)
        asyncio.run(self._with(go))


def _broker(side, n: int) -> dict:
    run = f"b{uuid.uuid4().hex[:10]}"
    side.publish(_bodies(run, n))
    home = Path(tempfile.mkdtemp(prefix="bastion-bench-consume-"))
    env = {**os.environ, "BASTION_HOME": str(home), **side.env()}
    env.pop("BASTION_DATABASE_URL", None)
    proc = subprocess.Popen([BASTION, "consume", "--queue", side.items, "--verdicts", side.verdicts, "--dead-letter",
                             side.dead, "--idle-exit", "3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = t0 = t1 = None
    cpu0 = cpu1 = 0.0
    last = 0
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            c = asyncio.run(side.count())
            now = time.monotonic()
            if first is None and c > 0:
                first, t0, cpu0 = c, now, _cpu_seconds(_tree(proc.pid))
            if c != last:
                last, t1, cpu1 = c, now, _cpu_seconds(_tree(proc.pid))
            if c >= n or proc.poll() is not None:
                break
            time.sleep(0.1)
        summary = json.loads(proc.communicate(timeout=120)[0].decode().strip().splitlines()[-1])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        side.delete()
    stored = _count(f"sqlite:///{home / 'bastion.db'}", run + "-%")
    shutil.rmtree(home, ignore_errors=True)
    rate = (last - first) / (t1 - t0) if t1 and t0 and t1 > t0 else None
    return {"items_per_s": round(rate, 1) if rate else None, "items": n, "verdicts": last, "stored": stored,
            "dead_lettered": summary.get("dead_lettered"), "acknowledgements": summary.get("acknowledgements"),
            "cpu_ms_per_item": round(1000 * (cpu1 - cpu0) / (last - first), 3) if last > first else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--brokers", default="rabbitmq,nats")
    ap.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = ap.parse_args()
    outdir = Path(__file__).with_name("out")
    outdir.mkdir(exist_ok=True)
    for rnd in range(args.rounds):
        load_before = [round(x, 2) for x in os.getloadavg()]
        http = _http(args.seconds, args.connections)
        res = {"round": rnd + 1, "commit": _commit(),
               "http_items_per_s": http["per_s"], "http_p99_ms": http.get("p99_ms"), "http_non_2xx": http["non_2xx"],
               "http_answered_2xx": http["requests"] - http["non_2xx"], "http_stored": http["stored"],
               "http_cpu_ms_per_item": http["cpu_ms_per_item"]}
        for kind in args.brokers.split(","):
            tag = uuid.uuid4().hex[:10]
            side = _Rabbit(args.amqp, tag) if kind == "rabbitmq" else _Nats(args.nats, tag)
            b = _broker(side, args.items)
            res[kind] = b
            res[f"ratio_{kind}_to_http"] = round(b["items_per_s"] / http["per_s"], 3) if b["items_per_s"] and http["per_s"] else None
            res[f"cpu_ratio_{kind}_to_http"] = (round(b["cpu_ms_per_item"] / http["cpu_ms_per_item"], 3)
                                                if b["cpu_ms_per_item"] and http["cpu_ms_per_item"] else None)
        res.update({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": f"{platform.machine()} {os.cpu_count()} cores", "loadavg_before": load_before,
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]})
        print(json.dumps(res), flush=True)
        with open(outdir / "consume.jsonl", "a") as fh:
            fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
