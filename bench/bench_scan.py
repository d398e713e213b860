"""Whole-scan throughput: `bastion scan` as a user runs it, against the plain reference loop, whole processes.

    python bench/bench_scan.py [--files 300] [--size 1200x900] [--bank 100000] [--rounds 3] [--jobs 1,2]

Corpus: N benign JPEGs (quality 85) of the given size from ``varied_images.py`` (photos, drawings, flat-colour
art and text-heavy screenshots in turn). A bank of B random PDQ hashes plus the reference hashes of 10 % of
the files.

Measured as separate processes, start-up included, from the same shell environment (the same glibc
allocator settings: none are set in the environment; Bastion's workers apply ``mallopt`` themselves, and the
reference is timed both plain and with the same ``mallopt`` calls):

* ``reference``: ``python -c`` loop — Pillow decode → RGB → ``pdqhash.compute`` per file, in P processes
  (``multiprocessing.Pool``), nothing else (no crypto hashes, no matching, no output);
* ``bastion``: ``bastion --database-url sqlite:///… scan DIR --jsonl -j P`` — crypto hashes, reduced decode,
  8 dihedral PDQ, border check, provenance, matching against the bank, recording in SQLite, one JSON line
  per file on standard output (to /dev/null).

Repetitions are interleaved (ref-1, bastion-1, ref-2, bastion-2, ref-1, …); medians of wall and CPU (user +
system of the process tree) are reported with each ratio, and the load average before and after. Ends with
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from varied_images import KINDS, encode, picture  # noqa: E402

REFERENCE = r"""
import sys, os
from multiprocessing import Pool
def init():
    if os.environ.get("BENCH_MALLOPT") == "1":
        from bastion.media.alloc import tune_allocator
        tune_allocator()
def one(path):
    import numpy as np, pdqhash
    from PIL import Image
    with Image.open(path) as im:
        return pdqhash.compute(np.asarray(im.convert("RGB")))[1]
if __name__ == "__main__":
    files = sorted(os.path.join(sys.argv[2], f) for f in os.listdir(sys.argv[2]))
    jobs = int(sys.argv[1])
    if jobs == 1:
        init()
        qualities = [one(f) for f in files]
    else:
        with Pool(jobs, initializer=init) as pool:
            qualities = pool.map(one, files, chunksize=4)
    assert len(qualities) == len(files)
"""


def make_corpus(root: Path, n: int, size: tuple[int, int]) -> list[Path]:
    paths = []
    for i in range(n):
        p = root / f"img-{i:04d}.jpg"
        p.write_bytes(encode(picture(KINDS[i % len(KINDS)], i, size), "JPEG", 85))
        paths.append(p)
    return paths


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1):  # bastion scan exits 1 when something matched
        raise SystemExit(f"{cmd[:3]} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--bank", type=int, default=100_000)
    ap.add_argument("--size", default="1200x900")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", default="1,2")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    jobs_list = [int(j) for j in args.jobs.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    corpus = tmp / "corpus"
    corpus.mkdir()
    paths = make_corpus(corpus, args.files, size)

    from bastion.banks.repo import BankRepository
    from bastion.media.hashing import pdq_hash
    from bastion.model import Bank, HashEntry
    from bastion.store.db import open_store

    url = f"sqlite:///{tmp / 'b.db'}"
    store = open_store(url)
    repo = BankRepository(store)
    repo.create(Bank("bench", "test"))
    rng = np.random.default_rng(0)
    entries = [HashEntry("pdq", h.tobytes().hex()) for h in rng.integers(0, 256, (args.bank, 32), dtype=np.uint8)]
    known = paths[::10]
    entries += [HashEntry("pdq", pdq_hash(p.read_bytes(), fast=False).hash) for p in known]
    repo.add_entries("bench", entries)
    store.engine.dispose()

    bastion = str(Path(sys.executable).with_name("bastion"))
    # As on a user's machine: no allocator variables, and bytecode caches written (an installed package has
    # them; PYTHONDONTWRITEBYTECODE, set in some shells, would recompile Bastion's own modules on every start).
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "PYTHONDONTWRITEBYTECODE"}
    runs: dict[str, list[tuple[float, float]]] = {}
    load_before = os.getloadavg()
    # warm the page cache and the bytecode caches once, untimed
    timed([sys.executable, "-c", REFERENCE, "1", str(corpus)], env)
    timed([bastion, "--database-url", url, "scan", str(corpus), "--jsonl", "-j", "1"], env)
    for _ in range(args.rounds):
        for jobs in jobs_list:
            runs.setdefault(f"reference_{jobs}p", []).append(
                timed([sys.executable, "-c", REFERENCE, str(jobs), str(corpus)], env))
            runs.setdefault(f"reference_mallopt_{jobs}p", []).append(
                timed([sys.executable, "-c", REFERENCE, str(jobs), str(corpus)], {**env, "BENCH_MALLOPT": "1"}))
            runs.setdefault(f"bastion_{jobs}p", []).append(
                timed([bastion, "--database-url", url, "scan", str(corpus), "--jsonl", "-j", str(jobs)], env))
    load_after = os.getloadavg()
    # Untimed: what the scan found (10 % of the corpus is in the bank under its reference hash).
    out = subprocess.run([bastion, "--database-url", url, "scan", str(corpus), "--jsonl", "-j", "2"], env=env,
                         capture_output=True, text=True).stdout
    found = sum(1 for line in out.splitlines() if line.strip() and json.loads(line).get("matches"))

    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    figures: dict = {
        "bench": "scan", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cores", "python": platform.python_version(),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "files": len(paths), "jpeg_size": args.size, "bank_pdq_entries": len(entries), "rounds": args.rounds,
        "known_files": len(known), "files_matched": found,
    }
    for jobs in jobs_list:
        rw, rc = med[f"reference_{jobs}p"]
        mw, mc = med[f"reference_mallopt_{jobs}p"]
        bw, bc = med[f"bastion_{jobs}p"]
        figures[f"{jobs}p"] = {
            "reference_wall_s": round(rw, 3), "reference_cpu_s": round(rc, 3),
            "reference_mallopt_wall_s": round(mw, 3), "reference_mallopt_cpu_s": round(mc, 3),
            "bastion_wall_s": round(bw, 3), "bastion_cpu_s": round(bc, 3),
            "bastion_files_per_s": round(len(paths) / bw, 1),
            "speedup_wall_vs_reference": round(rw / bw, 2), "speedup_cpu_vs_reference": round(rc / bc, 2),
            "speedup_wall_vs_reference_mallopt": round(mw / bw, 2),
            "speedup_cpu_vs_reference_mallopt": round(mc / bc, 2),
            "all_walls": {k: [round(w, 3) for w, _ in v] for k, v in runs.items() if k.endswith(f"_{jobs}p")},
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
