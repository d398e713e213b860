"""Helpers of the service tests (benign generated images)."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_process(home: Path, url: str, port: int, *, background: bool = True, wait: float = 90) -> subprocess.Popen:
    """`bastion serve` on ``port`` (its own session, so the tests can signal the whole group), once ``/readyz``
    answers; RuntimeError with its last output when it exits or is not ready within ``wait`` seconds."""
    import httpx

    env = {**os.environ, "BASTION_HOME": str(home), "BASTION_DATABASE_URL": url}
    bastion = Path(sys.executable).with_name("bastion")
    flags = [] if background else ["--no-background"]
    proc = subprocess.Popen([str(bastion), "serve", "--port", str(port), *flags], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bastion serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"bastion serve did not become ready in {wait:g} s")


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def coffee_series() -> tuple[Image.Image, Image.Image]:
    """A benign photo (scikit-image's coffee cup) and a series member of it: colours changed, frame re-cropped."""
    from PIL import ImageEnhance
    from skimage import data

    base = Image.fromarray(data.coffee()).resize((400, 267))
    w, h = base.size
    member = ImageEnhance.Color(base.crop((8, 6, w - 10, h - 5)).resize((w, h))).enhance(1.3)
    member = Image.fromarray((np.asarray(member).astype(np.float32) * [1.08, 0.95, 1.0]).clip(0, 255).astype(np.uint8))
    return base, member


def confirm_case(api: Api, case_id: int) -> None:
    """A reviewer confirms a case (generated material, removed)."""
    r = api.client.post(f"/v1/cases/{case_id}/decisions", headers=api.h("reviewer"),
                        json={"outcome": "confirm", "category": "csam-generated", "actions": ["remove"]})
    assert r.status_code == 201, r.text


def similarity_signals(answer: dict) -> list[dict]:
    return [s for s in answer["signals"] if s["source"] == "similarity"]
