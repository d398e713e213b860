"""Benign test videos made here: moving shapes and gradients over scikit-image sample photos, encoded
with PyAV. Nothing is read from outside the tests."""

from __future__ import annotations

import io

import numpy as np


def _photo(name: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.asarray(Image.fromarray(img[..., :3]).resize(size))


def scene_frames(seconds: float, fps: int = 10, size=(320, 240), seed: int = 0, photo: str = "astronaut"):
    """Frames of a slowly panning benign photo with a moving shape: every second looks different."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = _photo(photo, (w * 2, h * 2))
    n = int(round(seconds * fps))
    dx, dy = rng.integers(1, 4, size=2)
    for i in range(n):
        x = int((i * dx * 3) % w)
        y = int((i * dy * 2) % h)
        f = base[y : y + h, x : x + w].copy()
        cx, cy = (i * 7) % (w - 40), (i * 5) % (h - 40)
        f[cy : cy + 40, cx : cx + 40] = (255 * ((i // fps) % 2), 64, 200)
        yield f


def encode(frames, *, fps: int = 10, container: str = "mp4", codec: str | None = None, size=None) -> bytes:
    """Encode RGB frames with PyAV; ``size`` resizes while encoding (a re-scaled copy)."""
    import av

    codec = codec or {"mp4": "libx264", "mov": "libx264", "webm": "libvpx", "matroska": "libx264"}[container]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = None
        for f in frames:
            if stream is None:
                h, w = f.shape[:2]
                if size:
                    w, h = size
                stream = out.add_stream(codec, rate=fps)
                stream.width, stream.height = w, h
                stream.pix_fmt = "yuv420p"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if size:
                vf = vf.reformat(width=size[0], height=size[1])
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def decode_frames(data: bytes, start: float = 0.0, end: float | None = None):
    """The RGB frames of a video between ``start`` and ``end`` seconds."""
    import av

    with av.open(io.BytesIO(data)) as c:
        for f in c.decode(c.streams.video[0]):
            t = f.time or 0.0
            if t + 1e-6 < start or (end is not None and t >= end):
                continue
            yield f.to_ndarray(format="rgb24")


def reencode(data: bytes, *, container: str = "mp4", size=None, start: float = 0.0, end: float | None = None,
             fps: int = 8) -> bytes:
    """Decode and encode again: another container/codec, another size, or a trimmed part."""
    return encode(decode_frames(data, start, end), fps=fps, container=container, size=size)
