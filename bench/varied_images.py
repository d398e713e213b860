"""The benchmarks' varied set of benign 1–2 MP pictures, made here (no download): what art and creator
platforms receive most, in four kinds —

* photos: scikit-image's bundled sample photos, resized, with a little sensor-like noise;
* drawings: pen strokes on paper-coloured backgrounds;
* flat-colour art: overlapping shapes of solid colour;
* text-heavy screenshots: a title bar and lines of placeholder text, light and dark themes.

Used by ``bench_hashing.py`` (the drift set) and ``bench_scan.py`` (the whole-scan corpus).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PHOTOS = ("coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry", "brick",
          "grass", "gravel", "coins", "moon", "horse", "astronaut", "camera", "page", "text")
#: 1–2 MP sizes, landscape, square and portrait.
SIZES = ((1200, 900), (1600, 1200), (1080, 1080), (900, 1200), (1280, 720), (1920, 1080))
KINDS = ("photo", "drawing", "flat", "screenshot")
_WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
          "et dolore magna aliqua").split()


def photo(name: str, size: tuple[int, int], seed: int) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float64) / max(1.0, float(arr.max())) * 255).astype(np.uint8)
    img = Image.fromarray(arr).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    noise = np.random.default_rng(seed).normal(0, 2.5, (size[1], size[0], 3))
    return Image.fromarray((np.asarray(img) + noise).clip(0, 255).astype(np.uint8))


def drawing(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(int(rng.integers(2, 6)))]
        draw.line(pts, fill=tuple(int(c) for c in rng.integers(0, 120, 3)), width=int(rng.integers(1, 8)))
    return img


def flat(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            (x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


def screenshot(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    light = seed % 2 == 1
    img = Image.new("RGB", size, (250, 250, 250) if light else (30, 32, 36))
    draw = ImageDraw.Draw(img)
    ink = (20, 20, 20) if light else (220, 220, 220)
    draw.rectangle((0, 0, w, h // 14), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    font = ImageFont.load_default(size=int(rng.integers(14, 26)))
    y = h // 12
    while y < h - 20:
        draw.text((int(rng.integers(10, 60)), y), " ".join(rng.choice(_WORDS, int(rng.integers(4, 14)))),
                  fill=ink, font=font)
        y += int(rng.integers(22, 40))
    return img


def picture(kind: str, i: int, size: tuple[int, int] | None = None) -> Image.Image:
    """The ``i``-th picture of a kind (deterministic), at ``size`` or at one of :data:`SIZES` in turn."""
    size = size or SIZES[i % len(SIZES)]
    if kind == "photo":
        return photo(PHOTOS[i % len(PHOTOS)], size, i)
    return {"drawing": drawing, "flat": flat, "screenshot": screenshot}[kind](1000 + i, size)


def varied(per_kind: int, size: tuple[int, int] | None = None) -> list[tuple[str, Image.Image]]:
    """``per_kind`` pictures of each kind, named ``kind-i``."""
    return [(f"{kind}-{i}", picture(kind, i, size)) for kind in KINDS for i in range(per_kind)]


def encode(img: Image.Image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, "JPEG", quality=quality)
    else:
        img.save(out, fmt)
    return out.getvalue()
