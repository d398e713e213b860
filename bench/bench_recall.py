"""Recall of edited copies against a bank, and false matches on distractors (issue 10).

    python bench/bench_recall.py borders [--generated 30] [--distractors 150]
    python bench/bench_recall.py crops   [--generated 30] [--distractors 150] [--bank 100000] [--held N] [--windows N]
    python bench/bench_recall.py curve   # bits moved per % of shift and of scale
    python bench/bench_recall.py windows # how the crop windows were chosen (greedy cover on tuning pictures)
    python bench/bench_recall.py edits   [--generated 30]      # which edits PDQ alone survives (docs/pdq-edits.md)

Originals: the scikit-image sample photos (20) and ``--generated`` benign generated pictures of two
families (``bastion.demo.generated_pattern`` and smooth colour fields with shapes). Each original is saved as
a JPEG (quality 95), hashed by ``bastion.scan.examine_file`` and put into a bank — for ``crops`` through
``bastion.banks.from_files.add_files``, so the bank also holds its derived sub-region entries.
Distractors: other generated pictures (other seeds), none in the bank; for ``borders`` each also gets a
bordered copy, so the trimmed hashes of unrelated pictures are tested too.

Copies, every one a JPEG at quality 75–90 made here:

* ``borders``: a border of 2, 5, 8, 11 or 15 % of the side, white, black, mid grey or a random colour, on
  all four sides, top and bottom only (letterbox) or left and right only (pillarbox).
* ``crops``: 5–10 % of the picture cut off: *anchored* (centred, from one corner, or from one side),
  *free* (the same share off both axes, each axis's share split at random between its two edges) and
  *free-xy* (each axis its own share, split at random); then resized back to the original size or not.

Every query goes through the real path: ``examine_file`` (reduced decode, 8 dihedral PDQ, trimmed hashes)
then ``Matcher.match`` on a SQLite store. A hit counts when the copy's match names its own original within
the bank's threshold (31); a false match is a distractor matching anything, or a copy matching another
original. ``crops`` also measures lookups/s of the matcher with and without the derived entries, on a bank
padded with ``--bank`` random PDQ hashes (and derived entries in proportion), and the index size.

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.demo import generated_pattern
from bastion.model import Bank, HashEntry
from bastion.scan import examine_file
from bastion.store.db import open_store

SAMPLES = ("astronaut", "brick", "camera", "cat", "clock", "coffee", "coins", "colorwheel", "grass", "gravel",
           "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text",
           "cell", "stereo_motorcycle")


def sample(name: str) -> Image.Image:
    import skimage.data

    a = getattr(skimage.data, name)()
    if isinstance(a, tuple):
        a = a[0]
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[:, :, :3].astype(np.uint8))


def colour_field(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A second family of benign generated pictures: a smooth random colour field with shapes on it."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        w, h = (int(v) for v in rng.integers(20, 200, 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x0 + w, y0 + h], fill=fill)
    return img


def generated(seed: int) -> Image.Image:
    return generated_pattern(seed) if seed % 2 else colour_field(seed)


def jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def bordered(img: Image.Image, frac: float, colour, sides: str) -> Image.Image:
    w, h = img.size
    bw = 0 if sides == "letterbox" else max(1, round(frac * w))
    bh = 0 if sides == "pillarbox" else max(1, round(frac * h))
    out = Image.new("RGB", (w + 2 * bw, h + 2 * bh), colour)
    out.paste(img, (bw, bh))
    return out


ANCHORS = {
    "centre": (0.5, 0.5), "top-left": (0.0, 0.0), "top-right": (1.0, 0.0), "bottom-left": (0.0, 1.0),
    "bottom-right": (1.0, 1.0), "left": (0.0, None), "right": (1.0, None), "top": (None, 0.0), "bottom": (None, 1.0),
}


def cropped(img: Image.Image, frac: float, where: str, resize: bool, rng: np.random.Generator | None = None) -> Image.Image:
    """Cut ``frac`` of the picture off each cut axis and keep the part at ``where``: one of
    :data:`ANCHORS` (centred zoom, a corner, one side), or ``"free"``: each axis cut at a random split
    between its two edges (the hard case: no anchor to line up with)."""
    w, h = img.size
    if where == "free":
        a, b = rng.uniform(0, frac), rng.uniform(0, frac)
        box = (w * a, h * b, w * (1 - (frac - a)), h * (1 - (frac - b)))
    else:
        ax, ay = ANCHORS[where]
        kw = w if ax is None else w * (1 - frac)
        kh = h if ay is None else h * (1 - frac)
        x0 = (w - kw) * (0.5 if ax is None else ax)
        y0 = (h - kh) * (0.5 if ay is None else ay)
        box = (x0, y0, x0 + kw, y0 + kh)
    out = img.crop(tuple(round(v) for v in box))
    return out.resize((w, h), Image.BILINEAR) if resize else out


def cropped_xy(img: Image.Image, fx: float, fy: float, resize: bool, rng: np.random.Generator) -> Image.Image:
    """A free crop whose two axes lose different shares (``fx`` of the width, ``fy`` of the height), each
    split at random between its two edges: the aspect ratio changes too, unless resized back."""
    w, h = img.size
    a, b = rng.uniform(0, fx), rng.uniform(0, fy)
    out = img.crop(tuple(round(v) for v in (w * a, h * b, w * (1 - (fx - a)), h * (1 - (fy - b)))))
    return out.resize((w, h), Image.BILINEAR) if resize else out


class Bench:
    def __init__(self, tmp: Path, part: str, n_generated: int, n_distractors: int, windows: int | None = None):
        self.tmp = tmp
        self.windows = windows
        self.part = part
        self.originals = {name: sample(name) for name in SAMPLES}
        self.originals.update({f"gen{s}": generated(s) for s in range(1, n_generated + 1)})
        self.distractors = {f"dis{s}": generated(s) for s in range(5000, 5000 + n_distractors)}
        self.store = open_store(f"sqlite:///{tmp / 'bench.db'}")
        self.repo = BankRepository(self.store)
        self.repo.create(Bank("known", "test"))
        self.quality: dict[str, int] = {}

    def write(self, name: str, data: bytes) -> str:
        p = self.tmp / f"{name}.jpg"
        p.write_bytes(data)
        return str(p)

    def build_bank(self) -> float:
        t0 = time.perf_counter()
        if self.part in ("crops", "edits"):
            from bastion.banks.from_files import add_files, derivations

            paths = [Path(self.write(f"orig-{k}", jpeg(img, 95))) for k, img in self.originals.items()]
            which = derivations(self.windows) if self.windows is not None else None
            res = add_files(self.repo, "known", paths, labels={p: p.stem[5:] for p in paths}, which=which)
            for p in paths:
                self.quality[p.stem[5:]] = examine_file(str(p), provenance=False).quality
        else:
            entries = []
            for k, img in self.originals.items():
                r = examine_file(self.write(f"orig-{k}", jpeg(img, 95)), provenance=False)
                entries.append(HashEntry("pdq", r.pdq, k))
                self.quality[k] = r.quality
            self.repo.add_entries("known", entries)
        return time.perf_counter() - t0

    def query(self, matcher: Matcher, path: str):
        r = examine_file(path, provenance=False)
        ms = matcher.match(
            {}, r.pdq_variants or None, r.quality,
            trimmed_variants=r.trimmed_variants or None,
            trimmed_quality=r.trimmed["quality"] if r.trimmed else None,
        )
        return r, ms

    def copies(self):
        rng = np.random.default_rng(7)
        if self.part == "borders":
            colours = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128)}
            for k, img in self.originals.items():
                for frac in (0.02, 0.05, 0.08, 0.11, 0.15):
                    for cname in ("white", "black", "grey", "colour"):
                        colour = colours.get(cname) or tuple(int(v) for v in rng.integers(0, 256, 3))
                        sides = ("all", "letterbox", "pillarbox")[int(rng.integers(0, 3))]
                        q = int(rng.integers(75, 91))
                        yield k, f"{frac:.2f}/{cname}/{sides}", jpeg(bordered(img, frac, colour, sides), q)
        elif self.part == "edits":
            from PIL import ImageFilter, ImageOps

            for k, img in self.originals.items():
                w, h = img.size
                edits = {
                    "resize to 50 %": img.resize((w // 2, h // 2), Image.BILINEAR),
                    "JPEG quality 40": img,
                    "grayscale": ImageOps.grayscale(img).convert("RGB"),
                    "gaussian blur r=2": img.filter(ImageFilter.GaussianBlur(2)),
                    "mirror left-right": ImageOps.mirror(img),
                    "rotate 90": img.transpose(Image.Transpose.ROTATE_90),
                    "brightness +20 %": img.point(lambda v: min(255, int(v * 1.2))),
                    "rotate 5 degrees": img.rotate(5, resample=Image.BILINEAR, expand=False),
                    "border 8 % white": bordered(img, 0.08, (255, 255, 255), "all"),
                    "letterbox 12 % black": bordered(img, 0.12, (0, 0, 0), "letterbox"),
                    "crop 5 % centred": cropped(img, 0.05, "centre", False),
                    "crop 8 % one corner": cropped(img, 0.08, "top-left", False),
                    "crop 8 % free": cropped(img, 0.08, "free", False, rng),
                    "crop 8 % + border 5 %": bordered(cropped(img, 0.08, "centre", False), 0.05, (255, 255, 255), "all"),
                }
                for name, out in edits.items():
                    yield k, name, jpeg(out, 40 if name.startswith("JPEG") else 85)
        else:
            rng_xy = np.random.default_rng(8)  # its own stream: the anchored and free copies stay as they were
            for k, img in self.originals.items():
                for _ in range(6):
                    fx, fy = (float(v) for v in rng_xy.uniform(0.05, 0.10, 2))
                    resize = bool(rng_xy.integers(0, 2))
                    q = int(rng_xy.integers(75, 91))
                    desc = f"free-xy/{fx:.3f}x{fy:.3f}/{'resized' if resize else 'kept'}"
                    yield k, desc, jpeg(cropped_xy(img, fx, fy, resize, rng_xy), q)
                wheres = [list(ANCHORS)[int(rng.integers(0, len(ANCHORS)))] for _ in range(12)] + ["free"] * 6
                for where in wheres:
                    frac = float(rng.uniform(0.05, 0.10))
                    resize = bool(rng.integers(0, 2))
                    q = int(rng.integers(75, 91))
                    group = "free" if where == "free" else "anchored"
                    desc = f"{group}/{frac:.3f}/{where}/{'resized' if resize else 'kept'}"
                    yield k, desc, jpeg(cropped(img, frac, where, resize, rng), q)

    def distractor_files(self):
        rng = np.random.default_rng(11)
        for k, img in self.distractors.items():
            yield k, jpeg(img, int(rng.integers(75, 91)))
            if self.part == "borders":
                colour = tuple(int(v) for v in rng.integers(0, 256, 3)) if rng.random() < 0.5 else (255, 255, 255)
                yield k + "-bordered", jpeg(bordered(img, float(rng.uniform(0.02, 0.15)), colour, "all"), 85)


def run_quality(args) -> dict:
    with tempfile.TemporaryDirectory() as d:
        b = Bench(Path(d), args.part, args.generated, args.distractors, args.windows)
        build_s = b.build_bank()
        matcher = Matcher.from_store(b.store)
        hits = hits_plain = total = wrong = 0
        flat = {k for k, q in b.quality.items() if q < 50}  # not matchable even unedited (bank min quality)
        flat_total = flat_hits = 0
        kinds: Counter = Counter()
        misses: list[str] = []
        by_group: dict[str, list[int]] = {}
        t0 = time.perf_counter()
        for k, desc, data in b.copies():
            r, ms = b.query(matcher, b.write("copy", data))
            mine = [m for m in ms if m.label == k]
            if any(m.label != k for m in ms):
                wrong += 1
            if k in flat:
                flat_total += 1
                flat_hits += bool(mine)
                continue
            total += 1
            group = desc if args.part == "edits" else desc.split("/")[0]
            g = by_group.setdefault(group, [0, 0, 0])
            g[1] += 1
            if any(m.kind == "pdq" for m in mine):
                g[2] += 1  # the whole picture's 8 dihedral hashes alone: what PDQ does without Bastion's help
            if mine:
                hits += 1
                g[0] += 1
                kinds[mine[0].kind] += 1
                if mine[0].kind == "pdq":
                    hits_plain += 1
            else:
                misses.append(f"{k} {desc}")
        copies_s = time.perf_counter() - t0
        false = 0
        n_dis = 0
        false_list = []
        for k, data in b.distractor_files():
            n_dis += 1
            _, ms = b.query(matcher, b.write("dis", data))
            if ms:
                false += 1
                false_list.append(f"{k}: {ms[0].label} {ms[0].kind} d={ms[0].distance}")
        out = {
            "part": args.part,
            "originals": len(b.originals),
            "originals_below_quality_50": sorted(flat),
            "their_copies_matched": f"{flat_hits}/{flat_total}",
            "bank_pdq_entries": matcher.pdq_entries,
            "bank_derived_entries": matcher.derived_entries,
            "windows_per_image": args.windows if args.windows is not None else "default",
            "copies": total,
            "recall": round(hits / total, 4),
            "recall_whole_picture_only": round(hits_plain / total, 4),
            "recall_by_group": {g: f"{v[0]}/{v[1]} = {v[0] / v[1]:.3f} (whole picture alone {v[2] / v[1]:.3f})"
                                for g, v in by_group.items()},
            "matched_by": dict(kinds),
            "recall_anchored_and_free": (
                round(sum(by_group[g][0] for g in ("anchored", "free")) / sum(by_group[g][1] for g in ("anchored", "free")), 4)
                if args.part == "crops" else None),
            "copies_matching_another_original": wrong,
            "distractor_files": n_dis,
            "distractors_matched": false,
            "false_matches": false_list[:10],
            "misses_by_original": dict(Counter(m.split()[0] for m in misses).most_common()),
            "misses": misses[:40],
            "ms_per_copy_query": round(copies_s / total * 1000, 1),
            "bank_build_s": round(build_s, 2),
        }
        b.store.close()
        return out


def run_lookups(args) -> dict:
    """Lookups/s and index size with and without derived entries, on a bank padded with random hashes."""
    from bastion.banks.from_files import DERIVATIONS, derivations

    rng = np.random.default_rng(3)
    n = args.bank
    DERIVATIONS = derivations(args.windows) if args.windows is not None else DERIVATIONS
    per = len(DERIVATIONS)
    originals = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    held = n if args.held is None else min(args.held, n)  # originals that have derived entries
    derived = rng.integers(0, 256, (held * per, 32), dtype=np.uint8)
    queries = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(args.queries)]
    res: dict = {}
    matchers: dict[str, Matcher] = {}
    with tempfile.TemporaryDirectory() as d:
        for with_derived in (False, True):
            store = open_store(f"sqlite:///{Path(d) / f'l{int(with_derived)}.db'}")
            repo = BankRepository(store)
            repo.create(Bank("pad", "test"))
            repo.add_entries("pad", (HashEntry("pdq", h.tobytes().hex()) for h in originals))
            if with_derived:
                from sqlalchemy import text

                with store.engine.begin() as c:
                    ids = [i for (i,) in c.execute(text("SELECT id FROM bank_entries ORDER BY id"))]
                    for a in range(0, held, 5000):  # in chunks: millions of parameter dicts at once would not fit
                        rows = [
                            {"b": 1, "v": derived[i * per + j].tobytes().hex(), "o": ids[i], "d": DERIVATIONS[j][0]}
                            for i in range(a, min(held, a + 5000)) for j in range(per)
                        ]
                        c.execute(
                            text("INSERT INTO bank_entries (bank_id, hash_type, value, derived_from, derivation, added_at) "
                                 "VALUES (:b, 'pdq', :v, :o, :d, CURRENT_TIMESTAMP)"),
                            rows,
                        )
            t0 = time.perf_counter()
            m = Matcher.from_store(store)
            load = time.perf_counter() - t0
            saved = Path(d) / f"index{int(with_derived)}.npz"
            m._index.save(saved)
            key = "with_derived" if with_derived else "originals_only"
            matchers[key] = m
            res[key] = {"pdq_entries": m.pdq_entries, "index_file_mb": round(saved.stat().st_size / 1e6, 1),
                        "load_s": round(load, 2)}
        # Realistic queries: 8 dihedral hashes per file, as a scan sends them. Interleaved rounds, median.
        names = ("original", "rot90", "rot180", "rot270", "flip_x", "flip_y", "flip_plus1", "flip_minus1")
        variants = [{n: queries[(i * 8 + j) % len(queries)] for j, n in enumerate(names)} for i in range(len(queries))]
        times: dict[str, list[float]] = {k: [] for k in matchers}
        for m in matchers.values():
            m.match({}, variants[0], 100)  # warm
        for _ in range(5):
            for key, m in matchers.items():
                t0 = time.perf_counter()
                for v in variants:
                    m.match({}, v, 100)
                times[key].append(time.perf_counter() - t0)
        for key, ts in times.items():
            res[key]["lookups_per_s"] = round(len(variants) / sorted(ts)[len(ts) // 2], 1)
        for m in matchers.values():
            m.store.close()
    res["originals_with_derived_entries"] = held
    res["index_file_growth"] = round(res["with_derived"]["index_file_mb"] / res["originals_only"]["index_file_mb"], 2)
    res["entries_growth"] = round(res["with_derived"]["pdq_entries"] / res["originals_only"]["pdq_entries"], 2)
    res["lookups_ratio"] = round(res["with_derived"]["lookups_per_s"] / res["originals_only"]["lookups_per_s"], 3)
    return res


def _pdq_bits(img: Image.Image) -> tuple[np.ndarray, int]:
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(img, dtype=np.uint8)))
    return np.packbits(np.asarray(bits, dtype=np.uint8)), int(quality)


def _reduced(data: bytes) -> Image.Image:
    """The decode a scan (and a bank's sub-regions) hash: JPEG DCT scaling down to a 512 px short side."""
    from bastion.media.decode import decode_rgb
    from bastion.media.hashing import PDQ_FAST_MIN_SIDE

    return decode_rgb(data, min_side=PDQ_FAST_MIN_SIDE).image


def _box(size: tuple[int, int], cut: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    w, h = size
    left, top, right, bottom = cut
    return round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))


