"""Stable Diffusion's invisible watermark (``invisible-watermark`` dwtDct), decoded without that package.

Why our own decoder: ``invisible-watermark`` imports torch (about 5 GB) for a method we never use. The
dwtDct scheme is small: convert BGR to YUV, take the Haar DWT approximation of the U channel, split it
into 4x4 blocks, and in each block read the largest-magnitude coefficient (except the first) modulo 36:
above 18 is a 1. Block *k* carries message bit *k mod n*; a bit is the mean over its blocks.

Generators embed fixed messages:

- SD 1.x scripts: the bytes ``StableDiffusionV1`` (136 bits), uint8 image in BGR order;
- SD 2.x scripts: ``SDV2`` (32 bits), the same way;
- SDXL in diffusers: a fixed 48-bit message, embedded on a float32 image. Diffusers versions disagree on
  channel order (older ones pass RGB where BGR is expected), so both orders are tried. The float path
  matters: OpenCV offsets U by 0.5 for float images and by 128 for uint8, so decoding an SDXL mark in
  uint8 reads different (often inverted) bits.

Unmarked images agree with a message by chance around half the bits; we require a high agreement
(see ``THRESHOLDS``, set from the false-positive measurement in ``docs/provenance.md``). The mark rarely
survives JPEG re-encoding or resizing: a miss means nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pywt

SCALE = 36
BLOCK = 4
SD1_BITS = np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8))
SD2_BITS = np.unpackbits(np.frombuffer(b"SDV2", np.uint8))
SDXL_BITS = np.array([int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]], np.uint8)

#: Minimum matching bits to report a mark. Unmarked benign images reached at most the figures recorded
#: in docs/provenance.md (SDXL: 32/48 here and in earlier measurements).
THRESHOLDS = {"sd1": 100, "sd2": 28, "sdxl": 40}
MIN_SIDE = 256  # the encoder refuses images under 256x256 pixels; smaller cannot carry the mark


@dataclass(frozen=True, slots=True)
class WatermarkHit:
    scheme: str  # "sd1" | "sd2" | "sdxl"
    matched: int
    total: int
    variant: str  # how it was read, e.g. "uint8-bgr", "float32-bgr", "float32-rgb"

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "matched": self.matched, "total": self.total, "variant": self.variant}


@dataclass(slots=True)
class WatermarkResult:
    """Best agreement per scheme (``scores``) and the schemes that passed their threshold (``hits``)."""

    hits: list[WatermarkHit] = field(default_factory=list)
    scores: dict[str, WatermarkHit] = field(default_factory=dict)
    checked: bool = True
    note: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.hits)

    def to_dict(self) -> dict:
        d = {"checked": self.checked, "found": self.found, "hits": [h.to_dict() for h in self.hits],
             "scores": {k: v.to_dict() for k, v in self.scores.items()}}
        if self.note:
            d["note"] = self.note
        return d


_HAAR = 0.7071067811865476  # pywt's Haar low-pass coefficient, 1/sqrt(2)


def haar_approximation(x: np.ndarray) -> np.ndarray:
    """The approximation band of ``pywt.dwt2(x, "haar")``, bit for bit, about 5x faster.

    pywt filters axis 0 then axis 1 with two equal taps, in float32 for float32 input and float64
    otherwise; doing the same multiplications in the same order gives identical floats (tested against
    pywt), which matters because the decoder thresholds ``value % 36`` and a last-bit difference can
    flip a bit that sits exactly on the threshold.
    """
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    c = dtype(_HAAR)
    x = x.astype(dtype, copy=False)
    rows = c * x[0::2, :] + c * x[1::2, :]
    return c * rows[:, 0::2] + c * rows[:, 1::2]


def haar_approximation_reference(x: np.ndarray) -> np.ndarray:
    """The same band computed by PyWavelets: the trivial reference the fast version is tested against."""
    return pywt.dwt2(x, "haar")[0]


def block_scores(bgr: np.ndarray) -> np.ndarray:
    """Per-block 0/1 scores of the dwtDct scheme, in the encoder's block order. ``bgr`` is uint8 or float32."""
    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ca1 = haar_approximation(yuv[: rows // 4 * 4, : cols // 4 * 4, 1])
    nr, nc = ca1.shape[0] // BLOCK, ca1.shape[1] // BLOCK
    blocks = ca1[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(blocks.shape[0]), pos])
    return ((val % SCALE) > 0.5 * SCALE).astype(np.float64)


def bits_from_scores(scores: np.ndarray, length: int) -> np.ndarray:
    """Average block scores per message bit, thresholded as the reference does (mean*255 > 127)."""
    idx = np.arange(scores.size) % length
    sums = np.bincount(idx, weights=scores, minlength=length)
    counts = np.bincount(idx, minlength=length)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return (means * 255 > 127).astype(np.uint8)


def decode_bits(rgb: np.ndarray, length: int, *, as_float: bool, bgr_order: bool = True) -> np.ndarray:
    """The reference decoder's bits for an RGB uint8 image, read in uint8 or float32 and either channel order."""
    img = rgb.astype(np.float32) if as_float else rgb
    img = img[:, :, ::-1] if bgr_order else img
    return bits_from_scores(block_scores(np.ascontiguousarray(img)), length)


def detect(rgb: np.ndarray) -> WatermarkResult:
    """Check an RGB uint8 image (H, W, 3) for the SD 1.x, SD 2.x and SDXL marks."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return WatermarkResult(checked=False, note="watermark: image is not 8-bit RGB; not checked")
    if rgb.shape[0] * rgb.shape[1] < MIN_SIDE * MIN_SIDE:
        return WatermarkResult(checked=False, note="watermark: image under 256x256 pixels cannot carry the mark")
    result = WatermarkResult()
    u8 = block_scores(np.ascontiguousarray(rgb[:, :, ::-1]))
    candidates = [
        WatermarkHit("sd1", int((bits_from_scores(u8, 136) == SD1_BITS).sum()), 136, "uint8-bgr"),
        WatermarkHit("sd2", int((bits_from_scores(u8, 32) == SD2_BITS).sum()), 32, "uint8-bgr"),
    ]
    f32 = rgb.astype(np.float32)
    for variant, img in (("float32-bgr", f32[:, :, ::-1]), ("float32-rgb", f32)):
        bits = bits_from_scores(block_scores(np.ascontiguousarray(img)), 48)
        candidates.append(WatermarkHit("sdxl", int((bits == SDXL_BITS).sum()), 48, variant))
    for hit in candidates:
        best = result.scores.get(hit.scheme)
        if best is None or hit.matched > best.matched:
            result.scores[hit.scheme] = hit
    result.hits = [h for h in result.scores.values() if h.matched >= THRESHOLDS[h.scheme]]
    return result
