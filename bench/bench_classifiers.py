"""Cost of the local image classifiers (issue 24): per image on one core, memory per worker, service items/s.

    .venv/bin/python bench/bench_classifiers.py [--rounds 3] [--seconds 10] [--skip-serve]

1. **Per image, one core** (this process pinned to one CPU): a 1 MP JPEG (a scikit-image photograph,
   1155x866) through the examine pipeline's ``examine_bytes`` without classifiers and with every local one
   (photoreal, nudity, faces), interleaved, median of --repeats each; the difference is what classifying
   adds; each classifier's own time is the ``ms`` it reports. Goal: <= 60 ms with every local model.
2. **Memory per worker**: a fresh process (as an examine worker) after importing the examine modules, then
   after loading the classifiers and classifying one image: resident set (VmRSS) and its peak (VmHWM).
   Goal: <= 400 MB.
3. **Service items/s, classifiers on vs off, same run**: two ``bastion serve`` (bench/bench_serve.py's
   servers: SQLite, the README's command), one with ``BASTION_CLASSIFIERS=local``; wrk posts 1 MP JPEG
   items to both, alternating round by round; medians. Needs ``wrk``.

Every figure is printed with the load average; the machine is shared, so compare the ratios of one run.
Results append to bench/out/classifiers.jsonl.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from classifier_sets import one_megapixel_jpeg  # noqa: E402

LOCAL = ("photoreal", "nudity", "faces")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def per_image(repeats: int) -> dict:
    from bastion.classifiers import check, results_of
    from bastion.scan import examine_bytes

    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    data = one_megapixel_jpeg()
    problems = check(LOCAL)
    if problems:
        raise SystemExit(f"classifiers unavailable: {problems}")
    for _ in range(3):  # warm: imports, ONNX Runtime's first run
        examine_bytes("w.jpg", data, provenance=True)
        examine_bytes("w.jpg", data, provenance=True, classify=LOCAL)
    off, on, off_cpu, on_cpu, own = [], [], [], [], {n: [] for n in LOCAL}
    load0 = _load()
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        examine_bytes("a.jpg", data, provenance=True)
        off.append(time.perf_counter() - t)
        off_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        res = examine_bytes("a.jpg", data, provenance=True, classify=LOCAL)
        on.append(time.perf_counter() - t)
        on_cpu.append(time.process_time() - c)
        for r in results_of(res.signals):
            own[r.name].append(r.seconds)
    med = lambda xs: round(1000 * statistics.median(xs), 2)  # noqa: E731
    # Wall time is inflated by other sessions' load on a shared machine; CPU time (the process's, all its
    # threads: ONNX Runtime runs one) is what one image costs one core.
    out = {"cpu": cpu, "repeats": repeats,
           "examine_cpu_ms": med(off_cpu), "examine_with_classifiers_cpu_ms": med(on_cpu),
           "classifiers_added_cpu_ms": round(med(on_cpu) - med(off_cpu), 2),
           "examine_wall_ms": med(off), "examine_with_classifiers_wall_ms": med(on),
           "classifiers_added_wall_ms": round(med(on) - med(off), 2),
           "per_classifier_wall_ms": {n: med(v) for n, v in own.items()},
           "loadavg_before": load0, "loadavg_after": _load()}
    return out


def _rss() -> dict:
    d = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                d[k] = round(int(v.split()[0]) / 1024, 1)
    return d


def _worker_memory(q) -> None:
    import importlib

    from bastion.examine import _WARM  # noqa: F401 - the modules a worker imports (measured as it does)

    for name in _WARM:
        importlib.import_module(name)
    from bastion.scan import examine_bytes

    data = one_megapixel_jpeg()
    examine_bytes("a.jpg", data)
    base = _rss()
    examine_bytes("a.jpg", data, classify=LOCAL)
    for _ in range(5):
        examine_bytes("a.jpg", data, classify=LOCAL)
    q.put({"worker_without_classifiers_mb": base, "worker_with_classifiers_mb": _rss()})


def memory() -> dict:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_worker_memory, args=(q,))
    p.start()
    res = q.get(timeout=300)
    p.join(30)
    res["loadavg"] = _load()
    return res


def serve(rounds: int, seconds: int, connections: int) -> dict:
    from bench_serve import Row

    class A:
        database_url = None
        workers = 1
        threads = 2

    rows = {}
    try:
        rows["off"] = Row("classifiers-off", A, [])
        os.environ["BASTION_CLASSIFIERS"] = "local"
        try:
            rows["on"] = Row("classifiers-on (BASTION_CLASSIFIERS=local)", A, [])
        finally:
            del os.environ["BASTION_CLASSIFIERS"]
        for r in rows.values():
            r.warm("image")
        got: dict[str, list[dict]] = {k: [] for k in rows}
        for _ in range(rounds):
            for k, r in rows.items():
                res = r.wrk("image", seconds, connections)
                res.pop("_acked", None)
                got[k].append(res)
        out = {}
        for k, rs in got.items():
            out[k] = {"items_per_s": round(statistics.median(x["per_s"] for x in rs), 1),
                      "p99_ms": statistics.median(x.get("p99_ms", 0) for x in rs),
                      "non_2xx": sum(x["non_2xx"] for x in rs),
                      "server_cpu_ms_per_item": statistics.median(x.get("server_cpu_ms_per_request", 0) for x in rs),
                      "rounds": [{"per_s": x["per_s"], "loadavg": x["loadavg"]} for x in rs]}
        out["on_over_off"] = round(out["on"]["items_per_s"] / out["off"]["items_per_s"], 3) if out["off"]["items_per_s"] else None
        out["connections"], out["seconds"] = connections, seconds
        return out
    finally:
        for r in rows.values():
            r.stop()
            r.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--skip-serve", action="store_true")
    args = ap.parse_args()
    result = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "python": platform.python_version()}
    result["memory"] = memory()
    print("memory:", json.dumps(result["memory"]), flush=True)
    if not args.skip_serve:
        result["serve"] = serve(args.rounds, args.seconds, args.connections)
        print("serve:", json.dumps(result["serve"]), flush=True)
    result["per_image"] = per_image(args.repeats)
    print("per image (one core):", json.dumps(result["per_image"]), flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with open(out / "classifiers.jsonl", "a") as fh:
        fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
