"""Stealth PNG info in pixel low bits (A1111 extension, NovelAI): alpha and RGB, plain and gzip."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from prov_builders import NEGATIVE, POSITIVE, a1111_infotext, gradient

from bastion.media.provenance import ProvenanceSettings, inspect_bytes
from bastion.media.provenance.stealth import encode_stealth, read_stealth


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [False, True])
def test_a1111_stealth_roundtrip_through_png(mode, compressed):
    base = np.asarray(gradient(96, 80, "RGBA" if mode == "alpha" else "RGB")).copy()
    marked = encode_stealth(base, a1111_infotext(), mode=mode, compressed=compressed)
    r = inspect_bytes(png(marked))
    a = [p for p in r.provenances if p.family == "a1111"]
    assert len(a) == 1
    assert a[0].positive_prompts == [POSITIVE] and a[0].negative_prompts == [NEGATIVE] and a[0].seed == 1234567
    assert a[0].sources["positive_prompts"].startswith(f"stealth:{mode}")
    assert "hidden in pixel low bits" in a[0].evidence


def test_novelai_stealth_json_in_alpha():
    payload = json.dumps({"Software": "NovelAI", "Source": "NovelAI Diffusion V4",
                          "Comment": json.dumps({"prompt": POSITIVE, "uc": NEGATIVE, "seed": 5, "steps": 28})})
    marked = encode_stealth(np.asarray(gradient(128, 128, "RGBA")).copy(), payload, mode="alpha", compressed=True)
    r = inspect_bytes(png(marked))
    p = [p for p in r.provenances if p.family == "novelai"][0]
    assert p.positive_prompts == [POSITIVE] and p.negative_prompts == [NEGATIVE] and (p.seed, p.steps) == (5, 28)


def test_caller_image_is_used_and_decode_can_be_off():
    marked = encode_stealth(np.asarray(gradient(64, 64, "RGBA")).copy(), a1111_infotext(), mode="alpha")
    data = png(marked)
    off = ProvenanceSettings(decode_pixels=False)
    assert inspect_bytes(data, settings=off).provenances == []
    r = inspect_bytes(data, image=Image.open(io.BytesIO(data)), settings=off)
    assert r.positive_prompts() == [POSITIVE]


def test_unmarked_and_lossy_images_have_no_payload():
    assert read_stealth(np.asarray(gradient(64, 64, "RGBA")))[0] is None
    marked = encode_stealth(np.asarray(gradient(64, 64, "RGB")).copy(), a1111_infotext(), mode="rgb")
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, "JPEG", quality=95)
    assert read_stealth(np.asarray(Image.open(buf).convert("RGB")))[0] is None


def test_lying_length_and_bad_gzip_give_notes():
    arr = np.asarray(gradient(64, 64, "RGBA")).copy()
    marked = encode_stealth(arr, "x", mode="alpha", compressed=True)
    # Overwrite the 32 length bits (after the 120 signature bits) with all ones: 4 Gbit claimed.
    plane = marked[:, :, 3].T.copy().ravel()
    plane[120:152] |= 1
    marked[:, :, 3] = plane.reshape(64, 64).T
    payload, notes = read_stealth(marked)
    assert any("more than the image holds" in n for n in notes)
    assert payload is not None and payload.text == "x"  # gzip ends on its own; the payload is still recovered
    # Corrupt the gzip magic right after the length field: a note, no payload, no exception.
    plane = marked[:, :, 3].T.copy().ravel()
    plane[152:168] ^= 1
    marked[:, :, 3] = plane.reshape(64, 64).T
    payload, notes = read_stealth(marked)
    assert payload is None and any("does not decompress" in n for n in notes)