def run_curve(args) -> dict:
    """How many bits PDQ moves per % of shift and of scale: the window centred at 92.5 % of each side (hashed
    as a bank's sub-region is) against copies whose edges are moved by d % of the side (then cropped from
    the full picture, half resized back, JPEG 75–90, hashed as a scan does). Median, 75th percentile and the
    share within 31 bits, over the matchable originals."""
    moves = {  # (left, top, right, bottom) edge moves, in units of d: + cuts more on that side
        "one edge": (1, 0, 0, 0),
        "two edges (left and top)": (1, 1, 0, 0),
        "zoom (both ends of both axes, d/2 each)": (0.5, 0.5, 0.5, 0.5),
        "shift along one axis": (1, 0, -1, 0),
        "shift along both axes": (1, 1, -1, -1),
    }
    steps = (0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04)
    base = (0.0375,) * 4
    rng = np.random.default_rng(5)
    originals = {name: sample(name) for name in SAMPLES}
    originals.update({f"gen{s}": generated(s) for s in range(1, args.generated + 1)})
    dist: dict[str, dict[float, list[int]]] = {k: {d: [] for d in steps} for k in moves}
    for img in originals.values():
        data = jpeg(img, 95)
        ref = _reduced(data)
        window, quality = _pdq_bits(ref.crop(_box(ref.size, base)))
        if quality < 50:
            continue
        for kind, unit in moves.items():
            for d in steps:
                copy = img.crop(_box(img.size, tuple(b + u * d for b, u in zip(base, unit))))
                if rng.random() < 0.5:
                    copy = copy.resize(img.size, Image.BILINEAR)
                got, _ = _pdq_bits(_reduced(jpeg(copy, int(rng.integers(75, 91)))))
                dist[kind][d].append(int(np.unpackbits(window ^ got).sum()))
    out = {}
    for kind, by_d in dist.items():
        out[kind] = {f"{d * 100:g} %": {"median": float(np.median(v)), "p75": float(np.percentile(v, 75)),
                                         "within_31": round(float(np.mean(np.array(v) <= 31)), 2)}
                     for d, v in by_d.items()}
    out["originals_used"] = len(next(iter(dist.values()))[steps[0]])
    return out


