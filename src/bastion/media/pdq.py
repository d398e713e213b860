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


def _box_rows(n: int, w: int, rows: np.ndarray) -> list[tuple[int, int]]:
    """For PDQ's 1-D box filter of window ``w`` on ``n`` samples: the [lo, hi) window of each output in ``rows``.

    Output ``k`` is the mean of the inputs ``k - (w - h) .. k + h - 1`` that exist, ``h = (w + 2) // 2`` (the
    window is centred, one sample longer on the right when ``w`` is even, and shorter at the ends).
    """
    h = (w + 2) // 2
    return [(max(0, int(k) - (w - h)), min(n, int(k) + h)) for k in rows]


@functools.lru_cache(maxsize=512)
def _axis(n_full: int, n_red: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's filtering and 64-sample decimation along an axis of ``n_full`` pixels, applied to an axis reduced
    to ``n_red`` pixels: (index, weight) arrays of shape 64 × K; output ``i`` = Σ weight[i, k] · x[index[i, k]]."""
    w = (n_full + 2 * _SAMPLES - 1) // (2 * _SAMPLES)
    samples = [int(((i + 0.5) * n_full) / _SAMPLES) for i in range(_SAMPLES)]
    dense = np.zeros((_SAMPLES, n_full), dtype=np.float64)
    # Two box passes: row `s` of B·B is Σ_k B[s, k] · B[k, :].
    for i, (lo, hi) in enumerate(_box_rows(n_full, w, samples)):
        share = 1.0 / (hi - lo)
        for k, (klo, khi) in zip(range(lo, hi), _box_rows(n_full, w, range(lo, hi))):
            dense[i, klo:khi] += share / (khi - klo)
    if n_red != n_full:
        dense = _fold(dense, n_full, n_red)
    nz = dense != 0
    width = int(nz.sum(axis=1).max())
    index = np.zeros((_SAMPLES, width), dtype=np.intp)
    weight = np.zeros((_SAMPLES, width), dtype=np.float32)
    for i in range(_SAMPLES):
        cols = np.flatnonzero(nz[i])
        index[i, : len(cols)] = cols
        weight[i, : len(cols)] = dense[i, cols]
        if len(cols) < width:  # pad with a zero weight on a valid pixel
            index[i, len(cols):] = cols[-1] if len(cols) else 0
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


def _fold(dense: np.ndarray, n_full: int, n_red: int) -> np.ndarray:
    """Weights on full-size pixels → weights on reduced pixels (each the mean of a run of full-size pixels)."""
    step = round(n_full / n_red)
    if step >= 1 and math.ceil(n_full / step) == n_red:
        # Integer reduction (JPEG DCT scaling, Image.reduce): reduced pixel k averages pixels k·step … k·step+step-1.
        return np.add.reduceat(dense, np.arange(0, n_full, step), axis=1)
    # Any other resize: each full-size pixel goes to the reduced pixel its centre falls in.
    owner = np.minimum(((np.arange(n_full) + 0.5) * n_red / n_full).astype(np.intp), n_red - 1)
    out = np.zeros((dense.shape[0], n_red), dtype=np.float64)
    np.add.at(out.T, owner, dense.T)
    return out


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
