"""bastion.media.pdq: PDQ as two banded linear maps. At full size it must be pdqhash bit for bit; from a
reduced decode it must stay within the drift the fast path promises, and far from other pictures."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from bastion.demo import generated_pattern
from bastion.media.decode import decode_rgb
from bastion.media.hashing import (
    PDQ_QUERY_MIN_SIDE,
    PDQ_VARIANTS,
    hamming,
    pdq_dihedral,
    pdq_dihedral_fast,
    pdq_hash,
    pdq_trimmed_dihedral,
)
from bastion.media.pdq import luma_of, pdq_dihedral_luma


def _hex(bits) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def _screenshot(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (248, 248, 248))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, size[0], size[1] // 12), fill=(40, 90, 160))
    font = ImageFont.load_default(size=18)
    for y in range(size[1] // 10, size[1] - 24, 30):
        draw.text((int(rng.integers(8, 60)), y), "lorem ipsum dolor sit amet " * int(rng.integers(1, 4)), fill=(20, 20, 20), font=font)
    return img


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(getattr(skdata, name)()).convert("RGB").resize(size, Image.Resampling.LANCZOS)


SIZES = [(5, 5), (7, 300), (64, 64), (127, 129), (333, 777), (640, 480), (1023, 511), (1200, 900)]


# (A screenshot a few pixels wide is blank: the DCT of a constant image is rounding noise in any implementation.)
@pytest.mark.parametrize("kind, size", [(k, s) for k in ("pattern", "photo", "screenshot") for s in SIZES
                                        if k != "screenshot" or min(s) >= 64])
def test_full_size_equals_pdqhash_bit_for_bit_with_every_variant_and_the_quality(size, kind):
    img = {"pattern": lambda: generated_pattern(sum(size), (max(size[0], 64), max(size[1], 64))).resize(size), "photo": lambda: _photo("astronaut", size),
           "screenshot": lambda: _screenshot(size, sum(size))}[kind]()
    rgb = np.ascontiguousarray(np.asarray(img))
    ref_variants, ref_quality = pdqhash.compute_dihedral(rgb)
    ours, quality = pdq_dihedral_luma(luma_of(rgb))
    assert quality == ref_quality
    assert ours == [_hex(v) for v in ref_variants]
    named, q = pdq_dihedral_fast(img)
    assert q == ref_quality and list(named) == list(PDQ_VARIANTS) and named["original"] == ours[0]


@pytest.mark.parametrize("size", [(1, 1), (4, 400), (400, 4)])
def test_images_too_small_to_hash_get_pdqhash_answer(size):
    rgb = np.full((size[1], size[0], 3), 90, dtype=np.uint8)
    bits, quality = pdqhash.compute(rgb)
    ours, q = pdq_dihedral_luma(luma_of(rgb))
    assert (ours[0], q) == (_hex(bits), quality) == ("0" * 64, 0)


def test_a_full_size_smaller_than_the_plane_is_refused():
    with pytest.raises(ValueError, match="smaller than the plane"):
        pdq_dihedral_luma(np.zeros((100, 100), np.float32), (50, 100))


def _jpeg(img: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["photo", "screenshot", "pattern"])
def test_from_a_reduced_decode_it_stays_near_the_reference_and_far_from_other_pictures(kind):
    size = (1600, 1200)
    img = {"photo": lambda: _photo("coffee", size), "screenshot": lambda: _screenshot(size, 3),
           "pattern": lambda: generated_pattern(11, size)}[kind]()
    data = _jpeg(img)
    reduced = decode_rgb(data, min_side=PDQ_QUERY_MIN_SIDE).image
    assert min(reduced.size) < min(size) // 2  # really decoded at a reduced scale
    fast, ref = pdq_hash(data), pdq_hash(data, fast=False)
    assert (fast.width, fast.height) == (ref.width, ref.height) == size
    assert hamming(fast.hash, ref.hash) <= 16 and abs(fast.quality - ref.quality) <= 5
    # the same reduced pixels hashed by pdqhash as a small image are much further off: the full size matters
    naive = _hex(pdqhash.compute(np.ascontiguousarray(np.asarray(reduced)))[0])
    assert hamming(naive, ref.hash) >= hamming(fast.hash, ref.hash)
    other = pdq_hash(_jpeg(generated_pattern(99, size)), fast=False)
    assert hamming(fast.hash, other.hash) > 64
    variants, _ = pdq_dihedral(data)
    ref_variants, _ = pdq_dihedral(data, fast=False)
    assert all(hamming(variants[n], ref_variants[n]) <= 16 for n in PDQ_VARIANTS)


def test_a_png_reduced_by_an_integer_factor_stays_near_the_reference():
    img = _photo("chelsea", (1500, 1000))
    out = io.BytesIO()
    img.save(out, "PNG")
    data = out.getvalue()
    assert decode_rgb(data, min_side=PDQ_QUERY_MIN_SIDE).image.size == (500, 334)
    assert hamming(pdq_hash(data).hash, pdq_hash(data, fast=False).hash) <= 16


@pytest.mark.parametrize("luma", [False, True])
def test_trimmed_hash_from_a_reduced_decode_matches_the_picture_inside_the_border(luma):
    inner = generated_pattern(5, (1000, 750))
    framed = Image.new("RGB", (1200, 900), (255, 255, 255))
    framed.paste(inner, (100, 75))
    data = _jpeg(framed, 92)
    decoded = decode_rgb(data, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=luma)
    assert decoded.image.mode == ("L" if luma else "RGB")
    found = pdq_trimmed_dihedral(decoded.image, (decoded.width, decoded.height))
    assert found is not None
    variants, quality, trim = found
    ref = pdq_hash(_jpeg(inner, 92), fast=False)
    assert hamming(variants["original"], ref.hash) <= 31 < hamming(pdq_hash(data).hash, ref.hash)


def test_luma_decode_only_for_reduced_colour_jpegs_and_it_hashes_like_the_rgb_decode():
    big = _jpeg(_photo("coffee", (1600, 1200)))
    small = _jpeg(_photo("coffee", (400, 300)))
    cmyk = io.BytesIO()
    _photo("coffee", (1600, 1200)).convert("CMYK").save(cmyk, "JPEG", quality=90)
    png = io.BytesIO()
    _photo("coffee", (1600, 1200)).save(png, "PNG")
    assert decode_rgb(big, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True).image.mode == "L"
    assert decode_rgb(small, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True).image.mode == "RGB"  # full size
    assert decode_rgb(cmyk.getvalue(), min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True).image.mode == "RGB"
    assert decode_rgb(png.getvalue(), min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True).image.mode == "RGB"
    luma = decode_rgb(big, min_side=PDQ_QUERY_MIN_SIDE, luma_when_reduced=True)
    rgb = decode_rgb(big, min_side=PDQ_QUERY_MIN_SIDE)
    assert luma.image.size == rgb.image.size and (luma.width, luma.height) == (1600, 1200)
    a, _ = pdq_dihedral_fast(luma.image, (luma.width, luma.height))
    b, _ = pdq_dihedral_fast(rgb.image, (rgb.width, rgb.height))
    assert hamming(a["original"], b["original"]) <= 8
    assert hamming(pdq_hash(big).hash, pdq_hash(big, fast=False).hash) <= 16
