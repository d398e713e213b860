"""AI-generation provenance: generator metadata (prompts, models, seeds), C2PA credentials, invisible
watermarks and stealth PNG info, read as pure functions from a file's bytes.

Entry point: :func:`inspect_bytes`. One module per family (``a1111``, ``comfyui``, ``novelai``,
``invokeai``, ``fooocus``, ``swarmui``, ``easydiffusion``, ``xmp`` for Draw Things, ``generic``), plus ``raw`` (the metadata
reader), ``c2pa``, ``watermark`` and ``stealth``. Metadata and C2PA need no pixel decode; the watermark
and stealth checks do, and use the caller's decoded image when given one.

Malformed input never raises: every problem becomes a note on the report and reading continues.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bastion.media.formats import ISOBMFF_FORMATS
from bastion.media.provenance import a1111, comfyui, easydiffusion, fooocus, generic, invokeai, novelai, swarmui
from bastion.media.provenance.c2pa import C2paResult, read_c2pa
from bastion.media.provenance.raw import RawMetadata, read_metadata
from bastion.media.provenance.report import ProvenanceReport
from bastion.media.provenance.settings import ProvenanceSettings
from bastion.media.provenance.stealth import read_stealth
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance
from bastion.media.provenance.watermark import WatermarkHit, WatermarkResult
from bastion.media.provenance.watermark import detect as detect_watermark
from bastion.media.provenance.xmp import XmpInfo, parse_drawthings, parse_xmp

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "inspect_bytes", "ProvenanceReport", "Provenance", "ProvenanceSettings", "LoraRef", "C2paResult",
    "WatermarkResult", "WatermarkHit", "read_metadata", "RawMetadata",
]

#: Still images whose pixels Pillow reads here for the watermark and stealth checks (HEIC/AVIF need plugins,
#: videos are not still images).
_PIXEL_FORMATS = frozenset({"png", "jpeg", "webp", "gif", "tiff", "bmp"})

# Order matters only for which record comes first; each parser claims its own keys.
_METADATA_PARSERS: list[tuple[str, Callable[[RawMetadata], ParseResult]]] = [
    ("swarmui", swarmui.parse),
    ("fooocus", fooocus.parse),
    ("invokeai", invokeai.parse),
    ("novelai", novelai.parse),
    ("comfyui", comfyui.parse),
    ("easydiffusion", easydiffusion.parse),
    ("a1111", a1111.parse),
]


def inspect_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    image: Image.Image | None = None,
    settings: ProvenanceSettings | None = None,
    decoded: Image.Image | None = None,
) -> ProvenanceReport:
    """Inspect one file's bytes for AI-generation provenance. Never raises on malformed metadata.

    ``image`` is the caller's already-decoded image of the file as stored (full size, with its alpha);
    it is trusted and saves our decode for the pixel checks. ``decoded`` is weaker: a decode the caller
    made for its own purpose (e.g. the scanner's hashing decode, which drops alpha and may be reduced). It
    is used only when it provably equals what our own decode would give (see :func:`reusable_decode`);
    otherwise we decode as usual, so results never depend on it. ``filename`` is used only in notes.
    """
    settings = settings or ProvenanceSettings()
    meta = read_metadata(data, max_total_bytes=settings.max_metadata_bytes, max_field_bytes=settings.max_field_bytes)
    report = ProvenanceReport(format=meta.format, notes=list(meta.notes))
    try:
        xmp = parse_xmp(meta.xmp) if meta.xmp else XmpInfo()
    except Exception as exc:  # deliberate: a hostile XMP packet must not break a scan
        xmp = XmpInfo(notes=[f"xmp: unreadable ({type(exc).__name__}: {str(exc)[:120]})"])
    report.notes.extend(xmp.notes)
    parsers: list[tuple[str, Callable[[], ParseResult]]] = [(n, (lambda f=f: f(meta))) for n, f in _METADATA_PARSERS]
    parsers.append(("drawthings", lambda: parse_drawthings(xmp)))
    for name, run in parsers:
        _run_parser(name, run, report)
    _run_parser("generic", lambda: generic.parse(meta, xmp, claimed_by_family=bool(report.provenances)), report)
    report.software = [n for n, _ in generic.software_names(meta, xmp)]

    remote_ref = (xmp.first("dcterms:provenance") or "").strip()
    if settings.c2pa and (meta.has_c2pa_box or meta.format in ISOBMFF_FORMATS | {"gif", "tiff"}):
        try:
            report.c2pa = read_c2pa(data, meta.format, trust_anchors_pem=settings.c2pa_trust_anchors_pem)
        except Exception as exc:  # deliberate: an unexpected manifest shape must not break a scan
            report.c2pa = C2paResult(state="Unreadable", notes=[f"c2pa: unreadable ({type(exc).__name__}: {str(exc)[:120]})"])
        if report.c2pa is not None:
            report.notes.extend(report.c2pa.notes)
    if report.c2pa is None and remote_ref:
        report.c2pa = C2paResult(state="Remote", remote_url=remote_ref,
                                 notes=["c2pa: the file refers to a remote manifest; not fetched"])
        report.notes.append(f"c2pa: remote manifest at {remote_ref} not fetched")

    if settings.watermark or settings.stealth:
        if image is None and decoded is not None and reusable_decode(data, meta.format, decoded):
            image = decoded
        pixels = _pixels(data, meta, image, settings, report)
        if pixels is not None:
            if settings.stealth:
                _run_parser("stealth", lambda: _stealth(pixels, settings), report)
            if settings.watermark:
                if pixels.shape[0] * pixels.shape[1] > settings.max_watermark_pixels:
                    report.watermark = WatermarkResult(checked=False, note=(
                        f"watermark: {pixels.shape[1]}x{pixels.shape[0]} is larger than generators write "
                        f"(limit {settings.max_watermark_pixels} pixels); not checked"))
                else:
                    report.watermark = detect_watermark(_rgb_channels(pixels))
                if report.watermark.note:
                    report.notes.append(report.watermark.note)
    if filename:
        report.notes = [f"{filename}: {n}" for n in report.notes]
    return report


def _run_parser(name: str, run: Callable[[], ParseResult], report: ProvenanceReport) -> None:
    """Run one parser; a parser bug becomes a note so the other families are still read."""
    try:
        prov, notes = run()
    except Exception as exc:  # deliberate: hostile metadata must never break a scan
        report.notes.append(f"{name}: parser failed ({type(exc).__name__}: {str(exc)[:160]}); its fields are missing")
        return
    report.notes.extend(notes)
    if prov is not None:
        report.provenances.append(prov)


def _pixels(data: bytes, meta: RawMetadata, image: Image.Image | None, settings: ProvenanceSettings,
            report: ProvenanceReport) -> np.ndarray | None:
    """RGB(A) uint8 pixels from the caller's image or our own bounded decode; None (with a note) if unavailable."""
    from PIL import Image

    try:
        if image is None:
            if not settings.decode_pixels:
                report.notes.append("pixels not decoded (decode_pixels is off): watermark and stealth not checked")
                return None
            if meta.format not in _PIXEL_FORMATS:
                report.notes.append("not a still image this reader decodes: watermark and stealth not checked")
                return None
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > settings.max_decode_pixels:
                    report.notes.append(f"image of {im.width}x{im.height} exceeds the decode limit: "
                                        "watermark and stealth not checked")
                    return None
                im.load()
                return _as_array(im)
        return _as_array(image)
    except Exception as exc:  # corrupt pixels: metadata results stand, pixel checks are skipped
        report.notes.append(f"pixels unreadable ({type(exc).__name__}: {str(exc)[:120]}): watermark and stealth not checked")
        return None


def _as_array(im: Image.Image) -> np.ndarray:
    """RGB or RGBA uint8 pixels. 8-bit RGB/RGBA images are read as they are: ``convert`` to the same mode
    would only add a full copy (same pixels)."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    mode = "RGBA" if has_alpha else "RGB"
    return np.asarray(im if im.mode == mode else im.convert(mode))


def _rgb_channels(pixels: np.ndarray) -> np.ndarray:
    """The colour channels as a contiguous (H, W, 3) array; OpenCV drops alpha faster than a numpy copy."""
    if pixels.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGBA2RGB)
    return np.ascontiguousarray(pixels)


def reusable_decode(data: bytes, fmt: str, decoded: Image.Image) -> bool:
    """Whether a caller's decode is exactly the file's stored pixels, so our own decode can be skipped.

    True only when the file is one we would decode ourselves (``fmt`` from :func:`read_metadata`) and its
    header (read without decoding) has the decode's mode, RGB or RGBA, and size. So an RGB decode of an
    RGBA file (alpha dropped: an alpha stealth payload would be lost), a palette or 16-bit file converted
    to RGB, and a reduced or 90-degree-turned decode are all refused. A same-size flip or 180-degree turn
    from EXIF orientation cannot be seen here: the caller must offer only decodes it did not re-orient.
    """
    from PIL import Image

    if fmt not in _PIXEL_FORMATS or decoded.mode not in ("RGB", "RGBA"):
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.mode == decoded.mode and im.size == decoded.size
    except Exception:  # deliberate: an unreadable header just means "decode as usual" (which notes the error)
        return False


def _stealth(pixels: np.ndarray, settings: ProvenanceSettings) -> ParseResult:
    import json

    payload, notes = read_stealth(pixels, max_bytes=settings.max_field_bytes)
    if payload is None:
        return None, notes
    where = f"stealth:{payload.mode}[{payload.signature}]"
    text = payload.text
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            return None, notes + [f"stealth: {where} looks like JSON but is not valid ({str(exc)[:60]})"]
        if isinstance(obj, dict) and ("Comment" in obj or "novelai" in str(obj.get("Software", "")).lower()):
            prov, more = novelai.parse_fields({str(k): v for k, v in obj.items()}, where)
            return prov, notes + more
        if isinstance(obj, dict) and "sui_image_params" in obj:
            return swarmui.parse_params(obj["sui_image_params"], obj.get("sui_extra_data"), where), notes
        return None, notes + [f"stealth: {where} holds JSON of an unknown generator; recorded as a note only"]
    prov = a1111.parse_infotext(text, where)
    prov.evidence += " (hidden in pixel low bits)"
    return prov, notes
