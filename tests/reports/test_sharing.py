"""Hash sharing: confirmed hashes out as partner lists with the reference PDQ, partners' lists in keeping
their source, and `bastion hash --reference` printing the same PDQ."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pdqhash
import pytest
from PIL import Image
from typer.testing import CliRunner

from bastion.banks.formats import read_hash_list
from bastion.banks.repo import BankRepository
from bastion.cli import app
from bastion.errors import InvalidHash
from bastion.media.hashing import pdq_hash
from bastion.reports.sharing import (
    ConfirmedMedia,
    confirmed_entries,
    import_partner_list,
    reference_pdq,
    sync_confirmed_bank,
    write_partner_list,
)


def big_png(seed: int) -> bytes:
    """A benign generated pattern large enough (1200 px) that the fast PDQ path decodes it reduced."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1200, 0:1200]
    base = ((np.sin(x / (17 + seed)) + np.cos(y / 23)) * 60 + 128).astype(np.int16)
    noise = rng.integers(-40, 40, (1200, 1200))
    arr = np.clip(np.stack([base + noise, base, 255 - base], axis=-1), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def partner_reference(data: bytes) -> str:
    """What a partner's tool computes: pdqhash over the full-size RGB pixels."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
    bits, _ = pdqhash.compute(arr)
    return "".join(f"{int(''.join(map(str, bits[i:i + 4])), 2):x}" for i in range(0, 256, 4))


@pytest.fixture(scope="module")
def images():
    return [big_png(1), big_png(2)]


def test_reference_pdq_agrees_bit_for_bit_with_a_partners_computation(images):
    for data in images:
        h, q = reference_pdq(data)
        assert h == partner_reference(data) == pdq_hash(data, fast=False).hash
    assert reference_pdq(b"not an image") is None


def media_of(images, category="csam-generated"):
    out = []
    for i, data in enumerate(images):
        out.append(ConfirmedMedia(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), reference_pdq(data)[0], category, decision_id=10 + i))
    out.append(ConfirmedMedia("ab" * 32, "cd" * 16, None, "csam", decision_id=99))  # bytes gone: no PDQ shared
    return out


def test_partner_lists_csv_and_threatexchange(images):
    entries = confirmed_entries(media_of(images) * 2)  # duplicates merged
    assert sorted(e.hash_type for e in entries) == ["md5"] * 3 + ["pdq"] * 2 + ["sha256"] * 3
    csv_buf, te_buf = io.StringIO(), io.StringIO()
    assert write_partner_list(entries, csv_buf, "csv") == 8
    assert write_partner_list(entries, te_buf, "te") == 2
    back = read_hash_list(io.StringIO(csv_buf.getvalue()), "csv", name="partner.csv").entries
    assert {(e.hash_type, e.value, e.label) for e in back} == {(e.hash_type, e.value, e.label) for e in entries}
    assert all(e.source_ref is None for e in back)  # Bastion's decision ids stay home
    assert "decision:" not in csv_buf.getvalue()
    te = read_hash_list(io.StringIO(te_buf.getvalue()), "te", name="partner.te").entries
    assert {e.value for e in te} == {partner_reference(d) for d in images}


def test_confirmed_bank_sync_and_partner_import_keep_sources(store, images, tmp_path):
    repo = BankRepository(store)
    first = sync_confirmed_bank(repo, "confirmed", media_of(images))
    again = sync_confirmed_bank(repo, "confirmed", media_of(images))
    assert (first.added, again.added, again.merged) == (8, 0, 8)
    kept = repo.entries("confirmed")
    assert {e.source_ref for e in kept} == {"decision:10", "decision:11", "decision:99"}

    lst = tmp_path / "partner.csv"
    lst.write_text("hash_type,hash,label,source_ref\nmd5," + "1" * 32 + ",csam,their-17\nsha256," + "2" * 64 + ",,\n")
    res = import_partner_list(repo, "partners", lst, partner="hotline-a")
    assert res.added == 2 and repo.get("partners").source == "hotline-a"
    assert {(e.value[:1], e.source_ref) for e in repo.entries("partners")} == {("1", "hotline-a:their-17"), ("2", "hotline-a")}
    other = tmp_path / "other.te"
    other.write_text("pdq " + "f" * 64 + "\n")
    import_partner_list(repo, "partners", other, partner="ngo-b", fmt="te")
    assert ("pdq", "ngo-b") in {(e.hash_type, e.source_ref) for e in repo.entries("partners")}
    with pytest.raises(InvalidHash, match="partner"):
        import_partner_list(repo, "partners", other, partner=" ", fmt="te")


def test_hash_reference_cli_shows_the_reference_pdq(images, tmp_path):
    f = tmp_path / "pattern.png"
    f.write_bytes(images[0])
    r = CliRunner().invoke(app, ["hash", str(f), "--json", "--reference"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["pdq"] == partner_reference(images[0]) and d["pdq_mode"] == "reference"
    fast = json.loads(CliRunner().invoke(app, ["hash", str(f), "--json"]).output)
    assert fast["pdq_mode"] == "fast" and fast["pdq"] == pdq_hash(images[0], fast=True).hash
    text = CliRunner().invoke(app, ["hash", str(f), "--reference"]).output
    assert partner_reference(images[0]) in text and "reference" in text


def test_bank_import_partner_option(database_url, tmp_path):
    run = lambda *a: CliRunner().invoke(app, ["--database-url", database_url, *a], catch_exceptions=False)  # noqa: E731
    assert run("bank", "create", "partners", "--category", "csam").exit_code == 0
    lst = tmp_path / "p.csv"
    lst.write_text("hash_type,hash,label,source_ref\nmd5," + "3" * 32 + ",csam,ref-1\nmd5," + "4" * 32 + ",,\n")
    assert run("bank", "import", "partners", str(lst), "--partner", "hotline-c").exit_code == 0
    r = run("bank", "export", "partners", "--format", "csv")
    assert "hotline-c:ref-1" in r.output and ",hotline-c\n" in r.output
