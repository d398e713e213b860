"""Archive mode: engines, planning, video.

    python bench/bench_archive.py [--files 120] [--keys 1000000] [--video-seconds 20] [--skip video]

Measured in one run:

* **engines**: images/s of the whole archive pipeline (read, hashes, decode, PDQ + variants, provenance,
  matching in the client, recording per file in SQLite) on the local process pool and on Dask (a
  LocalCluster of the same number of single-threaded worker processes), rounds interleaved, the ratio of
  the two from the same run. Corpus: N benign 1024x768 JPEGs (scikit-image photos and generated patterns).
* **planning**: cutting a synthetic listing of K S3-style keys into 5,000-key shards and 32-key tasks, the
  way a run plans them (with half of the shards already in a ledger, as on a resume): seconds and peak
  Python memory (tracemalloc).
* **video**: seconds of vPDQ hashing per minute of 720p (1280x720, 30 fps, H.264) video, one process, and
  the `vpdq` reference bindings on the same file when they are installed.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _corpus(folder: Path, n: int) -> None:
    from PIL import Image

    from bastion.demo import generated_pattern

    try:
        from skimage import data as skdata

        photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    except Exception:  # pragma: no cover
        photos = []
    for i in range(n):
        if photos and i % 2:
            img = Image.fromarray(photos[i % len(photos)]).rotate(i * 7 % 360).resize((1024, 768))
        else:
            img = generated_pattern(i + 1).resize((1024, 768))
        img.convert("RGB").save(folder / f"img{i:05d}.jpg", quality=90)


def bench_engines(n: int, jobs: int, rounds: int) -> dict:
    from bastion.archive import run_archive
    from bastion.banks.matcher import Matcher
    from bastion.engines import make_engine
    from bastion.scan import Scanner
    from bastion.sources import FolderSource
    from bastion.store.db import open_store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        _corpus(folder, n)
        store = open_store(f"sqlite:///{tmp}/b.db")
        matcher = Matcher.from_store(store)
        rates: dict[str, list[float]] = {"local": [], "dask": []}
        startup: dict[str, list[float]] = {"local": [], "dask": []}
        for _ in range(rounds):
            for name in ("local", "dask"):
                t0 = time.perf_counter()
                eng = make_engine(name, jobs=jobs)
                startup[name].append(time.perf_counter() - t0)
                try:
                    scanner = Scanner(matcher, None, jobs=jobs)
                    _, summary = run_archive(store, [FolderSource(str(folder))], eng, scanner, lambda r: None)
                finally:
                    eng.close()
                assert summary.files == n and summary.errors == 0
                rates[name].append(n / summary.seconds)
        store.close()
    local, dask = float(np.median(rates["local"])), float(np.median(rates["dask"]))
    return {
        "files": n, "jobs": jobs, "rounds": rounds,
        "local_images_per_s": round(local, 1), "dask_images_per_s": round(dask, 1),
        "dask_vs_local": round(dask / local, 2),
        "local_start_s": round(float(np.median(startup["local"])), 2),
        "dask_start_s": round(float(np.median(startup["dask"])), 2),
    }


def bench_planning(keys: int) -> dict:
    from bastion.archive import _tasks

    class Synthetic:
        spec = "s3://synthetic/"

        def keys(self):
            for i in range(keys):
                yield f"s3://synthetic/uploads/{i % 997:03d}/{i:09d}-{(i * 2654435761) % 2**32:08x}.jpg"

    shard = 5_000
    src = Synthetic()
    first = {}
    for i, k in enumerate(src.keys()):  # the true first/last keys of the even shards, as a real ledger holds
        if i % shard == 0 or i % shard == shard - 1:
            first.setdefault(i // shard, []).append(k)
    done = {(0, s): tuple(first[s]) for s in range(0, keys // shard, 2)}  # half the shards on the ledger

    def plan() -> tuple[int, int]:
        opened: dict = {}
        n_tasks = n_keys = 0
        for task in _tasks([src], shard, 32, done, opened):
            n_tasks += 1
            n_keys += len(task.keys)
            opened.pop(task.id)  # as the run does when a batch comes back
        return n_tasks, n_keys

    t0 = time.perf_counter()
    listed = sum(1 for _ in src.keys())  # the synthetic listing alone, to tell it apart from the planning
    list_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_tasks, n_keys = plan()
    seconds = time.perf_counter() - t0
    tracemalloc.start()  # a second pass for memory: tracing slows every allocation down
    plan()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert listed == keys and n_keys == keys - len(done) * shard
    return {"keys": keys, "shards": -(-keys // shard), "skipped_shards": len(done), "tasks": n_tasks,
            "listing_only_s": round(list_s, 2), "listing_and_plan_s": round(seconds, 2),
            "plan_keys_per_s": round(keys / seconds), "plan_peak_mb": round(peak / 2**20, 1)}


def _video_720p(seconds: int) -> bytes:
    import io

    import av

    from bastion.demo import generated_pattern

    base = np.asarray(generated_pattern(3).resize((1600, 1000)).convert("RGB"))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 1280, 720, "yuv420p"
        for i in range(seconds * 30):
            x, y = (i * 3) % 320, (i * 2) % 280
            f = base[y : y + 720, x : x + 1280].copy()
            f[100 + (i % 400) : 200 + (i % 400), 200:300] = (i % 255, 80, 160)
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return buf.getvalue()


def _timed(fn) -> tuple[float, float, object]:
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, cpu() - c0, out


def bench_video(seconds: int, rounds: int = 2) -> dict:
    """Wall and CPU seconds per minute of video; the reference both on one thread (as a Bastion worker hashes)
    and with its default threads. Rounds interleaved, medians."""
    from bastion.media.video import vpdq_hash

    data = _video_720p(seconds)
    per_min = 60 / seconds
    runs: dict[str, list[tuple[float, float]]] = {}
    try:
        import vpdq  # the reference bindings (FFmpeg + Meta's C++), when they are installed
    except ImportError:
        vpdq = None
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        for _ in range(rounds):
            wall, cpu, h = _timed(lambda: vpdq_hash(data))
            runs.setdefault("bastion", []).append((wall, cpu))
            if vpdq is not None:
                wall, cpu, ref = _timed(lambda: vpdq.computeHash(f.name, seconds_per_hash=1, thread_count=1))
                runs.setdefault("vpdq_1_thread", []).append((wall, cpu))
                wall, cpu, ref = _timed(lambda: vpdq.computeHash(f.name, seconds_per_hash=1))
                runs.setdefault("vpdq_default_threads", []).append((wall, cpu))
    res: dict = {"video_seconds": seconds, "size": "1280x720", "fps": 30, "frames_hashed": h.sampled_frames}
    for name, xs in runs.items():
        res[f"{name}_wall_s_per_min"] = round(float(np.median([w for w, _ in xs])) * per_min, 2)
        res[f"{name}_cpu_s_per_min"] = round(float(np.median([c for _, c in xs])) * per_min, 2)
    if vpdq is None:
        res["vpdq_reference"] = "not installed"
    else:
        res["reference_frames"] = len(ref)
        res["bastion_vs_vpdq_1_thread_cpu"] = round(res["vpdq_1_thread_cpu_s_per_min"] / res["bastion_cpu_s_per_min"], 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=120)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--video-seconds", type=int, default=20)
    ap.add_argument("--skip", action="append", default=[], choices=["engines", "planning", "video"])
    a = ap.parse_args()
    out = {"bench": "archive", "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} cores"}
    if "planning" not in a.skip:
        out["planning"] = bench_planning(a.keys)
        print(json.dumps(out["planning"]), flush=True)
    if "video" not in a.skip:
        out["video"] = bench_video(a.video_seconds)
        print(json.dumps(out["video"]), flush=True)
    if "engines" not in a.skip:
        out["engines"] = bench_engines(a.files, a.jobs, a.rounds)
        print(json.dumps(out["engines"]), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
