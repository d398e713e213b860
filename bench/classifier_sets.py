"""Benign image sets for calibrating and evaluating the image classifiers (issue 24). Nothing is downloaded.

* ``photos()``: the photographs scikit-image ships in ``skimage/data`` (a cat, an astronaut, coffee, coins,
  the moon, a rocket, bricks, grass ...), each in several crops, sizes and JPEG qualities, plus LFW face
  thumbnails (``lfw_subset.npy``, 200 grey 25x25 faces) tiled into grids. Labelled photographic.
* ``drawings()``: pictures made here with Pillow/numpy — flat-colour scenes (sky, ground, sun, houses,
  trees, figures made of shapes), line art, charts, text, logos, pixel art, smoothly shaded renders,
  posterised photos — plus the drawn images skimage ships (``horse``, ``logo``, ``phantom``, ``chessboard``,
  ``color``); some saved as JPEG, as platforms re-encode. Labelled drawn/rendered.

Every image is encoded bytes (PNG or JPEG) with a label and a name, deterministic for a seed. Benign only.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    photo: bool  # True: photographic; False: drawn or rendered


def _encode(im: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.convert("RGB").save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, "PNG")
    return buf.getvalue()


def _skimage_dir() -> str:
    import skimage

    return os.path.join(os.path.dirname(skimage.__file__), "data")


#: Photographs shipped in skimage/data (colour and grey).
PHOTO_FILES = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
               "coffee.png", "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
               "microaneurysms.png", "moon.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg",
               "rocket.jpg", "page.png", "text.png")
#: Drawn or rendered images shipped in skimage/data.
DRAWN_FILES = ("horse.png", "logo.png", "phantom.png", "chessboard_RGB.png", "color.png")


def photos(per_file: int = 6, seed: int = 1) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    base = _skimage_dir()
    for fname in PHOTO_FILES:
        im = Image.open(os.path.join(base, fname))
        im.load()
        im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
        w, h = im.size
        for i in range(per_file):
            share = rng.uniform(0.55, 1.0)
            cw, ch = max(64, int(w * share)), max(64, int(h * share))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = im.crop((x, y, x + cw, y + ch))
            scale = rng.choice([0.75, 1.0, 1.5, 2.0, 2.5])
            crop = crop.resize((max(64, int(cw * scale)), max(64, int(ch * scale))), Image.BICUBIC)
            fmt = "JPEG" if i % 2 == 0 else "PNG"
            yield Sample(f"{fname}#{i}", _encode(crop, fmt, int(rng.integers(60, 96))), True)
    faces = np.load(os.path.join(base, "lfw_subset.npy"))  # (200, 25, 25) floats 0..1: face photographs
    for i in range(0, 100, 10):
        tiles = (faces[i:i + 10] * 255).astype(np.uint8)
        grid = np.vstack([np.hstack(list(tiles[:5])), np.hstack(list(tiles[5:10]))])
        im = Image.fromarray(grid).resize((125 * 5, 125 * 2), Image.BICUBIC)
        yield Sample(f"lfw-grid#{i}", _encode(im, "JPEG", 90), True)


def _palette(rng) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(8)]


def _scene(rng, w: int, h: int) -> Image.Image:
    """A flat-colour cartoon scene: sky, ground, sun, houses, trees and figures made of shapes."""
    pal = _palette(rng)
    im = Image.new("RGB", (w, h), pal[0])
    d = ImageDraw.Draw(im)
    horizon = int(h * rng.uniform(0.45, 0.75))
    d.rectangle([0, horizon, w, h], fill=pal[1])
    r = int(min(w, h) * rng.uniform(0.05, 0.12))
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, horizon - r if horizon > 2 * r else r + 1))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 220, 60), outline=(0, 0, 0), width=2)
    for _ in range(int(rng.integers(1, 4))):  # houses
        hw = int(w * rng.uniform(0.1, 0.2))
        x0 = int(rng.integers(0, max(1, w - hw)))
        y0 = horizon - int(hw * 0.8)
        d.rectangle([x0, y0, x0 + hw, horizon], fill=pal[2], outline=(0, 0, 0), width=3)
        d.polygon([(x0 - 5, y0), (x0 + hw // 2, y0 - hw // 2), (x0 + hw + 5, y0)], fill=pal[3], outline=(0, 0, 0))
        d.rectangle([x0 + hw // 3, horizon - hw // 3, x0 + 2 * hw // 3, horizon], fill=pal[4], outline=(0, 0, 0))
    for _ in range(int(rng.integers(1, 5))):  # trees
        tx = int(rng.integers(0, w))
        d.rectangle([tx - 6, horizon - 40, tx + 6, horizon + 10], fill=(110, 70, 30), outline=(0, 0, 0))
        d.ellipse([tx - 30, horizon - 90, tx + 30, horizon - 30], fill=(40, 150, 60), outline=(0, 0, 0), width=2)
    for _ in range(int(rng.integers(0, 3))):  # stick figures: a head and a body of shapes
        fx, fy = int(rng.integers(20, w - 20)), horizon + int(rng.integers(10, max(11, h - horizon - 60)))
        d.ellipse([fx - 12, fy - 50, fx + 12, fy - 26], fill=(240, 200, 170), outline=(0, 0, 0), width=2)
        d.rectangle([fx - 14, fy - 26, fx + 14, fy + 10], fill=pal[5], outline=(0, 0, 0), width=2)
        d.line([fx - 8, fy + 10, fx - 10, fy + 40], fill=(0, 0, 0), width=4)
        d.line([fx + 8, fy + 10, fx + 10, fy + 40], fill=(0, 0, 0), width=4)
    return im


def _line_art(rng, w: int, h: int) -> Image.Image:
    im = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(10, 40))):
        pts = [tuple(int(v) for v in (rng.integers(0, w), rng.integers(0, h))) for _ in range(int(rng.integers(2, 6)))]
        d.line(pts, fill=(0, 0, 0), width=int(rng.integers(1, 5)))
    for _ in range(int(rng.integers(2, 8))):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(10, 80))
        d.ellipse([x - r, y - r, x + r, y + r], outline=(0, 0, 0), width=2)
    return im


def _chart(rng, w: int, h: int) -> Image.Image:
    im = Image.new("RGB", (w, h), (250, 250, 250))
    d = ImageDraw.Draw(im)
    pal = _palette(rng)
    n = int(rng.integers(3, 12))
    bw = (w - 80) // n
    for i in range(n):
        bh = int(rng.integers(20, h - 80))
        d.rectangle([40 + i * bw, h - 40 - bh, 40 + (i + 1) * bw - 6, h - 40], fill=pal[i % 8])
    d.line([40, 20, 40, h - 40, w - 20, h - 40], fill=(0, 0, 0), width=2)
    for i in range(6):
        d.text((5, 20 + i * (h - 60) // 6), f"{(6 - i) * 10}", fill=(0, 0, 0))
    return im


def _text_page(rng, w: int, h: int) -> Image.Image:
    im = Image.new("RGB", (w, h), (255, 255, 250))
    d = ImageDraw.Draw(im)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "report", "table", "value", "north", "river", "garden"]
    y = 10
    while y < h - 15:
        d.text((10, y), " ".join(words[int(i)] for i in rng.integers(0, len(words), 10)), fill=(20, 20, 20))
        y += 14
    return im


def _pixel_art(rng, w: int, h: int) -> Image.Image:
    small = rng.integers(0, 6, (int(h / 16), int(w / 16)))
    pal = np.array(_palette(rng)[:6], dtype=np.uint8)
    return Image.fromarray(pal[small]).resize((w, h), Image.NEAREST)


def _shaded(rng, w: int, h: int) -> Image.Image:
    """A smoothly shaded render: a background gradient and lit spheres (no texture, no noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = (yy / h)[..., None]
    img = (top * (1 - t) + bottom * t).astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.1, 0.25) * min(w, h)
        colour = rng.integers(40, 256, 3).astype(np.float32)
        dx, dy = (xx - cx) / r, (yy - cy) / r
        inside = dx * dx + dy * dy <= 1
        nz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0, 1))
        light = np.clip(-0.5 * dx - 0.5 * dy + 0.7 * nz, 0.1, 1.0)
        img[inside] = (colour * light[..., None])[inside]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _posterised_photo(rng) -> Image.Image:
    """A skimage photograph posterised to a few flat colours with outlines: a "cel-shaded" drawing of it."""
    base = _skimage_dir()
    fname = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")[int(rng.integers(0, 5))]
    im = Image.open(os.path.join(base, fname)).convert("RGB")
    smooth = im.filter(ImageFilter.MedianFilter(7)).filter(ImageFilter.ModeFilter(9))
    flat = smooth.quantize(int(rng.integers(4, 10)), dither=Image.Dither.NONE).convert("RGB")
    edges = smooth.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    out = flat.copy()
    out.paste((0, 0, 0), mask=edges)
    return out


