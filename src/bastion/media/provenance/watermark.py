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

#: The three ways the decoder reads an RGB uint8 image: (variant name, as float32, in BGR order). SD 1.x and
#: SD 2.x share the first reading; SDXL is tried in the other two.
READINGS = (("uint8-bgr", False, True), ("float32-bgr", True, True), ("float32-rgb", True, False))


def haar_approximation(x: np.ndarray) -> np.ndarray:
    """The approximation band of ``pywt.dwt2(x, "haar")``, bit for bit, about 5x faster.

    pywt filters axis 0 then axis 1 with two equal taps, in float32 for float32 input and float64
    otherwise; doing the same multiplications in the same order gives identical floats (tested against
    pywt), which matters because the decoder thresholds ``value % 36`` and a last-bit difference can
    flip a bit that sits exactly on the threshold. ``x`` may be a strided view (one channel of a colour
    image): the products are written straight into two half-size buffers, so no full-size copy or
    float64 promotion of the input is made, and the sums are taken in place (same order, same floats).
    """
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    c = dtype(_HAAR)
    rows = np.multiply(x[0::2, :], c, dtype=dtype)
    rows += np.multiply(x[1::2, :], c, dtype=dtype)
    out = np.multiply(rows[:, 0::2], c, dtype=dtype)
    out += np.multiply(rows[:, 1::2], c, dtype=dtype)
    return out


def haar_approximation_reference(x: np.ndarray) -> np.ndarray:
    """The same band computed by PyWavelets: the trivial reference the fast version is tested against."""
    return pywt.dwt2(x, "haar")[0]


