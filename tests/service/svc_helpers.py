"""Helpers of the service tests (benign generated images)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def png_bytes(seed: int = 0, size: int = 256) -> bytes:
    """A benign generated pattern: smooth random blobs, distinct per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((size, size), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- stand-ins run in examine worker processes (imported there by name) ---------------------------------


def echo(value):
    return value


def die():
    import os

    os._exit(3)  # a decoder that crashes its process


def stuck_for(seconds: float):
    """Stands in for a C library that never returns: the soft timer's signal cannot get through."""
    import signal
    import time

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
    return "woke"


def stuck_examine(name, data, **kw):
    """``examine_bytes``, except that a file named ``stuck*`` never returns (as :func:`stuck_for`)."""
    from bastion.scan import examine_bytes

    if name.startswith("stuck"):
        stuck_for(3600)
    return examine_bytes(name, data, **kw)


def gradient_png(width: int, height: int) -> bytes:
    """A large benign horizontal gradient that compresses to a small PNG: cheap to send, slow to decode."""
    row = np.linspace(0, 255, width, dtype=np.uint8)
    im = Image.fromarray(np.broadcast_to(row, (height, width)).copy(), "L").convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def allocate(n: int) -> int:
    """Touch ``n`` bytes of memory in the worker (a stand-in for a decoder's buffers)."""
    buf = bytearray(n)
    return len(buf)
