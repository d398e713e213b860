"""What a file is, from its leading bytes: the one place Bastion names a media format.

The decoder (which formats it opens), the video path (which files get vPDQ) and the metadata reader (which
reader walks the file, where a C2PA manifest can sit) all ask :func:`sniff_format`, so they never disagree
about a file. Only the first 64 bytes are read, never the file name; no imaging library is imported.
"""

from __future__ import annotations

import struct

__all__ = ["IMAGE_FORMATS", "ISOBMFF_FORMATS", "VIDEO_FORMATS", "sniff_format"]

#: Still images the decoder opens.
IMAGE_FORMATS = frozenset({"jpeg", "png", "webp", "gif", "bmp", "tiff", "heic", "avif"})
#: Videos hashed with vPDQ (WebM is Matroska; it is named apart because users know it by that name).
VIDEO_FORMATS = frozenset({"mp4", "mov", "webm", "mkv"})
#: Formats built of ISO-BMFF boxes (an ``ftyp`` box first, or QuickTime atoms), where a C2PA manifest is a box.
ISOBMFF_FORMATS = frozenset({"heic", "avif", "mp4", "mov"})

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_IMAGE_BRANDS = _HEIC_BRANDS | _AVIF_BRANDS
#: Brands that say "a movie" even when an image brand is listed beside them.
_VIDEO_BRANDS = frozenset({b"isom", b"iso2", b"mp41", b"mp42", b"qt  "})
#: QuickTime files without an ``ftyp`` box start with one of these atoms.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def _ftyp(head: bytes) -> str | None:
    """An ``ftyp`` box: HEIC or AVIF when its brands say image (AVIF first: AVIF files list ``mif1`` too),
    else a movie — QuickTime for the ``qt`` major brand, MP4 for the rest."""
    size = struct.unpack(">I", head[0:4])[0]
    end = min(len(head), size if size >= 16 else len(head))
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIC_BRANDS - {b"mif1", b"msf1"}:
        return "heic"
    if major in _IMAGE_BRANDS or not brands & _VIDEO_BRANDS:
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIC_BRANDS:
            return "heic"
    return "mov" if major == b"qt  " else "mp4"


def sniff_format(data: bytes) -> str | None:
    """The format of ``data`` — one of :data:`IMAGE_FORMATS` or :data:`VIDEO_FORMATS` — or ``None``.

    A JPEG needs its first marker's ``FF`` after the start-of-image (two bytes alone are no image); a BMP's
    ``BM`` must be followed by a known DIB header size (two ASCII letters are not enough); classic TIFF and
    BigTIFF are both ``tiff``; an ISO-BMFF file is named by its brands (:func:`_ftyp`)."""
    head = bytes(data[:64])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in _BMP_DIB_HEADER_SIZES:
        return "bmp"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head else "mkv"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _ftyp(head)
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return "mov"
    return None
