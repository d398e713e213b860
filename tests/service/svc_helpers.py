"""Helpers of the service tests (benign generated images)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bastion.auth.permissions import ROLES


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


# --- the service app of a test ----------------------------------------------------------------------------


@dataclass
class Api:
    app: object
    client: object
    tokens: dict[str, str]

    def h(self, role: str = "integration", **extra) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def submit(self, item: dict, role: str = "integration", **kw):
        return self.client.post("/v1/items", json=item, headers=self.h(role, **kw.pop("headers", {})), **kw)

    @property
    def store(self):
        return self.app.state.store


def make_api(database_url: str, home, **settings) -> Api:
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=home, database_url=database_url, background=False, json_logs=False, **settings))
    tokens = {}
    with app.state.store.session() as s, s.begin():
        for role in ROLES:
            auth.create_user(s, f"{role}-user", role)  # tokens only: argon2 is tested in test_auth.py
            tokens[role] = auth.create_token(s, f"{role}-user", "test")[1]
    return Api(app, TestClient(app, raise_server_exceptions=False), tokens)



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
