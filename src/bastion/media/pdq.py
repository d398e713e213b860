"""PDQ computed from a luma plane of any size, as two small linear maps: fast on a reduced decode.

Meta's PDQ turns an image into 256 bits in five steps: luma (0.299 R + 0.587 G + 0.114 B, as floats); two
rounds of a 1-D box filter along the rows and then the columns, each window ``ceil(side / 128)`` pixels wide
(Jarosz's tent filter); keeping the 64 × 64 pixels at ``int((i + 0.5) * side / 64)``; the 16 × 16 lowest
non-constant DCT coefficients of that 64 × 64 image; one bit per coefficient, set when it is above the
median. The quality is a count of the 64 × 64 image's significant gradients.

Everything up to the 64 × 64 image is linear and separable, so it is ``Ar · L · Acᵀ`` for two 64 × side
matrices that depend only on the image's height and width. Each row of those matrices is a tent around one
sample, about ``side / 64`` pixels wide: most of the image's pixels reach the hash only through such
averages. That is why PDQ can be computed from a *reduced* decode — a JPEG decoded at 1/2, 1/4 or 1/8 scale
(libjpeg averages each block in the DCT domain) or an image box-reduced by an integer factor — by folding
the reduction into the matrices: the weight of a reduced pixel is the sum of the weights of the full-size
pixels it averages. The result is the full-size hash up to the detail the reduction lost inside each block;
``bench/bench_hashing.py`` measures that drift on photos, drawings, flat-colour art and text-heavy screenshots.

At full size (no reduction) the result equals ``pdqhash`` bit for bit on every image of the benchmark's and
the tests' sets (float rounding may in principle move a coefficient that sits exactly at the median); the
reference path of Bastion (``fast=False``) still calls ``pdqhash`` itself, and every hash that leaves Bastion
(exports, reports, shared lists) comes from it.

The matrices are banded (a tent touches a few dozen pixels), so they are kept as index and weight arrays and
applied by gathering rows and columns: about 0.2 ms for a 1200 × 900 photo decoded at 1/4 scale, no BLAS
threads. They are cached per (full side, reduced side).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["LUMA_WEIGHTS", "luma_of", "pdq_dihedral_luma"]

#: PDQ's luma weights (R, G, B).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_SAMPLES = 64

#: Images with a side shorter than this get the all-zero hash and quality 0, as from ``pdqhash``.
MIN_SIDE = 5
_ZERO = "0" * 64


def _box_windows(n: int, w: int, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For PDQ's 1-D box filter of window ``w`` on ``n`` samples: the [lo, hi) window of each output in ``at``.

    Output ``k`` is the mean of the inputs ``k - (w - h) .. k + h - 1`` that exist, ``h = (w + 2) // 2`` (the
    window is centred, one sample longer on the right when ``w`` is even, and shorter at the ends).
    """
    h = (w + 2) // 2
    return np.maximum(0, at - (w - h)), np.minimum(n, at + h)


