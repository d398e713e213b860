"""Provenance benchmark: metadata-only inspection speed next to a full decode, the cost of the pixel checks
(watermark + stealth) in a scan before/after the fast path, the watermark false-positive bound on unmarked
benign images (with a check that the fast decoder agrees with the previous one on every image), and how the
watermark survives JPEG re-encoding and downscaling.

Run by hand: ``.venv/bin/python bench/bench_provenance.py``. Ends with one JSON line of figures.
Everything is benign and generated here (gradients, shapes, noise, scikit-image sample photos).
"""

from __future__ import annotations

import io
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin
from skimage import data as skdata

import bastion.media.provenance as provenance
from bastion.media.decode import decode_rgb
from bastion.media.hashing import PDQ_FAST_MIN_SIDE
from bastion.media.provenance import ProvenanceSettings, inspect_bytes, read_metadata
from bastion.media.provenance.watermark import (
    SD1_BITS, SD2_BITS, SDXL_BITS, THRESHOLDS, WatermarkHit, WatermarkResult, bits_from_scores, detect, haar_approximation,
)

ROOT = Path(__file__).resolve().parent.parent
WM = ROOT / "tests" / "provenance" / "fixtures" / "watermark"
INFOTEXT = ("a watercolor landscape, mountains\nNegative prompt: blurry, lowres\nSteps: 25, Sampler: Euler a, "
            "CFG scale: 7, Seed: 42, Size: 1024x768, Model hash: 6ce0161689, Model: v1-5, Version: v1.10.1")


def photo(w: int, h: int) -> Image.Image:
    base = Image.fromarray(skdata.coffee()).resize((w, h))
    return base


def corpus() -> dict[str, bytes]:
    """A few realistic files: generator PNGs and a JPEG with EXIF, 1024x768."""
    files: dict[str, bytes] = {}
    im = photo(1024, 768)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", INFOTEXT)
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    files["a1111.png"] = buf.getvalue()
    graph = {str(i): {"class_type": "CLIPTextEncode", "inputs": {"text": f"a red cube {i}"}} for i in range(40)}
    graph["99"] = {"class_type": "KSampler", "inputs": {"positive": ["1", 0], "negative": ["2", 0], "seed": 1}}
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(graph))
    info.add_text("workflow", json.dumps({"nodes": [], "links": []}))
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    files["comfyui.png"] = buf.getvalue()
    exif = Image.Exif()
    exif[0x0131] = "bench"
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    files["plain.jpg"] = buf.getvalue()
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=85)
    files["plain.webp"] = buf.getvalue()
    return files


