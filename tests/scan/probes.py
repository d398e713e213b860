"""Hostile probe files for the scan, written in code (issue 12). Benign content only: generated patterns and
neutral placeholder words; the hostility is in the structure (runs, damaged chunks, cut files), never in
what a picture shows or a text says."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from bastion.demo import generated_pattern


def chunk(ctype: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    c = zlib.crc32(ctype + body) if crc is None else crc
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", c & 0xFFFFFFFF)


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def insert_before_idat(png: bytes, extra: bytes) -> bytes:
    """Put chunks right after IHDR (8-byte signature + 25-byte IHDR chunk), before any pixel data."""
    return png[:33] + extra + png[33:]


def with_text_run(im: Image.Image, key: str = "parameters", head: str = "telegram", run: int = 100_000) -> bytes:
    """A small PNG whose compressed text chunk holds a word and a long run of spaces: the regex stall."""
    value = (head + " " * run + "x").encode("latin-1")
    return insert_before_idat(png_bytes(im), chunk(b"zTXt", key.encode() + b"\x00\x00" + zlib.compress(value, 9)))


def with_huge_ztxt(im: Image.Image, inflated: int = 2 * 1024 * 1024) -> bytes:
    """A zTXt chunk that inflates past Pillow's 1 MiB text limit (a viewer ignores it)."""
    value = b"comment " * (inflated // 8)
    return insert_before_idat(png_bytes(im), chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(value, 9)))


def with_bad_crc_chunk(im: Image.Image) -> bytes:
    """One extra ancillary chunk whose CRC is wrong (a viewer skips it)."""
    return insert_before_idat(png_bytes(im), chunk(b"tEXt", b"Comment\x00placeholder", crc=0x12345678))


def jpeg_without_eoi(im: Image.Image) -> bytes:
    data = jpeg_bytes(im)
    assert data.endswith(b"\xff\xd9")
    return data[:-2]


def jpeg_cut(im: Image.Image, cut: int = 64) -> bytes:
    return jpeg_bytes(im)[:-cut]


def many_text_chunks(im: Image.Image, n: int = 20_000) -> bytes:
    """Thousands of malformed text chunks: each one is worth a note, but the notes must stay bounded."""
    bad = chunk(b"tEXt", b"\xff" * 90)  # keyword longer than 79 bytes and not Latin-1 text: malformed
    return insert_before_idat(png_bytes(im), bad * n)


def float_tiff(side: int = 9999) -> bytes:
    """A float32 TIFF of side² pixels that compresses to a few hundred KB: 400 MB once decoded."""
    arr = np.zeros((side, side), dtype=np.float32)
    arr[: side // 2] = 1.0
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "TIFF", compression="tiff_adobe_deflate")
    return buf.getvalue()


def sixteen_bit_png(side: int = 9999) -> bytes:
    arr = np.zeros((side, side), dtype=np.uint16)
    arr[: side // 2] = 40000
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def pattern(seed: int) -> Image.Image:
    return generated_pattern(seed)
