"""Hashing benchmark: reference PDQ (full decode + pdqhash.compute) vs Bastion's fast path.

Run by hand:  .venv/bin/python bench/bench_hashing.py [--images 20] [--reps 3] [--no-procs]
              .venv/bin/python bench/bench_hashing.py --drift 12 [--floors 128,160,192,224,256,512]

``--drift N`` runs only the drift set of issue 14: N pictures of each kind of ``varied_images.py`` (photos,
drawings, flat-colour art, text-heavy screenshots) at 1–2 MP, saved as JPEG (quality 85, and 75 for every
third) and, for every third, as PNG; for each candidate floor of the fast path's reduced decode, the
Hamming distance of every dihedral variant from the reference (full decode + ``pdqhash``), per kind, and the
CPU time per file of decode + hash (reference and fast, interleaved per file).

Images are benign and generated here: scikit-image's bundled sample photos (no download) upscaled to
2–12 MP with a little sensor-like noise, and synthetic textures, saved as JPEG quality 90. A subset is also
saved as PNG to measure the non-JPEG path (integer box reduce instead of DCT scaling).

Everything is compared against a baseline measured in the same run:
  * reference = Pillow full decode → RGB → ``pdqhash.compute`` (what python-threatexchange does);
  * ours      = ``bastion.media.hashing.pdq_hash(data, fast=True)``;
  * drift     = Hamming distance between the two hashes of the same file;
  * sweep     = drift and time per ``min_side`` candidate of ``pdqhash`` on a reduced decode (the method before
                issue 14, kept for comparison: how PDQ_FAST_MIN_SIDE was chosen)
                (JPEG path, PNG path, and the box ``reduce`` alone on the 20 full decodes);
  * procs     = images/s of ``pdq_hash`` with 1 and 2 worker processes, with and without mallopt tuning.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

from bastion.media.decode import decode_rgb
from bastion.media.hashing import PDQ_QUERY_MIN_SIDE, hamming, pdq_from_image, pdq_hash

PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
          "brick", "grass", "gravel", "coins", "moon", "horse")
SIZES = ((1632, 1224), (2592, 1944), (3264, 2448), (4000, 3000), (1944, 2592))  # 2, 5, 8, 12 MP, portrait 5 MP
SWEEP = (256, 384, 512, 768, 1024)


# --- benign test images --------------------------------------------------------------------------


def _photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float64) / max(1.0, float(arr.max())) * 255).astype(np.uint8)
    img = Image.fromarray(arr)
    return img.convert("RGB")


def _texture(seed: int, size: tuple[int, int]) -> Image.Image:
    """Sinusoid gratings plus random rectangles and ellipses: high-frequency content a photo upscale lacks."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = []
    for _ in range(3):
        fx, fy = rng.uniform(2, 40, 2) / max(w, h)
        chans.append(127 + 60 * np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 6)))
    img = Image.fromarray(np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 40, w // 4)), y0 + int(rng.integers(h // 40, h // 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return img


def _add_noise(img: Image.Image, seed: int, sigma: float = 3.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.int16)
    noise = rng.normal(0, sigma, arr.shape).astype(np.int16)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


def make_images(count: int) -> list[tuple[str, Image.Image]]:
    out = []
    for i in range(count):
        size = SIZES[i % len(SIZES)]
        if i % 3 == 2:
            name, img = f"texture{i}", _texture(i, size)
        else:
            photo = PHOTOS[(i - i // 3) % len(PHOTOS)]
            name, img = photo, _photo(photo).resize(size, Image.Resampling.BICUBIC)
        out.append((f"{name}_{size[0]}x{size[1]}", _add_noise(img, i)))
    return out


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=90)
    else:
        img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


# --- measurements --------------------------------------------------------------------------------


def reference_pdq(data: bytes) -> str:
    """python-threatexchange's way, plus the RGB conversion it lacks (our inputs are RGB anyway)."""
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("RGB"))
    bits, _quality = pdqhash.compute(arr)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def _time(fn, data: bytes, reps: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn(data)
        best = min(best, time.perf_counter() - t0)
    return best, result


def compare(files: list[tuple[str, bytes]], reps: int) -> dict:
    ref_s, ours_s, drifts, per_image = 0.0, 0.0, [], []
    for name, data in files:
        t_ref, h_ref = _time(reference_pdq, data, reps)
        t_ours, h_ours = _time(lambda d: pdq_hash(d, fast=True).hash, data, reps)
        exact = pdq_hash(data, fast=False).hash
        if exact != h_ref:
            raise SystemExit(f"{name}: fast=False differs from the reference: {exact} vs {h_ref}")
        d = hamming(h_ref, h_ours)
        ref_s += t_ref
        ours_s += t_ours
        drifts.append(d)
        per_image.append({"image": name, "ref_ms": round(t_ref * 1e3, 1), "ours_ms": round(t_ours * 1e3, 1),
                          "drift": d})
    return {
        "images": len(files),
        "ref_img_s": round(len(files) / ref_s, 2),
        "ours_img_s": round(len(files) / ours_s, 2),
        "ratio": round(ref_s / ours_s, 2),
        "drift_mean": round(statistics.mean(drifts), 2),
        "drift_max": max(drifts),
        "per_image": per_image,
    }


def sweep(files: list[tuple[str, bytes]], refs: dict[str, str]) -> dict:
    out = {}
    for min_side in SWEEP:
        drifts, total = [], 0.0
        for name, data in files:
            t0 = time.perf_counter()
            h, _q = pdq_from_image(decode_rgb(data, min_side=min_side).image)
            total += time.perf_counter() - t0
            drifts.append(hamming(refs[name], h))
        out[str(min_side)] = {"drift_mean": round(statistics.mean(drifts), 2), "drift_max": max(drifts),
                              "ms_per_img": round(total / len(files) * 1e3, 1)}
    return out


def reduce_sweep(files: list[tuple[str, bytes]], refs: dict[str, str]) -> dict:
    """The non-JPEG path in isolation: integer box ``reduce`` of the full decode, no DCT scaling.

    Measured on the JPEG set's full decodes so that 20 large images need no slow PNG encoding; the format
    does not matter once pixels are decoded.
    """
    out: dict[str, dict] = {}
    for name, data in files:
        full = decode_rgb(data).image
        for min_side in SWEEP:
            factor = min(full.size) // min_side
            t0 = time.perf_counter()
            h, _q = pdq_from_image(full.reduce(factor) if factor >= 2 else full)
            row = out.setdefault(str(min_side), {"drifts": [], "s": 0.0})
            row["s"] += time.perf_counter() - t0
            row["drifts"].append(hamming(refs[name], h))
    return {k: {"drift_mean": round(statistics.mean(v["drifts"]), 2), "drift_max": max(v["drifts"]),
                "ms_per_img": round(v["s"] / len(files) * 1e3, 1)} for k, v in out.items()}


# --- processes -----------------------------------------------------------------------------------


def _worker_init(tune: bool) -> None:
    if tune:
        from bastion.media.alloc import tune_allocator

        tune_allocator()


def _worker_hash(path: str) -> str:
    return pdq_hash(Path(path).read_bytes(), fast=True).hash


def throughput(paths: list[str], workers: int, passes: int) -> dict[str, dict[str, float]]:
    """Images/s with and without allocator tuning, passes interleaved (A, B, A, B ...).

    The machine is shared, so load changes during a run; alternating the two pools exposes both to the
    same conditions, and we report the best and the median pass of each.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pools = {label: ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(tune,))
             for label, tune in (("default", False), ("tuned", True))}
    rates: dict[str, list[float]] = {label: [] for label in pools}
    try:
        for pool in pools.values():
            list(pool.map(_worker_hash, paths[: workers * 2]))  # warm-up: imports, first allocations
        for _ in range(passes):
            for label, pool in pools.items():
                t0 = time.perf_counter()
                list(pool.map(_worker_hash, paths, chunksize=2))
                rates[label].append(len(paths) / (time.perf_counter() - t0))
    finally:
        for pool in pools.values():
            pool.shutdown()
    return {label: {"best": round(max(r), 2), "median": round(statistics.median(r), 2)} for label, r in rates.items()}


def drift_set(per_kind: int, floors: list[int]) -> dict:
    """Issue 14's drift set: the fast path (reduced decode + ``pdq_dihedral_fast``) per floor vs the reference."""
    import pdqhash as _pdqhash

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from varied_images import encode as encode_varied
    from varied_images import varied

    from bastion.media.hashing import PDQ_QUERY_MIN_SIDE, PDQ_VARIANTS, pdq_dihedral_fast

    files = []
    for i, (name, img) in enumerate(varied(per_kind)):
        files.append((name + ".jpg", encode_varied(img, "JPEG", 75 if i % 3 == 2 else 85)))
        if i % 3 == 0:
            files.append((name + ".png", encode_varied(img, "PNG")))

    def reference(data: bytes) -> tuple[list[str], int]:
        with Image.open(io.BytesIO(data)) as im:
            bits, quality = _pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(im.convert("RGB"))))
        return [np.packbits(np.asarray(b, dtype=np.uint8)).tobytes().hex() for b in bits], int(quality)

    def fast(data: bytes, floor: int) -> tuple[list[str], int]:
        decoded = decode_rgb(data, min_side=floor, luma_when_reduced=True)  # as the fast path decodes
        variants, quality = pdq_dihedral_fast(decoded.image, (decoded.width, decoded.height))
        return [variants[n] for n in PDQ_VARIANTS], quality

    refs = {}
    cpu = {"reference": 0.0, **{str(f): 0.0 for f in floors}}
    rows: dict[str, dict[str, list[int]]] = {str(f): {} for f in floors}
    qdiff: dict[str, list[int]] = {str(f): [] for f in floors}
    for name, data in files:  # interleaved per file: reference, then each floor
        t = time.process_time()
        refs[name] = reference(data)
        cpu["reference"] += time.process_time() - t
        kind = name.split("-")[0] + ("-png" if name.endswith(".png") else "")
        for f in floors:
            t = time.process_time()
            hashes, quality = fast(data, f)
            cpu[str(f)] += time.process_time() - t
            rows[str(f)].setdefault(kind, []).extend(hamming(a, b) for a, b in zip(refs[name][0], hashes))
            qdiff[str(f)].append(abs(quality - refs[name][1]))
    out: dict = {"files": len(files), "per_kind": per_kind, "chosen_floor": PDQ_QUERY_MIN_SIDE,
                 "reference_ms_per_file": round(cpu["reference"] / len(files) * 1e3, 2), "floors": {}}
    for f in floors:
        every = [d for v in rows[str(f)].values() for d in v]
        out["floors"][str(f)] = {
            "drift_mean": round(statistics.mean(every), 2), "drift_p95": sorted(every)[int(0.95 * (len(every) - 1))],
            "drift_max": max(every), "quality_diff_max": max(qdiff[str(f)]),
            "ms_per_file": round(cpu[str(f)] / len(files) * 1e3, 2),
            "cpu_ratio_vs_reference": round(cpu["reference"] / cpu[str(f)], 2),
            "per_kind": {k: {"mean": round(statistics.mean(v), 2), "max": max(v)} for k, v in sorted(rows[str(f)].items())},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drift", type=int, default=0, help="run only issue 14's drift set, N pictures per kind")
    parser.add_argument("--floors", default="128,160,192,224,256,512")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--png-images", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--no-procs", action="store_true")
    args = parser.parse_args()
    if args.drift:
        result = drift_set(args.drift, [int(f) for f in args.floors.split(",")])
        result.update({"bench": "hashing-drift", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "machine": f"{platform.machine()} {os.cpu_count()} cores", "load": os.getloadavg()})
        print(json.dumps(result))
        return

    images = make_images(args.images)
    jpegs = [(name, encode(img, "JPEG")) for name, img in images]
    # PNG: only 2–5 MP (encoding 12 MP PNGs is slow and adds nothing to the comparison).
    small = [(n, im) for n, im in images if im.size[0] * im.size[1] <= 5_100_000][: args.png_images]
    pngs = [(name, encode(img, "PNG")) for name, img in small]
    del images, small

    jpeg = compare(jpegs, args.reps)
    refs = {name: reference_pdq(data) for name, data in jpegs}
    jpeg_sweep = sweep(jpegs, refs)
    box_sweep = reduce_sweep(jpegs, refs)
    png = compare(pngs, args.reps)
    png_refs = {name: reference_pdq(data) for name, data in pngs}
    png_sweep = sweep(pngs, png_refs)

    procs = {}
    if not args.no_procs:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, (_name, data) in enumerate(jpegs):
                p = Path(tmp) / f"{i}.jpg"
                p.write_bytes(data)
                paths.append(str(p))
            for workers in (1, 2):
                for label, figures in throughput(paths, workers, args.passes).items():
                    procs[f"{workers}p_{label}"] = figures

    for label, res in (("JPEG", jpeg), ("PNG", png)):
        print(f"{label}: {res['images']} images  reference {res['ref_img_s']} img/s  ours {res['ours_img_s']} img/s"
              f"  ratio {res['ratio']}x  drift mean {res['drift_mean']} max {res['drift_max']}")
        for row in res["per_image"]:
            print(f"   {row['image']:32s} ref {row['ref_ms']:7.1f} ms  ours {row['ours_ms']:6.1f} ms"
                  f"  drift {row['drift']}")
    print("min_side sweep (JPEG):", json.dumps(jpeg_sweep))
    print("min_side sweep (PNG):", json.dumps(png_sweep))
    print("min_side sweep (box reduce of full decodes, reduce+PDQ time):", json.dumps(box_sweep))
    if procs:
        print("processes (img/s):", json.dumps(procs))

    figures = {
        "bench": "hashing",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "fast_path_min_side": PDQ_QUERY_MIN_SIDE,
        "jpeg": {k: v for k, v in jpeg.items() if k != "per_image"},
        "png": {k: v for k, v in png.items() if k != "per_image"},
        "sweep_jpeg": jpeg_sweep,
        "sweep_png": png_sweep,
        "sweep_box_reduce": box_sweep,
        "procs_img_s": procs,
    }
    sys.stdout.flush()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
