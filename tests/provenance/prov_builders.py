"""Builders for provenance test fixtures: benign images with generator metadata written in code.

Prompts are neutral placeholders ("a watercolor landscape, mountains" / "blurry, lowres"). Everything is
written with Pillow or by hand (raw PNG chunks, EXIF/TIFF, XMP) so each test states exactly which bytes
it feeds the reader.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

POSITIVE = "a watercolor landscape, mountains"
NEGATIVE = "blurry, lowres"


def gradient(w: int = 64, h: int = 64, mode: str = "RGB") -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full_like(xx, 128)], -1).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    return im.convert(mode) if mode != "RGB" else im


def png_with_text(pairs: list[tuple[str, str]] | dict[str, str], *, image: Image.Image | None = None,
                  zip_keys: tuple[str, ...] = ()) -> bytes:
    """A PNG with tEXt (or zTXt for ``zip_keys``) chunks written by Pillow."""
    info = PngImagePlugin.PngInfo()
    items = pairs.items() if isinstance(pairs, dict) else pairs
    for k, v in items:
        info.add_text(k, v, zip=k in zip_keys)
    buf = io.BytesIO()
    (image or gradient()).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def chunk(ctype: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    c = zlib.crc32(ctype + body) if crc is None else crc
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", c)


def insert_chunks_after_idat(png: bytes, extra: bytes) -> bytes:
    """Put chunks between the last IDAT and IEND, where Pillow's ``.info`` never looks."""
    iend = png.rfind(b"IEND") - 4
    return png[:iend] + extra + png[iend:]


def text_chunk(key: str, value: str) -> bytes:
    return chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("utf-8"))


def ztxt_chunk(key: str, value: bytes) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\x00\x00" + zlib.compress(value))


def itxt_chunk(key: str, value: str, *, compressed: bool = False) -> bytes:
    raw = value.encode("utf-8")
    body = key.encode("latin-1") + b"\x00" + bytes([1 if compressed else 0, 0]) + b"en\x00\x00"
    return chunk(b"iTXt", body + (zlib.compress(raw) if compressed else raw))


def exif_bytes(tags: dict[int, bytes | str], *, little_endian: bool = True, exif_ifd_tags: dict[int, bytes] | None = None) -> bytes:
    """A minimal TIFF/EXIF block: ``tags`` in IFD0 (ASCII or UNDEFINED), ``exif_ifd_tags`` in the Exif IFD."""
    bo = "<" if little_endian else ">"

    def ifd(entries: dict[int, bytes | str], start: int, extra: list[tuple[int, int, int]] = ()) -> bytes:
        items = []
        for tag, v in sorted(entries.items()):
            if isinstance(v, str):
                items.append((tag, 2, v.encode("utf-8") + b"\x00"))
            else:
                items.append((tag, 7, v))
        n = len(items) + len(extra)
        data_off = start + 2 + 12 * n + 4
        head, data = b"", b""
        for tag, typ, raw in items:
            if len(raw) <= 4:
                head += struct.pack(bo + "HHI", tag, typ, len(raw)) + raw.ljust(4, b"\x00")
            else:
                head += struct.pack(bo + "HHII", tag, typ, len(raw), data_off + len(data))
                data += raw + (b"\x00" if len(raw) % 2 else b"")
        for tag, typ, value in extra:
            head += struct.pack(bo + "HHII", tag, typ, 1, value)
        return struct.pack(bo + "H", n) + head + struct.pack(bo + "I", 0) + data

    header = (b"II" if little_endian else b"MM") + struct.pack(bo + "HI", 42, 8)
    if exif_ifd_tags:
        probe = ifd(tags, 8, [(0x8769, 4, 0)])
        exif_off = 8 + len(probe)
        ifd0 = ifd(tags, 8, [(0x8769, 4, exif_off)])
        return header + ifd0 + ifd(exif_ifd_tags, exif_off)
    return header + ifd(tags, 8)


def user_comment_unicode(text: str, *, big_endian: bool = True) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be" if big_endian else "utf-16-le")


def jpeg_with_segments(segments: list[tuple[int, bytes]], image: Image.Image | None = None) -> bytes:
    """A JPEG with extra APPn/COM segments inserted right after SOI."""
    buf = io.BytesIO()
    (image or gradient()).save(buf, "JPEG", quality=90)
    jpg = buf.getvalue()
    extra = b"".join(b"\xff" + bytes([m]) + struct.pack(">H", len(body) + 2) + body for m, body in segments)
    return jpg[:2] + extra + jpg[2:]


def webp_with_exif(exif: bytes, xmp: bytes | None = None, image: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {"exif": exif}
    if xmp is not None:
        kwargs["xmp"] = xmp
    (image or gradient()).save(buf, "WEBP", lossless=True, **kwargs)
    return buf.getvalue()


def xmp_packet(description_xml: str) -> str:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f"{description_xml}</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>")


def a1111_infotext(positive: str = POSITIVE, negative: str | None = NEGATIVE, version: str = "v1.10.1") -> str:
    lines = [positive]
    if negative is not None:
        lines.append(f"Negative prompt: {negative}")
    lines.append("Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, "
                 "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
                 'Lora hashes: "paintstyle: a1b2c3d4e5f6", TI hashes: "softfocus: 0f0e0d0c0b0a", '
                 f"Denoising strength: 0.4, Version: {version}")
    return "\n".join(lines)
