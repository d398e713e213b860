"""Start-up cost of an examine worker with the image classifiers loaded at start (issue 24 leftover).

A worker (bastion.examine.WorkerPool, as ``bastion serve`` makes them) now loads the configured classifiers
before it says it is ready. This measures, per worker, the wall time from start to its first answer and the
worker's own CPU time at that point (``time.process_time`` in the worker: the classifiers' load, the
fork-server preload aside), without classifiers and with each configuration, interleaved, same run.

    .venv/bin/python bench/bench_worker_start.py [--rounds 3] [--classifiers local]

Ends with one JSON line (bench/RESULTS.md, "Likeness to confirmed material" / issue 24 leftovers).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def one(names: tuple[str, ...]) -> tuple[float, float, tuple[str, ...]]:
    from bastion import classifiers
    from bastion.examine import WorkerPool

    t = time.perf_counter()
    with WorkerPool(1, classifiers=names) as pool:
        cpu, _ = pool.run(time.process_time, deadline=300)
        wall = time.perf_counter() - t
        loaded, _ = pool.run(classifiers.loaded, deadline=60)
    return wall, cpu, loaded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--classifiers", default="local")
    args = ap.parse_args()
    from bastion.classifiers import resolve

    configs = {"none": (), args.classifiers: resolve(args.classifiers)}
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    loaded = {}
    one(())  # the fork server's own start, once, outside the figures
    for _ in range(args.rounds):
        for k, names in configs.items():
            wall, cpu, loaded[k] = one(names)
            got[k].append((wall, cpu))
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    out = {"bench": "worker-start", "rounds": args.rounds, "loaded": loaded,
           **{f"{k}_wall_s": round(med([w for w, _ in v]), 3) for k, v in got.items()},
           **{f"{k}_worker_cpu_s": round(med([c for _, c in v]), 3) for k, v in got.items()},
           "loadavg": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
