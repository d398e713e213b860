"""Safe media decoding: bytes in, an RGB image (or a typed error) out.

Media reaching Bastion is hostile by assumption: some files are broken, some are crafted to exhaust memory,
and one bad file must never stop a scan. So every path here

* sniffs the format from magic bytes (not from the file name) and accepts only the formats we hash
  (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC, AVIF);
* reads only the header first and refuses images that *declare* more pixels than :class:`DecodeLimits`
  allows, before any pixel buffer is allocated;
* maps every Pillow/pillow-heif exception and warning to :mod:`bastion.errors` types or to notes;
* never touches Pillow's global state (``Image.MAX_IMAGE_PIXELS``, ``ImageFile.LOAD_TRUNCATED_IMAGES``,
  registered plugins) so other code in the process is unaffected.

Decisions (see ``docs/decisions/0002-decoding-and-orientation.md``):

* **Truncated files raise** :class:`~bastion.errors.TruncatedMedia` even when Pillow could show a partial
  image: a hash of a half-grey decode matches neither the original nor anything else reliably.
* **EXIF orientation is applied**: the image is hashed as a viewer displays it. HEIC decoders already apply
  their (irot/imir) transforms, so applying EXIF elsewhere makes every format agree. The original EXIF value
  is reported in :attr:`DecodedImage.orientation`; every orientation is one of the 8 dihedral PDQ variants,
  so a bank made from raw pixels still matches through ``pdq_dihedral``.
* **Colour is converted explicitly** (CMYK, P, PA, LA, 1, I;16, I, F → RGB). Alpha is dropped, not composited:
  the hash is of the colour channels, as python-threatexchange does for RGBA.
* **Reduced decodes keep the short side** ``>= min_side``: PDQ reduces both axes to 64 samples, so the axis
  with fewer pixels bounds the fidelity (a 4000×500 panorama must not drop below 64 rows).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from bastion.errors import DecompressionBomb, MediaError, TruncatedMedia, UnsupportedMedia
from bastion.media.formats import sniff_format

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeLimits",
    "DecodedImage",
    "SUPPORTED_FORMATS",
    "decode_rgb",
    "open_image",
]

SUPPORTED_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "gif", "bmp", "tiff", "heic", "avif")


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """What a file may declare before we refuse to decode it.

    ``max_pixels`` defaults to 100 MP: above every common camera output (phones bin 50–200 MP sensors to
    12 MP by default) while an RGB buffer stays under 300 MB per worker. ``max_side`` rejects absurd strips
    (1 × 10⁸) that pass a pixel budget but make resampling pathological.
    """

    max_pixels: int = 100_000_000
    max_side: int = 65_535
    #: Bytes the decoded pixel buffers may take at their peak (Pillow's buffer for the file's mode, plus
    #: the RGB copy when the mode has to be converted before it can be reduced). A pixel count alone is not
    #: enough: a float32 or 16-bit image of 9999² compresses to a few hundred KB and took over 4 GB.
    #: 300 MB keeps the documented per-worker bound; JPEGs are decoded at a reduced scale and rarely near it.
    max_decoded_bytes: int = 300_000_000

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.max_side < 1 or self.max_decoded_bytes < 1:
            raise ValueError("DecodeLimits values must be positive")


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An RGB image ready to hash, plus what is known about the file it came from.

    ``width``/``height`` are the full size of the original *after* orientation, even when ``image`` is a
    reduced decode. ``orientation`` is the EXIF value (1–8) that was applied (1 when absent or invalid).
    ``notes`` records everything noteworthy but not fatal (frames ignored, invalid tags, decoder warnings),
    so nothing is silently dropped.
    """

    image: Image.Image
    width: int
    height: int
    format: str
    orientation: int = 1
    notes: tuple[str, ...] = field(default=())
    #: Why the strict decode failed when the pixels came from the tolerant one (``None``: undamaged).
    damaged: str | None = None


# --- opening -------------------------------------------------------------------------------------


def _heif_factory(fp: io.BytesIO) -> Image.Image:
    # Imported lazily: pillow-heif loads libheif, which scans of JPEG-only folders never need.
    from pillow_heif.as_plugin import HeifImageFile

    return HeifImageFile(fp)


def _avif_factory(fp: io.BytesIO) -> Image.Image:
    # Pillow reads AVIF natively from 11.3 on; older Pillow gets a clear error instead of an ImportError.
    try:
        from PIL.AvifImagePlugin import AvifImageFile
    except ImportError as exc:
        raise UnsupportedMedia("avif: this Pillow has no AVIF support (needs Pillow >= 11.3 with libavif)") from exc
    return AvifImageFile(fp)


