"""The raw metadata reader: finds text wherever the container puts it, and turns damage into notes."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from prov_builders import (
    POSITIVE,
    a1111_infotext,
    chunk,
    exif_bytes,
    gradient,
    insert_chunks_after_idat,
    itxt_chunk,
    jpeg_with_segments,
    png_with_text,
    text_chunk,
    user_comment_unicode,
    ztxt_chunk,
)

from bastion.media.provenance import ProvenanceSettings, inspect_bytes
from bastion.media.provenance.raw import decode_user_comment, read_metadata


def test_text_after_idat_is_found_where_pillow_info_misses_it():
    data = insert_chunks_after_idat(png_with_text({}), text_chunk("parameters", a1111_infotext()))
    assert "parameters" not in Image.open(io.BytesIO(data)).info  # the reason this reader exists
    meta = read_metadata(data)
    assert meta.get("parameters").value == a1111_infotext()
    assert meta.notes == []


def test_ztxt_over_one_megabyte_is_read():
    big = (POSITIVE + ", ") * 60000  # ~2.1 MB inflated; Pillow refuses zTXt past 1 MB
    data = insert_chunks_after_idat(png_with_text({}), ztxt_chunk("Comment", big.encode()))
    meta = read_metadata(data)
    assert meta.get("Comment").value == big and meta.get("Comment").location == "png:zTXt"


def test_itxt_compressed_and_utf8():
    value = "ein Aquarell, Berge, \u00e9t\u00e9, \u6c34\u5f69"
    data = insert_chunks_after_idat(png_with_text({}), itxt_chunk("Description", value, compressed=True))
    assert read_metadata(data).get("Description").value == value


def test_utf8_in_text_chunk_is_decoded_as_utf8():
    data = insert_chunks_after_idat(png_with_text({}), text_chunk("parameters", "caf\u00e9 au lait"))
    assert read_metadata(data).get("parameters").value == "caf\u00e9 au lait"


def test_bad_crc_gives_note_and_keeps_text():
    bad = chunk(b"tEXt", b"parameters\x00" + a1111_infotext().encode(), crc=0x12345678)
    r = inspect_bytes(insert_chunks_after_idat(png_with_text({}), bad), settings=ProvenanceSettings(watermark=False, stealth=False))
    assert any("bad CRC" in n for n in r.notes)
    assert r.positive_prompts() == [POSITIVE]


def test_truncated_file_gives_partial_result_and_note():
    data = png_with_text({"parameters": a1111_infotext(), "Comment": "x" * 5000})
    cut = data[: data.find(b"Comment") + 100]
    meta = read_metadata(cut)
    assert meta.get("parameters") is not None
    assert any("past the end" in n for n in meta.notes)
    assert meta.get("Comment").value == "x" * (100 - len("Comment\x00"))


def test_invalid_zlib_and_keyword_give_notes():
    extra = chunk(b"zTXt", b"Comment\x00\x00not-zlib") + chunk(b"tEXt", b"\x00no keyword")
    meta = read_metadata(insert_chunks_after_idat(png_with_text({}), extra))
    assert any("not valid zlib" in n for n in meta.notes)
    assert any("without a valid keyword" in n for n in meta.notes)


def test_metadata_caps_bound_what_is_kept():
    data = png_with_text({"a": "1" * 3000, "b": "2" * 3000, "c": "3" * 100})
    meta = read_metadata(data, max_total_bytes=4000, max_field_bytes=3500)
    assert [f.key for f in meta.fields] == ["a", "c"]
    assert any("total cap" in n for n in meta.notes)
    meta = read_metadata(data, max_field_bytes=2000)
    assert [f.key for f in meta.fields] == ["c"] and sum("per-field cap" in n for n in meta.notes) == 2


def test_ztxt_bomb_is_capped():
    bomb = ztxt_chunk("Comment", b"\x00" * 20_000_000)
    meta = read_metadata(insert_chunks_after_idat(png_with_text({}), bomb), max_field_bytes=1_000_000)
    assert any("cap" in n for n in meta.notes)
    assert all(len(f.value) <= 1_000_000 for f in meta.fields)


@pytest.mark.parametrize("raw,expected", [
    (b"UNICODE\x00" + "a lake".encode("utf-16-be"), "a lake"),
    (b"UNICODE\x00" + "a lake".encode("utf-16-le"), "a lake"),
    (b"UNICODE\x00" + "\ufeffa lake".encode("utf-16-le"), "a lake"),
    (b"ASCII\x00\x00\x00a lake", "a lake"),
    (b"\x00" * 8 + b"a lake\x00", "a lake"),
    (b"a lake", "a lake"),
])
def test_user_comment_charsets(raw, expected):
    assert decode_user_comment(raw)[0] == expected


def test_jpeg_comment_xmp_exif_all_read_without_decode():
    exif = exif_bytes({0x0131: "Some Editor 1.0", 0x010E: "a red cube"}, exif_ifd_tags={0x9286: user_comment_unicode("hello")})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    data = jpeg_with_segments([(0xE1, b"Exif\x00\x00" + exif), (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp),
                               (0xFE, b"a jpeg comment")])
    meta = read_metadata(data)
    assert meta.format == "jpeg" and (meta.width, meta.height) == (64, 64)
    got = {(f.key, f.value, f.location) for f in meta.fields}
    assert ("Software", "Some Editor 1.0", "exif:Software") in got
    assert ("ImageDescription", "a red cube", "exif:ImageDescription") in got
    assert ("UserComment", "hello", "exif:UserComment") in got
    assert ("Comment", "a jpeg comment", "jpeg:COM") in got
    assert meta.xmp == [xmp.decode()]


def test_exif_ifd_loop_and_bad_offsets_terminate_with_notes():
    # IFD0 whose Exif pointer points back at IFD0, plus a string whose offset is far out of range.
    import struct
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2)
    tiff += struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<HHII", 0x010E, 2, 50, 10_000) + struct.pack("<I", 0)
    meta = read_metadata(jpeg_with_segments([(0xE1, b"Exif\x00\x00" + tiff)]))
    assert any("runs past the block" in n for n in meta.notes)


def test_unknown_format_is_a_note():
    r = inspect_bytes(b"this is not an image at all")
    assert r.format == "unknown" and r.provenances == []
    assert any("unrecognised" in n for n in r.notes)


def test_empty_input():
    r = inspect_bytes(b"")
    assert r.provenances == [] and r.notes


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=2000), st.sampled_from(["png", "jpeg", "webp"]))
def test_fuzzed_damage_never_raises(garbage, position, fmt):
    info = {"parameters": a1111_infotext(), "prompt": '{"1": {"class_type": "KSampler", "inputs": {}}}'}
    if fmt == "png":
        base = png_with_text(info)
    elif fmt == "jpeg":
        base = jpeg_with_segments([(0xE1, b"Exif\x00\x00" + exif_bytes({}, exif_ifd_tags={0x9286: user_comment_unicode(a1111_infotext())}))])
    else:
        buf = io.BytesIO()
        gradient().save(buf, "WEBP", exif=b"Exif\x00\x00" + exif_bytes({0x010E: "a red cube"}))
        base = buf.getvalue()
    pos = min(position, len(base))
    damaged = base[:pos] + garbage + base[pos + len(garbage):]
    report = inspect_bytes(damaged, settings=ProvenanceSettings(decode_pixels=True))
    json.dumps(report.to_dict())
    for s in report.signals():
        json.dumps(s.to_dict())
    assert isinstance(report.notes, list)


def test_meta_read_is_pure_and_repeatable():
    data = png_with_text({"parameters": a1111_infotext()}, zip_keys=("parameters",))
    assert read_metadata(data) == read_metadata(data)
    assert read_metadata(data).get("parameters").location == "png:zTXt"
