"""Raw metadata reader: every text-bearing metadata field of a PNG, JPEG or WebP file, without a pixel decode.

Why not ``PIL.Image.open(...).info``: Pillow stops at the first IDAT and so misses text chunks written after
the image data, rejects zTXt chunks that inflate past 1 MB, and hides *where* a value came from. Generators
put prompts in all of those places, so this module walks the container itself. It is deliberately
forgiving: a bad CRC, a length running past the end, an undecodable string or an over-large chunk becomes a
note on the result and reading carries on with what is left. Nothing here raises to the caller.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from bastion.media.formats import ISOBMFF_FORMATS, sniff_format
from bastion.notes import cap_notes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Default caps. Metadata is attacker-controlled; these keep one file from costing unbounded memory.
DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_FIELD_BYTES = 8 * 1024 * 1024

# EXIF tags whose string values we keep (tag -> name). Generators hide prompts in several of them.
EXIF_TEXT_TAGS: dict[int, str] = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9286: "UserComment",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
    0x9C9E: "XPKeywords",
    0x9C9F: "XPSubject",
}
_EXIF_IFD_POINTER = 0x8769
_XP_TAGS = {0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F}

# IPTC IIM dataset numbers (record 2) we keep.
IPTC_FIELDS: dict[int, str] = {
    5: "ObjectName",
    25: "Keywords",
    65: "OriginatingProgram",
    70: "ProgramVersion",
    80: "Byline",
    105: "Headline",
    110: "Credit",
    115: "Source",
    116: "CopyrightNotice",
    120: "Caption",
}


@dataclass(frozen=True, slots=True)
class TextField:
    """One text value found in the file, with where it was found (e.g. ``png:tEXt``, ``exif:UserComment``)."""

    key: str
    value: str
    location: str


#: Formats without a reader here whose container can still carry a C2PA manifest.
_C2PA_ELSEWHERE = ISOBMFF_FORMATS | {"gif"}


@dataclass(slots=True)
class RawMetadata:
    """Everything text-like the container holds. ``fields`` keeps file order; duplicates are kept."""

    format: str  # bastion.media.formats.sniff_format's name, or "unknown"
    fields: list[TextField] = field(default_factory=list)
    xmp: list[str] = field(default_factory=list)
    has_c2pa_box: bool = False
    has_alpha: bool | None = None  # from the PNG header / WebP flags, when known
    width: int | None = None
    height: int | None = None
    notes: list[str] = field(default_factory=list)
    bytes_read: int = 0

    def get(self, key: str) -> TextField | None:
        """First field with this key (case-sensitive, as generators write them)."""
        for f in self.fields:
            if f.key == key:
                return f
        return None

    def get_all(self, key: str) -> list[TextField]:
        return [f for f in self.fields if f.key == key]


class _Budget:
    """Counts metadata bytes kept so one file cannot make us hold unbounded text."""

    def __init__(self, meta: RawMetadata, max_total: int, max_field: int):
        self.meta, self.max_total, self.max_field = meta, max_total, max_field
        self.exhausted = False

    def take(self, n: int, what: str) -> bool:
        if n > self.max_field:
            self.meta.notes.append(f"{what}: {n} bytes exceeds the per-field cap of {self.max_field}; skipped")
            return False
        if self.meta.bytes_read + n > self.max_total:
            if not self.exhausted:
                self.meta.notes.append(f"metadata exceeds the total cap of {self.max_total} bytes; rest skipped")
            self.exhausted = True
            return False
        self.meta.bytes_read += n
        return True


def read_metadata(
    data: bytes,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> RawMetadata:
    """Read all text metadata from ``data`` without decoding pixels. Never raises on malformed input."""
    fmt = sniff_format(data) or "unknown"
    meta = RawMetadata(format=fmt)
    budget = _Budget(meta, max_total_bytes, max_field_bytes)
    try:
        if fmt == "png":
            _read_png(data, meta, budget)
        elif fmt == "jpeg":
            _read_jpeg(data, meta, budget)
        elif fmt == "webp":
            _read_webp(data, meta, budget)
        elif fmt == "tiff":
            _read_exif(data, meta, budget, "tiff")
        else:
            # Only where the container can hold a manifest (ISO-BMFF boxes, a GIF application extension):
            # any other file that merely contains the bytes "c2pa" (a text file) got a C2PA "Unreadable".
            if fmt in _C2PA_ELSEWHERE and (b"c2pa" in data[:1_000_000] or b"jumb" in data[:1_000_000]):
                meta.has_c2pa_box = True
            if fmt != "unknown":
                meta.notes.append(f"no metadata reader for {fmt} files; only C2PA is checked")
            else:
                meta.notes.append("unrecognised file format; no metadata read")
    except Exception as exc:  # a reader bug must not lose the partial result; record it instead
        meta.notes.append(f"metadata reader stopped early on {fmt}: {type(exc).__name__}: {exc}")
    meta.notes = cap_notes(meta.notes)  # a file of 100,000 broken chunks says so once, with a count
    return meta


# --- text decoding -------------------------------------------------------------------------------


def decode_text(raw: bytes, *, prefer: str = "utf-8") -> tuple[str, bool]:
    """Decode metadata text. Returns (text, clean). UTF-8 first (many tools write UTF-8 into tEXt despite
    the spec's Latin-1), then Latin-1 which cannot fail; ``clean`` is False if replacement was needed."""
    try:
        return raw.decode(prefer), True
    except UnicodeDecodeError:
        pass
    if prefer != "latin-1":
        return raw.decode("latin-1"), True
    return raw.decode("utf-8", errors="replace"), False


def decode_user_comment(raw: bytes) -> tuple[str, str | None]:
    """Decode an EXIF UserComment. Returns (text, note or None).

    The first 8 bytes name the charset. ``UNICODE\\0`` is UTF-16 whose byte order writers disagree on
    (piexif writes big-endian, others little-endian, a few add a BOM), so we pick the order whose text
    looks like text rather than trusting the file's TIFF byte order.
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", errors="replace").rstrip("\x00"), None
        if len(body) % 2:
            body = body[:-1]
        be = body.decode("utf-16-be", errors="replace")
        le = body.decode("utf-16-le", errors="replace")
        text = be if _plausibility(be) >= _plausibility(le) else le
        return text.rstrip("\x00"), None
    if prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
        text, _ = decode_text(body)
        return text.rstrip("\x00"), None
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        try:
            return body.decode("shift_jis").rstrip("\x00"), None
        except UnicodeDecodeError:
            return body.decode("latin-1").rstrip("\x00"), "UserComment: JIS text not decodable; read as Latin-1"
    # No (or an unknown) charset prefix: some tools write the text bare.
    text, _ = decode_text(raw)
    return text.rstrip("\x00"), None


def _plausibility(text: str) -> int:
    """How text-like a decoding is: printable ASCII and common whitespace count, replacement chars cost."""
    good = sum(1 for c in text if " " <= c <= "~" or c in "\n\r\t")
    return good - 4 * text.count("\ufffd")


# --- PNG -----------------------------------------------------------------------------------------


def _read_png(data: bytes, meta: RawMetadata, budget: _Budget) -> None:
    pos, end = len(PNG_SIGNATURE), len(data)
    seen_iend = False
    while pos + 8 <= end:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        name = ctype.decode("latin-1")
        body_start, body_end = pos + 8, pos + 8 + length
        if body_end + 4 > end:
            meta.notes.append(f"png: chunk {name!r} at offset {pos} declares {length} bytes past the end of file")
            body_end = min(body_end, end)
            _png_chunk(name, data[body_start:body_end], meta, budget, truncated=True)
            return
        body = data[body_start:body_end]
        (crc,) = struct.unpack(">I", data[body_end : body_end + 4])
        if zlib.crc32(ctype + body) != crc:
            meta.notes.append(f"png: bad CRC on chunk {name!r} at offset {pos}; contents used anyway")
        _png_chunk(name, body, meta, budget, truncated=False)
        pos = body_end + 4
        if ctype == b"IEND":
            seen_iend = True
            break
    if not seen_iend:
        meta.notes.append("png: file ends without an IEND chunk")


def _png_chunk(name: str, body: bytes, meta: RawMetadata, budget: _Budget, *, truncated: bool) -> None:
    if name == "IHDR" and len(body) >= 13:
        meta.width, meta.height = struct.unpack(">II", body[:8])
        color_type = body[9]
        meta.has_alpha = color_type in (4, 6)
    elif name == "tRNS":
        meta.has_alpha = True
    elif name == "caBX":
        meta.has_c2pa_box = True
    elif name == "tEXt":
        _png_text(body, meta, budget)
    elif name == "zTXt":
        _png_ztxt(body, meta, budget)
    elif name == "iTXt":
        _png_itxt(body, meta, budget)
    elif name == "eXIf":
        _read_exif(body, meta, budget, "png:eXIf")
    if truncated and name in ("tEXt", "zTXt", "iTXt"):
        meta.notes.append(f"png: {name} chunk truncated; partial text kept")


def _split_key(body: bytes, chunk: str, meta: RawMetadata) -> tuple[str, bytes] | None:
    nul = body.find(b"\x00")
    if nul <= 0 or nul > 79:
        meta.notes.append(f"png: {chunk} chunk without a valid keyword; skipped")
        return None
    return body[:nul].decode("latin-1"), body[nul + 1 :]


def _png_text(body: bytes, meta: RawMetadata, budget: _Budget) -> None:
    split = _split_key(body, "tEXt", meta)
    if split is None:
        return
    key, raw = split
    if budget.take(len(raw), f"png:tEXt {key!r}"):
        text, _ = decode_text(raw)
        meta.fields.append(TextField(key, text, "png:tEXt"))


def _inflate(raw: bytes, limit: int) -> tuple[bytes, str | None]:
    """zlib-inflate at most ``limit`` bytes. Returns (data, problem or None); partial data is kept."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        return b"", f"not valid zlib data ({exc})"
    if len(out) > limit:
        return out[:limit], f"inflates past the cap of {limit} bytes; truncated"
    if not d.eof:
        return out, "compressed stream is incomplete; partial text kept"
    return out, None


def _png_ztxt(body: bytes, meta: RawMetadata, budget: _Budget) -> None:
    split = _split_key(body, "zTXt", meta)
    if split is None:
        return
    key, rest = split
    if not rest or rest[0] != 0:
        meta.notes.append(f"png: zTXt {key!r} uses an unknown compression method; skipped")
        return
    raw, problem = _inflate(rest[1:], min(budget.max_field, budget.max_total - budget.meta.bytes_read))
    if problem:
        meta.notes.append(f"png: zTXt {key!r} {problem}")
    if raw and budget.take(len(raw), f"png:zTXt {key!r}"):
        text, _ = decode_text(raw)
        meta.fields.append(TextField(key, text, "png:zTXt"))


def _png_itxt(body: bytes, meta: RawMetadata, budget: _Budget) -> None:
    split = _split_key(body, "iTXt", meta)
    if split is None:
        return
    key, rest = split
    if len(rest) < 2:
        meta.notes.append(f"png: iTXt {key!r} is truncated; skipped")
        return
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) < 3:
        meta.notes.append(f"png: iTXt {key!r} lacks its language/translated-keyword fields; skipped")
        return
    raw = parts[2]
    if compressed:
        if method != 0:
            meta.notes.append(f"png: iTXt {key!r} uses an unknown compression method; skipped")
            return
        raw, problem = _inflate(raw, min(budget.max_field, budget.max_total - budget.meta.bytes_read))
        if problem:
            meta.notes.append(f"png: iTXt {key!r} {problem}")
    if not budget.take(len(raw), f"png:iTXt {key!r}"):
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        meta.notes.append(f"png: iTXt {key!r} is not valid UTF-8; undecodable bytes replaced")
    if key == "XML:com.adobe.xmp":
        meta.xmp.append(text)
    else:
        meta.fields.append(TextField(key, text, "png:iTXt"))


