"""One sniffer (bastion.media.formats.sniff_format) for the decoder, the video path and the metadata reader:
they used to disagree about MP4, a JPEG of two bytes, BigTIFF and BMP. Each format here is asked of all three.
Benign generated pictures and a few frames of a gradient only."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from bastion.errors import MediaError, TruncatedMedia, UnsupportedMedia
from bastion.media.decode import decode_rgb
from bastion.media.formats import IMAGE_FORMATS, VIDEO_FORMATS, sniff_format
from bastion.media.provenance.raw import read_metadata
from bastion.media.video import sniff_video


def _gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], axis=-1))


def _saved(fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    _gradient().save(buf, fmt, **params)
    return buf.getvalue()


def _mp4() -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.asarray(_gradient().rotate(i * 5)), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_the_video_and_image_names_do_not_overlap():
    assert not IMAGE_FORMATS & VIDEO_FORMATS


def test_mp4_is_a_video_to_every_reader():
    data = _mp4()
    assert sniff_format(data) == sniff_video(data) == "mp4"
    assert read_metadata(data).format == "mp4"
    with pytest.raises(UnsupportedMedia):
        decode_rgb(data)  # a movie is hashed by bastion.media.video, never decoded as a still image


def test_a_c2pa_box_in_an_mp4_is_noticed():
    data = _mp4()
    assert not read_metadata(data).has_c2pa_box
    assert read_metadata(data + b"\x00\x00\x00\x10uuidc2pa-manifest").has_c2pa_box


def test_two_bytes_of_jpeg_are_no_jpeg_but_a_cut_jpeg_is_one():
    short = b"\xff\xd8"
    assert sniff_format(short) is None and sniff_video(short) is None
    assert read_metadata(short).format == "unknown"
    with pytest.raises(UnsupportedMedia):
        decode_rgb(short)

    cut = _saved("JPEG")[:200]
    assert sniff_format(cut) == "jpeg" and read_metadata(cut).format == "jpeg"
    with pytest.raises(TruncatedMedia):
        decode_rgb(cut, tolerant=False)


def test_bigtiff_is_tiff_to_every_reader_and_its_metadata_is_skipped_with_a_note():
    data = _saved("TIFF", big_tiff=True)
    assert data[:4] == b"II+\x00"
    assert sniff_format(data) == "tiff" and sniff_video(data) is None
    meta = read_metadata(data)
    assert meta.format == "tiff" and not meta.fields
    assert any("BigTIFF" in n for n in meta.notes), meta.notes
    img = decode_rgb(data)
    assert (img.format, img.width, img.height) == ("tiff", 64, 48)


def test_bmp_is_bmp_to_every_reader():
    data = _saved("BMP")
    assert sniff_format(data) == "bmp" and sniff_video(data) is None
    assert read_metadata(data).format == "bmp"
    img = decode_rgb(data)
    assert (img.format, img.width, img.height) == ("bmp", 64, 48)
    # 'BM' and a header size that is no DIB's: two letters of text, not a bitmap
    text = b"BM" + b"\x00" * 12 + struct.pack("<I", 999) + b"\x00" * 20
    assert sniff_format(text) is None and read_metadata(text).format == "unknown"
    with pytest.raises(MediaError):
        decode_rgb(text)


@pytest.mark.parametrize("brands,expected", [
    ((b"mif1", b"mif1", b"heic"), "heic"),
    ((b"mif1", b"mif1", b"avif"), "avif"),
    ((b"avif", b"mif1", b"miaf"), "avif"),
    ((b"isom", b"isom", b"mp41"), "mp4"),
    ((b"mp42", b"isom", b"mif1"), "mp4"),  # a movie that also lists an image brand is a movie
    ((b"qt  ", b"qt  "), "mov"),
])
def test_iso_bmff_brands_name_the_same_format_for_the_decoder_and_the_video_path(brands, expected):
    body = brands[0] + b"\x00\x00\x00\x00" + b"".join(brands[1:])
    head = struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 16
    assert sniff_format(head) == expected
    assert sniff_video(head) == (expected if expected in VIDEO_FORMATS else None)
    assert read_metadata(head).format == expected
