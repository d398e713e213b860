"""Video: safe decoding through PyAV and vPDQ, Meta's video extension of PDQ.

vPDQ samples frames at a fixed interval (one a second by default), PDQ-hashes each sampled frame at its
full decoded size and keeps ``(hash, quality, timestamp)`` per frame. Two videos are compared frame set
against frame set (see :mod:`bastion.banks.video`), so the order and number of frames do not have to agree:
a trimmed or re-encoded copy still matches.

What Bastion adds, and why:

* **Consecutive near-identical frames are collapsed** (distance <= :data:`COLLAPSE_DISTANCE`, default 0:
  identical hashes only). A static shot of ten minutes yields one frame, not 600. Matching counts *unique*
  frames anyway (python-threatexchange dedupes them before matching), so collapsing changes neither
  percentage; it only keeps hash lists short.
* **Limits before and during decoding.** A container may declare anything; Bastion refuses a file whose
  declared duration, frame size or byte size is over :class:`VideoLimits`, and stops decoding as soon as the
  decoded stream goes over them (declared metadata can lie). Each refusal is a typed
  :class:`~bastion.errors.VideoLimitExceeded`.

The serialised form is python-threatexchange's ``vpdq`` signal: a JSON list of ``"hex,quality,timestamp"``
strings, so hash lists exchange in both directions (:func:`to_signal`, :func:`parse_signal`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from bastion.errors import (
    InvalidHash,
    TruncatedMedia,
    UnsupportedMedia,
    VideoResolutionTooLarge,
    VideoTooLarge,
    VideoTooLong,
    VideoTooManyFrames,
)
from bastion.media.formats import VIDEO_FORMATS, sniff_format

__all__ = [
    "COLLAPSE_DISTANCE",
    "DEFAULT_VIDEO_LIMITS",
    "VIDEO_FORMATS",
    "VideoHash",
    "VideoLimits",
    "VpdqFrame",
    "parse_signal",
    "sniff_video",
    "to_signal",
    "vpdq_hash",
]

#: Consecutive sampled frames whose hashes differ by at most this many bits are kept once.
COLLAPSE_DISTANCE = 0

def sniff_video(data: bytes) -> str | None:
    """``"mp4"``, ``"mov"``, ``"webm"`` or ``"mkv"`` from the leading bytes, else ``None`` (the one sniffer,
    :func:`bastion.media.formats.sniff_format`, decides; an HEIC or AVIF still image is not a video)."""
    fmt = sniff_format(data)
    return fmt if fmt in VIDEO_FORMATS else None


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """What a video may declare or turn out to be before Bastion stops decoding it.

    Defaults: 256 MiB (as for images), 4 hours, 1,000,000 decoded frames (~9 h at 30 fps) and 40 MP a frame
    (above 8K, 33 MP). A frame buffer at the limit is 120 MB of RGB.
    """

    max_bytes: int = 256 * 1024 * 1024
    max_seconds: float = 4 * 3600.0
    max_frames: int = 1_000_000
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_seconds, self.max_frames, self.max_pixels) <= 0:
            raise ValueError("VideoLimits values must be positive")


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One sampled frame: PDQ hash (64 hex digits), its quality (0-100) and when it was shown (seconds)."""

    hash: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        return f"{self.hash},{self.quality},{self.timestamp:.3f}"


@dataclass(frozen=True, slots=True)
class VideoHash:
    frames: tuple[VpdqFrame, ...]
    format: str
    width: int
    height: int
    duration: float  # seconds, as decoded (the last frame's time), not as declared
    decoded_frames: int
    sampled_frames: int  # before collapsing
    notes: tuple[str, ...] = field(default=())

    @property
    def signal(self) -> str:
        return to_signal(self.frames)


def to_signal(frames) -> str:
    """python-threatexchange's ``vpdq`` signal string: a compact JSON list of ``"hex,quality,seconds"``."""
    return json.dumps([str(f) for f in frames], separators=(",", ":"))


def parse_signal(text: str | list[str]) -> tuple[VpdqFrame, ...]:
    """Read a ``vpdq`` signal string (or its already parsed list); raise :class:`~bastion.errors.InvalidHash`
    saying what is wrong."""
    try:
        items = json.loads(text) if isinstance(text, str) else text
    except (ValueError, TypeError) as exc:
        raise InvalidHash(f"vpdq value is not a JSON list of 'hash,quality,timestamp' strings: {exc}") from None
    if not isinstance(items, list) or not items:
        raise InvalidHash("vpdq value must be a non-empty JSON list of 'hash,quality,timestamp' strings")
    frames = []
    for i, item in enumerate(items):
        parts = item.split(",") if isinstance(item, str) else []
        if len(parts) != 3:
            raise InvalidHash(f"vpdq frame {i}: expected 'hash,quality,timestamp', got {item!r}")
        h, q, t = (p.strip() for p in parts)
        h = h.lower()
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
            raise InvalidHash(f"vpdq frame {i}: {h!r} is not a 64-hex-digit PDQ hash")
        try:
            quality, ts = int(q), float(t)
        except ValueError:
            raise InvalidHash(f"vpdq frame {i}: quality {q!r} or timestamp {t!r} is not a number") from None
        if not 0 <= quality <= 100 or not ts >= 0 or ts != ts or ts == float("inf"):
            raise InvalidHash(f"vpdq frame {i}: quality must be 0-100 and the timestamp >= 0")
        frames.append(VpdqFrame(h, quality, round(ts, 3)))
    return tuple(frames)


