"""Sub-window PDQ hashes for likeness to confirmed material (``bastion.cases.similar``).

A series of generated images is re-framed and re-cropped from one picture to the next; PDQ, a whole-frame
hash, moves as far for a 5 % shift as for an unrelated picture. Hashing the frame cut by 10 % at nine
positions (corners, edges, centre) on both sides of a comparison — the confirmed image and the new one —
brings such members within the radius (bench/RESULTS.md, "Likeness to confirmed material").

Computed on the decode the examine pipeline already made (possibly reduced, possibly the luma plane only),
with the fast PDQ for each window's size in the original, so the windows of a new upload (in an examine
worker) and of a confirmed image (from its held bytes) are the same function of the same pixels. Internal
only: never exported, never compared with bank entries.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["LAYOUT_GRID", "MIN_QUALITY", "WINDOWS", "layout_distance", "layout_of", "windows_of"]

#: PDQ quality below which a hash (whole image or window) is neither indexed nor compared: its bits say more
#: about noise than about the picture (bench/RESULTS.md chose it).
MIN_QUALITY = 50

#: ``(name, (left, top, right, bottom))``: the share of each side cut off.
WINDOWS: tuple[tuple[str, tuple[float, float, float, float]], ...] = tuple(
    (f"w90-{int(fx * 10)}-{int(fy * 10)}", (0.1 * fx, 0.1 * fy, 0.1 * (1 - fx), 0.1 * (1 - fy)))
    for fy in (0.0, 0.5, 1.0) for fx in (0.0, 0.5, 1.0))


def windows_of(image: Image.Image, full_size: tuple[int, int] | None = None, *, min_quality: int = 0,
               whole: str | None = None) -> list[str]:
    """PDQ hex of each of :data:`WINDOWS` of ``image`` (an RGB or L decode of a ``full_size`` original),
    leaving out windows whose quality is below ``min_quality`` and ones equal to ``whole``. The luma plane is
    made once and each window is a slice of it (the same hashes as ``pdq_dihedral_fast`` on each cropped
    image, without a colour conversion per window)."""
    from bastion.media.pdq import pdq_dihedral_luma

    if image.mode not in ("RGB", "L"):
        raise ValueError(f"expected an RGB or L image, got mode {image.mode}")
    luma = np.asarray(image, dtype=np.float32) if image.mode == "L" else np.asarray(image.convert("F"))
    w, h = image.size
    fw, fh = full_size or (w, h)
    out: list[str] = []
    for _, (left, top, right, bottom) in WINDOWS:
        x0, y0, x1, y1 = round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))
        cw, ch = x1 - x0, y1 - y0
        if cw < 2 or ch < 2:
            continue
        kept = (max(cw, round(cw * fw / w)), max(ch, round(ch * fh / h)))
        variants, quality = pdq_dihedral_luma(luma[y0:y1, x0:x1], kept)
        if quality >= min_quality and variants[0] != whole:
            out.append(variants[0])
    return out


#: (columns, rows) of :func:`layout_of`: the picture's coarse colour layout, 48 cells.
LAYOUT_GRID = (8, 6)


def layout_of(image: Image.Image) -> str:
    """The picture's coarse colour layout: the mean RGB of each cell of a :data:`LAYOUT_GRID` grid over the
    whole frame, as hex (3 bytes a cell, row by row). A second look at a candidate beyond the PDQ radius of
    likeness to confirmed material (``bastion.cases.similar``): a generator's series keeps its palette and
    where its colours sit, an unrelated picture that PDQ happens to put near rarely does. Never exported."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    # reducing_gap: an integer box reduction first, then the box resize (within one unit of the exact means,
    # half the time)
    return image.resize(LAYOUT_GRID, Image.Resampling.BOX, reducing_gap=2.0).tobytes().hex()


def layout_distance(a: str, b: str) -> float:
    """Mean over the cells of the Euclidean distance of two :func:`layout_of` layouts' colours (0–441, in
    8-bit RGB units). Raises ValueError for layouts of different grids."""
    x = np.frombuffer(bytes.fromhex(a), dtype=np.uint8).astype(np.float32)
    y = np.frombuffer(bytes.fromhex(b), dtype=np.uint8).astype(np.float32)
    if x.shape != y.shape or x.size == 0 or x.size % 3:
        raise ValueError(f"layouts of different grids ({x.size} and {y.size} bytes)")
    return float(np.sqrt(((x - y).reshape(-1, 3) ** 2).sum(axis=1)).mean())
