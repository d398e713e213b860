"""The fast watermark path and the decode reuse give exactly the results of the straightforward ones.

The fast decoder avoids numpy's reversed-channel copies, shares one colour conversion per reading and
finds block maxima without an argmax; each shortcut is checked here against the plain reading
(``decode_bits_reference``: explicit BGR copy, PyWavelets, argmax), bit for bit.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from bastion.media.provenance import ProvenanceSettings, inspect_bytes, reusable_decode
from bastion.media.provenance.stealth import encode_stealth
from bastion.media.provenance.watermark import (
    SD1_BITS, SD2_BITS, SDXL_BITS, THRESHOLDS, _scores_from_u, decode_bits, decode_bits_reference, detect,
)

FIXTURES = Path(__file__).parent / "fixtures" / "watermark"
READINGS = [(136, False, True), (32, False, True), (48, True, True), (48, True, False), (48, False, False)]


def benign_images() -> list[np.ndarray]:
    """Varied unmarked images, odd sizes included (sides not multiples of 4 or 8, thin strips)."""
    rng = np.random.default_rng(11)
    out = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((256, 256), (301, 517), (263, 1001), (9, 8000))]
    yy, xx = np.mgrid[0:333, 0:290].astype(np.float32)
    out.append(np.clip(np.stack([xx * 0.8, yy * 0.7, (xx + yy) * 0.4], -1), 0, 255).astype(np.uint8))
    out.append(np.full((300, 300, 3), (200, 17, 90), np.uint8))  # flat: every block has tied magnitudes
    checker = (((xx // 7 + yy // 7) % 2) * 255).astype(np.uint8)
    out.append(np.stack([checker, 255 - checker, checker // 2], -1))
    for name in ("coffee", "chelsea", "rocket"):
        photo = getattr(skdata, name)()
        out.append(np.ascontiguousarray(photo[: photo.shape[0] // 2 * 2 + 1, ::-1]))
    return out


def fixture_images() -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(FIXTURES.glob("*.png"))]


@pytest.mark.parametrize("index", range(len(benign_images())))
def test_fast_bits_equal_reference_on_benign_images(index):
    img = benign_images()[index]
    for length, as_float, bgr in READINGS:
        fast = decode_bits(img, length, as_float=as_float, bgr_order=bgr)
        ref = decode_bits_reference(img, length, as_float=as_float, bgr_order=bgr)
        assert np.array_equal(fast, ref), (img.shape, length, as_float, bgr)


def reference_scores(img: np.ndarray) -> dict[str, int]:
    """Best agreement per scheme from the plain reading, as detect() defines it."""
    agree = lambda bits, msg: int((bits == msg).sum())  # noqa: E731
    return {
        "sd1": agree(decode_bits_reference(img, 136, as_float=False), SD1_BITS),
        "sd2": agree(decode_bits_reference(img, 32, as_float=False), SD2_BITS),
        "sdxl": max(agree(decode_bits_reference(img, 48, as_float=True, bgr_order=b), SDXL_BITS) for b in (True, False)),
    }


def test_detect_scores_and_hits_equal_reference_on_fixtures_and_benign_images():
    marked_hits = 0
    for img in fixture_images() + benign_images():
        res = detect(img)
        ref = reference_scores(img)
        assert {k: v.matched for k, v in res.scores.items()} == ref
        assert {h.scheme for h in res.hits} == {k for k, v in ref.items() if v >= THRESHOLDS[k]}
        marked_hits += bool(res.hits)
    assert marked_hits >= 8  # the comparison covered real marks, not only misses


def test_opencv_integer_yuv_is_channel_order_symmetric_for_every_colour():
    """The uint8 shortcut (RGB2YUV on RGB instead of BGR2YUV on a reversed copy) for all 2**24 colours,
    at two row widths so both OpenCV's vector body and its scalar tail are exercised."""
    codes = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1).astype(np.uint8)
    for width in (4096, 4093):
        n = rgb.shape[0] // width * width
        img = rgb[:n].reshape(-1, width, 3)
        fast = cv2.cvtColor(img, cv2.COLOR_RGB2YUV)[:, :, 1]
        plain = cv2.cvtColor(np.ascontiguousarray(img[:, :, ::-1]), cv2.COLOR_BGR2YUV)[:, :, 1]
        assert np.array_equal(fast, plain), width


