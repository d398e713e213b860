"""A benign demo corpus: what `bastion demo` scans, and what each file is expected to do.

Nothing here depicts anything harmful. "Known" images are scikit-image's bundled sample photos (a cup of
coffee, a cat, a rocket, a galaxy field, a stained tissue sample) and generated patterns; the demo bank
built from them stands in for a hash list of known material, exactly as the anchors (HMA, PhotoDNA) test.

Every file comes with an expectation, so the demo doubles as an end-to-end check: transformed copies of the
known images must match their entry, distractors must not, and bad files must be reported, not dropped.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

KNOWN = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
DISTRACTORS = ("coins", "moon", "brick", "grass", "gravel", "cell", "colorwheel", "camera")


#: Meta's PDQ names its dihedral variants after the axis mirrored about: flip_y is a left-right mirror.
VARIANT_WORDS = {
    "rot90": "the hash of the image turned by 90 degrees",
    "rot180": "the hash of the image turned upside down",
    "rot270": "the hash of the image turned by 270 degrees",
    "flip_x": "the hash of the image mirrored top-bottom",
    "flip_y": "the hash of the image mirrored left-right",
    "flip_plus1": "the hash of the image mirrored about its main diagonal",
    "flip_minus1": "the hash of the image mirrored about its other diagonal",
}


@dataclass(frozen=True)
class Expectation:
    path: str  # relative to the uploads folder
    story: str  # what the file is
    expect: str  # "match", "no-match", "allow-listed", "damaged" or "error:<code>"
    label: str | None = None  # bank label the match should carry
    variant: str | None = None  # dihedral variant expected to match


def _sample(name: str) -> Image.Image:
    import skimage.data

    arr = getattr(skimage.data, name)()
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    img = Image.fromarray(arr)
    return img.convert("RGB")


def generated_pattern(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A benign synthetic picture: smooth gradients plus a few random rectangles and ellipses."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            127 + 120 * np.sin(x / rng.uniform(20, 90) + rng.uniform(0, 6)),
            127 + 120 * np.cos(y / rng.uniform(20, 90) + rng.uniform(0, 6)),
            127 + 120 * np.sin((x + y) / rng.uniform(30, 120)),
        ],
        axis=-1,
    )
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, w // 3)), y0 + int(rng.integers(20, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)([x0, y0, x1, y1], fill=colour)
    return img


def _save(img: Image.Image, path: Path, fmt: str, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)


def _bomb_png() -> bytes:
    """A tiny PNG whose header declares 100,000 x 100,000 pixels; a safe decoder refuses it unread."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def build_corpus(root: Path) -> tuple[Path, Path, list[Expectation]]:
    """Write ``root/originals`` (the known list's source) and ``root/uploads`` (what is scanned).
    Returns both folders and the expectation for every upload."""
    originals, uploads = root / "originals", root / "uploads"
    exp: list[Expectation] = []
    known = {name: _sample(name) for name in KNOWN}
    known["pattern-7"] = generated_pattern(7)
    for name, img in known.items():
        _save(img, originals / f"{name}.png", "PNG")

    def up(rel: str, img: Image.Image, fmt: str, story: str, expect: str, label=None, variant=None, **kw):
        _save(img, uploads / rel, fmt, **kw)
        exp.append(Expectation(rel, story, expect, label, variant))

    for name, img in known.items():
        w, h = img.size
        (uploads / "copies").mkdir(parents=True, exist_ok=True)
        (uploads / "copies" / f"{name}.png").write_bytes((originals / f"{name}.png").read_bytes())
        exp.append(Expectation(f"copies/{name}.png", f"byte-identical copy of known '{name}'", "match", name))
        up(f"resized/{name}.jpg", img.resize((w // 2, h // 2), Image.Resampling.LANCZOS), "JPEG",
           f"'{name}' resized to half size, saved as JPEG", "match", name, quality=90)
        up(f"reencoded/{name}.webp", img, "WEBP", f"'{name}' re-encoded as lossy WebP (quality 60)", "match", name,
           quality=60)
        dx, dy = max(1, w // 100), max(1, h // 100)
        up(f"cropped/{name}.png", img.crop((dx, dy, w - dx, h - dy)), "PNG",
           f"'{name}' with 1% trimmed from every edge", "match", name)
        up(f"mirrored/{name}.png", img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG",
           f"'{name}' mirrored left-right", "match", name, "flip_y")
        up(f"rotated/{name}.jpg", img.transpose(Image.Transpose.ROTATE_90), "JPEG",
           f"'{name}' rotated by 90 degrees", "match", name, "rot270", quality=92)

    for name in DISTRACTORS:
        up(f"distractors/{name}.jpg", _sample(name), "JPEG", f"unrelated sample photo '{name}'", "no-match", quality=90)
    for seed in (1, 2, 3):
        up(f"distractors/pattern-{seed}.png", generated_pattern(seed), "PNG", f"unrelated generated pattern {seed}",
           "no-match")
    # An allow-listed benign image: matches the known-benign bank, which never counts as a hit.
    up("allowlisted/logo-like.png", generated_pattern(99), "PNG", "a benign image on the demo allow-list", "allow-listed",
       "pattern-99")

    bad = uploads / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    known["rocket"].save(buf, "JPEG", quality=90)
    (bad / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    exp.append(Expectation("bad/truncated.jpg", "a JPEG cut off halfway", "damaged"))
    # Damage a viewer tolerates must not hide a known image: its last bytes cut, it still matches.
    (bad / "rocket-cut-end.jpg").write_bytes(buf.getvalue()[:-64])
    exp.append(Expectation("bad/rocket-cut-end.jpg", "known 'rocket' as JPEG with its last 64 bytes cut", "match",
                           "rocket"))
    (bad / "empty.png").write_bytes(b"")
    exp.append(Expectation("bad/empty.png", "a zero-byte file", "error:unsupported-media"))
    (bad / "bomb.png").write_bytes(_bomb_png())
    exp.append(Expectation("bad/bomb.png", "a PNG declaring 100,000 x 100,000 pixels", "error:decompression-bomb"))
    (bad / "notes.txt").write_text("a plain text file, not an image\n")
    exp.append(Expectation("bad/notes.txt", "a text file among the images", "error:unsupported-media"))
    return originals, uploads, exp


def check(exp: Expectation, result: dict) -> tuple[bool, str]:
    """Compare one scan result (the JSON object of ``bastion scan --jsonl``) with its expectation."""
    matches = result.get("matches", [])
    hits = [m for m in matches if m["category"] != "known-benign"]
    allow = [m for m in matches if m["category"] == "known-benign"]
    errors = result.get("errors", [])
    if exp.expect == "match":
        good = [m for m in hits if m.get("label") == exp.label]
        if not good:
            return False, "expected a match, got none" if not hits else f"matched the wrong entry: {hits[0].get('label')}"
        best = min(good, key=lambda m: m["distance"])
        if best["hash_type"] != "pdq":
            return True, f"exact {best['hash_type']} match with '{best['label']}' in bank {best['bank']}"
        how = f"PDQ distance {best['distance']}"
        if best.get("variant") and best["variant"] != "original":
            how += f" through the {best['variant']} variant ({VARIANT_WORDS.get(best['variant'], 'a transformed hash')})"
        ok = exp.variant is None or best.get("variant") == exp.variant
        return ok, f"matched '{best['label']}' in bank {best['bank']}: {how}"
    if exp.expect == "no-match":
        if hits:
            return False, f"unexpected match: {hits[0].get('label')} at distance {hits[0]['distance']}"
        return True, "no match (as it should: an unrelated image)"
    if exp.expect == "allow-listed":
        if hits:
            return False, "counted as a hit although allow-listed"
        return bool(allow), "matched the known-benign allow-list, which never counts as a hit" if allow else "not matched"
    if exp.expect == "damaged":
        damaged = [s for s in result.get("signals", []) if s.get("category") == "damaged-media"]
        if not damaged:
            return False, f"expected a damaged-media signal, got errors {[e['code'] for e in errors] or 'none'}"
        return True, f"decoded as far as it goes and flagged damaged-media: {damaged[0]['evidence'].get('reason')}"
    code = exp.expect.split(":", 1)[1]
    got = [e["code"] for e in errors]
    if code in got:
        msg = next(e["message"] for e in errors if e["code"] == code)
        return True, f"reported as {code}: {msg}"
    return False, f"expected error {code}, got {got or 'none'}"
