"""Safe decoding: formats, limits, broken files, colour modes, orientation, reduced decodes.

Every image is generated here (gradients, shapes, noise) — no files on disk, nothing downloaded.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile, ImageOps

from bastion.errors import DecompressionBomb, MediaError, TruncatedMedia, UnsupportedMedia
from bastion.media.decode import (
    DEFAULT_LIMITS,
    ORIENTATION_TRANSPOSE,
    DecodedImage,
    DecodeLimits,
    decode_rgb,
    open_image,
    to_rgb,
)
from bastion.media.formats import sniff_format

# --- benign generated fixtures ---------------------------------------------------------------------


def gradient_rgb(width: int = 120, height: int = 80) -> Image.Image:
    """An asymmetric picture: colour ramps plus a white block in the top-left corner and a red disc."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    arr = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
    arr[: height // 5, : width // 4] = 255
    img = Image.fromarray(arr)
    ImageDraw.Draw(img).ellipse((width // 2, height // 2, width - 4, height - 4), fill=(220, 30, 30))
    return img


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    if fmt == "HEIF":
        pillow_heif.from_pillow(img).save(buf, format="HEIF", quality=90)
    else:
        img.save(buf, fmt, **params)
    return buf.getvalue()


FORMATS = {  # our name -> (Pillow save format, save params, lossless?)
    "jpeg": ("JPEG", {"quality": 92}, False),
    "png": ("PNG", {}, True),
    "webp": ("WEBP", {"lossless": True}, True),
    "gif": ("GIF", {}, False),  # palette quantisation
    "bmp": ("BMP", {}, True),
    "tiff": ("TIFF", {}, True),
    "heic": ("HEIF", {}, False),
    "avif": ("AVIF", {"quality": 90}, False),
}


def sample(fmt: str, img: Image.Image | None = None) -> bytes:
    save_fmt, params, _ = FORMATS[fmt]
    return encode(img or gradient_rgb(), save_fmt, **params)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """A syntactically valid PNG header that declares a huge size over a few bytes of data (never allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif_declaring(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x4c\x01\x00"
    return screen + frame + b";"


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 marker is patched to declare another size."""
    data = bytearray(encode(gradient_rgb(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# --- sniffing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_sniff_names_every_supported_format(fmt: str) -> None:
    assert sniff_format(sample(fmt)) == fmt


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world, not an image", b"BM but text", b"\x00" * 100, b"%PDF-1.7\n", b"\xff\xd8"],
)
def test_sniff_rejects_what_is_no_media(data: bytes) -> None:
    assert sniff_format(data) is None


def test_sniff_tells_avif_from_heic_under_a_generic_mif1_brand() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return struct.pack(">I", 8 + len(body)) + b"ftyp" + body

    assert sniff_format(ftyp(b"mif1", b"mif1", b"avif")) == "avif"
    assert sniff_format(ftyp(b"mif1", b"mif1", b"heic")) == "heic"
    assert sniff_format(ftyp(b"heic", b"mif1")) == "heic"
    assert sniff_format(ftyp(b"mp42", b"isom")) == "mp4"  # a movie: the decoder refuses it (tests/media/test_sniff_format.py)


# --- decoding every format ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_decodes_every_format_to_rgb_of_the_right_size(fmt: str) -> None:
    src = gradient_rgb()
    out = decode_rgb(sample(fmt, src))
    assert isinstance(out, DecodedImage)
    assert out.format == fmt
    assert out.image.mode == "RGB"
    assert out.image.size == (out.width, out.height) == src.size
    diff = np.abs(np.asarray(out.image, dtype=int) - np.asarray(src, dtype=int))
    if FORMATS[fmt][2]:
        assert diff.max() == 0
    else:  # lossy codecs: close to the source on average, not arbitrary pixels
        assert diff.mean() < 12


def test_open_image_parses_the_header_without_decoding_pixels() -> None:
    im = open_image(sample("png"))
    assert im.size == (120, 80)
    assert im.tile, "pixels should still be pending (tile list not consumed)"


# --- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("png", png_declaring(100_000, 100_000)),
        ("gif", gif_declaring(65_535, 65_535)),
        ("jpeg", jpeg_declaring(65_000, 65_000)),
    ],
)
def test_declared_bomb_is_refused_before_decoding(fmt: str, data: bytes) -> None:
    assert len(data) < 2_000  # a few bytes claiming gigapixels
    with pytest.raises(DecompressionBomb) as err:
        decode_rgb(data)
    msg = str(err.value)
    assert msg.startswith(fmt) and "limit is 100,000,000 pixels" in msg
    assert "×" in msg  # the declared size is spelled out


def test_own_limit_applies_to_small_images_too() -> None:
    data = sample("png")
    with pytest.raises(DecompressionBomb, match="120×80 = 9,600 pixels"):
        open_image(data, DecodeLimits(max_pixels=9_599))
    assert open_image(data, DecodeLimits(max_pixels=9_600)).size == (120, 80)
    with pytest.raises(DecompressionBomb):
        decode_rgb(data, limits=DecodeLimits(max_side=100))


def test_our_limit_is_checked_instead_of_pillows_global_one() -> None:
    """A 200 MP header is above Pillow's own bomb threshold; with a larger limit of ours, Pillow must not
    warn or raise first, and its global setting must stay untouched."""
    before = Image.MAX_IMAGE_PIXELS
    data = png_declaring(20_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        im = open_image(data, DecodeLimits(max_pixels=300_000_000))
    assert im.size == (20_000, 10_000)
    with pytest.raises(DecompressionBomb, match="200,000,000 pixels"):
        open_image(data)
    assert Image.MAX_IMAGE_PIXELS == before


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DecodeLimits(max_pixels=0)
    assert DEFAULT_LIMITS.max_pixels == 100_000_000


# --- bad files -------------------------------------------------------------------------------------


def test_zero_byte_file_is_unsupported_and_says_empty() -> None:
    with pytest.raises(UnsupportedMedia, match="empty"):
        decode_rgb(b"")


def test_random_bytes_are_unsupported() -> None:
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert sniff_format(data) is None
    with pytest.raises(UnsupportedMedia, match="unknown or unsupported format"):
        open_image(data)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_truncated_file_raises_truncated_media(fmt: str) -> None:
    data = sample(fmt)
    with pytest.raises(TruncatedMedia) as err:
        decode_rgb(data[: len(data) // 2], tolerant=False)
    assert str(err.value).startswith(fmt)
    try:  # the tolerant decode (the default) either reads it and says it is damaged, or fails the same way
        decoded = decode_rgb(data[: len(data) // 2])
    except TruncatedMedia as again:
        assert str(again).startswith(fmt)
    else:
        assert decoded.damaged


def test_jpeg_missing_only_its_end_is_truncated_strictly_and_flagged_when_tolerant() -> None:
    """Pillow could show it with LOAD_TRUNCATED_IMAGES; the strict decode refuses, the tolerant one reads
    it as far as it goes and says it is damaged, and neither touches the global flag."""
    data = sample("jpeg")
    with pytest.raises(TruncatedMedia):
        decode_rgb(data[:-200], tolerant=False)
    assert decode_rgb(data[:-200]).damaged
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    "magic", [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
)
def test_valid_magic_with_garbage_body_is_a_media_error(magic: bytes) -> None:
    body = np.random.default_rng(3).integers(0, 256, 2048, dtype=np.uint8).tobytes()
    with pytest.raises(MediaError):
        decode_rgb(magic + body)


_FUZZ_SEEDS = {fmt: sample(fmt, gradient_rgb(24, 16)) for fmt in ("jpeg", "png", "gif", "bmp", "tiff", "webp")}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(_FUZZ_SEEDS)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.floats(0.05, 1.0),
)
def test_corrupted_files_give_an_image_or_a_media_error_never_anything_else(fmt, edits, cut) -> None:
    data = bytearray(_FUZZ_SEEDS[fmt])
    for where, value in edits:
        data[int(where * len(data))] = value
    data = bytes(data[: max(1, int(cut * len(data)))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow warnings must become notes, not escape
        try:
            out = decode_rgb(data, limits=DecodeLimits(max_pixels=4_000_000))
        except MediaError:
            return
    assert out.image.mode == "RGB" and out.image.size[0] * out.image.size[1] <= 4_000_000


# --- colour modes ----------------------------------------------------------------------------------


def test_cmyk_jpeg_decodes_to_its_rgb_conversion() -> None:
    cmyk = gradient_rgb().convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    out = decode_rgb(data)
    with Image.open(io.BytesIO(data)) as ref:
        assert ref.mode == "CMYK"
        expected = ref.convert("RGB")
    assert np.array_equal(np.asarray(out.image), np.asarray(expected))


@pytest.mark.parametrize("mode", ["P", "LA", "L", "1", "RGBA"])
def test_png_colour_modes_decode_like_their_rgb_conversion(mode: str) -> None:
    src = gradient_rgb()
    img = src.quantize(64) if mode == "P" else src.convert(mode)
    data = encode(img, "PNG")
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == mode
        expected = stored.convert("RGB")
    assert np.array_equal(np.asarray(decode_rgb(data).image), np.asarray(expected))


def test_palette_png_with_transparency_keeps_its_colours() -> None:
    img = gradient_rgb().quantize(32)
    data = encode(img, "PNG", transparency=0)
    out = decode_rgb(data).image
    assert np.array_equal(np.asarray(out), np.asarray(img.convert("RGB")))


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey8 = np.asarray(gradient_rgb().convert("L"))
    grey16 = grey8.astype(np.uint16) * 257
    data = encode(Image.fromarray(grey16), "PNG")
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode.startswith("I")
        naive = np.asarray(stored.convert("RGB"))
    out = np.asarray(decode_rgb(data).image)
    assert np.array_equal(out, np.repeat(grey8[..., None], 3, axis=-1))
    assert (naive == 255).mean() > 0.9 > (out == 255).mean()  # why Pillow's convert is not used


def test_float_and_pa_modes_convert() -> None:
    f = Image.fromarray(np.linspace(-1.0, 3.0, 200, dtype=np.float32).reshape(10, 20), "F")
    arr = np.asarray(to_rgb(f))
    assert arr.shape == (10, 20, 3) and arr.min() == 0 and arr.max() == 255
    pa = gradient_rgb().quantize(16).convert("PA")
    assert to_rgb(pa).mode == "RGB"
    with pytest.raises(UnsupportedMedia, match="colour mode La"):
        to_rgb(Image.new("La", (4, 4)))


# --- frames ----------------------------------------------------------------------------------------


def test_gif_first_frame_is_decoded_and_the_animation_noted() -> None:
    first = gradient_rgb().quantize(64)
    second = gradient_rgb().transpose(Image.Transpose.ROTATE_180).quantize(64)
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    out = decode_rgb(data)
    with Image.open(io.BytesIO(data)) as ref:
        assert ref.n_frames == 2
        expected = ref.convert("RGB")
    assert np.array_equal(np.asarray(out.image), np.asarray(expected))
    assert any("animated" in n for n in out.notes)
    assert not decode_rgb(encode(first, "GIF")).notes


def test_multipage_tiff_notes_the_pages_it_ignored() -> None:
    img = gradient_rgb()
    data = encode(img, "TIFF", save_all=True, append_images=[img.rotate(90)])
    out = decode_rgb(data)
    assert np.array_equal(np.asarray(out.image), np.asarray(img))
    assert any("2 frames" in n for n in out.notes)


# --- orientation -----------------------------------------------------------------------------------


def with_orientation(img: Image.Image, fmt: str, value: int, **params) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return encode(img, fmt, exif=exif.tobytes(), **params)


@pytest.mark.parametrize("value", sorted(ORIENTATION_TRANSPOSE))
def test_exif_orientation_is_applied_like_a_viewer(value: int) -> None:
    src = gradient_rgb(120, 80)
    data = with_orientation(src, "PNG", value)
    out = decode_rgb(data)
    with Image.open(io.BytesIO(data)) as stored:
        expected = ImageOps.exif_transpose(stored).convert("RGB")
    assert out.orientation == value
    assert (out.width, out.height) == expected.size == ((80, 120) if value >= 5 else (120, 80))
    assert np.array_equal(np.asarray(out.image), np.asarray(expected))


def test_invalid_orientation_is_ignored_with_a_note() -> None:
    out = decode_rgb(with_orientation(gradient_rgb(), "PNG", 9))
    assert out.orientation == 1 and out.image.size == (120, 80)
    assert any("invalid EXIF orientation 9" in n for n in out.notes)


def test_corrupt_exif_becomes_a_note_and_the_image_still_decodes() -> None:
    data = encode(gradient_rgb(), "PNG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x12\x01")
    for as_error in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error" if as_error else "always")
            out = decode_rgb(data)
        assert out.orientation == 1 and out.image.size == (120, 80)
        assert any("EXIF" in n for n in out.notes), out.notes


def test_heic_and_avif_come_out_in_displayed_orientation_like_jpeg() -> None:
    src = gradient_rgb(120, 80)
    jpeg = decode_rgb(with_orientation(src, "JPEG", 6, quality=95))
    avif = decode_rgb(with_orientation(src, "AVIF", 6, quality=95))
    heif = pillow_heif.from_pillow(src)
    exif = Image.Exif()
    exif[0x0112] = 6
    heif.info["exif"] = exif.tobytes()
    buf = io.BytesIO()
    heif.save(buf, format="HEIF", quality=95)
    heic = decode_rgb(buf.getvalue())
    for out in (jpeg, avif, heic):
        assert out.orientation == 6
        assert (out.width, out.height) == out.image.size == (80, 120)
        ref = np.asarray(jpeg.image, dtype=int)
        assert np.abs(np.asarray(out.image, dtype=int) - ref).mean() < 12


# --- reduced decodes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("min_side", "expected"), [(None, (1600, 1200)), (600, (800, 600)), (512, (800, 600)),
                                                    (300, (400, 300)), (100, (200, 150)), (2000, (1600, 1200))])
def test_jpeg_reduced_decode_keeps_the_short_side(min_side, expected) -> None:
    data = encode(gradient_rgb(1600, 1200), "JPEG", quality=90)
    out = decode_rgb(data, min_side=min_side)
    assert out.image.size == expected
    assert (out.width, out.height) == (1600, 1200)


def test_reduced_decode_of_a_png_box_reduces_and_respects_min_side() -> None:
    data = encode(gradient_rgb(900, 700), "PNG")
    out = decode_rgb(data, min_side=200)  # factor 700 // 200 = 3; Pillow rounds partial blocks up
    assert out.image.size == (300, 234) and min(out.image.size) >= 200
    assert (out.width, out.height) == (900, 700)
    assert decode_rgb(data, min_side=400).image.size == (900, 700)  # factor 1: no reduce


def test_reduced_decode_of_a_rotated_jpeg_reports_the_oriented_full_size() -> None:
    data = with_orientation(gradient_rgb(1600, 1200), "JPEG", 8, quality=90)
    out = decode_rgb(data, min_side=512)
    assert (out.width, out.height) == (1200, 1600)
    assert out.image.size == (600, 800)


def test_min_side_must_be_positive() -> None:
    with pytest.raises(ValueError):
        decode_rgb(sample("png"), min_side=0)


def test_decoding_leaves_pillow_global_state_alone() -> None:
    opened = dict(Image.OPEN)
    limit, truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    for fmt in FORMATS:
        decode_rgb(sample(fmt))
    assert dict(Image.OPEN) == opened
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (limit, truncated)
