"""`similar-to-confirmed` on benign generated series (issue 24, point 3).

A *series* is one benign scene rendered again with small changes — what a generator makes from one prompt
and seed: shapes shifted, colours jittered, the frame re-cropped, a seed-like re-draw (sizes and colours a
little different, an object added or dropped), re-encoded. Bases are generated landscapes (gradient sky,
ground, sun, houses, trees, clouds), flat-colour shape art, pen drawings, and scikit-image's bundled sample
photos. Everything is made here with numpy/Pillow; nothing is downloaded.

The confirmed index holds each series' **base image only** (a case with one confirmed image: the hard case),
measured with the whole-image PDQ alone and with the nine windows confirmation adds
(``bastion.cases.similar.WINDOWS``), plus ``--extra-confirmed`` other generated images (a fuller index, as a
platform's confirmed set grows); every other member is a query. The unrelated set is made by the same generators from other seeds (and the
other half of the sample photos, and their own variants), so it shares the series' style: the honest
false-positive test. A query is *surfaced* when any confirmed image lies within the radius; a series member
counts as found only when its own base is among those.

Hashes are Bastion's intake PDQ (``bastion.media.hashing.pdq_hash``, the fast path the service uses) of JPEG
bytes; the search is :class:`bastion.cases.similar.ConfirmedIndex`'s (the bank index's kernel).

    .venv/bin/python bench/bench_similar.py [--set tuning|heldout] [--series 60] [--members 8] [--unrelated 1200]

Ends with one JSON line of figures (bench/RESULTS.md, "Likeness to confirmed material").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

sys.path.insert(0, os.path.dirname(__file__))
import varied_images  # noqa: E402

RADII = (31, 48, 56, 64, 70, 76, 80, 84, 88, 92)
# colour photos and textures of scikit-image's data; split in two: series bases and unrelated
PHOTOS_A = ("coffee", "chelsea", "rocket", "astronaut", "hubble_deep_field", "retina", "coins", "camera")
PHOTOS_B = ("immunohistochemistry", "brick", "grass", "gravel", "moon", "horse", "page", "text")


# --- scenes ------------------------------------------------------------------------------------------


def scene_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    objs = []
    for _ in range(int(rng.integers(3, 8))):
        kind = str(rng.choice(["house", "tree", "cloud", "rock"]))
        objs.append({"kind": kind, "x": float(rng.uniform(0.05, 0.9)), "y": float(rng.uniform(0.35, 0.8)) if kind != "cloud" else float(rng.uniform(0.05, 0.3)),
                     "s": float(rng.uniform(0.08, 0.22)), "c": [int(v) for v in rng.integers(20, 235, 3)]})
    return {"sky0": [int(v) for v in rng.integers(60, 250, 3)], "sky1": [int(v) for v in rng.integers(60, 250, 3)],
            "ground": [int(v) for v in rng.integers(20, 200, 3)], "horizon": float(rng.uniform(0.45, 0.7)),
            "sun": (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.08, 0.3)), float(rng.uniform(0.04, 0.1))),
            "objs": objs}


def render(p: dict, size: tuple[int, int]) -> Image.Image:
    w, h = size
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array(p["sky0"])[None, None, :] * (1 - t) + np.array(p["sky1"])[None, None, :] * t)
    arr = np.broadcast_to(sky, (h, w, 3)).astype(np.uint8).copy()
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    hy = int(p["horizon"] * h)
    d.rectangle((0, hy, w, h), fill=tuple(p["ground"]))
    sx, sy, sr = p["sun"]
    d.ellipse((int((sx - sr) * w), int(sy * h - sr * w), int((sx + sr) * w), int(sy * h + sr * w)), fill=(250, 230, 120))
    for o in p["objs"]:
        x, y, s, c = int(o["x"] * w), int(o["y"] * h), int(o["s"] * w), tuple(o["c"])
        if o["kind"] == "house":
            d.rectangle((x, y, x + s, y + int(s * 0.8)), fill=c)
            d.polygon([(x - s // 8, y), (x + s // 2, y - s // 2), (x + s + s // 8, y)], fill=(c[2], c[0], c[1]))
        elif o["kind"] == "tree":
            d.rectangle((x + s // 3, y, x + s // 2, y + s), fill=(90, 60, 30))
            d.ellipse((x, y - s, x + s - s // 6, y + s // 4), fill=c)
        elif o["kind"] == "cloud":
            d.ellipse((x, y, x + s * 2, y + s // 2), fill=(245, 245, 250))
        else:
            d.ellipse((x, y, x + s, y + s // 2), fill=c)
    return img


# --- variations: what a generator's series looks like ------------------------------------------------


def shifted(p: dict, rng, amount: float) -> dict:
    q = json.loads(json.dumps(p))
    for o in q["objs"]:
        o["x"] += float(rng.normal(0, amount))
        o["y"] += float(rng.normal(0, amount))
    q["sun"] = (q["sun"][0] + float(rng.normal(0, amount)), q["sun"][1], q["sun"][2])
    return q


def reseeded(p: dict, rng) -> dict:
    """A seed-like re-draw: sizes and colours a little different, an object dropped or added."""
    q = shifted(p, rng, 0.02)
    for o in q["objs"]:
        o["s"] *= float(rng.uniform(0.85, 1.15))
        o["c"] = [int(np.clip(v + rng.normal(0, 18), 0, 255)) for v in o["c"]]
    if len(q["objs"]) > 3 and rng.random() < 0.5:
        q["objs"].pop(int(rng.integers(0, len(q["objs"]))))
    elif rng.random() < 0.5:
        extra = scene_params(int(rng.integers(1 << 30)))["objs"][0]
        q["objs"].append(extra)
    q["horizon"] += float(rng.normal(0, 0.015))
    return q


def jitter(img: Image.Image, rng) -> Image.Image:
    a = np.asarray(img).astype(np.float32)
    gain = rng.uniform(0.85, 1.15, 3)
    off = rng.normal(0, 10, 3)
    img = Image.fromarray((a * gain + off).clip(0, 255).astype(np.uint8))
    return ImageEnhance.Color(img).enhance(float(rng.uniform(0.8, 1.25)))


def recrop(img: Image.Image, rng, lo: float = 0.85) -> Image.Image:
    w, h = img.size
    f = float(rng.uniform(lo, 0.97))
    cw, ch = int(w * f), int(h * f)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.BILINEAR)


def translate(img: Image.Image, rng, amount: float = 0.05) -> Image.Image:
    """For photos (no scene to re-render): the frame moved a little (edge pixels repeated)."""
    w, h = img.size
    dx, dy = int(rng.normal(0, amount) * w), int(rng.normal(0, amount) * h)
    a = np.asarray(img)
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return Image.fromarray(a[ys][:, xs])


def noise_blur(img: Image.Image, rng) -> Image.Image:
    a = np.asarray(img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))).astype(np.float32)
    return Image.fromarray((a + rng.normal(0, 4, a.shape)).clip(0, 255).astype(np.uint8))


def members(base_kind: str, key, size: tuple[int, int], n: int, seed: int) -> tuple[Image.Image, list[tuple[str, Image.Image]]]:
    """A base image and ``n`` members of its series, each named by the change it carries."""
    rng = np.random.default_rng(seed)
    if base_kind == "scene":
        p = scene_params(key)
        base = render(p, size)
        makers = [
            ("shift", lambda: render(shifted(p, rng, 0.03), size)),
            ("jitter", lambda: jitter(base, rng)),
            ("recrop", lambda: recrop(base, rng)),
            ("reseed", lambda: render(reseeded(p, rng), size)),
            ("reseed+jitter", lambda: jitter(render(reseeded(p, rng), size), rng)),
            ("shift+recrop", lambda: recrop(render(shifted(p, rng, 0.03), size), rng)),
            ("noise+blur", lambda: noise_blur(base, rng)),
            ("reseed+recrop+jitter", lambda: jitter(recrop(render(reseeded(p, rng), size), rng), rng)),
        ]
    else:
        base = base_image(base_kind, key, size)
        makers = [
            ("translate", lambda: translate(base, rng)),
            ("jitter", lambda: jitter(base, rng)),
            ("recrop", lambda: recrop(base, rng)),
            ("translate+jitter", lambda: jitter(translate(base, rng), rng)),
            ("recrop+jitter", lambda: jitter(recrop(base, rng), rng)),
            ("noise+blur", lambda: noise_blur(base, rng)),
            ("translate+recrop", lambda: recrop(translate(base, rng, 0.03), rng)),
            ("all", lambda: noise_blur(jitter(recrop(translate(base, rng, 0.03), rng), rng), rng)),
        ]
    out = [(makers[i % len(makers)][0], makers[i % len(makers)][1]()) for i in range(n)]
    return base, out


def base_image(kind: str, key, size: tuple[int, int]) -> Image.Image:
    if kind == "photo":
        return varied_images.photo(key, size, 7)
    if kind == "flat":
        return varied_images.flat(key, size)
    if kind == "drawing":
        return varied_images.drawing(key, size)
    if kind == "screenshot":
        return varied_images.screenshot(key, size)
    return render(scene_params(key), size)


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def hashes(img: Image.Image) -> dict:
    """What intake computes for an upload when the likeness check is on (and confirmation for a confirmed
    image): the PDQ of the JPEG's colour decode (possibly reduced), its window hashes and its colour layout."""
    from bastion.media.decode import DEFAULT_LIMITS, decode_rgb
    from bastion.media.hashing import PDQ_QUERY_MIN_SIDE, pdq_dihedral_fast
    from bastion.media.windows import MIN_QUALITY, layout_of, windows_of

    d = decode_rgb(jpeg(img), limits=DEFAULT_LIMITS, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=False)
    full = (d.width, d.height)
    variants, q = pdq_dihedral_fast(d.image, full)
    out = {"h": variants["original"], "q": q, "layout": layout_of(d.image)}
    out["w"] = windows_of(d.image, full, min_quality=MIN_QUALITY, whole=out["h"])
    return out