# --- EXIF (TIFF structure) -----------------------------------------------------------------------


def _read_exif(tiff: bytes, meta: RawMetadata, budget: _Budget, where: str) -> None:
    """Parse the string tags of IFD0 and the Exif IFD. ``tiff`` starts at the TIFF header (an
    ``Exif\\0\\0`` prefix is skipped)."""
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        meta.notes.append(f"{where}: EXIF block without a TIFF header; skipped")
        return
    bo = "<" if tiff[:2] == b"II" else ">"
    if struct.unpack(bo + "H", tiff[2:4])[0] == 43:
        meta.notes.append(f"{where}: BigTIFF (64-bit offsets): no metadata reader for it; skipped")
        return
    (ifd0,) = struct.unpack(bo + "I", tiff[4:8])
    visited: set[int] = set()
    queue = [ifd0]
    while queue:
        off = queue.pop(0)
        if off in visited or off == 0:
            continue
        visited.add(off)
        if off + 2 > len(tiff):
            meta.notes.append(f"{where}: EXIF IFD offset {off} beyond the block; skipped")
            continue
        (count,) = struct.unpack(bo + "H", tiff[off : off + 2])
        for i in range(count):
            e = off + 2 + 12 * i
            if e + 12 > len(tiff):
                meta.notes.append(f"{where}: EXIF IFD at {off} truncated after {i} of {count} entries")
                break
            tag, typ, n = struct.unpack(bo + "HHI", tiff[e : e + 8])
            if tag == _EXIF_IFD_POINTER:
                queue.append(struct.unpack(bo + "I", tiff[e + 8 : e + 12])[0])
                continue
            if tag not in EXIF_TEXT_TAGS or typ not in (1, 2, 7):
                continue
            if n <= 4:
                raw = tiff[e + 8 : e + 8 + n]
            else:
                (voff,) = struct.unpack(bo + "I", tiff[e + 8 : e + 12])
                if voff + n > len(tiff):
                    meta.notes.append(f"{where}: EXIF {EXIF_TEXT_TAGS[tag]} runs past the block; partial value kept")
                raw = tiff[voff : voff + n]
            name = EXIF_TEXT_TAGS[tag]
            if not budget.take(len(raw), f"{where} {name}"):
                continue
            if tag == 0x9286:
                text, note = decode_user_comment(raw)
                if note:
                    meta.notes.append(f"{where}: {note}")
            elif tag in _XP_TAGS:
                text = raw.decode("utf-16-le", errors="replace").rstrip("\x00")
            else:
                text, _ = decode_text(raw.rstrip(b"\x00"))
            if text:
                meta.fields.append(TextField(name, text, f"exif:{name}"))