def per_second(fn, items: list[bytes], min_seconds: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for it in items:
            fn(it)
        n += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return n / elapsed


def full_decode(b: bytes) -> None:
    with Image.open(io.BytesIO(b)) as im:
        im.load()


def pillow_info(b: bytes) -> None:
    with Image.open(io.BytesIO(b)) as im:
        _ = im.info


def speed() -> dict[str, float]:
    items = list(corpus().values())
    meta_only = ProvenanceSettings(watermark=False, stealth=False)
    out = {
        "files": len(items),
        "full_decode_files_per_s": per_second(full_decode, items),
        "pillow_info_files_per_s": per_second(pillow_info, items),
        "raw_reader_files_per_s": per_second(read_metadata, items),
        "inspect_metadata_only_files_per_s": per_second(lambda b: inspect_bytes(b, settings=meta_only), items),
        "inspect_with_pixels_files_per_s": per_second(lambda b: inspect_bytes(b), items, 2.0),
    }
    out["metadata_only_vs_full_decode"] = out["inspect_metadata_only_files_per_s"] / out["full_decode_files_per_s"]
    out["with_pixels_vs_full_decode"] = out["inspect_with_pixels_files_per_s"] / out["full_decode_files_per_s"]
    return out


# --- the previous pixel path, verbatim: the same-run baseline for the fast one ---------------------------

def legacy_block_scores(bgr: np.ndarray) -> np.ndarray:
    import cv2

    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ca1 = haar_approximation(yuv[: rows // 4 * 4, : cols // 4 * 4, 1])
    nr, nc = ca1.shape[0] // 4, ca1.shape[1] // 4
    blocks = ca1[: nr * 4, : nc * 4].reshape(nr, 4, nc, 4).transpose(0, 2, 1, 3).reshape(-1, 16)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(blocks.shape[0]), pos])
    return ((val % 36) > 18).astype(np.float64)


def legacy_detect(rgb: np.ndarray) -> WatermarkResult:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return WatermarkResult(checked=False, note="watermark: image is not 8-bit RGB; not checked")
    if rgb.shape[0] * rgb.shape[1] < 256 * 256:
        return WatermarkResult(checked=False, note="watermark: image under 256x256 pixels cannot carry the mark")
    result = WatermarkResult()
    u8 = legacy_block_scores(np.ascontiguousarray(rgb[:, :, ::-1]))
    candidates = [
        WatermarkHit("sd1", int((bits_from_scores(u8, 136) == SD1_BITS).sum()), 136, "uint8-bgr"),
        WatermarkHit("sd2", int((bits_from_scores(u8, 32) == SD2_BITS).sum()), 32, "uint8-bgr"),
    ]
    f32 = rgb.astype(np.float32)
    for variant, img in (("float32-bgr", f32[:, :, ::-1]), ("float32-rgb", f32)):
        bits = bits_from_scores(legacy_block_scores(np.ascontiguousarray(img)), 48)
        candidates.append(WatermarkHit("sdxl", int((bits == SDXL_BITS).sum()), 48, variant))
    for hit in candidates:
        best = result.scores.get(hit.scheme)
        if best is None or hit.matched > best.matched:
            result.scores[hit.scheme] = hit
    result.hits = [h for h in result.scores.values() if h.matched >= THRESHOLDS[h.scheme]]
    return result


def legacy_as_array(im: Image.Image) -> np.ndarray:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


class legacy_pixels:
    """Context: inspect_bytes with the previous decode-to-array and watermark functions patched back in."""

    def __enter__(self):
        self.saved = (provenance._as_array, provenance.detect_watermark, provenance._rgb_channels)
        provenance._as_array, provenance.detect_watermark = legacy_as_array, legacy_detect
        provenance._rgb_channels = lambda px: np.ascontiguousarray(px[:, :, :3])

    def __exit__(self, *exc):
        provenance._as_array, provenance.detect_watermark, provenance._rgb_channels = self.saved


def scan_like(data: bytes, *, reuse: bool) -> None:
    """What ``scan.examine_file`` does for a lossless image: the hashing decode, then provenance with pixels.
    With ``reuse`` the hashing decode is offered to ``inspect_bytes`` under the conditions scan.py would check."""
    decoded = decode_rgb(data, min_side=PDQ_FAST_MIN_SIDE)
    offer = reuse and decoded.orientation == 1 and decoded.image.size == (decoded.width, decoded.height)
    inspect_bytes(data, decoded=decoded.image if offer else None)


def pixel_checks(rounds: int = 25) -> dict:
    """Per-image cost (median ms, interleaved rounds) before/after, on RGB PNGs of typical generator sizes."""
    from bastion.media.alloc import tune_allocator

    tune_allocator()  # scan workers do this (MEASURED.md: glibc churn on large buffers)
    out: dict[str, dict] = {}
    for w, h in ((512, 512), (768, 512), (1024, 1024)):
        data = _png(np.asarray(photo(w, h)))
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        runs: dict[str, list[float]] = {k: [] for k in ("detect_before", "detect_after", "decode_only", "scan_before",
                                                        "scan_after", "scan_after_reuse")}
        for _ in range(rounds):
            for key, fn in (
                ("detect_before", lambda: legacy_detect(rgb)),
                ("detect_after", lambda: detect(rgb)),
                ("decode_only", lambda: decode_rgb(data, min_side=PDQ_FAST_MIN_SIDE)),
                ("scan_after", lambda: scan_like(data, reuse=False)),
                ("scan_after_reuse", lambda: scan_like(data, reuse=True)),
            ):
                t = time.perf_counter()
                fn()
                runs[key].append(time.perf_counter() - t)
            with legacy_pixels():
                t = time.perf_counter()
                scan_like(data, reuse=False)
                runs["scan_before"].append(time.perf_counter() - t)
        ms = {k: 1000 * statistics.median(v) for k, v in runs.items()}
        ms["detect_speedup"] = ms["detect_before"] / ms["detect_after"]
        ms["scan_speedup"] = ms["scan_before"] / ms["scan_after"]
        ms["scan_speedup_with_reuse"] = ms["scan_before"] / ms["scan_after_reuse"]
        # The extra cost of provenance pixel checks over the hashing decode alone, before and after.
        ms["pixel_overhead_before"] = ms["scan_before"] - ms["decode_only"]
        ms["pixel_overhead_after_reuse"] = ms["scan_after_reuse"] - ms["decode_only"]
        out[f"{w}x{h}"] = ms
    return out


def unmarked_images(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """>=100 benign unmarked RGB images: generated variety plus scikit-image samples with crops."""
    imgs: list[tuple[str, np.ndarray]] = []
    for i in range(64):
        h, w = int(rng.integers(256, 640)), int(rng.integers(256, 640))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        kind = i % 8
        if kind == 0:  # linear gradient, random angle and colours
            a = rng.uniform(0, np.pi)
            t = (np.cos(a) * xx + np.sin(a) * yy)
            t = (t - t.min()) / (np.ptp(t) + 1e-6)
            c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            img = c0 + t[..., None] * (c1 - c0)
        elif kind == 1:  # radial gradient
            r = np.hypot(xx - rng.uniform(0, w), yy - rng.uniform(0, h))
            r /= r.max()
            img = rng.uniform(0, 255, 3) * (1 - r[..., None]) + rng.uniform(0, 255, 3) * r[..., None]
        elif kind == 2:  # shapes on a background
            import cv2
            img = np.full((h, w, 3), rng.uniform(0, 255, 3), np.float32)
            for _ in range(12):
                colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
                if rng.random() < 0.5:
                    cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(10, 120)), colour, -1)
                else:
                    p = rng.integers(0, [w, h, w, h])
                    cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, -1)
        elif kind == 3:  # uniform noise
            img = rng.uniform(0, 255, (h, w, 3))
        elif kind == 4:  # smooth noise
            import cv2
            img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), float(rng.uniform(2, 12)))
        elif kind == 5:  # checkerboard
            s = int(rng.integers(4, 64))
            img = (((xx // s + yy // s) % 2)[..., None] * rng.uniform(0, 255, 3))
        elif kind == 6:  # solid colour (degenerate: every block reads the same bit)
            img = np.full((h, w, 3), rng.uniform(0, 255, 3))
        else:  # sine pattern
            f = rng.uniform(0.01, 0.3, 2)
            img = 127.5 + 127.5 * np.sin(f[0] * xx + f[1] * yy)[..., None] * np.array([1, 0.6, 0.3])
        imgs.append((f"generated-{kind}-{i}", np.clip(img, 0, 255).astype(np.uint8)))
    samples = {n: getattr(skdata, n)() for n in ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                                                 "colorwheel", "retina", "moon", "coins", "brick", "grass", "gravel",
                                                 "clock", "page", "text")}
    for name, arr in samples.items():
        arr = np.stack([arr] * 3, -1) if arr.ndim == 2 else arr[..., :3]
        h, w = arr.shape[:2]
        if h * w >= 256 * 256:
            imgs.append((f"{name}-full", np.ascontiguousarray(arr)))
        for k in range(4):
            if h < 256 or w < 256:
                big = np.asarray(Image.fromarray(arr).resize((max(w, 256) * 2, max(h, 256) * 2)))
            else:
                big = arr
            bh, bw = big.shape[:2]
            ch, cw = int(rng.integers(256, min(bh, 640) + 1)), int(rng.integers(256, min(bw, 640) + 1))
            y, x = int(rng.integers(0, bh - ch + 1)), int(rng.integers(0, bw - cw + 1))
            crop = big[y : y + ch, x : x + cw]
            imgs.append((f"{name}-crop{k}", np.ascontiguousarray(crop[:, ::-1] if k % 2 else crop)))
    return imgs


def jpeg(arr: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB"))


def false_positives() -> dict:
    rng = np.random.default_rng(20251125)
    images = unmarked_images(rng)
    images += [(f"{n}-jpeg85", jpeg(a, 85)) for n, a in images[::3]]
    worst: dict[str, tuple[int, str]] = {}
    hits = 0
    times = []
    differ = 0
    for name, arr in images:
        t = time.perf_counter()
        res = detect(arr)
        times.append(time.perf_counter() - t)
        differ += res.to_dict() != legacy_detect(arr).to_dict()
        hits += bool(res.hits)
        for scheme, h in res.scores.items():
            if scheme not in worst or h.matched > worst[scheme][0]:
                worst[scheme] = (h.matched, name)
    return {"unmarked_images": len(images), "false_positives": hits,
            "max_matched": {k: {"bits": v[0], "of": {"sd1": 136, "sd2": 32, "sdxl": 48}[k], "image": v[1]} for k, v in worst.items()},
            "thresholds": THRESHOLDS, "detect_ms_median": 1000 * statistics.median(times),
            "differ_from_previous_decoder": differ}


def robustness() -> dict:
    """Of the marked fixtures detected as saved, how many are still detected after common transforms."""
    ref = json.loads((WM / "reference.json").read_text())
    scheme = {"sd1": "sd1", "sd2": "sd2", "sdxl_bgr": "sdxl", "sdxl_rgb": "sdxl"}
    marked = [(n, scheme[r["kind"]]) for n, r in ref.items() if r["kind"] != "clean"]
    base = {n: np.asarray(Image.open(WM / n).convert("RGB")) for n, _ in marked}
    detected = [(n, s) for n, s in marked if s in {h.scheme for h in detect(base[n]).hits}]
    transforms = {
        "jpeg95": lambda a: jpeg(a, 95), "jpeg85": lambda a: jpeg(a, 85), "jpeg75": lambda a: jpeg(a, 75),
        "resize0.75": lambda a: np.asarray(Image.fromarray(a).resize((a.shape[1] * 3 // 4, a.shape[0] * 3 // 4), Image.LANCZOS)),
        "upscale2x": lambda a: np.asarray(Image.fromarray(a).resize((a.shape[1] * 2, a.shape[0] * 2), Image.LANCZOS)),
        "crop8px": lambda a: np.ascontiguousarray(a[8:, 8:]),
        "png_resave": lambda a: np.asarray(Image.open(io.BytesIO(_png(a))).convert("RGB")),
    }
    out = {"marked_fixtures": len(marked), "detected_as_saved": len(detected)}
    differ = sum(detect(a).to_dict() != legacy_detect(a).to_dict() for a in base.values())
    for tname, fn in transforms.items():
        changed = {n: fn(base[n]) for n, _ in detected}
        differ += sum(detect(a).to_dict() != legacy_detect(a).to_dict() for a in changed.values())
        out[tname] = sum(s in {h.scheme for h in detect(changed[n]).hits} for n, s in detected)
    out["differ_from_previous_decoder"] = differ
    return out


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    result = {"bench": "provenance", "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
              "machine": platform.machine()}
    result["speed"] = speed()
    result["pixel_checks_ms"] = pixel_checks()
    result["watermark_false_positive"] = false_positives()
    result["watermark_robustness"] = robustness()
    for k, v in result["speed"].items():
        print(f"{k:40s} {v:10.2f}", file=sys.stderr)
    for size, figs in result["pixel_checks_ms"].items():
        print(size, " ".join(f"{k}={v:.2f}" for k, v in figs.items()), file=sys.stderr)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
