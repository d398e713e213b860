"""Load benchmark of `bastion serve` as the README starts it, on loopback, with a real load generator (wrk).

Row 1 is the server users run: `bastion serve --port P` (background loops ON: index sync, retro-matching,
batch jobs, webhook delivery). Row 2 is the same with `--no-background`, for comparison only. Each row gets
a fresh store (SQLite in a temporary BASTION_HOME, or a fresh schema of --database-url); both servers start
up front and the loads alternate between them for --rounds rounds (medians reported), so a shared machine's
changing load weighs on both rows alike. Per row:

  * idle: CPU of the server's processes (and, on PostgreSQL, of its database backends) over --idle-seconds
    with no traffic, as % of one core;
  * GET /healthz with wrk: the framework's own ceiling right now (the same-run baseline);
  * text items: POST /v1/items with a title, body and tags of clinical placeholder words (most allowed, some
    reviewed), unique ids;
  * image items: one 1-megapixel JPEG each (a benign generated gradient, base64 in the JSON body).

Every figure carries its ratio to /healthz and the load average. Acknowledged = stored is checked: wrk's Lua
records the id of every 2xx answer; after the run every acknowledged id must be in the store (extra stored
items are requests answered after wrk hung up, at most one per connection).

    python bench/bench_serve.py                                  # SQLite, workers 1 (the README's command)
    python bench/bench_serve.py --database-url postgresql+psycopg://postgres@127.0.0.1/test --workers 2
    python bench/bench_serve.py --rows default --kinds text --sweep 8,16,32,64   # p99 against throughput

Needs `wrk` (Debian package). Goals (issue 20, 2 cores): text >= 1,000 items/s with p99 <= 50 ms (>= 0.6 of
/healthz); 1 MP JPEG >= 150 items/s. Results append to bench/out/serve.jsonl.
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
import uuid
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
TICK = os.sysconf("SC_CLK_TCK")


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


def _lua(kind: str, token: str, run: str, acks: Path) -> str:
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
local acks = nil
function setup(thread)
  -- runs in the main state; `tid` becomes a global of the thread's own state (no local may shadow it)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer {token}"
  acks = io.open("{acks}." .. tostring(tid), "w")
end
function request()
  counter = counter + 1
  local t = templates[(counter % #templates) + 1]
  local acc = "acc-" .. (counter % 97)
  local body = '{{"id":"{run}-' .. tostring(tid) .. '-' .. counter .. '",' .. string.gsub(t, '"ACC"', '"' .. acc .. '"')
  return wrk.format(nil, "/v1/items", nil, body)
end
function response(status, headers, body)
  if status >= 200 and status < 300 then
    local id = string.match(body, '"item_id":%s*"([^"]+)"')
    if id then acks:write(id, "\\n") ; acks:flush() end
  end
end
"""


def _parse_wrk(out: str) -> dict:
    def dur(s: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s|m)", s)
        v, u = float(m.group(1)), m.group(2)
        return v * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]

    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    res = {"per_s": float(m.group(1))}
    for p in ("50", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{p}_ms"] = round(dur(m.group(1)), 2)
    res["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else ""
    return res


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    todo.extend(int(x) for x in fh.read().split())
        except OSError:
            pass
    return out


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total / TICK


def _pg_backends(dsn: str, app_name: str) -> list[int]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        return [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,))]


