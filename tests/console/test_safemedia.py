"""The safe-media pipeline: derivatives are small, blurred and grayscale; reveals are plain re-encodes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bastion.console.safemedia import SafeView, blur_radius, revealed_view, safe_derivative
from bastion.demo import generated_pattern
from bastion.errors import DecompressionBomb, UnsupportedMedia


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _checkerboard(size=(800, 600), cell=8) -> Image.Image:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    board = (((x // cell) + (y // cell)) % 2 * 255).astype(np.uint8)
    rgb = np.stack([board, 255 - board, np.full_like(board, 90)], axis=-1)
    return Image.fromarray(rgb)


def _detail(im: Image.Image) -> float:
    """Mean absolute difference between horizontal neighbours: high for sharp detail, low when blurred."""
    a = np.asarray(im.convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(a, axis=1)).mean())


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_derivative_is_downscaled_grayscale_and_blurred():
    src = _checkerboard(cell=20)
    out = _open(safe_derivative(_png(src)))
    assert out.format == "JPEG"
    assert max(out.size) == 480 and out.size == (480, 360)
    assert out.mode == "L"
    reference = src.copy()
    reference.thumbnail((480, 480))
    assert _detail(reference) > 4
    assert _detail(out) < _detail(reference) / 20


def test_colour_when_the_reviewer_chooses_it_still_blurred():
    out = _open(safe_derivative(_png(generated_pattern(3)), SafeView(blur=4, grayscale=False)))
    assert out.mode == "RGB"
    a = np.asarray(out, dtype=np.int16)
    assert np.abs(a[..., 0] - a[..., 1]).mean() > 5  # real colour, not gray in three channels


def test_stronger_blur_removes_more_detail():
    data = _png(_checkerboard(cell=120))
    details = [_detail(_open(safe_derivative(data, SafeView(blur=b)))) for b in (1, 3, 10)]
    assert details[0] > details[1] > details[2]


def test_small_images_are_not_upscaled():
    out = _open(safe_derivative(_png(generated_pattern(5, size=(120, 90)))))
    assert out.size == (120, 90)


def test_revealed_view_is_colour_sharp_and_carries_no_metadata():
    src = _checkerboard(size=(400, 300), cell=10)
    buf = io.BytesIO()
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "placeholder prompt text")
    src.save(buf, format="PNG", pnginfo=info)
    out = _open(revealed_view(buf.getvalue()))
    assert out.mode == "RGB" and out.size == (400, 300)
    assert _detail(out) > 0.8 * _detail(src)
    assert "parameters" not in out.info and not out.getexif()


def test_revealed_view_is_capped():
    out = _open(revealed_view(_png(generated_pattern(1, size=(2400, 1200)))))
    assert out.size == (1600, 800)


def test_blur_radius_scales_with_size():
    assert blur_radius(6, 480) == pytest.approx(28.8)
    assert blur_radius(6, 240) == pytest.approx(14.4)
    assert blur_radius(1, 20) == 1.0


@pytest.mark.parametrize("blur", [0, 11, -1])
def test_invalid_views_are_refused(blur):
    with pytest.raises(ValueError):
        SafeView(blur=blur)


def test_bad_input_is_a_typed_error():
    with pytest.raises(UnsupportedMedia):
        safe_derivative(b"")
    with pytest.raises(UnsupportedMedia):
        safe_derivative(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    from bastion.media.decode import DecodeLimits

    with pytest.raises(DecompressionBomb):
        safe_derivative(_png(generated_pattern(2)), limits=DecodeLimits(max_pixels=1000))