# Plugin classes are called directly instead of ``Image.open``: ``Image.open`` runs Pillow's own bomb
# check (warning above MAX_IMAGE_PIXELS, error above twice that) before we could apply our limit with a
# clearer message, and it would try every registered plugin instead of the one format we sniffed.
_FACTORIES: dict[str, Callable[[io.BytesIO], Image.Image]] = {
    "jpeg": JpegImagePlugin.JpegImageFile,
    "png": PngImagePlugin.PngImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
    "gif": GifImagePlugin.GifImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
    "tiff": TiffImagePlugin.TiffImageFile,
    "heic": _heif_factory,
    "avif": _avif_factory,
}


class _Guard:
    """Run Pillow code with its exceptions mapped to typed errors and its warnings kept as notes.

    Pillow plugins raise almost anything on malformed input (``SyntaxError``, ``OSError``, ``struct.error``,
    ``IndexError``, ``ValueError``, ``ZeroDivisionError`` ...), so everything but our own errors is mapped.
    ``warnings.catch_warnings`` is process-global in Python 3.11: this is exact when a process decodes one
    file at a time (the scanner's worker pool); threads decoding concurrently in one process could swap
    each other's notes, never lose an error.
    """

    def __init__(self, fmt: str, stage: str, notes: list[str]):
        self.fmt = fmt
        self.stage = stage
        self.notes = notes

    def __enter__(self) -> "_Guard":
        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._catcher.__exit__(None, None, None)
        for w in self._caught:
            if issubclass(w.category, Image.DecompressionBombWarning):
                self.notes.append(f"pillow: image exceeds Pillow's MAX_IMAGE_PIXELS warning level: {w.message}")
            else:
                self.notes.append(f"{w.category.__name__}: {w.message}")
        if exc is None or isinstance(exc, MediaError):
            return False
        if isinstance(exc, Image.DecompressionBombError):
            raise DecompressionBomb(f"{self.fmt}: Pillow refused the image size: {exc}") from exc
        if isinstance(exc, MemoryError):
            raise DecompressionBomb(f"{self.fmt}: ran out of memory while {self.stage}") from exc
        if isinstance(exc, Exception):
            raise TruncatedMedia(f"{self.fmt}: truncated or corrupt file ({self.stage}): {exc}") from exc
        return False