# --- JPEG ----------------------------------------------------------------------------------------

_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"


def _read_jpeg(data: bytes, meta: RawMetadata, budget: _Budget) -> None:
    pos, end = 2, len(data)
    ext_xmp: dict[bytes, dict[int, bytes]] = {}
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            meta.notes.append(f"jpeg: expected a marker at offset {pos}; stopped reading metadata")
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan: metadata segments come before the image data
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        seg = data[pos + 4 : pos + 2 + length]
        if length < 2 or pos + 2 + length > end:
            meta.notes.append(f"jpeg: segment 0xFF{marker:02X} at offset {pos} runs past the end of file")
        if marker == 0xC0 or marker == 0xC2:
            if len(seg) >= 5:
                meta.height, meta.width = struct.unpack(">HH", seg[1:5])
        elif marker == 0xE1 and seg.startswith(b"Exif\x00"):
            _read_exif(seg[6:], meta, budget, "jpeg:APP1")
        elif marker == 0xE1 and seg.startswith(_XMP_ID):
            if budget.take(len(seg), "jpeg:XMP"):
                meta.xmp.append(decode_text(seg[len(_XMP_ID) :])[0])
        elif marker == 0xE1 and seg.startswith(_XMP_EXT_ID) and len(seg) >= len(_XMP_EXT_ID) + 40:
            body = seg[len(_XMP_EXT_ID) :]
            guid, (offset,) = body[:32], struct.unpack(">I", body[36:40])
            if budget.take(len(body) - 40, "jpeg:extended XMP"):
                ext_xmp.setdefault(guid, {})[offset] = body[40:]
        elif marker == 0xED and seg.startswith(b"Photoshop 3.0\x00"):
            _read_photoshop(seg[14:], meta, budget)
        elif marker == 0xEB:  # APP11: JUMBF, where C2PA manifests live
            if b"c2pa" in seg[:64] or b"jumb" in seg[:64]:
                meta.has_c2pa_box = True
        elif marker == 0xFE:
            if budget.take(len(seg), "jpeg:COM"):
                text, _ = decode_text(seg.rstrip(b"\x00"))
                meta.fields.append(TextField("Comment", text, "jpeg:COM"))
        pos += 2 + max(length, 2)
    for parts in ext_xmp.values():
        meta.xmp.append(decode_text(b"".join(parts[k] for k in sorted(parts)))[0])


