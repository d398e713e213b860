""""Stealth" PNG info: generation parameters hidden in the least significant bits of the pixels.

The A1111 ``stealth-pnginfo`` extension (and NovelAI, for its JSON) survive metadata stripping by writing
the text into pixel low bits, read column by column (x outer, y inner). The bit stream is a 15-byte
signature, a 32-bit big-endian payload length *in bits*, then the payload:

- ``stealth_pnginfo`` / ``stealth_pngcomp``: one bit per pixel from alpha; plain UTF-8 / gzip;
- ``stealth_rgbinfo`` / ``stealth_rgbcomp``: three bits per pixel from R, G, B.

Only lossless files keep it; any re-encode or resize destroys it, so absence means nothing.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

import numpy as np

SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
_SIG_BITS = 15 * 8
_LEN_BITS = 32


@dataclass(frozen=True, slots=True)
class StealthPayload:
    text: str
    mode: str  # "alpha" | "rgb"
    compressed: bool
    signature: str


def _bitstream(pixels: np.ndarray, mode: str, n_bits: int | None = None) -> np.ndarray:
    """Low bits in reading order (column-major; R,G,B interleaved per pixel in rgb mode)."""
    h = pixels.shape[0]
    if mode == "alpha":
        per_col = h
        cols = pixels.shape[1] if n_bits is None else min(pixels.shape[1], -(-n_bits // per_col))
        bits = (pixels[:, :cols, 3].T & 1).ravel()
    else:
        per_col = 3 * h
        cols = pixels.shape[1] if n_bits is None else min(pixels.shape[1], -(-n_bits // per_col))
        bits = (pixels[:, :cols, :3].transpose(1, 0, 2) & 1).ravel()
    return bits if n_bits is None else bits[:n_bits]


def read_stealth(pixels: np.ndarray, *, max_bytes: int = 8 * 1024 * 1024) -> tuple[StealthPayload | None, list[str]]:
    """Look for a stealth payload in an RGB(A) uint8 array (H, W, 3|4). Returns (payload or None, notes)."""
    notes: list[str] = []
    if pixels.ndim != 3 or pixels.shape[2] < 3 or pixels.dtype != np.uint8:
        return None, notes
    modes = (["alpha"] if pixels.shape[2] == 4 else []) + ["rgb"]
    for mode in modes:
        head = _bitstream(pixels, mode, _SIG_BITS + _LEN_BITS)
        if head.size < _SIG_BITS + _LEN_BITS:
            continue
        sig = np.packbits(head[:_SIG_BITS]).tobytes()
        if sig not in SIGNATURES or SIGNATURES[sig][0] != mode:
            continue
        _, compressed = SIGNATURES[sig]
        n_bits = int("".join(map(str, head[_SIG_BITS:].tolist())), 2)
        capacity = (pixels.shape[0] * pixels.shape[1] * (1 if mode == "alpha" else 3)) - _SIG_BITS - _LEN_BITS
        if n_bits > capacity or n_bits > max_bytes * 8:
            notes.append(f"stealth: {sig.decode()} declares {n_bits} bits, more than the image holds or the cap")
            n_bits = min(n_bits, capacity, max_bytes * 8)
        bits = _bitstream(pixels, mode, _SIG_BITS + _LEN_BITS + n_bits)[_SIG_BITS + _LEN_BITS :]
        raw = np.packbits(bits).tobytes()
        if compressed:
            try:
                raw = _gunzip(raw, max_bytes)
            except (OSError, EOFError, zlib.error) as exc:
                notes.append(f"stealth: {sig.decode()} payload does not decompress ({exc})")
                return None, notes
        text = raw.decode("utf-8", errors="replace")
        if "\ufffd" in text:
            notes.append(f"stealth: {sig.decode()} payload is not clean UTF-8; undecodable bytes replaced")
        return StealthPayload(text=text, mode=mode, compressed=compressed, signature=sig.decode()), notes
    return None, notes


def _gunzip(raw: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(raw, limit)
    if not d.eof and d.unconsumed_tail:
        raise OSError(f"payload inflates past the cap of {limit} bytes")
    return out


def encode_stealth(pixels: np.ndarray, text: str, *, mode: str = "alpha", compressed: bool = True) -> np.ndarray:
    """Write a stealth payload (the inverse of :func:`read_stealth`). Used to build test fixtures."""
    sig = {("alpha", False): b"stealth_pnginfo", ("alpha", True): b"stealth_pngcomp",
           ("rgb", False): b"stealth_rgbinfo", ("rgb", True): b"stealth_rgbcomp"}[(mode, compressed)]
    payload = gzip.compress(text.encode("utf-8")) if compressed else text.encode("utf-8")
    bits = np.concatenate([
        np.unpackbits(np.frombuffer(sig, np.uint8)),
        np.array([int(b) for b in f"{len(payload) * 8:032b}"], np.uint8),
        np.unpackbits(np.frombuffer(payload, np.uint8)),
    ])
    out = pixels.copy()
    if mode == "alpha":
        plane = out[:, :, 3].T.copy()  # column-major order
        flat = plane.ravel()
        if bits.size > flat.size:
            raise ValueError("image too small for payload")
        flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
        out[:, :, 3] = flat.reshape(plane.shape).T
    else:
        planes = out[:, :, :3].transpose(1, 0, 2).copy()
        flat = planes.ravel()
        if bits.size > flat.size:
            raise ValueError("image too small for payload")
        flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
        out[:, :, :3] = flat.reshape(planes.shape).transpose(1, 0, 2)
    return out
