"""Uniform borders: find them and cut them off before hashing.

Why: PDQ is a hash of the whole picture. A copy padded with a plain border (a screenshot, a letterboxed
repost, an image padded to a square) moves 54–72 bits for a 24 px border — no match at 31. Trimming the
border off the query gives back (nearly) the picture the bank hashed. The untrimmed hash is always kept
and matched as well: a trimmed hash is an *extra* lookup, never a replacement (see ``docs/pdq-edits.md``).

What counts as a border, per side independently (letterbox bars are top/bottom only, pillarbox bars
left/right only): starting from the outermost row or column, every line whose pixels are (nearly all)
within :attr:`BorderSettings.tolerance` of one colour — the median colour of the outermost line — up to
:attr:`BorderSettings.max_fraction` of the side. A border thinner than ``min_fraction`` of the side is
ignored (JPEG edge noise, a 1 px frame do not move PDQ enough to matter). Pure function of the pixels:
no state, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["BorderSettings", "DEFAULT_BORDERS", "Trim", "find_border", "trim_border"]


@dataclass(frozen=True, slots=True)
class BorderSettings:
    """How uniform and how wide a border must be to be cut.

    ``tolerance``: largest per-channel difference from the border colour (0–255) a pixel may have and
    still be border; 28 absorbs JPEG ringing at quality ≥ 70 on plain colours. ``coverage``: share of a
    line's pixels that must be within tolerance (a watermark or a few noisy pixels do not end a border).
    ``min_fraction``/``max_fraction``: the thinnest border worth trimming and the widest one looked for, as
    shares of the side. ``min_keep``: the trimmed picture keeps at least this share of each side, so a
    nearly flat image is never cut down to a sliver whose hash would mean nothing.
    """

    tolerance: int = 28
    coverage: float = 0.985
    min_fraction: float = 0.01
    max_fraction: float = 0.40
    min_keep: float = 0.30


DEFAULT_BORDERS = BorderSettings()


@dataclass(frozen=True, slots=True)
class Trim:
    """Pixels cut from each side of an image of ``width`` × ``height`` (in that image's pixels)."""

    left: int
    top: int
    right: int
    bottom: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The kept region as a Pillow crop box (left, upper, right, lower)."""
        return (self.left, self.top, self.width - self.right, self.height - self.bottom)

    def fractions(self) -> dict[str, float]:
        """Each side's cut as a share of its axis, rounded: what reports show (sizes differ per decode)."""
        return {
            "left": round(self.left / self.width, 4),
            "top": round(self.top / self.height, 4),
            "right": round(self.right / self.width, 4),
            "bottom": round(self.bottom / self.height, 4),
        }


def _line(arr: np.ndarray, side: str, i: int, n: int = 1) -> np.ndarray:
    """Lines ``i .. i+n`` counted inwards from ``side``, as (lines × pixels × 3), without copying."""
    h, w = arr.shape[:2]
    if side == "top":
        return arr[i : i + n]
    if side == "bottom":
        return arr[max(0, h - i - n) : h - i][::-1]
    cols = arr[:, i : i + n] if side == "left" else arr[:, max(0, w - i - n) : w - i][:, ::-1]
    return cols.swapaxes(0, 1)


def _border_run(arr: np.ndarray, side: str, settings: BorderSettings, limit: int) -> int:
    """How many lines, counted inwards from ``side``, are border.

    Most images have no border: the outermost line alone answers that, so they pay for one line only.
    Otherwise lines are tested a block at a time until the first that is not border. A pixel is close to the
    border colour when every channel is within ``tolerance`` of it: OpenCV's ``inRange`` tests that in one
    pass over the block (three times faster than the same test in numpy on images with a plain background).
    """
    if limit < 1:
        return 0
    import cv2  # imported here: a hashing caller that never looks for borders does not pay for it

    colour = np.median(_line(arr, side, 0)[0], axis=0).astype(np.int16)
    low = np.clip(colour - settings.tolerance, 0, 255)
    high = np.clip(colour + settings.tolerance, 0, 255)
    if arr.ndim == 2:  # one channel: OpenCV takes the bounds as plain numbers
        low, high = int(low), int(high)
    else:
        low, high = low.astype(np.uint8), high.astype(np.uint8)
    done = 0
    block = 1
    while done < limit:
        n = min(limit - done, block)
        head = np.ascontiguousarray(_line(arr, side, done, n))
        inside = cv2.inRange(head, low, high).reshape(n, -1)
        close = np.count_nonzero(inside, axis=1) / inside.shape[1] >= settings.coverage
        misses = np.flatnonzero(~close)
        if len(misses):
            return done + int(misses[0])
        done += n
        block = 32
    return limit


def find_border(img: Image.Image | np.ndarray, settings: BorderSettings = DEFAULT_BORDERS) -> Trim | None:
    """The uniform border of an RGB (or greyscale: the fast path's luma) image, or ``None`` when it has none
    worth trimming."""
    arr = np.asarray(img) if isinstance(img, Image.Image) else img
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] >= 3)):
        raise ValueError("find_border expects an RGB or a greyscale image")
    if arr.ndim == 3:
        arr = arr[:, :, :3]
    h, w = arr.shape[:2]
    if h < 16 or w < 16:
        return None
    lim_v, lim_h = int(h * settings.max_fraction), int(w * settings.max_fraction)
    top = _border_run(arr, "top", settings, lim_v)
    bottom = _border_run(arr, "bottom", settings, lim_v)
    left = _border_run(arr, "left", settings, lim_h)
    right = _border_run(arr, "right", settings, lim_h)
    # Thin runs are noise, not a border.
    top = top if top >= max(2, h * settings.min_fraction) else 0
    bottom = bottom if bottom >= max(2, h * settings.min_fraction) else 0
    left = left if left >= max(2, w * settings.min_fraction) else 0
    right = right if right >= max(2, w * settings.min_fraction) else 0
    if not (top or bottom or left or right):
        return None
    if h - top - bottom < h * settings.min_keep or w - left - right < w * settings.min_keep:
        return None
    return Trim(left, top, right, bottom, w, h)


def trim_border(img: Image.Image, settings: BorderSettings = DEFAULT_BORDERS) -> tuple[Image.Image, Trim] | None:
    """``(trimmed image, what was cut)``, or ``None`` when ``img`` has no border worth trimming."""
    t = find_border(img, settings)
    if t is None:
        return None
    return img.crop(t.box), t
