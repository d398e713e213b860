"""The PDQ hash partners compute, for every hash that leaves Bastion (exports, NCMEC reports, the vault's
record, ``bastion hash --reference``).

Bastion matches on the *displayed* picture: EXIF orientation applied, 16-bit images scaled to 8 bits
(:mod:`bastion.media.decode`). Partners' tools hash differently, and a shared hash must agree with theirs bit
for bit. python-threatexchange (``pdq_hasher``, the reference most hash-sharing programmes use) opens the file
with Pillow and hashes the **stored pixels**:

* no EXIF rotation — a photo stored sideways with orientation 6 is hashed sideways;
* ``LA`` and 16-bit grayscale (``I;16``) through Pillow's own RGB conversion (which clips 16-bit values at
  255, it does not scale them);
* every other mode as its pixel array (grayscale repeated to three channels; of four channels the first
  three), then ``pdqhash``.

:func:`partner_pdq` follows that path exactly. The file is first decoded by Bastion's safe decoder (size
limits, bombs, truncation, typed errors), so a hostile file costs no more here than anywhere else. A mode the
partners' path cannot hash at all (their tool fails on it too) falls back to Bastion's own reference hash and
says so (``basis``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash

from bastion.media.decode import DEFAULT_LIMITS, DecodeLimits, decode_rgb, open_image

#: the ``basis`` of a hash computed as partners compute it
STORED_PIXELS = "stored-pixels"
#: the ``basis`` of Bastion's own orientation-corrected hash (used only when the partners' path cannot hash)
DISPLAYED = "displayed"

#: what exports say about the PDQ values they carry
EXPORT_NOTE = (
    "pdq: computed on the stored pixels as python-threatexchange's pdq_hasher does (no EXIF rotation; "
    "16-bit grayscale and LA through Pillow's RGB conversion)"
)


@dataclass(frozen=True)
class PartnerPdq:
    hash: str
    quality: int
    format: str
    #: :data:`STORED_PIXELS`, or :data:`DISPLAYED` when the partners' path could not hash this file
    basis: str


def _bits_to_hex(bits) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def partner_array(image) -> np.ndarray:
    """The array partners hash: Pillow's pixels of the file as stored (see the module's docstring)."""
    if image.mode in ("LA", "I;16"):
        image = image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., np.newaxis], 3, axis=2)
    return np.ascontiguousarray(arr)


def partner_pdq(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS) -> PartnerPdq:
    """PDQ (hex, quality) of ``data`` as partners compute it. Raises the :mod:`bastion.errors` media errors
    for what Bastion's safe decoder refuses (not an image, a bomb, a truncated file)."""
    decoded = decode_rgb(data, limits=limits)  # the safety checks, and the fallback picture
    image = open_image(data, limits)
    try:
        image.load()
        bits, quality = pdqhash.compute(partner_array(image))
        return PartnerPdq(_bits_to_hex(bits), int(quality), decoded.format, STORED_PIXELS)
    except (ValueError, TypeError, OSError):  # e.g. a 32-bit or 1-bit mode: the partners' tool fails on it too
        bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(decoded.image, dtype=np.uint8)))
        return PartnerPdq(_bits_to_hex(bits), int(quality), decoded.format, DISPLAYED)
    finally:
        image.close()


def partner_pdq_or_none(data: bytes) -> PartnerPdq | None:
    from bastion.errors import MediaError

    try:
        return partner_pdq(data)
    except MediaError:
        return None


__all__ = ["DISPLAYED", "EXPORT_NOTE", "PartnerPdq", "STORED_PIXELS", "partner_array", "partner_pdq", "partner_pdq_or_none"]
