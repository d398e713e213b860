"""Issue 21 point 3: limits on what an uploader controls. Embedded text is kept as bounded excerpts (what is
stored is at most a small multiple of what was sent), and hostile bodies and paths get 4xx answers, never 500."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import text

from svc_helpers import b64, png_bytes


def _png_with_prompt(prompt: str) -> bytes:
    """A small benign PNG whose compressed text chunk (zTXt) carries a long neutral "prompt"."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64",
                  zip=True)
    buf = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(3, 64))).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _stored_bytes(api) -> int:
    with api.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT title, body, facts, verdict FROM items")).all()
        media = conn.execute(text("SELECT result FROM item_media")).all()
    return sum(len(str(v)) for r in rows for v in r if v is not None) + sum(len(str(r[0])) for r in media)


def test_embedded_text_is_stored_as_a_bounded_excerpt_with_its_digest(api):
    prompt = ("placeholder words of a long neutral prompt " * 200_000)[:8 * 1024 * 1024]  # 8 MiB, compresses well
    data = _png_with_prompt(prompt)
    assert len(data) < 200_000  # the upload is small; the text inside it is not
    r = api.submit({"id": "big-prompt", "media": [{"data": b64(data), "filename": "p.png"}]})
    assert r.status_code == 200, r.text
    stored = _stored_bytes(api)
    assert stored < 10 * len(data), (stored, len(data))  # a small multiple of what was sent, not 8 MiB
    with api.store.engine.connect() as conn:
        result = json.loads(conn.execute(text("SELECT result FROM item_media")).scalar_one()) \
            if api.store.engine.dialect.name == "sqlite" else conn.execute(text("SELECT result FROM item_media")).scalar_one()
    prov = result["provenance"]
    kept = prov["provenances"][0]["positive_prompts"][0]
    assert 0 < len(kept.encode()) <= 64 * 1024 and prompt.startswith(kept)
    cut = prov["excerpts"]["provenances[0].positive_prompts[0]"]
    assert cut["sha256"] == hashlib.sha256(prompt.encode()).hexdigest() and cut["length"] == len(prompt)


def test_a_chunked_body_over_the_limit_is_413_not_500(database_url, tmp_path):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app

    app = create_app(ServeSettings(home=tmp_path / "home", database_url=database_url, background=False,
                                   json_logs=False, max_body_bytes=10_000))
    from bastion.auth import service as auth

    with app.state.store.session() as s, s.begin():
        auth.create_user(s, "int", "integration")
        token = auth.create_token(s, "int", "t")[1]

    def chunks():  # no Content-Length: the body is sent chunked
        for _ in range(40):
            yield b" " * 1000
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/items", content=chunks(), headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"})
    app.state.store.close()
    assert r.status_code == 413, r.text


def test_json_nested_beyond_a_sane_depth_is_400(api):
    deep = "[" * 100_000 + "]" * 100_000
    r = api.client.post("/v1/items", content=deep.encode(), headers=api.h(**{"Content-Type": "application/json"}))
    assert r.status_code == 400, r.text
    nested = '{"id": "x", "extra": ' + "[" * 5000 + "]" * 5000 + "}"
    r = api.client.post("/v1/items", content=nested.encode(), headers=api.h(**{"Content-Type": "application/json"}))
    assert r.status_code == 400, r.text


def test_ids_with_a_slash_are_retrievable(api):
    r = api.submit({"id": "shop/post-1", "title": "a plain title"})
    assert r.status_code == 200, r.text
    r = api.client.get("/v1/items/shop/post-1", headers=api.h())
    assert r.status_code == 200 and r.json()["item_id"] == "shop/post-1", r.text
    r = api.client.get("/v1/items/shop%2Fpost-1", headers=api.h())
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/v1/cases/{n}", "/v1/cases/{n}/claim"])
def test_path_ids_beyond_64_bits_are_404(api, path):
    for n in (2**63, 2**64 + 5, 10**30):
        url = path.format(n=n)
        r = api.client.get(url, headers=api.h("lead")) if not url.endswith("claim") else \
            api.client.post(url, headers=api.h("lead"))
        assert r.status_code == 404, (url, r.status_code, r.text)
    r = api.client.delete(f"/v1/tokens/{2**63}", headers=api.h("admin"))
    assert r.status_code == 404, r.text
