"""Latency of one image item through `bastion serve` as the README starts it (SQLite, background on).

Sends 1-megapixel JPEG items (a benign generated gradient, base64 in the JSON body) one at a time, then from
four clients at once, and reports each phase's median / p90 / p99 milliseconds and items/s, with GET /healthz
(no work) measured in the same run as the baseline. Used to check that examining uploads in worker processes
(bastion.examine, issue 19) keeps the fast path cheap: run it on two checkouts and compare the ratios.

    python bench/bench_item_latency.py [--items 60] [--clients 4]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jpeg_1mp(seed: int) -> bytes:
    y, x = np.mgrid[0:1000, 0:1000]
    rgb = np.stack([(x * 255 // 999), (y * 255 // 999), ((x + y + seed) * 127 // 999) % 256], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _stats(ms: list[float], seconds: float) -> dict:
    q = statistics.quantiles(ms, n=100)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p90_ms": round(q[89], 1),
            "p99_ms": round(q[98], 1), "per_s": round(len(ms) / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bastion-lat-"))
    env = {**os.environ, "BASTION_HOME": str(home)}
    bastion = str(Path(sys.executable).with_name("bastion"))
    subprocess.run([bastion, "user", "create", "bench", "--role", "integration", "--no-password"], env=env, check=True,
                   capture_output=True)
    token = subprocess.run([bastion, "token", "create", "--user", "bench"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    port = _port()
    server = subprocess.Popen([bastion, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    images = [base64.b64encode(_jpeg_1mp(i)).decode() for i in range(8)]
    out: dict = {}
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=h, timeout=60) as c:
            for i in range(5):  # warm-up: imports, workers, caches
                c.post("/v1/items", json={"id": f"warm-{i}", "media": [{"data": images[i % 8]}]}).raise_for_status()
            ms = []
            t0 = time.perf_counter()
            for i in range(args.items):
                t = time.perf_counter()
                c.post("/v1/items", json={"id": f"seq-{i}", "media": [{"data": images[i % 8]}]}).raise_for_status()
                ms.append((time.perf_counter() - t) * 1000)
            out["sequential"] = _stats(ms, time.perf_counter() - t0)
            hz = []
            for _ in range(100):
                t = time.perf_counter()
                c.get("/healthz").raise_for_status()
                hz.append((time.perf_counter() - t) * 1000)
            out["healthz"] = {"p50_ms": round(statistics.median(hz), 2)}
        ms_c: list[float] = []
        lock = threading.Lock()

        def client(k: int) -> None:
            with httpx.Client(base_url=url, headers=h, timeout=60) as c:
                for i in range(args.items // args.clients):
                    t = time.perf_counter()
                    c.post("/v1/items", json={"id": f"c{k}-{i}", "media": [{"data": images[(i + k) % 8]}]}).raise_for_status()
                    with lock:
                        ms_c.append((time.perf_counter() - t) * 1000)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[f"{args.clients}_clients"] = _stats(ms_c, time.perf_counter() - t0)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    out.update({"label": args.label, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores", "loadavg_after": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