def _hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def collapse(frames, max_distance: int = COLLAPSE_DISTANCE) -> list[VpdqFrame]:
    """Drop each frame within ``max_distance`` bits of the frame kept just before it."""
    kept: list[VpdqFrame] = []
    for f in frames:
        if kept and _hamming_hex(kept[-1].hash, f.hash) <= max_distance:
            continue
        kept.append(f)
    return kept


def _pdq_rgb(rgb: np.ndarray) -> tuple[str, int]:
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def vpdq_hash(
    data: bytes,
    *,
    seconds_per_hash: float = 1.0,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    collapse_distance: int = COLLAPSE_DISTANCE,
) -> VideoHash:
    """Decode a video's bytes and return its vPDQ frames. Raises :mod:`bastion.errors` media errors."""
    import av  # imported here: image-only scans never load FFmpeg

    if seconds_per_hash <= 0:
        raise ValueError("seconds_per_hash must be positive")
    fmt = sniff_video(data)
    if fmt is None:
        raise UnsupportedMedia("not an MP4, MOV, WebM or MKV video")
    if len(data) > limits.max_bytes:
        raise VideoTooLarge(f"{len(data)} bytes is over the video limit of {limits.max_bytes}")
    notes: list[str] = []
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError as exc:
        raise TruncatedMedia(f"cannot open the {fmt} container: {exc}") from None
    with container:
        streams = container.streams.video
        if not streams:
            raise UnsupportedMedia(f"the {fmt} container holds no video stream")
        stream = streams[0]
        if len(streams) > 1:
            notes.append(f"{len(streams)} video streams: only the first is hashed")
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width * height > limits.max_pixels:
            raise VideoResolutionTooLarge(f"{width}x{height} frames are over the limit of {limits.max_pixels} pixels")
        declared = None
        if stream.duration is not None and stream.time_base is not None:
            declared = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            declared = container.duration / 1_000_000
        if declared is not None and declared > limits.max_seconds:
            raise VideoTooLong(f"declares {declared:.0f} s, over the limit of {limits.max_seconds:.0f} s")
        # No frame threading: a worker is one process per core already, and measured on 2 busy cores frame
        # threads made decoding ~1.8x slower (bench/RESULTS.md).
        sampled: list[VpdqFrame] = []
        decoded = 0
        next_mark = 0.0
        last_time = 0.0
        start: float | None = None
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > limits.max_frames:
                    raise VideoTooManyFrames(f"more than {limits.max_frames} frames")
                if frame.width * frame.height > limits.max_pixels:
                    raise VideoResolutionTooLarge(
                        f"a {frame.width}x{frame.height} frame is over the limit of {limits.max_pixels} pixels"
                    )
                t = frame.time
                if t is None:  # no timestamps: count frames at the stream's declared rate
                    rate = float(stream.average_rate or 30)
                    t = (decoded - 1) / rate
                if start is None:
                    start = t
                t = max(0.0, t - start)  # timestamps relative to the first frame, as vPDQ's are
                if t > limits.max_seconds:
                    raise VideoTooLong(f"runs past {limits.max_seconds:.0f} s")
                last_time = max(last_time, t)
                if t + 1e-6 < next_mark:
                    continue
                h, q = _pdq_rgb(frame.to_ndarray(format="rgb24"))
                sampled.append(VpdqFrame(h, q, round(t, 3)))
                while next_mark <= t + 1e-6:
                    next_mark += seconds_per_hash
        except (VideoTooManyFrames, VideoResolutionTooLarge, VideoTooLong):
            raise
        except av.error.FFmpegError as exc:
            if not sampled:
                raise TruncatedMedia(f"the {fmt} video stream cannot be decoded: {exc}") from None
            notes.append(f"decoding stopped early after {decoded} frames: {exc}")
    if not sampled:
        raise TruncatedMedia(f"the {fmt} video has no decodable frame")
    frames = collapse(sampled, collapse_distance)
    return VideoHash(
        frames=tuple(frames),
        format=fmt,
        width=width,
        height=height,
        duration=round(last_time, 3),
        decoded_frames=decoded,
        sampled_frames=len(sampled),
        notes=tuple(notes),
    )