def pdq_of(img: Image.Image) -> tuple[str, int]:
    from bastion.media.hashing import pdq_hash

    h = pdq_hash(jpeg(img))
    return h.hash, h.quality


# --- the run -----------------------------------------------------------------------------------------


class _Index:
    """ConfirmedIndex's search over a prepared list (no database in a benchmark). ``layout_radius`` 0: PDQ
    alone, quality ≥ ``floor``; else the shipped two looks (bastion.cases.similar.ConfirmedIndex)."""

    def __init__(self, bases: list[dict], radius: int, *, windows: bool, floor: int = 50, layout_radius: int = 0,
                 layout_max: float | None = None):
        from bastion.cases.similar import LAYOUT_MAX_DISTANCE, ConfirmedIndex, ConfirmedRef, build_index

        self.ix = ConfirmedIndex(store=None, radius=radius, min_quality=floor, layout_radius=layout_radius,
                                 layout_max=LAYOUT_MAX_DISTANCE if layout_max is None else layout_max)
        refs = [(ConfirmedRef(i + 1, i + 1, None, i + 1, f"base-{i}", 0, b["q"], b["layout"]),
                 [b["h"], *(b["w"] if windows else [])])
                for i, b in enumerate(bases) if b["q"] >= floor]
        self.ix._built = build_index(refs)
        self.ix._state = ("bench",)
        self.windows = windows

    def nearest(self, hq: dict) -> list[tuple[int, int]]:
        return [(n.ref.case_id - 1, n.distance) for n in
                self.ix.search(hq["h"], hq["q"], windows=hq["w"] if self.windows else (), layout=hq["layout"])]