_MAKERS = (_scene, _scene, _scene, _line_art, _chart, _text_page, _pixel_art, _shaded)


def drawings(n: int = 150, seed: int = 2) -> Iterator[Sample]:
    rng = np.random.default_rng(seed)
    base = _skimage_dir()
    for fname in DRAWN_FILES:
        im = Image.open(os.path.join(base, fname)).convert("RGB")
        yield Sample(f"{fname}", _encode(im, "PNG"), False)
        yield Sample(f"{fname}#jpeg", _encode(im, "JPEG", 85), False)
    for i in range(n):
        w, h = int(rng.integers(320, 1280)), int(rng.integers(320, 1024))
        if i % 10 == 9:
            im, kind = _posterised_photo(rng), "posterised"
        else:
            maker = _MAKERS[i % len(_MAKERS)]
            im, kind = maker(rng, w, h), maker.__name__.strip("_")
        fmt = "JPEG" if i % 3 == 0 else "PNG"
        yield Sample(f"{kind}#{i}", _encode(im, fmt, int(rng.integers(70, 96))), False)


def one_megapixel_jpeg(seed: int = 3) -> bytes:
    """A 1 MP (1155x866) JPEG of a skimage photograph, for per-image cost."""
    im = Image.open(os.path.join(_skimage_dir(), "chelsea.png")).convert("RGB").resize((1155, 866), Image.BICUBIC)
    return _encode(im, "JPEG", 90)


def all_samples() -> list[Sample]:
    return list(photos()) + list(drawings())


if __name__ == "__main__":  # a count of each set
    s = all_samples()
    print(f"{sum(x.photo for x in s)} photographic, {sum(not x.photo for x in s)} drawn/rendered")