def run_windows(args) -> dict:
    """How :data:`bastion.banks.from_files.WINDOWS` was chosen (and can be re-chosen).

    Tuning pictures: generated ones with seeds ``--tune-from`` .. + ``--tune-count`` (not the recall bench's
    pictures, which stay held out). For each, the PDQ of every candidate window (each side cut by 0–11 % on
    a 1 % grid, per axis nothing cut or 4–11 % in all: 4,760 windows) and of 45 copies: 20 free crops (same
    share off both axes), 10 free crops with the axes cut independently, 15 anchored crops, all 5–10 %, half
    resized back, JPEG 75–90. Hashed at a 256 px short side for speed (the recall bench checks the choice at
    the real 512 px). A copy is covered by a window within ``--radius`` bits (29: a margin below 31).
    Greedy: repeatedly add the symmetry orbit of windows (mirrors left/right, top/bottom, sides swapped)
    that covers the most not yet covered copies per window added."""
    rng = np.random.default_rng(99)
    pairs = [(0, 0)] + [(a, s - a) for s in range(4, 12) for a in range(0, s + 1)]
    windows = [(x, y) for x in pairs for y in pairs if not (x == (0, 0) and y == (0, 0))]

    def small(img: Image.Image) -> Image.Image:
        w, h = img.size
        f = 256 / min(w, h)
        return img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR)

    rows, kinds = [], []
    for seed in range(args.tune_from, args.tune_from + args.tune_count):
        img = generated(seed)
        ref = small(_reduced(jpeg(img, 95)))
        wh, wq = [], []
        for (lx, rx), (ty, by) in windows:
            h, q = _pdq_bits(ref.crop(_box(ref.size, (lx / 100, ty / 100, rx / 100, by / 100))))
            wh.append(h)
            wq.append(q)
        wbits = np.unpackbits(np.array(wh), axis=1).astype(np.float32)
        for i in range(45):
            if i < 20:
                copy, kind = cropped(img, float(rng.uniform(0.05, 0.10)), "free", False, rng), "free"
            elif i < 30:
                fx, fy = (float(v) for v in rng.uniform(0.05, 0.10, 2))
                copy, kind = cropped_xy(img, fx, fy, False, rng), "free-xy"
            else:
                where = list(ANCHORS)[int(rng.integers(0, len(ANCHORS)))]
                copy, kind = cropped(img, float(rng.uniform(0.05, 0.10)), where, False), "anchored"
            if rng.random() < 0.5:
                copy = copy.resize(img.size, Image.BILINEAR)
            q, _ = _pdq_bits(small(_reduced(jpeg(copy, int(rng.integers(75, 91))))))
            qbits = np.unpackbits(q).astype(np.float32)
            d = qbits @ (1 - wbits).T + (1 - qbits) @ wbits.T
            rows.append((d <= args.radius) & (np.array(wq) >= 50))
            kinds.append(kind)
    cover = np.array(rows)
    kinds_a = np.array(kinds)

    def orbit(w):
        (lx, rx), (ty, by) = w
        out = set()
        for a, b in (((lx, rx), (ty, by)), ((ty, by), (lx, rx))):
            for fa in (a, a[::-1]):
                for fb in (b, b[::-1]):
                    out.add((fa, fb))
        return frozenset(out)

    index = {w: i for i, w in enumerate(windows)}
    orbits = list({orbit(w): None for w in windows})
    covered = np.zeros(len(cover), bool)
    chosen: list[int] = []
    steps = []
    while len(chosen) < args.max_windows:
        best = max(((int((cover[:, [index[w] for w in o]].any(1) & ~covered).sum()) / len(o), o)
                    for o in orbits if index[next(iter(o))] not in chosen), key=lambda t: t[0], default=(0, None))
        if best[0] <= 0:
            break
        cols = sorted(index[w] for w in best[1])
        chosen += cols
        covered |= cover[:, cols].any(1)
        steps.append({"windows": len(chosen), **{k: round(float(covered[kinds_a == k].mean()), 3) for k in sorted(set(kinds))}})
    as_cuts = [(lx, ty, rx, by) for (lx, rx), (ty, by) in (windows[i] for i in chosen)]
    return {"tuning_pictures": args.tune_count, "copies": len(cover), "radius": args.radius,
            "coverage_by_size": steps, "windows_left_top_right_bottom": as_cuts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=("borders", "crops", "edits", "curve", "windows"))
    ap.add_argument("--generated", type=int, default=30)
    ap.add_argument("--distractors", type=int, default=150)
    ap.add_argument("--bank", type=int, default=100_000, help="crops: random originals padding the lookup bench (0: skip it)")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--held", type=int, default=None,
                    help="crops: only this many of the --bank originals get derived entries (default: all)")
    ap.add_argument("--windows", type=int, default=None,
                    help="crops: store only the first N windows of bastion.banks.from_files.WINDOWS (default: as shipped)")
    ap.add_argument("--tune-from", type=int, default=101, help="windows: first seed of the tuning pictures")
    ap.add_argument("--tune-count", type=int, default=30)
    ap.add_argument("--radius", type=int, default=29, help="windows: a copy is covered within this many bits")
    ap.add_argument("--max-windows", type=int, default=62)
    args = ap.parse_args()
    if args.part in ("curve", "windows"):
        out = {"machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "part": args.part}
        out.update(run_curve(args) if args.part == "curve" else run_windows(args))
        print(json.dumps(out))
        return
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out.update(run_quality(args))
    if args.part == "crops" and args.bank > 0:
        out["lookups"] = run_lookups(args)
    for line in out.get("misses", []):
        print("miss:", line, file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