def _read_photoshop(body: bytes, meta: RawMetadata, budget: _Budget) -> None:
    """Photoshop image resources; resource 0x0404 holds IPTC IIM."""
    pos = 0
    while pos + 12 <= len(body) and body[pos : pos + 4] == b"8BIM":
        (rid,) = struct.unpack(">H", body[pos + 4 : pos + 6])
        name_len = body[pos + 6]
        p = pos + 6 + 1 + name_len
        p += p % 2  # Pascal name padded to even length (counting the length byte)
        if p + 4 > len(body):
            meta.notes.append("jpeg: Photoshop resource block truncated")
            return
        (size,) = struct.unpack(">I", body[p : p + 4])
        data = body[p + 4 : p + 4 + size]
        if rid == 0x0404:
            _read_iptc(data, meta, budget)
        pos = p + 4 + size + (size % 2)


def _read_iptc(data: bytes, meta: RawMetadata, budget: _Budget) -> None:
    pos = 0
    while pos + 5 <= len(data):
        if data[pos] != 0x1C:
            meta.notes.append(f"iptc: bad tag marker at offset {pos}; rest skipped")
            return
        record, dataset = data[pos + 1], data[pos + 2]
        (size,) = struct.unpack(">H", data[pos + 3 : pos + 5])
        if size & 0x8000:
            meta.notes.append("iptc: extended-length dataset not supported; rest skipped")
            return
        value = data[pos + 5 : pos + 5 + size]
        if record == 2 and dataset in IPTC_FIELDS and budget.take(len(value), "iptc"):
            name = IPTC_FIELDS[dataset]
            meta.fields.append(TextField(name, decode_text(value)[0], f"iptc:{name}"))
        pos += 5 + size


# --- WebP ----------------------------------------------------------------------------------------


def _read_webp(data: bytes, meta: RawMetadata, budget: _Budget) -> None:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    if 8 + riff_size > len(data):
        meta.notes.append("webp: RIFF size runs past the end of file")
    pos = 12
    while pos + 8 <= end:
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if pos + 8 + size > end:
            meta.notes.append(f"webp: chunk {fourcc!r} runs past the end of file")
        if fourcc == b"VP8X" and len(body) >= 10:
            meta.has_alpha = bool(body[0] & 0x10)
            meta.width = 1 + int.from_bytes(body[4:7], "little")
            meta.height = 1 + int.from_bytes(body[7:10], "little")
        elif fourcc == b"EXIF":
            _read_exif(body, meta, budget, "webp:EXIF")
        elif fourcc == b"XMP ":
            if budget.take(len(body), "webp:XMP"):
                meta.xmp.append(decode_text(body)[0])
        elif fourcc == b"C2PA":
            meta.has_c2pa_box = True
        pos += 8 + size + (size % 2)