def argmax_scores(u: np.ndarray) -> np.ndarray:
    """The reference's block reading: argmax of |coefficient| except the first, then its magnitude."""
    rows, cols = u.shape
    from bastion.media.provenance.watermark import haar_approximation_reference

    ca1 = haar_approximation_reference(u[: rows // 4 * 4, : cols // 4 * 4])
    nr, nc = ca1.shape[0] // 4, ca1.shape[1] // 4
    blocks = ca1[: nr * 4, : nc * 4].reshape(nr, 4, nc, 4).transpose(0, 2, 1, 3).reshape(-1, 16)
    pos = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    val = np.abs(blocks[np.arange(blocks.shape[0]), pos])
    return ((val % 36) > 18).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_block_maxima_equal_argmax_reading_with_ties_and_signs(dtype):
    rng = np.random.default_rng(5)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(8, 90, 2))
        if dtype == np.uint8:
            u = rng.integers(0, 4, (h, w)).astype(np.uint8) * 60  # few levels: many tied magnitudes
        else:
            u = (rng.integers(-3, 4, (h, w)) * 50.5).astype(np.float32)  # negatives and ties of +-x
        assert np.array_equal(_scores_from_u(u), argmax_scores(u)), (h, w)


def png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def test_a_same_size_rgb_decode_is_reused_and_gives_the_same_report():
    data = (FIXTURES / "cat_sdxl_rgb.png").read_bytes()
    own = inspect_bytes(data)
    rgb = Image.open(io.BytesIO(data)).convert("RGB")
    assert reusable_decode(data, "png", rgb)
    # decode_pixels=False forbids our own decode: a watermark result proves the caller's decode was used.
    reused = inspect_bytes(data, decoded=rgb, settings=ProvenanceSettings(decode_pixels=False))
    assert reused.watermark is not None and reused.watermark.to_dict() == own.watermark.to_dict()
    assert reused.watermark.found


def test_a_reduced_decode_is_not_reused_and_the_result_is_unchanged():
    data = (FIXTURES / "cat_sd1.png").read_bytes()
    full = Image.open(io.BytesIO(data)).convert("RGB")
    reduced = full.reduce(2)
    assert not reusable_decode(data, "png", reduced)
    off = inspect_bytes(data, decoded=reduced, settings=ProvenanceSettings(decode_pixels=False))
    assert off.watermark is None and any("decode_pixels is off" in n for n in off.notes)
    assert inspect_bytes(data, decoded=reduced).watermark.to_dict() == inspect_bytes(data).watermark.to_dict()


def test_an_alpha_file_is_decoded_again_so_an_alpha_stealth_payload_is_still_found():
    rgba = np.dstack([np.asarray(Image.fromarray(skdata.coffee()).resize((320, 256))), np.full((256, 320), 255, np.uint8)])
    data = png(encode_stealth(rgba, "a red cube\nSteps: 20, Seed: 7", mode="alpha"), "RGBA")
    dropped = Image.open(io.BytesIO(data)).convert("RGB")  # what the scanner's hashing decode keeps
    assert not reusable_decode(data, "png", dropped)
    r = inspect_bytes(data, decoded=dropped)
    found = [p for p in r.provenances if p.sources.get("positive_prompts", "").startswith("stealth:alpha")]
    assert len(found) == 1 and found[0].positive_prompts == ["a red cube"] and found[0].seed == 7
    assert r.watermark.to_dict() == inspect_bytes(data).watermark.to_dict()


def test_a_stored_rgba_decode_is_reused_with_its_alpha():
    rgba = np.dstack([np.asarray(Image.fromarray(skdata.coffee()).resize((320, 256))), np.full((256, 320), 255, np.uint8)])
    data = png(encode_stealth(rgba, "a red cube\nSteps: 20, Seed: 7", mode="alpha"), "RGBA")
    stored = Image.open(io.BytesIO(data))
    stored.load()
    assert reusable_decode(data, "png", stored)
    r = inspect_bytes(data, decoded=stored, settings=ProvenanceSettings(decode_pixels=False))
    assert [p.seed for p in r.provenances if p.sources.get("positive_prompts", "").startswith("stealth:alpha")] == [7]
    assert r.watermark.to_dict() == inspect_bytes(data).watermark.to_dict()


def test_palette_with_transparency_and_non_images_are_not_reused():
    pal = Image.fromarray(np.asarray(Image.fromarray(skdata.coffee()).resize((300, 260)))).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=0)
    data = buf.getvalue()
    assert not reusable_decode(data, "png", pal.convert("RGB"))
    assert not reusable_decode(b"not an image at all", "unknown", Image.new("RGB", (300, 300)))
    assert not reusable_decode(b"\x89PNG\r\n\x1a\n garbage", "png", Image.new("RGB", (300, 300)))


def test_rgba_pixels_read_the_same_colour_channels_as_before():
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (270, 300, 4), dtype=np.uint8)
    data = png(rgba, "RGBA")
    r = inspect_bytes(data, settings=ProvenanceSettings(stealth=False))
    assert r.watermark.to_dict() == detect(np.ascontiguousarray(rgba[:, :, :3])).to_dict()


def test_strips_give_the_whole_image_scores(monkeypatch):
    from bastion.media.provenance import watermark

    images = benign_images() + fixture_images()[:3]
    strips = [watermark.reading_scores(img) for img in images]
    monkeypatch.setattr(watermark, "STRIP_PIXELS", 1 << 40)  # one strip: the whole image at once
    for img, got in zip(images, strips, strict=True):
        whole = watermark.reading_scores(img)
        assert all(np.array_equal(got[k], whole[k]) for k in whole), img.shape
    monkeypatch.setattr(watermark, "STRIP_PIXELS", 1)  # the smallest strip: one block row (8 pixel rows)
    for img, got in zip(images, strips, strict=True):
        thin = watermark.reading_scores(img)
        assert all(np.array_equal(got[k], thin[k]) for k in thin), img.shape


def test_opencv_float_yuv_does_not_depend_on_where_a_pixel_sits():
    """Strips start OpenCV's vector loop at other offsets than the whole image; for every 8-bit colour (as
    float32, both codes) the U value must be the same either way."""
    codes = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1).astype(np.uint8)
    width = 4093
    img = rgb[: rgb.shape[0] // width * width].reshape(-1, width, 3)
    for top in range(0, img.shape[0], 512):
        part = img[top : top + 512].astype(np.float32)
        for code in (cv2.COLOR_BGR2YUV, cv2.COLOR_RGB2YUV):
            whole = cv2.cvtColor(part, code)[:, :, 1]
            strips = np.concatenate([cv2.cvtColor(part[r : r + 8], code)[:, :, 1] for r in range(0, part.shape[0], 8)])
            assert np.array_equal(whole, strips), (top, code)