def _check_declared_size(size: tuple[int, int], fmt: str, limits: DecodeLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise TruncatedMedia(f"{fmt}: header declares an empty image ({width}×{height})")
    pixels = width * height
    if pixels > limits.max_pixels or max(width, height) > limits.max_side:
        raise DecompressionBomb(
            f"{fmt}: header declares {width}×{height} = {pixels:,} pixels; "
            f"limit is {limits.max_pixels:,} pixels and {limits.max_side:,} per side"
        )


def _open(data: bytes, limits: DecodeLimits, notes: list[str]) -> tuple[Image.Image, str]:
    if len(data) == 0:
        raise UnsupportedMedia("empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt not in _FACTORIES:  # not a format at all, or a video (hashed by bastion.media.video, not here)
        raise UnsupportedMedia(
            # Never any of the file's bytes in the message: the "file" may be a link to a secret.
            f"unknown or unsupported format ({len(data):,} bytes); "
            f"supported: {', '.join(SUPPORTED_FORMATS)}"
        )
    with _Guard(fmt, "reading the header", notes):
        im = _FACTORIES[fmt](io.BytesIO(data))
    _check_declared_size(im.size, fmt, limits)
    return im, fmt


def open_image(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Image.Image:
    """Parse the header and check the declared size against ``limits``; pixels are NOT decoded.

    Raises :class:`~bastion.errors.UnsupportedMedia` for empty or unknown files,
    :class:`~bastion.errors.DecompressionBomb` when the declared size exceeds the limits, and
    :class:`~bastion.errors.TruncatedMedia` when the header itself is broken.
    """
    return _open(data, limits, [])[0]


# --- orientation ---------------------------------------------------------------------------------

_EXIF_ORIENTATION_TAG = 0x0112

#: EXIF orientation value → the transpose that turns stored pixels into the displayed image.
ORIENTATION_TRANSPOSE: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _read_orientation(im: Image.Image, fmt: str, notes: list[str]) -> tuple[int, bool]:
    """Return (EXIF orientation, whether we still have to apply it).

    pillow-heif applies the HEIF transforms while decoding and resets EXIF to 1, keeping the original value
    in ``info["original_orientation"]``; we report it but must not rotate twice.
    """
    if fmt == "heic":
        value = im.info.get("original_orientation") or 1
        return (value if value in ORIENTATION_TRANSPOSE else 1), False
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception as exc:  # corrupt EXIF must not cost us the image
        notes.append(f"EXIF unreadable, orientation not applied: {exc}")
        return 1, False
    if value not in ORIENTATION_TRANSPOSE:
        notes.append(f"invalid EXIF orientation {value!r} ignored")
        return 1, False
    return value, value != 1


# --- memory --------------------------------------------------------------------------------------

#: Bytes per pixel of Pillow's own buffer for a mode (Pillow keeps every 3- and 4-band mode, and "I"/"F",
#: in 4 bytes; "LA"/"PA" too). Modes not listed count 4.
_PILLOW_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
#: Modes ``Image.reduce`` accepts, so they are reduced before the RGB copy is made.
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBX"})  # CMYK: converted first (not linear)
_HIGH_BIT_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _reduce_factor(size: tuple[int, int], min_side: int | None) -> int:
    if min_side is None:
        return 1
    return max(1, min(size) // min_side)


def _peak_bytes(size: tuple[int, int], mode: str, factor: int) -> int:
    """Largest pixel memory the decode of an image of ``size``/``mode`` needs at once."""
    pixels = size[0] * size[1]
    buffer = pixels * _PILLOW_BYTES_PER_PIXEL.get(mode, 4)
    if mode in _HIGH_BIT_DEPTH or mode in _REDUCIBLE:
        # reduced first (high bit depths strip by strip), so the RGB copy is small
        return buffer + 4 * pixels // (factor * factor)
    return buffer + 4 * pixels  # P, 1, PA, CMYK, YCbCr ...: the RGB copy is made at full size


def _check_decoded_bytes(size: tuple[int, int], mode: str, fmt: str, factor: int, limits: DecodeLimits) -> None:
    need = _peak_bytes(size, mode, factor)
    if need > limits.max_decoded_bytes:
        raise DecompressionBomb(
            f"{fmt}: decoding {size[0]}×{size[1]} pixels of mode {mode} needs about {need:,} bytes of pixel "
            f"buffers; limit is {limits.max_decoded_bytes:,} bytes"
        )


# --- colour --------------------------------------------------------------------------------------

def _scale_to_uint8(arr: np.ndarray, sixteen_bit: bool, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map high-bit-depth luminance to 0..255 linearly.

    Pillow's own ``I;16 → L`` conversion clips at 255, which turns a normal 16-bit image almost white.
    16-bit data is divided by 257 (65535 → 255); other ranges (float, odd 32-bit) are min–max scaled,
    which leaves the PDQ hash unchanged because PDQ thresholds at the median.
    """
    a = arr.astype(np.float64)
    if sixteen_bit:
        scaled = np.clip(a, 0, 65535) / 257.0
    else:
        if lo is None or hi is None:  # a whole image: its own range (strips pass the image's range)
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        scaled = np.zeros_like(a) if not hi > lo else (np.clip(a, lo, hi) - lo) * (255.0 / (hi - lo))
    return np.nan_to_num(np.rint(scaled), nan=0.0).astype(np.uint8)


#: Rows of a high-bit-depth image converted at once: bounds the temporary float copies to a few MB.
_STRIP_BYTES = 8 * 1024 * 1024


def _high_bit_depth_to_rgb(im: Image.Image, factor: int = 1) -> Image.Image:
    """8-bit RGB from an I;16/I/F image, a strip of rows at a time, reduced by ``factor`` as it goes.

    ``np.asarray`` of the whole image copies it, and the float64 scaling copied it again at 8 bytes a
    pixel: a 194 KB 16-bit PNG of 9999² took 4.1 GB. Strips keep the extra memory to a few MB."""
    mode = im.mode
    w, h = im.size
    if mode.startswith("I;16"):
        sixteen, lo, hi = True, 0.0, 65535.0
    else:
        lo, hi = (float(v) for v in im.getextrema())
        sixteen = mode == "I" and lo >= 0 and hi <= 65535
        if sixteen:
            lo, hi = 0.0, 65535.0
    rows = max(factor, (_STRIP_BYTES // max(1, w * 8)) // factor * factor)
    out = Image.new("L", ((w + factor - 1) // factor, (h + factor - 1) // factor))
    y_out = 0
    for y in range(0, h, rows):
        strip = im.crop((0, y, w, min(h, y + rows)))
        arr = np.asarray(strip)
        scaled = _scale_to_uint8(arr, sixteen, lo, hi)
        part = Image.fromarray(scaled, "L")
        if factor > 1:
            part = part.reduce(factor)
        out.paste(part, (0, y_out))
        y_out += part.size[1]
    return out.convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB, correctly.

    Why not just ``convert("RGB")`` everywhere: high-bit-depth modes would be clipped (above). Why convert at
    all: hashing raw CMYK or palette indices as if they were RGB moves PDQ by up to all 256 bits.
    Alpha is dropped (the colour channels are hashed as stored).
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _HIGH_BIT_DEPTH:
        return _high_bit_depth_to_rgb(im)
    try:  # CMYK (Adobe inversion handled by the JPEG decoder), P, PA, L, LA, 1, RGBA, YCbCr, LAB, HSV ...
        return im.convert("RGB")
    except ValueError as exc:
        raise UnsupportedMedia(f"colour mode {mode} cannot be converted to RGB: {exc}") from exc


# --- decoding ------------------------------------------------------------------------------------

_JPEG_DRAFT_SCALES = (8, 4, 2)


def _jpeg_draft_scale(size: tuple[int, int], min_side: int) -> int:
    """Largest libjpeg DCT scale (1/8, 1/4, 1/2) keeping the short side >= min_side, else 1."""
    short = min(size)
    for scale in _JPEG_DRAFT_SCALES:
        if short // scale >= min_side:
            return scale
    return 1


def _frame_note(im: Image.Image, fmt: str) -> str | None:
    """Say when only the first frame/page was used, so an animation is never silently reduced."""
    try:
        if fmt == "gif":
            animated = bool(getattr(im, "is_animated", False))
            return "animated GIF: first frame decoded" if animated else None
        frames = int(getattr(im, "n_frames", 1))
    except Exception as exc:  # the first frame decoded fine; a broken tail is worth a note, not a failure
        return f"could not count frames: {exc}"
    return f"{fmt}: {frames} frames/pages, first decoded" if frames > 1 else None


# --- damage -------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks the pixels need. Everything else (text, colour profiles, EXIF, private chunks) is dropped by the
#: tolerant PNG decode, so a bad CRC or an oversized zTXt there cannot hide the image.
_PNG_PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})


def _png_pixels_only(data: bytes) -> tuple[bytes, str] | None:
    """The PNG rebuilt from its pixel chunks only, and what was dropped; ``None`` when nothing changed or
    the chunk structure itself is broken (no way to tell where the pixels are)."""
    out = [_PNG_SIGNATURE]
    dropped: dict[str, int] = {}
    pos = len(_PNG_SIGNATURE)
    end = len(data)
    while pos + 12 <= end:
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        ctype = bytes(data[pos + 4 : pos + 8])
        nxt = pos + 12 + length
        if nxt > end:
            if ctype == b"IDAT":  # a cut file: keep what there is, the decoder says how far it got
                out.append(data[pos:end])
            break
        if ctype in _PNG_PIXEL_CHUNKS:
            body = data[pos + 8 : pos + 8 + length]
            crc = struct.unpack(">I", data[pos + 8 + length : nxt])[0]
            if ctype != b"IDAT" and zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
                return None  # a damaged header or palette: the pixels cannot be trusted
            out.append(data[pos:nxt])
        else:
            name = ctype.decode("latin-1") if ctype.isalpha() else ctype.hex()
            dropped[name] = dropped.get(name, 0) + 1
        pos = nxt
        if ctype == b"IEND":
            break
    if not dropped:
        return None
    what = ", ".join(f"{k}" + (f" x{n}" if n > 1 else "") for k, n in sorted(dropped.items()))
    return b"".join(out), f"decoded without its ancillary chunks ({what})"


def _jpeg_with_end(data: bytes) -> tuple[bytes, str] | None:
    """A JPEG that stops before its end-of-image marker, given one: libjpeg then fills what is missing
    (grey) instead of Pillow refusing the whole image."""
    if data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None
    return bytes(data) + b"\xff\xd9", "end-of-image marker missing: file cut short or damaged, decoded as far as it goes"


def _repairs(data: bytes, fmt: str | None):
    if fmt == "png":
        fixed = _png_pixels_only(data)
        if fixed is not None:
            yield fixed
    elif fmt == "jpeg":
        fixed = _jpeg_with_end(data)
        if fixed is not None:
            yield fixed


def decode_rgb(data: bytes, *, limits: DecodeLimits = DEFAULT_LIMITS, min_side: int | None = None,
               tolerant: bool = True, luma_when_reduced: bool = False) -> DecodedImage:
    """Decode the first frame of ``data`` to an oriented RGB image.

    With ``min_side`` the decode may be reduced (JPEG DCT scaling via ``draft``, then an integer box
    ``reduce`` for any format) as long as the image's short side stays ``>= min_side``. The reported
    ``width``/``height`` are still those of the full oriented original.

    ``luma_when_reduced``: a colour JPEG decoded at a reduced scale comes back as its luma plane (mode ``L``):
    libjpeg then skips the colour planes and the colour conversion, about a third of the decode. Luma is
    exactly what PDQ hashes (the JPEG's Y is PDQ's 0.299 R + 0.587 G + 0.114 B); for callers that want
    nothing else (the fast hashing path). Full-size decodes and other formats stay RGB.

    When the strict decode finds the file damaged (:class:`~bastion.errors.TruncatedMedia`) and
    ``tolerant`` is true, the decode is tried again the way viewers do it: a PNG from its pixel chunks only
    (a bad CRC or an oversized text chunk elsewhere no longer matters), a JPEG cut before its end marker
    as far as its data goes. Damage is itself suspicious and must never hide an image from the banks, so
    the result says what was wrong in :attr:`DecodedImage.damaged`; the scan turns that into a
    ``damaged-media`` signal. Limits are applied to the repaired file exactly as to the original.
    """
    try:
        return _decode_rgb(data, limits, min_side, luma_when_reduced)
    except TruncatedMedia as strict_error:
        if not tolerant:
            raise
        fmt = sniff_format(data)
        for repaired, how in _repairs(data, fmt):
            try:
                result = _decode_rgb(repaired, limits, min_side, luma_when_reduced)
            except MediaError:
                continue
            why = str(strict_error)
            return DecodedImage(
                image=result.image, width=result.width, height=result.height, format=result.format,
                orientation=result.orientation, notes=result.notes + (f"damaged: {why}; {how}",),
                damaged=why,
            )
        raise


def _decode_rgb(data: bytes, limits: DecodeLimits, min_side: int | None, luma_when_reduced: bool = False) -> DecodedImage:
    if min_side is not None and min_side < 1:
        raise ValueError("min_side must be >= 1")
    notes: list[str] = []
    im, fmt = _open(data, limits, notes)
    full_w, full_h = im.size

    with _Guard(fmt, "decoding pixels", notes):
        if min_side is not None and fmt == "jpeg":
            scale = _jpeg_draft_scale(im.size, min_side)
            if scale > 1:
                # Luma only where libjpeg can give it (a YCbCr/RGB or greyscale JPEG, not CMYK).
                luma = luma_when_reduced and im.mode in ("RGB", "L")
                im.draft("L" if luma else im.mode, (max(1, im.size[0] // scale), max(1, im.size[1] // scale)))
        factor = _reduce_factor(im.size, min_side)
        _check_decoded_bytes(im.size, im.mode, fmt, factor, limits)
        im.load()
        # After load: some plugins (PNG) would otherwise decode the whole image just to find EXIF.
        orientation, must_transpose = _read_orientation(im, fmt, notes)
        # Reduce before the RGB copy where the mode allows it: the copy is then small (memory bound above).
        if im.mode == "L" and fmt == "jpeg" and luma_when_reduced and im.size != (full_w, full_h):
            rgb = im.reduce(factor) if factor >= 2 else im  # the luma plane, as asked
        elif im.mode in _HIGH_BIT_DEPTH:
            rgb = _high_bit_depth_to_rgb(im, factor)
        elif factor >= 2 and im.mode in _REDUCIBLE:
            rgb = to_rgb(im.reduce(factor))
        else:
            rgb = to_rgb(im)
            if factor >= 2:
                rgb = rgb.reduce(factor)
        # Counting frames may seek the file, so only after the first frame has been copied out.
        frame_note = _frame_note(im, fmt)
        transpose = ORIENTATION_TRANSPOSE[orientation] if must_transpose else None
        if transpose is not None:
            rgb = rgb.transpose(transpose)
    if orientation in (5, 6, 7, 8) and must_transpose:
        full_w, full_h = full_h, full_w
    if frame_note:
        notes.append(frame_note)
    return DecodedImage(
        image=rgb,
        width=full_w,
        height=full_h,
        format=fmt,
        orientation=orientation,
        notes=tuple(notes),
    )