def _scores_from_u(u: np.ndarray) -> np.ndarray:
    """Per-block 0/1 scores from the U plane (any dtype, possibly a strided view), in the encoder's block order.

    The reference takes, in each 4x4 block of the Haar band, the largest-magnitude coefficient except the
    first (via argmax) and reads its magnitude. Only that magnitude matters, and it is simply the block's
    maximum of ``|c|`` over those 15 positions, so it is found with six elementwise ``maximum`` calls over
    strided views instead of a block-transposing copy and a row-wise argmax (identical values, tested).
    """
    rows, cols = u.shape
    ca1 = haar_approximation(u[: rows // 4 * 4, : cols // 4 * 4])
    nr, nc = ca1.shape[0] // BLOCK, ca1.shape[1] // BLOCK
    mag = np.abs(ca1, out=ca1)[: nr * BLOCK, : nc * BLOCK]  # ca1 is our own buffer
    mag[0::BLOCK, 0::BLOCK] = -1.0  # the first (DC) coefficient never counts; magnitudes are >= 0
    across = np.maximum(mag[:, 0::BLOCK], mag[:, 1::BLOCK])
    for j in range(2, BLOCK):
        np.maximum(across, mag[:, j::BLOCK], out=across)
    val = np.maximum(across[0::BLOCK], across[1::BLOCK])
    for i in range(2, BLOCK):
        np.maximum(val, across[i::BLOCK], out=val)
    return ((val.ravel() % SCALE) > 0.5 * SCALE).astype(np.float64)


def block_scores(bgr: np.ndarray) -> np.ndarray:
    """Per-block 0/1 scores of the dwtDct scheme, in the encoder's block order. ``bgr`` is uint8 or float32."""
    return _scores_from_u(cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)[:, :, 1])


#: Pixels per horizontal strip (rounded to whole 8-row block rows). Every step is local to an 8x8 pixel
#: block, so strips give the same scores; their buffers stay in cache (~1.5 MB of float32 at 128 Ki
#: pixels), which halved the time at 1024x1024 on this machine.
STRIP_PIXELS = 128 * 1024


def reading_scores(rgb: np.ndarray, readings=READINGS) -> dict[str, np.ndarray]:
    """Block scores of an RGB uint8 image for each reading, each computed once and shared by all schemes.

    Same results as converting each reading's image with ``np.ascontiguousarray`` and ``block_scores``
    (tested), but cheaper: numpy's reversed-channel copies were the largest cost. Instead

    - uint8 BGR: ``COLOR_RGB2YUV`` on the RGB pixels gives the same U plane as ``COLOR_BGR2YUV`` on the
      reversed copy (OpenCV's integer path is symmetric; checked for every 8-bit colour in the tests);
    - float32: OpenCV's float path is *not* symmetric (the two codes round differently), so the BGR
      image is really built, but by OpenCV's channel swap on the float32 array, several times faster
      than a numpy copy of a reversed view; the RGB reading uses the float32 array as it is.

    The image is processed in strips of whole block rows (:data:`STRIP_PIXELS`). Blocks are numbered row by
    row, so concatenating the strips' scores gives the whole image's order. Rows past the last whole
    block row are never read by the decoder and are skipped, as the whole-image path does.
    """
    rows_used = rgb.shape[0] // (2 * BLOCK) * (2 * BLOCK)
    step = max(2 * BLOCK, STRIP_PIXELS // max(rgb.shape[1], 1) // (2 * BLOCK) * (2 * BLOCK))
    if rows_used == 0:  # no whole block row: the (empty) result of the whole-image path
        return _strip_scores(rgb, readings)
    parts = [_strip_scores(rgb[top : min(top + step, rows_used)], readings) for top in range(0, rows_used, step)]
    return {variant: np.concatenate([p[variant] for p in parts]) for variant, _, _ in readings}


def _strip_scores(rgb: np.ndarray, readings) -> dict[str, np.ndarray]:
    """Block scores of one strip (or a whole image) for each reading; see :func:`reading_scores`."""
    out: dict[str, np.ndarray] = {}
    f32_rgb: np.ndarray | None = None
    for variant, as_float, bgr_order in readings:
        if not as_float:
            img, code = rgb, (cv2.COLOR_RGB2YUV if bgr_order else cv2.COLOR_BGR2YUV)
        else:
            if f32_rgb is None:
                f32_rgb = rgb.astype(np.float32)
            img = cv2.cvtColor(f32_rgb, cv2.COLOR_RGB2BGR) if bgr_order else f32_rgb
            code = cv2.COLOR_BGR2YUV
        out[variant] = _scores_from_u(cv2.cvtColor(img, code)[:, :, 1])
    return out


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
    variant = f"{'float32' if as_float else 'uint8'}-{'bgr' if bgr_order else 'rgb'}"
    scores = reading_scores(np.ascontiguousarray(rgb), ((variant, as_float, bgr_order),))[variant]
    return bits_from_scores(scores, length)


def decode_bits_reference(rgb: np.ndarray, length: int, *, as_float: bool, bgr_order: bool = True) -> np.ndarray:
    """The straightforward reading (explicit reversed copy, PyWavelets): what the fast path is tested against."""
    img = rgb.astype(np.float32) if as_float else rgb
    img = np.ascontiguousarray(img[:, :, ::-1] if bgr_order else img)
    u = cv2.cvtColor(img, cv2.COLOR_BGR2YUV)[:, :, 1]
    rows, cols = u.shape
    ca1 = haar_approximation_reference(u[: rows // 4 * 4, : cols // 4 * 4])
    nr, nc = ca1.shape[0] // BLOCK, ca1.shape[1] // BLOCK
    blocks = ca1[: nr * BLOCK, : nc * BLOCK].reshape(nr, BLOCK, nc, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(blocks.shape[0]), pos])
    return bits_from_scores(((val % SCALE) > 0.5 * SCALE).astype(np.float64), length)


def detect(rgb: np.ndarray) -> WatermarkResult:
    """Check an RGB uint8 image (H, W, 3) for the SD 1.x, SD 2.x and SDXL marks."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        return WatermarkResult(checked=False, note="watermark: image is not 8-bit RGB; not checked")
    if rgb.shape[0] * rgb.shape[1] < MIN_SIDE * MIN_SIDE:
        return WatermarkResult(checked=False, note="watermark: image under 256x256 pixels cannot carry the mark")
    result = WatermarkResult()
    scores = reading_scores(np.ascontiguousarray(rgb))
    u8 = scores["uint8-bgr"]
    candidates = [
        WatermarkHit("sd1", int((bits_from_scores(u8, 136) == SD1_BITS).sum()), 136, "uint8-bgr"),
        WatermarkHit("sd2", int((bits_from_scores(u8, 32) == SD2_BITS).sum()), 32, "uint8-bgr"),
    ]
    for variant in ("float32-bgr", "float32-rgb"):
        bits = bits_from_scores(scores[variant], 48)
        candidates.append(WatermarkHit("sdxl", int((bits == SDXL_BITS).sum()), 48, variant))
    for hit in candidates:
        best = result.scores.get(hit.scheme)
        if best is None or hit.matched > best.matched:
            result.scores[hit.scheme] = hit
    result.hits = [h for h in result.scores.values() if h.matched >= THRESHOLDS[h.scheme]]
    return result
