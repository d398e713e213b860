"""Effects: what the outbox and the audit chain add to a write transaction, delivery and verify rates.

    python bench/bench_effects.py [--items 2000] [--audit-rows 20000] [--deliveries 500] [--postgres URL]

Measured on the embedded SQLite store (and on PostgreSQL with --postgres), rounds interleaved so the ratios
come from the same run:

* **baseline**: one small write transaction (one INSERT into `media` + commit), the floor under every item
  the service stores;
* **+ enqueue, no subscriptions**: the same plus `webhooks.enqueue(...)` with no subscription (the service
  calls it for every item);
* **+ enqueue, 2 subscriptions**: plus the outbox rows for two matching subscriptions;
* **+ audit.append**: the same transaction plus one audit row (head update, insert, head update);
* **verify**: audit rows checked per second by `audit.verify`;
* **deliver**: deliveries per second from one Deliverer to a real HTTP receiver on 127.0.0.1 (signing, POST,
  recording the outcome).

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import insert, text

from bastion.effects import audit, webhooks
from bastion.effects.delivery import Deliverer, DeliveryPolicy
from bastion.store.db import open_store
from bastion.store.schema import MediaRow


def _media_row() -> dict:
    h = uuid.uuid4().hex
    return {"sha256": h + h, "md5": h, "sha1": h[:40], "size": 1, "first_seen": datetime.now(timezone.utc),
            "last_seen": datetime.now(timezone.utc)}


def _txn_rate(store, n: int, extra) -> float:
    start = time.perf_counter()
    for i in range(n):
        with store.session() as s, s.begin():
            s.execute(insert(MediaRow), [_media_row()])
            extra(s, i)
    return n / (time.perf_counter() - start)


def _receiver():
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run(url: str, label: str, items: int, audit_rows: int, deliveries: int, rounds: int = 3) -> dict:
    store = open_store(url)
    payload = {"item_id": "p-1", "verdict": {"action": "review", "actions": ["review"], "priority": 60,
                                             "reasons": [{"rule": "text-high", "signals": []}]}}
    noop = lambda s, i: None  # noqa: E731
    enq = lambda s, i: webhooks.enqueue(s, "verdict", payload)  # noqa: E731
    aud = lambda s, i: audit.append(s, "bench", "item.store", "item", i, {"n": i})  # noqa: E731
    rates: dict[str, list[float]] = {"baseline": [], "enqueue_none": [], "audit_append": []}
    per = max(1, items // rounds)
    for _ in range(rounds):  # interleaved: the machine's load hits every variant alike
        rates["baseline"].append(_txn_rate(store, per, noop))
        rates["enqueue_none"].append(_txn_rate(store, per, enq))
        rates["audit_append"].append(_txn_rate(store, per, aud))
    with store.session() as s, s.begin():
        for k in range(2):
            webhooks.create_subscription(s, f"http://127.0.0.1:9/{k}", ["verdict"], actor="bench")
    rates["enqueue_two"] = []
    base2 = []
    for _ in range(rounds):
        base2.append(_txn_rate(store, per, noop))
        rates["enqueue_two"].append(_txn_rate(store, per, enq))
    best = {k: max(v) for k, v in rates.items()}
    best["baseline_2"] = max(base2)

    # fill the chain up to audit_rows, then time verify
    with store.session() as s:
        have = s.execute(text("SELECT count(*) FROM audit_log")).scalar()
    with store.session() as s, s.begin():
        for i in range(max(0, audit_rows - have)):
            audit.append(s, "bench", "fill", "item", i, {"i": i})
    with store.session() as s:
        t = time.perf_counter()
        result = audit.verify(s)
        verify_rate = result.checked / (time.perf_counter() - t)
    assert result.ok, result

    # deliveries to a real receiver
    httpd = _receiver()
    with store.session() as s, s.begin():
        s.execute(text("DELETE FROM webhook_outbox"))
        s.execute(text("DELETE FROM webhook_subscriptions"))
        webhooks.create_subscription(s, f"http://127.0.0.1:{httpd.server_address[1]}/hook", ["verdict"], actor="b")
        for i in range(deliveries):
            webhooks.enqueue(s, "verdict", payload)
    d = Deliverer(store, DeliveryPolicy(batch_size=50))
    t = time.perf_counter()
    sent = 0
    while True:
        r = d.deliver_due()
        sent += r.delivered
        if not r.claimed:
            break
    deliver_rate = sent / (time.perf_counter() - t)
    httpd.shutdown()
    store.close()
    return {
        "store": label,
        "txn_per_s": round(best["baseline"]),
        "enqueue_none_per_s": round(best["enqueue_none"]),
        "enqueue_none_vs_baseline_time": round(best["baseline"] / best["enqueue_none"], 3),
        "enqueue_two_per_s": round(best["enqueue_two"]),
        "enqueue_two_vs_baseline_time": round(best["baseline_2"] / best["enqueue_two"], 3),
        "audit_append_per_s": round(best["audit_append"]),
        "audit_append_vs_baseline_time": round(best["baseline"] / best["audit_append"], 3),
        "verify_rows_per_s": round(verify_rate),
        "audit_rows": result.checked,
        "deliveries": sent,
        "deliver_per_s": round(deliver_rate),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--audit-rows", type=int, default=20000)
    ap.add_argument("--deliveries", type=int, default=500)
    ap.add_argument("--postgres", default=os.environ.get("BASTION_BENCH_POSTGRES_URL"))
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run(f"sqlite:///{tmp}/bench.db", "sqlite", a.items, a.audit_rows, a.deliveries))
    if a.postgres:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        dsn = a.postgres.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in a.postgres else "?"
            results.append(run(f"{a.postgres}{sep}options=-csearch_path%3D{schema}", "postgres", a.items,
                               a.audit_rows, a.deliveries))
        finally:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for r in results:
        print(f"{r['store']}: baseline {r['txn_per_s']}/s; +enqueue(no subs) x{r['enqueue_none_vs_baseline_time']} "
              f"time; +enqueue(2 subs) x{r['enqueue_two_vs_baseline_time']}; +audit.append "
              f"x{r['audit_append_vs_baseline_time']}; verify {r['verify_rows_per_s']} rows/s; "
              f"deliver {r['deliver_per_s']}/s", file=sys.stderr)
    print(json.dumps({"bench": "effects", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                      "machine": f"{platform.machine()} {os.cpu_count()} cores", "python": platform.python_version(),
                      "items": a.items, "results": results}))


if __name__ == "__main__":
    main()
