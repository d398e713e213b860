"""Load benchmark of `bastion serve` on loopback with a real HTTP load generator (wrk).

Starts `bastion serve` (SQLite in a temporary BASTION_HOME, or --database-url), creates an integration
token, and drives POST /v1/items with unique item ids from a wrk Lua script:
  * text items: a title, a body and tags of clinical placeholder words (most allowed, some reviewed);
  * image items: one 1-megapixel JPEG (a benign generated gradient pattern, base64 in the JSON body).
Prints and appends to bench/out/serve.jsonl: requests/s, p50/p90/p99 latency, non-2xx count, and checks
that the store holds exactly as many items as wrk saw answered 2xx.

    python bench/bench_serve.py --seconds 20 --connections 32 --workers 2
    python bench/bench_serve.py --kind image --seconds 20 --connections 8 --workers 2

Needs `wrk` (Debian package). Goals (issue 7, 2-core machine): >= 1,000 text items/s with p99 <= 50 ms;
>= 150 one-megapixel JPEG items/s.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

TEXTS = [
    ("new watercolour", "commissions open, prices in bio", ["art", "watercolour"]),
    ("sketch dump", "placeholder text for a benign post", ["sketch"]),
    ("teen nsfw", "placeholder", ["tag"]),  # minor + sexual indicator: goes to review
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jpeg_1mp() -> bytes:
    y, x = np.mgrid[0:1000, 0:1000]
    rgb = np.stack([(x * 255 // 999), (y * 255 // 999), ((x + y) * 127 // 999)], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _lua(kind: str, token: str, run: str) -> str:
    if kind == "text":
        bodies = [json.dumps({"title": t, "body": b, "tags": g, "account": {"id": "ACC"}}) for t, b, g in TEXTS]
    else:
        data = base64.b64encode(_jpeg_1mp()).decode()
        bodies = [json.dumps({"title": "upload", "media": [{"filename": "a.jpg", "data": data}], "account": {"id": "ACC"}})]
    # Each body becomes `{"id": "<unique>", ...rest}`: the id is spliced in front of the template.
    templates = ",\n".join(json.dumps(b[1:]) for b in bodies)
    return f"""
local templates = {{ {templates} }}
local counter = 0
local nthreads = 0
function setup(thread)
  -- runs in the main state; `tid` becomes a global of the thread's own state (no local may shadow it)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer {token}"
end
function request()
  counter = counter + 1
  local t = templates[(counter % #templates) + 1]
  local acc = "acc-" .. (counter % 97)
  local body = '{{"id":"{run}-' .. tostring(tid) .. '-' .. counter .. '",' .. string.gsub(t, '"ACC"', '"' .. acc .. '"')
  return wrk.format(nil, "/v1/items", nil, body)
end
"""


def _parse_wrk(out: str) -> dict:
    def dur(s: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s|m)", s)
        v, u = float(m.group(1)), m.group(2)
        return v * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]

    res = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{p}_ms"] = round(dur(m.group(1)), 2)
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else ""
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("text", "image"), default="text")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    home = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
    env = {**os.environ, "BASTION_HOME": str(home)}
    if args.database_url:
        env["BASTION_DATABASE_URL"] = args.database_url
    bastion = str(Path(sys.executable).with_name("bastion"))
    subprocess.run([bastion, "user", "create", "bench", "--role", "integration", "--no-password"], env=env, check=True,
                   capture_output=True)
    token = subprocess.run([bastion, "token", "create", "--user", "bench"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    port = _port()
    server = subprocess.Popen([bastion, "serve", "--port", str(port), "--workers", str(args.workers), "--no-background"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        run = f"r{int(time.time())}"
        script = home / "load.lua"
        script.write_text(_lua(args.kind, token, run))
        warm = home / "warm.lua"
        warm.write_text(_lua(args.kind, token, run + "w"))
        # warm-up (imports, caches, first connections) under other ids, then the measured run
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", "-s", str(warm), f"http://127.0.0.1:{port}"], capture_output=True)
        t0 = time.time()
        out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
                              "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
        res = _parse_wrk(out)
        # Same-run baseline: the framework's own ceiling on this machine right now (GET /healthz, no work).
        base = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", "-d5s", "--latency",
                               f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True).stdout
        b = _parse_wrk(base)
        res["baseline_healthz_per_s"] = b["requests_per_s"]
        res["baseline_healthz_p99_ms"] = b.get("p99_ms")
        res["ratio_to_healthz"] = round(res["requests_per_s"] / b["requests_per_s"], 3) if b["requests_per_s"] else None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}) as c:
            metrics = c.get("/metrics").text
        ok = res["requests"] - res["non_2xx"]
        load = os.getloadavg()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    from bastion.store.db import open_store
    from sqlalchemy import func, select
    from bastion.cases.models import ItemRow

    store = open_store(args.database_url or f"sqlite:///{home / 'bastion.db'}")
    with store.session() as s:
        stored = s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.external_id.like(f"{run}-%")))
    store.close()
    res.update({
        "kind": args.kind, "workers": args.workers, "connections": args.connections, "seconds": args.seconds,
        "database": "postgresql" if args.database_url else "sqlite", "stored": stored, "answered_2xx": ok,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "loadavg_after": [round(x, 2) for x in load],
    })
    print(json.dumps(res))
    if stored < ok:
        print(f"WARNING: {ok} answered 2xx but only {stored} stored", file=sys.stderr)
    outdir = Path(__file__).with_name("out")
    outdir.mkdir(exist_ok=True)
    with open(outdir / "serve.jsonl", "a") as fh:
        fh.write(json.dumps(res) + "\n")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
