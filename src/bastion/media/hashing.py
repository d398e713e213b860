"""Hashes of a media file: exact (MD5, SHA-1, SHA-256 of the bytes) and perceptual (PDQ).

Exact hashes match byte-identical copies, which is what most industry hash lists still contain. PDQ
(Meta's 256-bit perceptual hash) survives re-encoding and resizing; it is compared by Hamming distance.

``pdqhash`` filters every pixel of a full decode, which costs several times the JPEG decode itself. So
``fast=True`` decodes at a reduced scale (short side >= :data:`PDQ_QUERY_MIN_SIDE`: JPEG DCT scaling, or an
integer box reduce for other formats) and computes PDQ from that with :mod:`bastion.media.pdq`, which applies
PDQ's filter and sampling *for the full image's size* to the reduced pixels. The drift this costs against the
reference is measured on a varied set in ``bench/bench_hashing.py`` and recorded in ``bench/RESULTS.md``.
``fast=False`` is the reference (full decode + ``pdqhash``), bit for bit; every hash that leaves Bastion
(exports, reports, shared lists, ``bastion hash``) is computed that way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from bastion.errors import InvalidHash
from bastion.media.borders import Trim, trim_border
from bastion.media.decode import DEFAULT_LIMITS, DecodedImage, DecodeLimits, decode_rgb
from bastion.media.pdq import pdq_dihedral_luma

__all__ = [
    "CryptoHashes",
    "MIN_MATCH_QUALITY",
    "PDQ_FAST_MIN_SIDE",
    "PDQ_QUERY_MIN_SIDE",
    "PDQ_VARIANTS",
    "PDQ_VARIANT_TRANSPOSE",
    "PdqHash",
    "crypto_hashes",
    "hamming",
    "is_matchable",
    "pdq_dihedral",
    "pdq_dihedral_fast",
    "pdq_dihedral_from_image",
    "pdq_from_image",
    "pdq_hash",
    "pdq_trimmed_dihedral",
]

#: PDQ hashes below this quality (0–100) are recorded but not matched unless a bank says otherwise:
#: flat or nearly featureless images produce hashes that collide with many unrelated images.
MIN_MATCH_QUALITY = 50

#: Short side kept by a reduced decode that is then hashed with ``pdqhash`` itself (crop windows of media
#: added to banks; see bastion.banks.from_files). ``pdqhash`` on a reduced image drifts more than
#: :func:`pdq_dihedral_fast` does, hence the higher floor.
PDQ_FAST_MIN_SIDE = 512

#: Short side kept by the decode that ``fast=True`` hashes with :func:`pdq_dihedral_fast` (scans, the service):
#: chosen from the drift measured on the varied set of bench/bench_hashing.py.
PDQ_QUERY_MIN_SIDE = 256

#: Names of the 8 dihedral variants, in ``pdqhash.compute_dihedral`` order (Meta's PDQ names).
PDQ_VARIANTS: tuple[str, ...] = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)

#: What each variant is: the hash of the image transformed by this Pillow transpose (checked in tests).
#: ``rot90`` is 90° counter-clockwise; ``flip_x`` mirrors about the horizontal axis (top↔bottom),
#: ``flip_y`` about the vertical axis (left↔right); ``flip_plus1``/``flip_minus1`` about the main and
#: anti-diagonal. Equal to a hash of the transformed pixels up to a few bits (PDQ's box filter is not
#: perfectly symmetric), not bit-exact.
PDQ_VARIANT_TRANSPOSE: dict[str, Image.Transpose | None] = {
    "original": None,
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flip_x": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip_y": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}


# --- exact hashes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CryptoHashes:
    """Cryptographic digests of the file bytes, lowercase hex."""

    md5: str
    sha1: str
    sha256: str


def crypto_hashes(data: bytes) -> CryptoHashes:
    """MD5, SHA-1 and SHA-256 of ``data``. MD5/SHA-1 are kept because hash lists are published in them."""
    return CryptoHashes(
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


# --- PDQ -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash (64 lowercase hex digits, Meta's bit order) with its quality and the image it came from.

    ``width``/``height`` are the full size of the oriented original; ``orientation`` the EXIF value applied
    before hashing (see ``bastion.media.decode``); ``notes`` whatever the decoder noted.
    """

    hash: str
    quality: int
    width: int
    height: int
    format: str
    orientation: int = 1
    notes: tuple[str, ...] = ()

    @property
    def matchable(self) -> bool:
        return is_matchable(self.quality)


def is_matchable(quality: int, min_quality: int = MIN_MATCH_QUALITY) -> bool:
    """Whether a hash of this quality should be looked up (a bank may pass its own ``min_quality``)."""
    return quality >= min_quality