def make_set(args, size, which: str, kinds_only: bool = False):
    """(bases, queries, unrelated) hashed. ``which``: ``tuning`` (the set the radii and the layout threshold
    were chosen on) or ``heldout`` (other seeds for every generator, the two halves of the sample photos
    swapped: not looked at while tuning)."""
    if which == "tuning":
        key_s, seed_m, key_x, key_u, rseed, photos_a, photos_b = 10_000, 0, 700_000, 500_000, 99, PHOTOS_A, PHOTOS_B
    else:
        key_s, seed_m, key_x, key_u, rseed, photos_a, photos_b = 110_000, 1000, 800_000, 600_000, 199, PHOTOS_B, PHOTOS_A
    # series bases: scenes, flat art, drawings, photos (half of the sample photos)
    kinds = []
    for i in range(args.series):
        r = i % 6
        if r in (0, 1, 2):
            kinds.append(("scene", key_s + i))
        elif r == 3:
            kinds.append(("flat", key_s + 10_000 + i))
        elif r == 4:
            kinds.append(("photo", photos_a[(i // 6) % len(photos_a)]) if (i // 6) < len(photos_a)
                         else ("drawing", key_s + 20_000 + i))
        else:
            kinds.append(("drawing", key_s + 20_000 + i))
    if kinds_only:
        return kinds, [], [], []
    bases, queries = [], []  # bases: hashes(); queries: (series index, change, kind, hashes())
    for si, (kind, key) in enumerate(kinds):
        base, ms = members(kind, key, size, args.members, seed=seed_m + si)
        bases.append(hashes(base))
        for change, img in ms:
            queries.append((si, change, kind, hashes(img)))

    # more confirmed images without queries: a fuller index, as a platform's confirmed set grows
    gens_x = ("scene", "scene", "flat", "drawing", "photo")
    for j in range(args.extra_confirmed):
        kind = gens_x[j % len(gens_x)]
        img = base_image(kind, photos_a[(j // len(gens_x)) % len(photos_a)] if kind == "photo" else key_x + j, size)
        if kind == "photo":
            img = jitter(recrop(img, np.random.default_rng(seed_m + j), 0.6), np.random.default_rng(seed_m + j))
        bases.append(hashes(img))

    # unrelated: other seeds of the same generators, the other half of the photos, and their variants
    unrelated = []
    rng = np.random.default_rng(rseed)
    gens = ("scene", "scene", "flat", "drawing", "screenshot", "photo")
    for j in range(args.unrelated):
        kind = gens[j % len(gens)]
        key = photos_b[(j // len(gens)) % len(photos_b)] if kind == "photo" else key_u + j
        img = base_image(kind, key, size)
        if kind == "photo" or j % 3 == 0:  # photos repeat: vary them (they are distinct images of one photo)
            img = jitter(recrop(img, rng, 0.6), rng)
        unrelated.append((kind, hashes(img)))
    return kinds, bases, queries, unrelated


def evaluate(ix: _Index, queries, unrelated) -> dict:
    found = 0
    by_kind: dict[str, list[int]] = {}
    by_change: dict[str, list[int]] = {}
    for si, change, kind, hq in queries:
        own = any(c == si for c, _ in ix.nearest(hq))
        found += own
        for key, table in ((kind, by_kind), (change, by_change)):
            table.setdefault(key, [0, 0])
            table[key][0] += own
            table[key][1] += 1
    fp = 0
    fp_kind: dict[str, list[int]] = {}
    for kind, hq in unrelated:
        hit = bool(ix.nearest(hq))
        fp += hit
        fp_kind.setdefault(kind, [0, 0])
        fp_kind[kind][0] += hit
        fp_kind[kind][1] += 1
    return {"series_found": round(found / len(queries), 4), "unrelated_surfaced": round(fp / len(unrelated), 4),
            "unrelated_hits": fp, "found_by_kind": {k: round(a / b, 3) for k, (a, b) in by_kind.items()},
            "found_by_change": {k: round(a / b, 3) for k, (a, b) in by_change.items()},
            "fp_by_kind": {k: round(a / b, 4) for k, (a, b) in fp_kind.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=60, help="series (bases) in the confirmed index")
    ap.add_argument("--members", type=int, default=8, help="members per series (queries)")
    ap.add_argument("--unrelated", type=int, default=1200)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--extra-confirmed", type=int, default=240,
                    help="more confirmed images (other seeds, no queries): false positives grow with the index")
    ap.add_argument("--set", dest="which", choices=("tuning", "heldout"), default="tuning",
                    help="tuning: the set the settings were chosen on; heldout: other seeds and photos")
    ap.add_argument("--no-cost", action="store_true", help="skip the intake-cost and lookup timings")
    ap.add_argument("--only-cost", action="store_true", help="the intake-cost and lookup timings alone")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    size = (w, h)
    if args.only_cost:
        out = {"bench": "similar-cost", **cost(make_set(args, size, args.which, kinds_only=True)[0])}
        print(json.dumps({**out, "loadavg": [round(x, 2) for x in os.getloadavg()]}))
        return
    t0 = time.perf_counter()
    kinds, bases, queries, unrelated = make_set(args, size, args.which)
    hashed = time.perf_counter() - t0

    from bastion.cases.similar import DEFAULT_RADIUS, LAYOUT_MAX_DISTANCE, LAYOUT_MIN_QUALITY, LAYOUT_RADIUS

    rows = []
    for mode, windows in (("whole", False), ("both-windows", True)):
        for r in RADII:
            rows.append({"mode": mode, "radius": r, "quality_floor": 50,
                         **evaluate(_Index(bases, r, windows=windows), queries, unrelated)})
    # the second look: PDQ alone within the radius, colour layouts beyond it up to the layout radius
    grid = [(r, lr, LAYOUT_MAX_DISTANCE) for r in (64, 70, 76, 80) for lr in (84, 90, 96)]
    grid += [(DEFAULT_RADIUS, LAYOUT_RADIUS, t) for t in (30.0, 35.0, 45.0, 50.0)]
    for r, lr, t in grid:
        ix = _Index(bases, r, windows=True, floor=LAYOUT_MIN_QUALITY, layout_radius=lr, layout_max=t)
        rows.append({"mode": "both-windows+layout", "radius": r, "layout_radius": lr, "layout_max": t,
                     "quality_floor": LAYOUT_MIN_QUALITY, **evaluate(ix, queries, unrelated)})
    # nearest-distance distributions (any confirmed image), for the table
    from bastion.media.hashing import hamming

    base_hashes = [b["h"] for b in bases]
    member_d = [hamming(hq["h"], base_hashes[si]) for si, _, _, hq in queries]
    unrel_d = [min(hamming(hq["h"], b) for b in base_hashes) for _, hq in unrelated]
    pct = lambda xs, p: int(np.percentile(xs, p))  # noqa: E731
    out = {
        "bench": "similar", "set": args.which, "series": args.series, "extra_confirmed": args.extra_confirmed,
        "members": args.members, "queries": len(queries), "unrelated": len(unrelated), "size": args.size,
        "default_radius": DEFAULT_RADIUS, "layout_radius": LAYOUT_RADIUS, "layout_max": LAYOUT_MAX_DISTANCE,
        "member_distance_p50_p90_p95": [pct(member_d, 50), pct(member_d, 90), pct(member_d, 95)],
        "unrelated_nearest_p1_p5_p50": [pct(unrel_d, 1), pct(unrel_d, 5), pct(unrel_d, 50)],
        "queries_below_50": sum(1 for *_, hq in queries if hq["q"] < 50),
        "queries_below_35": sum(1 for *_, hq in queries if hq["q"] < LAYOUT_MIN_QUALITY),
        "entries_with_windows": len(base_hashes) + sum(len(b["w"]) for b in bases),
        "rows": rows, "hash_seconds": round(hashed, 1),
    }
    if not args.no_cost:
        out.update(cost(kinds))
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    for row in rows:
        extra = f" layout<= {row['layout_max']:.0f} within {row['layout_radius']}" if "layout_radius" in row else ""
        print(f"{row['mode']:20s} r={row['radius']:3d}{extra}  series found {row['series_found']:.3f}  "
              f"unrelated surfaced {row['unrelated_surfaced']:.4f} ({row['unrelated_hits']})  by change {row['found_by_change']}")
    print(json.dumps(out))


ROUNDS = 8  # of the 12 intake-cost images


def _windows_before(image: Image.Image, full: tuple[int, int]) -> list[str]:
    """The nine windows as the previous version hashed them (a cropped image per window, on the luma decode):
    the same-run baseline of the intake cost."""
    from bastion.media.hashing import pdq_dihedral_fast
    from bastion.media.windows import WINDOWS

    w, h = image.size
    out = []
    for _, (left, top, right, bottom) in WINDOWS:
        crop = image.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))
        kept = (max(crop.width, round(crop.width * full[0] / w)), max(crop.height, round(crop.height * full[1] / h)))
        out.append(pdq_dihedral_fast(crop, kept)[0]["original"])
    return out


def cost(kinds) -> dict:
    """Same run, interleaved, ``process_time``, 1280x960 JPEGs: the decode and whole PDQ an upload got before
    (luma-only reduced decode) and the nine windows as they were hashed on it then; the same decode in colour
    (what the layout needs), the nine windows and the layout on that decode; and one lookup against 20,000
    random confirmed hashes at radius 31 and at the shipped two looks."""
    from bastion.cases.similar import DEFAULT_RADIUS, LAYOUT_RADIUS
    from bastion.media.decode import DEFAULT_LIMITS, decode_rgb
    from bastion.media.hashing import PDQ_QUERY_MIN_SIDE, pdq_dihedral_fast
    from bastion.media.windows import layout_of, windows_of

    big_imgs = [jpeg(base_image(k, key, (1280, 960))) for k, key in kinds[:12]]
    t = {"luma": 0.0, "windows_before": 0.0, "colour": 0.0, "windows": 0.0, "layout": 0.0}
    for _ in range(ROUNDS):
        for data in big_imgs:
            c = time.process_time()
            d = decode_rgb(data, limits=DEFAULT_LIMITS, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True)
            pdq_dihedral_fast(d.image, (d.width, d.height))
            t["luma"] += time.process_time() - c
            c = time.process_time()
            _windows_before(d.image, (d.width, d.height))
            t["windows_before"] += time.process_time() - c
            c = time.process_time()
            d = decode_rgb(data, limits=DEFAULT_LIMITS, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=False)
            pdq_dihedral_fast(d.image, (d.width, d.height))
            t["colour"] += time.process_time() - c
            c = time.process_time()
            windows_of(d.image, (d.width, d.height), min_quality=50)
            t["windows"] += time.process_time() - c
            c = time.process_time()
            layout_of(d.image)
            t["layout"] += time.process_time() - c
    n = ROUNDS * len(big_imgs)
    out = {f"intake_ms_{k}_1mp": round(v / n * 1000, 2) for k, v in t.items()}

    big = np.random.default_rng(5).integers(0, 256, (20_000, 32), dtype=np.uint8)
    rand = [{"h": bytes(x).hex(), "q": 100, "w": [], "layout": "80" * 144} for x in big]
    qs = [hashes(base_image(k, key, (640, 480))) for k, key in kinds[:50]]
    timing = {}
    for name, r, lr in (("r31", 31, 0), ("shipped", DEFAULT_RADIUS, LAYOUT_RADIUS)):
        ix = _Index(rand, r, windows=True, layout_radius=lr)
        c = time.process_time()
        for _ in range(3):
            for hq in qs:
                ix.nearest(hq)
        timing[name] = (time.process_time() - c) / (3 * len(qs)) * 1e6
    out["lookup_us_20k_confirmed"] = {k: round(v, 1) for k, v in timing.items()}
    out["lookup_ratio_shipped_vs_r31"] = round(timing["shipped"] / timing["r31"], 2)
    return out


if __name__ == "__main__":
    main()
