"""Damage a viewer tolerates must not hide an image from the banks (issue 12, item 2).

Each probe made a banked image decode to nothing (``pdq: null``, no match) while viewers still showed it.
The strict decode still fails on each; the tolerant one hashes what decodes and says why in ``damaged``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "scan"))
import probes  # noqa: E402

from bastion.errors import TruncatedMedia, UnsupportedMedia
from bastion.media.decode import decode_rgb
from bastion.media.hashing import pdq_from_image

IMAGE = probes.pattern(3)
PNG = probes.png_bytes(IMAGE)
JPEG = probes.jpeg_bytes(IMAGE)

DAMAGED = {
    "png-ztxt-over-1mib": (probes.with_huge_ztxt(IMAGE), PNG, 0),
    "png-bad-crc-ancillary": (probes.with_bad_crc_chunk(IMAGE), PNG, 0),
    "jpeg-without-eoi": (probes.jpeg_without_eoi(IMAGE), JPEG, 0),
    "jpeg-last-64-bytes-cut": (probes.jpeg_cut(IMAGE, 64), JPEG, 31),
}


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_strict_decode_refuses_the_damaged_file(name):
    data, _, _ = DAMAGED[name]
    with pytest.raises(TruncatedMedia):
        decode_rgb(data, tolerant=False)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_tolerant_decode_hashes_what_a_viewer_shows(name):
    data, original, max_bits = DAMAGED[name]
    expected = pdq_from_image(decode_rgb(original).image)[0]
    decoded = decode_rgb(data)
    assert decoded.damaged and "truncated or corrupt" in decoded.damaged
    assert any(n.startswith("damaged: ") for n in decoded.notes)
    assert (decoded.width, decoded.height) == IMAGE.size
    assert _distance(pdq_from_image(decoded.image)[0], expected) <= max_bits


def test_an_undamaged_file_is_not_flagged():
    assert decode_rgb(PNG).damaged is None and decode_rgb(JPEG).damaged is None


def test_damage_in_the_pixel_chunks_still_fails_clearly():
    # An IHDR whose CRC is wrong: the pixel layout cannot be trusted, so no tolerant guess is made.
    broken = bytearray(PNG)
    broken[29] ^= 0xFF  # last CRC byte of IHDR
    with pytest.raises(TruncatedMedia):
        decode_rgb(bytes(broken))
    with pytest.raises(UnsupportedMedia):
        decode_rgb(b"not an image at all")
