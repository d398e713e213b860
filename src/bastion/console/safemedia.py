"""Safe media for reviewers: server-made derivatives that show *that* something is there without showing it.

Pure functions, bytes in, bytes out: no database, no files, no globals. The console sends a derivative by
default — downscaled, blurred, grayscale unless the reviewer chose colour — and the revealed view only when
a reviewer explicitly asks (the view layer logs and counts that). Both are re-encoded from decoded pixels,
never the stored bytes, so nothing a file carries besides its pixels (metadata, embedded previews, a second
format hiding behind the first) reaches the browser, and the response is always a plain image type.

Decoding goes through :func:`bastion.media.decode.decode_rgb`, so the same decompression-bomb limits that
protect the scanner protect the console.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps

from bastion.media.decode import DEFAULT_LIMITS, DecodeLimits, decode_rgb, open_image

#: Blur strength is a level from MIN_BLUR to MAX_BLUR. Level n blurs with a Gaussian radius of n % of the
#: derivative's long side, so a level looks the same whatever the size the derivative is made at.
MIN_BLUR = 1
MAX_BLUR = 10
#: Long side of derivatives. Small on purpose: a blurred preview needs no detail.
SAFE_MAX_SIDE = 480
#: Long side of a revealed view: enough to judge, no more.
REVEAL_MAX_SIDE = 1600


@dataclass(frozen=True, slots=True)
class SafeView:
    """How a derivative is made: blur level (MIN_BLUR..MAX_BLUR), grayscale, long side in pixels."""

    blur: int = 6
    grayscale: bool = True
    max_side: int = SAFE_MAX_SIDE

    def __post_init__(self) -> None:
        if not MIN_BLUR <= self.blur <= MAX_BLUR:
            raise ValueError(f"blur must be between {MIN_BLUR} and {MAX_BLUR}, got {self.blur}")
        if not 16 <= self.max_side <= 4096:
            raise ValueError(f"max_side must be between 16 and 4096, got {self.max_side}")


def blur_radius(level: int, long_side: int) -> float:
    """Gaussian radius in pixels for a blur level on an image whose long side is ``long_side``."""
    return max(1.0, level * long_side / 100.0)


def _reduced(data: bytes, max_side: int, limits: DecodeLimits) -> Image.Image:
    # decode_rgb may decode at a reduced scale while the SHORT side stays >= min_side; pick min_side so the
    # long side stays >= max_side (the header is read twice, the pixels once).
    w, h = open_image(data, limits).size
    min_side = max(1, math.ceil(max_side * min(w, h) / max(w, h, 1)))
    decoded = decode_rgb(data, limits=limits, min_side=min_side)
    im = decoded.image
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return im


def _encode_jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80, optimize=False)
    return buf.getvalue()


def safe_derivative(data: bytes, view: SafeView = SafeView(), *, limits: DecodeLimits = DEFAULT_LIMITS) -> bytes:
    """A JPEG that is downscaled to ``view.max_side``, blurred and (by default) grayscale.

    Raises the decode errors of :mod:`bastion.media.decode` (``UnsupportedMedia``, ``TruncatedMedia``,
    ``DecompressionBomb``) for anything that is not a readable image.
    """
    im = _reduced(data, view.max_side, limits)
    if view.grayscale:
        im = ImageOps.grayscale(im)
    im = im.filter(ImageFilter.GaussianBlur(blur_radius(view.blur, max(im.size))))
    return _encode_jpeg(im)


def revealed_view(data: bytes, *, max_side: int = REVEAL_MAX_SIDE, limits: DecodeLimits = DEFAULT_LIMITS) -> bytes:
    """The image as it is (colour, unblurred), re-encoded from its pixels and capped at ``max_side``."""
    return _encode_jpeg(_reduced(data, max_side, limits))