@functools.lru_cache(maxsize=1024)
def _axis(n_full: int, n_red: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's filtering and 64-sample decimation along an axis of ``n_full`` pixels, applied to an axis reduced
    to ``n_red`` pixels: (index, weight) arrays of shape 64 × K; output ``i`` = Σ weight[i, k] · x[index[i, k]].

    Built on a band around each sample (a tent is at most 2·window + 1 pixels wide), never on the whole axis,
    so a size seen for the first time costs a fraction of a millisecond.
    """
    w = (n_full + 2 * _SAMPLES - 1) // (2 * _SAMPLES)
    samples = ((np.arange(_SAMPLES) + 0.5) * n_full / _SAMPLES).astype(np.intp)
    # Two box passes: row `s` of B·B is Σ_{k in window(s)} B[s, k] · B[k, :], and B[k, :] is 1/|window(k)| on
    # window(k). Each term is a step: accumulate steps in a difference array over the band, then integrate.
    lo, hi = _box_windows(n_full, w, samples)
    ks = lo[:, None] + np.arange(w)[None, :]  # 64 × w candidate k
    valid = ks < hi[:, None]
    ks = np.minimum(ks, n_full - 1)
    klo, khi = _box_windows(n_full, w, ks)
    value = np.where(valid, 1.0 / ((hi - lo)[:, None] * (khi - klo)), 0.0)
    band_lo = klo.min(axis=1)
    band = int((khi.max(axis=1) - band_lo).max())
    rows = (np.arange(_SAMPLES) * (band + 1))[:, None]
    size = _SAMPLES * (band + 1)
    local_lo, local_hi = (klo - band_lo[:, None]).ravel(), (khi - band_lo[:, None]).ravel()
    steps = np.bincount((rows + local_lo.reshape(klo.shape)).ravel(), value.ravel(), size)
    steps -= np.bincount((rows + local_hi.reshape(khi.shape)).ravel(), value.ravel(), size)
    weights = np.cumsum(steps.reshape(_SAMPLES, band + 1)[:, :band], axis=1)
    columns = band_lo[:, None] + np.arange(band)[None, :]
    inside = (columns < khi.max(axis=1)[:, None]) & (columns < n_full)
    weights = np.where(inside, weights, 0.0)  # beyond the tent: zero, not rounding residue
    columns = np.minimum(columns, n_full - 1)
    # Fold full-size columns onto the reduced axis: a reduced pixel is the mean of its run of full-size pixels.
    step = round(n_full / n_red)
    if n_red == n_full:
        owner = columns
    elif step >= 1 and math.ceil(n_full / step) == n_red:  # integer reduction (JPEG DCT scaling, Image.reduce)
        owner = columns // step
    else:  # any other resize: a full-size pixel goes to the reduced pixel its centre falls in
        owner = np.minimum(((columns + 0.5) * n_red / n_full).astype(np.intp), n_red - 1)
    first = owner[:, 0]
    width = int((owner[:, -1] - first).max()) + 1
    flat = (np.arange(_SAMPLES) * width)[:, None] + (owner - first[:, None])
    weight = np.bincount(flat.ravel(), weights.ravel(), _SAMPLES * width).reshape(_SAMPLES, width)
    index = np.minimum(first[:, None] + np.arange(width)[None, :], n_red - 1)
    weight = weight.astype(np.float32)
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


def luma_of(rgb: np.ndarray) -> np.ndarray:
    """PDQ's float luma of an RGB (h × w × 3 uint8) or already grey (h × w) array."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return rgb.astype(np.float32) @ LUMA_WEIGHTS


_DCT = np.array(
    [[math.cos((math.pi / 2 / _SAMPLES) * (i + 1) * (2 * j + 1)) for j in range(_SAMPLES)] for i in range(16)],
    dtype=np.float32,
)
_I = np.arange(16)[:, None]
_J = np.arange(16)[None, :]
_SIGN_J = np.where(_J & 1, 1, -1).astype(np.float32)
_SIGN_I = np.where(_I & 1, 1, -1).astype(np.float32)
_SIGN_IJ = np.where((_I + _J) & 1, -1, 1).astype(np.float32)


def _quality(b64: np.ndarray) -> int:
    b = b64.astype(np.float64)
    vertical = np.abs(np.trunc((b[:-1, :] - b[1:, :]) * 100 / 255)).sum()
    horizontal = np.abs(np.trunc((b[:, :-1] - b[:, 1:]) * 100 / 255)).sum()
    return min(100, int(vertical + horizontal) // 90)


def _hex(coeffs: np.ndarray) -> str:
    """Meta's hex: bit 16·i + j set when coefficient (i, j) is above the median (the 128th smallest of 256),
    written most significant bit (255) first."""
    flat = coeffs.ravel()
    median = np.partition(flat, 127)[127]
    return np.packbits((flat > median)[::-1]).tobytes().hex()


def pdq_dihedral_luma(luma: np.ndarray, full_size: tuple[int, int] | None = None) -> tuple[list[str], int]:
    """The 8 dihedral PDQ hashes (``pdqhash.compute_dihedral`` order) and the quality of a luma plane.

    ``luma``: float32 h × w (see :func:`luma_of`). ``full_size``: (width, height) of the image the plane was
    reduced from (``None``: it is full size). The window sizes and sample positions are those of the full
    image, so a reduced plane gives (nearly) the full image's hash.
    """
    h, w = luma.shape
    full_w, full_h = full_size if full_size is not None else (w, h)
    if full_w < w or full_h < h:
        raise ValueError(f"full size {full_w}x{full_h} is smaller than the plane {w}x{h}")
    if min(full_w, full_h) < MIN_SIDE or min(w, h) < 1:
        return [_ZERO] * 8, 0  # as pdqhash: too small to hash
    rows_i, rows_w = _axis(full_h, h)
    cols_i, cols_w = _axis(full_w, w)
    tall = np.einsum("ik,ikw->iw", rows_w, luma[rows_i], optimize=False)  # 64 × w
    b64 = np.einsum("jk,ijk->ij", cols_w, tall[:, cols_i], optimize=False)  # 64 × 64
    quality = _quality(b64)
    b = _DCT @ b64.astype(np.float32) @ _DCT.T
    variants = (b, (b * _SIGN_J).T, b * _SIGN_IJ, (b * _SIGN_I).T, b * _SIGN_I, b * _SIGN_J, b.T, (b * _SIGN_IJ).T)
    return [_hex(v) for v in variants], quality
