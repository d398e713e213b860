"""Exact and PDQ hashes: formats of the values, agreement with the reference, colour modes, dihedral
variants, orientation, quality gate, Hamming distance.

Images are benign and generated here (gradients, shapes, noise, scikit-image's bundled sample photos).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw
from skimage import data as skdata

from bastion.errors import DecompressionBomb, InvalidHash, MediaError, UnsupportedMedia
from bastion.media.decode import decode_rgb
from bastion.media.hashing import (
    MIN_MATCH_QUALITY,
    PDQ_FAST_MIN_SIDE,
    PDQ_VARIANT_TRANSPOSE,
    PDQ_VARIANTS,
    CryptoHashes,
    PdqHash,
    crypto_hashes,
    hamming,
    is_matchable,
    pdq_dihedral,
    pdq_dihedral_from_image,
    pdq_from_image,
    pdq_hash,
)

HEX64 = re.compile(r"[0-9a-f]{64}")


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def photo(size: tuple[int, int] | None = None, seed: int = 0) -> Image.Image:
    """scikit-image's bundled coffee-cup photo (no download), optionally upscaled, with mild noise."""
    img = Image.fromarray(skdata.coffee())
    if size is not None:
        img = img.resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.int16) + rng.normal(0, 3, (img.height, img.width, 3)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def shapes(width: int = 320, height: int = 200) -> Image.Image:
    img = Image.new("RGB", (width, height), (30, 60, 90))
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, width // 3, height // 2), fill=(240, 200, 40))
    draw.ellipse((width // 2, height // 4, width - 10, height - 10), fill=(20, 180, 120))
    draw.polygon([(width // 4, height - 5), (width // 2, height // 2), (width // 3, height - 40)], fill=(250, 250, 250))
    return img


def reference_pdq(data: bytes) -> tuple[str, int]:
    """Independent reference: full Pillow decode → RGB → pdqhash, bits written out as a binary string."""
    with Image.open(io.BytesIO(data)) as im:
        bits, quality = pdqhash.compute(np.asarray(im.convert("RGB")))
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}", int(quality)


# --- exact hashes ----------------------------------------------------------------------------------


def test_crypto_hashes_match_the_standard_test_vectors() -> None:
    abc = crypto_hashes(b"abc")
    assert abc == CryptoHashes(
        md5="900150983cd24fb0d6963f7d28e17f72",
        sha1="a9993e364706816aba3e25717850c26c9cd0d89d",
        sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    )
    assert crypto_hashes(b"").md5 == "d41d8cd98f00b204e9800998ecf8427e"


def test_crypto_hashes_of_an_image_are_lowercase_digests_of_its_bytes() -> None:
    data = encode(shapes(), "PNG")
    h = crypto_hashes(data)
    assert (h.md5, h.sha1, h.sha256) == tuple(
        hashlib.new(name, data).hexdigest() for name in ("md5", "sha1", "sha256")
    )
    assert h.sha256 == h.sha256.lower() and len(h.sha256) == 64
    assert crypto_hashes(data + b"\x00").sha256 != h.sha256


# --- PDQ against the reference ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_full_pdq_equals_the_reference_hash_and_quality(fmt: str) -> None:
    data = encode(photo(), fmt)
    ours = pdq_hash(data, fast=False)
    assert isinstance(ours, PdqHash)
    assert HEX64.fullmatch(ours.hash)
    assert (ours.hash, ours.quality) == reference_pdq(data)
    assert (ours.width, ours.height, ours.format) == (600, 400, fmt.lower())


def test_fast_pdq_hashes_a_reduced_decode_within_a_few_bits_of_the_full_one() -> None:
    data = encode(photo((2000, 1500), seed=1), "JPEG", quality=90)
    reduced = decode_rgb(data, min_side=PDQ_FAST_MIN_SIDE).image
    assert reduced.size == (1000, 750)  # the fast path really decodes less
    fast, full = pdq_hash(data), pdq_hash(data, fast=False)
    assert (fast.width, fast.height) == (full.width, full.height) == (2000, 1500)
    assert fast.hash != "0" * 64 and fast.quality >= MIN_MATCH_QUALITY
    assert hamming(fast.hash, full.hash) <= 16
    unrelated = pdq_hash(encode(shapes(2000, 1500), "JPEG"))
    assert hamming(fast.hash, unrelated.hash) > 64


def test_fast_pdq_on_png_uses_a_box_reduce_and_stays_close() -> None:
    data = encode(photo((1600, 1200), seed=2), "PNG", compress_level=1)
    assert decode_rgb(data, min_side=PDQ_FAST_MIN_SIDE).image.size == (800, 600)
    assert hamming(pdq_hash(data).hash, pdq_hash(data, fast=False).hash) <= 16


# --- colour modes ----------------------------------------------------------------------------------


def test_cmyk_jpeg_hashes_like_its_rgb_conversion() -> None:
    data = encode(photo().convert("CMYK"), "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as im:
        rgb_hash, _ = pdq_from_image(im.convert("RGB"))
        naive_bits, _ = pdqhash.compute(np.ascontiguousarray(np.asarray(im)[:, :, :3]))
    naive = np.packbits(naive_bits.astype(np.uint8)).tobytes().hex()
    ours = pdq_hash(data, fast=False).hash
    assert hamming(ours, rgb_hash) == 0
    assert hamming(ours, naive) > 128  # what hashing the raw CMYK channels would have given


@pytest.mark.parametrize("mode", ["P", "LA", "1", "RGBA", "L"])
def test_png_modes_hash_like_their_rgb_conversion(mode: str) -> None:
    src = photo()
    img = src.quantize(64) if mode == "P" else src.convert(mode)
    data = encode(img, "PNG")
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == mode
        expected, _ = pdq_from_image(stored.convert("RGB"))
    for fast in (False, True):
        assert pdq_hash(data, fast=fast).hash == expected


def test_sixteen_bit_png_hashes_like_the_eight_bit_image() -> None:
    grey8 = np.asarray(photo().convert("L"))
    data16 = encode(Image.fromarray(grey8.astype(np.uint16) * 257), "PNG")
    data8 = encode(Image.fromarray(grey8), "PNG")
    assert pdq_hash(data16, fast=False).hash == pdq_hash(data8, fast=False).hash


# --- dihedral variants -----------------------------------------------------------------------------


def test_variant_names_are_in_compute_dihedral_order_and_mean_what_they_say() -> None:
    src = photo().crop((0, 0, 560, 400))  # not square, so rotations change the shape
    variants, quality = pdq_dihedral(encode(src, "PNG"), fast=False)
    assert tuple(variants) == PDQ_VARIANTS and len(set(variants.values())) == 8
    assert variants["original"] == pdq_hash(encode(src, "PNG"), fast=False).hash
    assert quality >= MIN_MATCH_QUALITY
    for name, transpose in PDQ_VARIANT_TRANSPOSE.items():
        moved = src if transpose is None else src.transpose(transpose)
        direct, _ = pdq_from_image(moved)
        distances = {other: hamming(direct, h) for other, h in variants.items()}
        assert min(distances, key=distances.get) == name
        assert distances[name] <= 20, distances


def test_dihedral_from_image_agrees_with_bytes_entry_point() -> None:
    src = shapes()
    from_image, q1 = pdq_dihedral_from_image(src)
    from_bytes, q2 = pdq_dihedral(encode(src, "PNG"))
    assert from_image == from_bytes and q1 == q2


# --- orientation -----------------------------------------------------------------------------------


def test_exif_rotated_jpeg_hashes_as_displayed_and_raw_pixels_match_a_variant() -> None:
    """The decision in docs/decisions/0002: hash what a viewer shows; a bank made from the raw stored
    pixels (no EXIF handling, as python-threatexchange does) still matches through the dihedral lookup."""
    src = photo().crop((0, 0, 560, 400))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display = stored rotated 90° clockwise
    rotated_file = encode(src, "JPEG", quality=95, exif=exif.tobytes())
    displayed = src.transpose(Image.Transpose.ROTATE_270)
    ours = pdq_hash(rotated_file, fast=False)
    assert ours.orientation == 6 and (ours.width, ours.height) == (400, 560)
    assert hamming(ours.hash, pdq_from_image(displayed)[0]) <= 16
    raw_hash, _ = reference_pdq(rotated_file)  # ignores EXIF
    assert hamming(ours.hash, raw_hash) > 64
    variants, _ = pdq_dihedral(rotated_file, fast=False)
    assert hamming(variants["rot90"], raw_hash) <= 20


# --- quality ---------------------------------------------------------------------------------------


def test_featureless_images_have_low_quality_and_are_not_matchable() -> None:
    flat = pdq_hash(encode(Image.new("RGB", (300, 300), (128, 128, 128)), "PNG"))
    assert flat.quality < MIN_MATCH_QUALITY and not flat.matchable
    rich = pdq_hash(encode(photo(), "PNG"))
    assert rich.quality >= MIN_MATCH_QUALITY and rich.matchable
    assert is_matchable(30, min_quality=20) and not is_matchable(30)


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (7, 5)])
def test_tiny_images_hash_without_crashing(size: tuple[int, int]) -> None:
    h = pdq_hash(encode(Image.new("RGB", size, (10, 200, 30)), "PNG"))
    assert HEX64.fullmatch(h.hash) and h.quality < MIN_MATCH_QUALITY


# --- errors and notes ------------------------------------------------------------------------------


def test_hashing_bad_input_raises_media_errors() -> None:
    with pytest.raises(UnsupportedMedia):
        pdq_hash(b"")
    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    chunk = lambda k, p: struct.pack(">I", len(p)) + k + p + struct.pack(">I", zlib.crc32(k + p))  # noqa: E731
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 9)) + chunk(b"IEND", b"")
    with pytest.raises(DecompressionBomb):
        pdq_dihedral(bomb)
    jpeg = encode(photo(), "JPEG")
    # A cut JPEG is hashed as far as it decodes (issue 12: damage must not hide an image), and says so.
    assert any(n.startswith("damaged: ") for n in pdq_hash(jpeg[: len(jpeg) // 3]).notes)
    with pytest.raises(MediaError):
        pdq_hash(jpeg[:400])
    with pytest.raises(ValueError, match="RGB"):
        pdq_from_image(Image.new("L", (10, 10)))


def test_decoder_notes_travel_with_the_hash() -> None:
    frames = [shapes().quantize(32), shapes().rotate(180).quantize(32)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert any("animated" in n for n in pdq_hash(data).notes)


# --- Hamming distance ------------------------------------------------------------------------------


def test_hamming_counts_differing_bits() -> None:
    a = "0" * 64
    assert hamming(a, a) == 0
    assert hamming(a, "f" * 64) == 256
    assert hamming("0f", "ff") == hamming("ff", "0f") == 4
    assert hamming("A0", "a1") == 1  # case does not matter


@pytest.mark.parametrize(("a", "b"), [("0f", "fff"), ("zz", "00"), ("0x1", "001"), ("", ""), ("1_0", "100"),
                                      (" 1", "01"), (None, "00")])
def test_hamming_rejects_what_is_not_two_equal_length_hex_strings(a, b) -> None:
    with pytest.raises(InvalidHash):
        hamming(a, b)


# --- allocator tuning (used by hashing workers) ----------------------------------------------------


def test_allocator_tuning_applies_on_glibc_in_a_fresh_process() -> None:
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    code = "from bastion.media.alloc import tune_allocator as t; r = t(); print(r.applied, r.mmap_threshold, r.libc)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["True", str(64 * 1024 * 1024), "glibc"]


def test_allocator_tuning_is_a_no_op_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.media import alloc

    monkeypatch.setattr(alloc.sys, "platform", "darwin")
    result = alloc.tune_allocator()
    assert not result.applied and result.libc is None and result.reason == "not glibc"