def _bits_to_hex(bits: np.ndarray) -> str:
    """pdqhash returns 256 0/1 values, most significant first; Meta's hex packs them 4 bits a digit."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _rgb_array(img: Image.Image) -> np.ndarray:
    if img.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {img.mode}; decode with bastion.media.decode")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def pdq_from_image(img: Image.Image) -> tuple[str, int]:
    """PDQ (hex, quality) of an already decoded RGB image, for callers that decoded it themselves."""
    bits, quality = pdqhash.compute(_rgb_array(img))
    return _bits_to_hex(bits), int(quality)


def pdq_dihedral_from_image(img: Image.Image) -> tuple[dict[str, str], int]:
    """The 8 dihedral PDQ hashes of an RGB image (name → hex, see :data:`PDQ_VARIANTS`) and the quality.

    Computing all 8 costs barely more than one: they share the luma filter and DCT.
    """
    variants, quality = pdqhash.compute_dihedral(_rgb_array(img))
    return {name: _bits_to_hex(bits) for name, bits in zip(PDQ_VARIANTS, variants)}, int(quality)


def pdq_dihedral_fast(img: Image.Image, full_size: tuple[int, int] | None = None) -> tuple[dict[str, str], int]:
    """The 8 dihedral PDQ hashes and quality of an RGB or greyscale image that may be a reduced decode of a
    ``full_size`` (width, height) original, computed with :mod:`bastion.media.pdq`.

    Equal to ``pdqhash`` on the same pixels when ``img`` is full size; from a reduced decode, (nearly) the
    full-size image's hashes. Never for hashes that leave Bastion: those come from the reference path.
    """
    if img.mode not in ("RGB", "L"):
        raise ValueError(f"expected an RGB or L image, got mode {img.mode}; decode with bastion.media.decode")
    if img.mode == "L":  # already luma (the fast path's JPEG decode): export the bytes, widen in numpy
        luma = np.asarray(img).astype(np.float32)
    else:  # Pillow's RGB → F conversion is PDQ's luma in fixed point (weights exact to 1e-5), in one C pass
        luma = np.asarray(img.convert("F"))
    variants, quality = pdq_dihedral_luma(luma, full_size)
    return dict(zip(PDQ_VARIANTS, variants)), quality


def pdq_trimmed_dihedral(
    img: Image.Image, full_size: tuple[int, int] | None = None
) -> tuple[dict[str, str], int, Trim] | None:
    """The 8 dihedral PDQ hashes and quality of ``img`` with its uniform border cut off, and what was cut;
    ``None`` when it has no border worth trimming (see :mod:`bastion.media.borders`).

    With ``full_size`` (``img`` is a reduced decode of an original that large) the trimmed part is hashed with
    :func:`pdq_dihedral_fast` for its size in the original; without it, with ``pdqhash`` on ``img``'s pixels.

    An extra query beside the whole image's hashes, never instead of them: a picture whose own edge is
    plain may be trimmed into something else, and the untrimmed hash still matches it.
    """
    found = trim_border(img)
    if found is None:
        return None
    trimmed, trim = found
    if full_size is None:
        variants, quality = pdq_dihedral_from_image(trimmed)
    else:
        sx, sy = full_size[0] / img.width, full_size[1] / img.height
        kept = (max(trimmed.width, round(trimmed.width * sx)), max(trimmed.height, round(trimmed.height * sy)))
        variants, quality = pdq_dihedral_fast(trimmed, kept)
    return variants, quality, trim


def _decode_for_pdq(data: bytes, limits: DecodeLimits, fast: bool) -> DecodedImage:
    if fast:
        return decode_rgb(data, limits=limits, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True)
    return decode_rgb(data, limits=limits)


def pdq_hash(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS, fast: bool = True) -> PdqHash:
    """Decode ``data`` safely and PDQ-hash it. Raises the :mod:`bastion.errors` media errors."""
    decoded = _decode_for_pdq(data, limits, fast)
    if fast:
        variants, quality = pdq_dihedral_fast(decoded.image, (decoded.width, decoded.height))
        hex_hash = variants["original"]
    else:
        hex_hash, quality = pdq_from_image(decoded.image)
    return PdqHash(
        hash=hex_hash,
        quality=quality,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        orientation=decoded.orientation,
        notes=decoded.notes,
    )


def pdq_dihedral(
    data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS, fast: bool = True
) -> tuple[dict[str, str], int]:
    """Decode ``data`` and return its 8 dihedral PDQ hashes (name → hex) and the quality."""
    decoded = _decode_for_pdq(data, limits, fast)
    if fast:
        return pdq_dihedral_fast(decoded.image, (decoded.width, decoded.height))
    return pdq_dihedral_from_image(decoded.image)


# --- distance ------------------------------------------------------------------------------------


_HEX = re.compile(r"[0-9a-fA-F]+")


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two equal-length hex hashes (PDQ: 0–256).

    Raises :class:`~bastion.errors.InvalidHash` rather than guessing: ``int(x, 16)`` alone would accept
    ``"0x.."``, underscores and whitespace, and unequal lengths have no meaningful distance.
    """
    for name, value in (("first", a_hex), ("second", b_hex)):
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise InvalidHash(f"{name} hash is not plain hexadecimal: {value!r}")
    if len(a_hex) != len(b_hex):
        raise InvalidHash(f"cannot compare hashes of different lengths ({len(a_hex)} vs {len(b_hex)} hex digits)")
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