class Row:
    """One server (one store) of the run."""

    def __init__(self, name: str, args, extra_flags: list[str], bastion: str | None = None):
        self.name, self.args, self.flags = name, args, extra_flags
        self.home = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
        self.env = {**os.environ, "BASTION_HOME": str(self.home)}
        self.app_name = f"bastion-bench-{uuid.uuid4().hex[:8]}"
        self.schema = None
        self.url = None
        if args.database_url:
            import psycopg

            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            self.dsn = args.database_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(self.dsn, autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{self.schema}"')
            sep = "&" if "?" in args.database_url else "?"
            self.url = f"{args.database_url}{sep}options=-csearch_path%3D{self.schema}&application_name={self.app_name}"
            self.env["BASTION_DATABASE_URL"] = self.url
        self.bastion = bastion or str(Path(sys.executable).with_name("bastion"))
        subprocess.run([self.bastion, "user", "create", "bench", "--role", "integration", "--no-password"],
                       env=self.env, check=True, capture_output=True)
        self.token = subprocess.run([self.bastion, "token", "create", "--user", "bench"], env=self.env, check=True,
                                    capture_output=True, text=True).stdout.strip()
        self.port = _port()
        cmd = [self.bastion, "serve", "--port", str(self.port)]
        if args.workers != 1:
            cmd += ["--workers", str(args.workers)]
        self.command = " ".join(["bastion", *cmd[1:], *extra_flags])
        self.server = subprocess.Popen(cmd + extra_flags, env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        self.results: dict = {"row": name, "command": self.command}

    def idle(self, seconds: float) -> dict:
        time.sleep(3)  # start-up work (first loop runs, caches) is not idle
        pids = _tree(self.server.pid)
        backends = _pg_backends(self.dsn, self.app_name) if self.url else []
        c0, b0, t0 = _cpu_seconds(pids), _cpu_seconds(backends), time.monotonic()
        time.sleep(seconds)
        c1, b1, t1 = _cpu_seconds(pids), _cpu_seconds(backends), time.monotonic()
        res = {"seconds": round(t1 - t0, 1), "server_core_pct": round(100 * (c1 - c0) / (t1 - t0), 3),
               "loadavg": [round(x, 2) for x in os.getloadavg()]}
        if self.url:
            res["postgres_backends_core_pct"] = round(100 * (b1 - b0) / (t1 - t0), 3)
            res["postgres_backends"] = len(backends)
        return res

    def wrk(self, kind: str, seconds: int, connections: int) -> dict:
        pids = _tree(self.server.pid)
        backends = _pg_backends(self.dsn, self.app_name) if self.url else []
        c0, b0 = _cpu_seconds(pids), _cpu_seconds(backends)
        res = self._wrk(kind, seconds, connections)
        c1 = _cpu_seconds(pids)
        backends = sorted(set(backends) | set(_pg_backends(self.dsn, self.app_name))) if self.url else []
        b1 = _cpu_seconds(backends)  # backends opened during the load count from zero
        if res["requests"]:
            # CPU time, unlike wall time, is not inflated by other sessions' load (only by cache misses)
            res["server_cpu_ms_per_request"] = round(1000 * (c1 - c0) / res["requests"], 3)
            if self.url:
                res["postgres_cpu_ms_per_request"] = round(1000 * (b1 - b0) / res["requests"], 3)
        return res

    def _wrk(self, kind: str, seconds: int, connections: int) -> dict:
        if kind == "healthz":
            out = subprocess.run(["wrk", f"-t{self.args.threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                                  f"{self.base}/healthz"], capture_output=True, text=True).stdout
            res = _parse_wrk(out)
        else:
            run = f"{kind[0]}{uuid.uuid4().hex[:8]}"
            acks = self.home / f"acks-{run}"
            script = self.home / f"{run}.lua"
            script.write_text(_lua(kind, self.token, run, acks))
            out = subprocess.run(["wrk", f"-t{self.args.threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                                  "-s", str(script), self.base], capture_output=True, text=True).stdout
            res = _parse_wrk(out)
            res["run"] = run
            acked: set[str] = set()
            for f in self.home.glob(f"acks-{run}.*"):
                acked.update(x for x in f.read_text().split("\n") if x)
            res["acknowledged"] = len(acked)
            res["_acked"] = acked
        res["connections"] = connections
        res["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        return res

    def warm(self, kind: str) -> None:
        run = f"w{uuid.uuid4().hex[:8]}"
        script = self.home / f"{run}.lua"
        script.write_text(_lua(kind, self.token, run, self.home / f"acks-{run}"))
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", "-s", str(script), self.base], capture_output=True)

    def metrics(self) -> dict:
        text = httpx.get(f"{self.base}/metrics", headers={"Authorization": f"Bearer {self.token}"}).text
        runs = {}
        for m in re.finditer(r'bastion_background_runs_total\{loop="([^"]+)",result="([^"]+)"\} ([\d.e+]+)', text):
            runs[f"{m.group(1)}:{m.group(2)}"] = int(float(m.group(3)))
        return runs

    def stop(self) -> None:
        try:
            os.killpg(self.server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.server.wait(60)

    def check_store(self, results: dict) -> None:
        """Every acknowledged id is stored; count the stored items the load generator never saw answered."""
        from sqlalchemy import select

        from bastion.cases.models import ItemRow
        from bastion.store.db import open_store

        store = open_store(self.url or f"sqlite:///{self.home / 'bastion.db'}")
        try:
            for kind, res in results.items():
                if "_acked" not in res:
                    continue
                acked = res.pop("_acked")
                with store.session() as s:
                    stored = set(s.scalars(select(ItemRow.external_id).where(ItemRow.external_id.like(f"{res['run']}-%"))))
                res["stored"] = len(stored)
                res["acknowledged_missing"] = len(acked - stored)
                res["stored_unacknowledged"] = len(stored - acked)
        finally:
            store.close()

    def cleanup(self) -> None:
        if self.schema:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        shutil.rmtree(self.home, ignore_errors=True)


def run(args) -> list[dict]:
    """Both servers are started up front; the loads then alternate between them round by round, so a machine
    whose load changes by the minute (shared cores) weighs on both rows alike. Medians over the rounds."""
    flags = {"default": [], "no-background": ["--no-background"], "other": []}
    names = [r for r in args.rows.split(",") if r]
    if "other" in names and not args.other_bastion:
        sys.exit("the row 'other' needs --other-bastion")
    rows = [Row(r, args, flags[r], args.other_bastion if r == "other" else None) for r in names]
    kinds = [k for k in args.kinds.split(",") if k]
    sweep = [int(c) for c in args.sweep.split(",") if c] if args.sweep else []
    out = {r.name: {"row": r.name, "command": r.command, "rounds": []} for r in rows}
    try:
        for r in rows:
            if args.idle_seconds:
                out[r.name]["idle"] = r.idle(args.idle_seconds)
            for k in kinds:
                r.warm(k)
        for _ in range(args.rounds):
            for r in rows:
                loads: dict = {"healthz": r.wrk("healthz", min(args.seconds, 5), args.connections)}
                for k in kinds:
                    if k == "text" and sweep:
                        # p99 against throughput: the same text load at each connection count
                        for c in sweep:
                            loads[f"text@{c}"] = r.wrk(k, args.seconds, c)
                            loads[f"text@{c}"]["ratio_to_healthz"] = round(loads[f"text@{c}"]["per_s"] / loads["healthz"]["per_s"], 3)
                        continue
                    loads[k] = r.wrk(k, args.seconds, args.connections if k == "text" else args.image_connections)
                    loads[k]["ratio_to_healthz"] = round(loads[k]["per_s"] / loads["healthz"]["per_s"], 3)
                out[r.name]["rounds"].append(loads)
        for r in rows:
            out[r.name]["background_runs"] = r.metrics()
    finally:
        for r in rows:
            r.stop()
    for r in rows:
        try:
            for loads in out[r.name]["rounds"]:
                r.check_store(loads)
        finally:
            r.cleanup()
        out[r.name]["loads"] = _medians(out[r.name]["rounds"])
    return list(out.values())


def _medians(rounds: list[dict]) -> dict:
    import statistics

    res: dict = {}
    for k in rounds[0]:
        runs = [rd[k] for rd in rounds]
        m = {f: round(statistics.median(x[f] for x in runs), 3) for f in ("per_s", "p50_ms", "p90_ms", "p99_ms",
                                                                           "ratio_to_healthz") if f in runs[0]}
        for f in ("server_cpu_ms_per_request", "postgres_cpu_ms_per_request"):
            if f in runs[0]:
                m[f] = round(statistics.median(x[f] for x in runs), 3)
        for f in ("requests", "non_2xx", "acknowledged", "stored", "acknowledged_missing", "stored_unacknowledged"):
            if f in runs[0]:
                m[f] = sum(x[f] for x in runs)
        m["connections"] = runs[0]["connections"]
        m["loadavg"] = runs[-1]["loadavg"]
        m["per_s_rounds"] = [x["per_s"] for x in runs]
        res[k] = m
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kinds", default="text,image", help="comma-separated: text, image")
    ap.add_argument("--seconds", type=int, default=10, help="per load and round")
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--image-connections", type=int, default=8)
    ap.add_argument("--sweep", default="", metavar="C1,C2,...",
                    help="text items at each of these wrk connection counts (e.g. 8,16,32,64) instead of --connections "
                         "alone: p99 against throughput, rows text@C")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="--workers of bastion serve (the README: 1)")
    ap.add_argument("--database-url", default=None, help="PostgreSQL base URL (a fresh schema per row)")
    ap.add_argument("--rows", default="default,no-background",
                    help="default, no-background, other (the default server of --other-bastion)")
    ap.add_argument("--other-bastion", default=None, metavar="PATH",
                    help="another install's `bastion` (e.g. main's .venv/bin/bastion) for the row 'other': two "
                         "versions of the code in the same run, alternating round by round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    rows = run(args)
    if len(rows) >= 2:
        for k in rows[0]["loads"]:
            if k in rows[1]["loads"]:
                rows[0]["loads"][k][f"paired_ratio_to_{rows[1]['row']}".replace("-", "_")] = paired(rows, k)
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cores (shared with other sessions)",
            "database": "postgresql" if args.database_url else "sqlite", "workers": args.workers}
    for r in rows:
        r.update(meta)
        print(json.dumps(r))
    _table(rows)
    outdir = Path(__file__).with_name("out")
    outdir.mkdir(exist_ok=True)
    with open(outdir / "serve.jsonl", "a") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    bad = [(r["row"], k) for r in rows for k, v in r["loads"].items() if v.get("acknowledged_missing")]
    if bad:
        sys.exit(f"acknowledged items missing from the store: {bad}")


def _table(rows: list[dict]) -> None:
    print(f"\n{'row':14} {'load':9} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'/healthz':>8} {'non2xx':>6} "
          f"{'acked':>7} {'stored':>7} {'missing':>7} {'cpu ms':>7} {'pg ms':>6} loadavg")
    for r in rows:
        for k, v in r["loads"].items():
            print(f"{r['row']:14} {k:9} {v['per_s']:8.1f} {v.get('p50_ms', 0):8.1f} {v.get('p99_ms', 0):8.1f} "
                  f"{v.get('ratio_to_healthz') or 1:8.3f} {v['non_2xx']:6d} {v.get('acknowledged', '-'):>7} "
                  f"{v.get('stored', '-'):>7} {v.get('acknowledged_missing', '-'):>7} "
                  f"{v.get('server_cpu_ms_per_request', '-'):>7} {v.get('postgres_cpu_ms_per_request', '-'):>6} {v['loadavg']}")
        if "idle" in r:
            print(f"{r['row']:14} idle     {r['idle']}")
    if len(rows) >= 2:
        for k in rows[0]["loads"]:
            if not k.startswith("text") or k not in rows[1]["loads"]:
                continue
            a, b = rows[0]["loads"][k]["per_s"], rows[1]["loads"][k]["per_s"]
            pa, pb = rows[0]["loads"][k].get("p99_ms"), rows[1]["loads"][k].get("p99_ms")
            print(f"{k} items/s, {rows[0]['row']} / {rows[1]['row']}: {a / b:.3f} (medians), {paired(rows, k):.3f} "
                  f"(median of the rounds' pairs); p99 {pa} / {pb} ms")


def paired(rows: list[dict], kind: str) -> float:
    """Median over rounds of (row 1 / row 2, e.g. default / --no-background) measured back to back: the machine's drift between
    rounds cancels out."""
    import statistics

    a, b = rows[0]["loads"][kind]["per_s_rounds"], rows[1]["loads"][kind]["per_s_rounds"]
    return round(statistics.median(x / y for x, y in zip(a, b) if y), 3)


if __name__ == "__main__":
    main()
