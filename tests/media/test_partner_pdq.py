"""Hashes that leave Bastion agree with partners' tools bit for bit (issue 21, point 9).

Bastion matches on the displayed picture (EXIF orientation applied, 16-bit scaled); partners
(python-threatexchange's pdq_hasher) hash the stored pixels. Exports, the vault's record, NCMEC reports and
`bastion hash --reference` carry the partners' hash. Images are generated here (a gradient pattern with an
EXIF orientation, a 16-bit grayscale PNG); the expected values come from the reference path itself: pdqhash
on the stored pixels, as Pillow gives them. (Cross-checked by hand against python-threatexchange's own test
images I16.png, LA.png, rgb.jpeg and pdq's exif-rotn-{1,3,6,8}.jpg: all eight agree — never run here.)"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pdqhash
import pytest
from PIL import Image
from typer.testing import CliRunner

from bastion.cli import app
from bastion.media.hashing import pdq_hash
from bastion.media.partner import DISPLAYED, STORED_PIXELS, partner_pdq


def pattern(w: int = 320, h: int = 200) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // w), (y * 255 // h), ((x // 40 + y // 40) % 2) * 200 + 20], axis=-1).astype(np.uint8)


def jpeg_with_orientation(arr: np.ndarray, orientation: int) -> bytes:
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def png16(w: int = 256, h: int = 192) -> bytes:
    y, x = np.mgrid[0:h, 0:w].astype(np.uint32)
    arr = ((x * 257 * 255 // w) + (y * 40)) % 65536  # spans the whole 16-bit range
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint16)).save(buf, format="PNG")
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    return data


def stored_pixels_pdq(data: bytes) -> str:
    """The reference path: pdqhash on the stored pixels as Pillow gives them (16-bit grayscale via Pillow's
    RGB conversion, as the partners' tool does), no EXIF rotation."""
    im = Image.open(io.BytesIO(data))
    if im.mode in ("LA", "I;16"):
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    bits, _ = pdqhash.compute(np.ascontiguousarray(arr))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


CASES = [pytest.param(lambda: jpeg_with_orientation(pattern(), o), id=f"exif-{o}") for o in (3, 6, 8)] + [
    pytest.param(png16, id="png-16-bit")
]


@pytest.mark.parametrize("make", CASES)
def test_partner_hash_is_the_stored_pixels_hash_and_differs_from_the_displayed_one(make):
    data = make()
    got = partner_pdq(data)
    assert got.hash == stored_pixels_pdq(data) and got.basis == STORED_PIXELS
    # Bastion's own matching keeps the displayed picture: these files are exactly where the two differ
    assert pdq_hash(data, fast=False).hash != got.hash


def test_upright_images_agree_either_way():
    data = jpeg_with_orientation(pattern(), 1)
    assert partner_pdq(data).hash == pdq_hash(data, fast=False).hash == stored_pixels_pdq(data)


def test_one_bit_images_are_hashed_as_their_stored_values():
    """Partners' tool hashes a 1-bit image's 0/1 values as they are; so does the partner hash."""
    buf = io.BytesIO()
    Image.fromarray((pattern()[:, :, 0] > 100)).convert("1").save(buf, format="PNG")
    got = partner_pdq(buf.getvalue())
    assert got.basis == STORED_PIXELS and got.hash == stored_pixels_pdq(buf.getvalue())
    assert DISPLAYED != STORED_PIXELS  # the fallback's label (a mode pdqhash refuses) is distinct


def test_hash_reference_cli_prints_the_partner_hash(tmp_path):
    data = jpeg_with_orientation(pattern(), 6)
    f = tmp_path / "rotated.jpg"
    f.write_bytes(data)
    r = CliRunner().invoke(app, ["hash", "--reference", "--json", str(f)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output.strip().splitlines()[-1])
    assert d["pdq"] == stored_pixels_pdq(data) and d["pdq_basis"] == STORED_PIXELS


def test_vault_and_partner_export_carry_the_partner_hash(tmp_path):
    from bastion.banks.formats import read_hash_list
    from bastion.model import HashEntry
    from bastion.reports.sharing import reference_pdq, write_partner_list
    from bastion.vault.service import _reference_pdq

    data = jpeg_with_orientation(pattern(), 8)
    expected = stored_pixels_pdq(data)
    assert _reference_pdq(data)[0] == expected
    assert reference_pdq(data)[0] == expected
    out = io.StringIO()
    write_partner_list([HashEntry("pdq", expected, "csam", "decision:1"), HashEntry("sha256", hashlib.sha256(data).hexdigest(), "csam", None)], out, "csv")
    text = out.getvalue()
    assert "pdq_basis" in text.splitlines()[0] and f"pdq,{expected},csam,,{STORED_PIXELS}" in text
    # Bastion (and any reader that ignores unknown columns) still reads the list
    parsed = read_hash_list(io.StringIO(text), "csv")
    assert {e.value for e in parsed.entries} == {expected, hashlib.sha256(data).hexdigest()}
