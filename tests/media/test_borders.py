"""Uniform borders are found, cut off before hashing, and a bordered copy matches its original.

Every image is a benign scikit-image sample or a generated pattern; every bordered copy is made here.
"""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.media.borders import BorderSettings, find_border, trim_border
from bastion.media.hashing import hamming, pdq_hash, pdq_trimmed_dihedral
from bastion.model import Bank, HashEntry
from bastion.scan import Scanner, examine_file


def sample(name: str) -> Image.Image:
    a = getattr(skdata, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[:, :, :3].astype(np.uint8))


def bordered(img: Image.Image, frac: float, colour, sides: str = "all") -> Image.Image:
    w, h = img.size
    bw = 0 if sides == "letterbox" else round(frac * w)
    bh = 0 if sides == "pillarbox" else round(frac * h)
    out = Image.new("RGB", (w + 2 * bw, h + 2 * bh), colour)
    out.paste(img, (bw, bh))
    return out


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"])
def test_pictures_without_a_border_are_left_alone(name):
    assert find_border(sample(name)) is None
    assert pdq_trimmed_dihedral(sample(name)) is None


@pytest.mark.parametrize(
    "frac,colour,sides",
    [(0.02, (255, 255, 255), "all"), (0.08, (0, 0, 0), "letterbox"), (0.15, (30, 80, 200), "pillarbox"),
     (0.05, (128, 128, 128), "all")],
)
def test_border_found_on_the_right_sides_through_jpeg(frac, colour, sides):
    img = sample("astronaut")
    copy = Image.open(io.BytesIO(jpeg(bordered(img, frac, colour, sides)))).convert("RGB")
    t = find_border(copy)
    assert t is not None
    bw = 0 if sides == "letterbox" else round(frac * 512)
    bh = 0 if sides == "pillarbox" else round(frac * 512)
    # within two pixels of the true border (JPEG smears the edge)
    for got, want in ((t.left, bw), (t.right, bw), (t.top, bh), (t.bottom, bh)):
        assert abs(got - want) <= 2, (t, bw, bh)


def test_a_flat_image_is_not_cut_to_a_sliver():
    flat = Image.new("RGB", (400, 300), (250, 250, 250))
    flat.paste((10, 10, 10), (195, 140, 205, 160))  # a small mark in the middle of a plain picture
    assert find_border(flat) is None  # the kept part would be under min_keep of each side
    loose = BorderSettings(min_keep=0.01)
    assert find_border(flat, loose) is not None


def test_trimmed_hash_is_close_to_the_original_when_the_whole_one_is_not():
    img = sample("astronaut")
    original = pdq_hash(jpeg(img, 95)).hash
    for frac, colour in ((0.05, (255, 255, 255)), (0.12, (0, 0, 0)), (0.10, (200, 40, 40))):
        data = jpeg(bordered(img, frac, colour))
        whole = pdq_hash(data).hash
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        variants, quality, cut = pdq_trimmed_dihedral(decoded)
        assert hamming(whole, original) > 31  # what PDQ alone does with a border: no match
        assert hamming(variants["original"], original) <= 31
        assert quality >= 50 and max(cut.fractions().values()) > 0


def test_scan_matches_a_bordered_copy_and_says_it_was_trimmed(store, tmp_path):
    known, other = sample("astronaut"), sample("coffee")
    (tmp_path / "known.jpg").write_bytes(jpeg(known, 95))
    (tmp_path / "boxed.jpg").write_bytes(jpeg(bordered(known, 0.10, (0, 0, 0), "letterbox")))
    (tmp_path / "framed.jpg").write_bytes(jpeg(bordered(known, 0.06, (255, 255, 255))))
    (tmp_path / "other-framed.jpg").write_bytes(jpeg(bordered(other, 0.06, (255, 255, 255))))
    repo = BankRepository(store)
    repo.create(Bank("known", "test"))
    base = examine_file(str(tmp_path / "known.jpg"), provenance=False)
    assert base.trimmed is None and "trimmed" not in base.to_json()  # nothing to trim: output as before
    repo.add_entries("known", [HashEntry("pdq", base.pdq, "[astronaut]")])
    results = {}
    Scanner(Matcher.from_store(store), jobs=1, provenance=False).run(
        [str(p) for p in sorted(tmp_path.glob("*.jpg"))], lambda r: results.__setitem__(r.path.rsplit("/", 1)[-1], r)
    )
    assert results["known.jpg"].matches[0]["distance"] == 0 and "query" not in results["known.jpg"].matches[0]
    for name in ("boxed.jpg", "framed.jpg"):
        r = results[name]
        assert r.trimmed is not None and r.to_json()["trimmed"]["pdq"] == r.trimmed_variants["original"]
        assert [m["label"] for m in r.matches] == ["[astronaut]"], name
        assert r.matches[0]["query"] == "border-trimmed" and r.matches[0]["distance"] <= 31
        assert r.signals and r.signals[-1]["evidence"]["query"] == "border-trimmed"
    assert results["other-framed.jpg"].trimmed is not None and results["other-framed.jpg"].matches == []


def test_the_whole_picture_wins_a_tie_with_the_trimmed_one(store):
    repo = BankRepository(store)
    repo.create(Bank("b", "test"))
    h = "%064x" % 0x0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
    repo.add_entries("b", [HashEntry("pdq", h, "x")])
    m = Matcher.from_store(store)
    got = m.match({}, {"original": h}, 90, trimmed_variants={"original": h}, trimmed_quality=90)
    assert len(got) == 1 and got[0].query is None
    far = "%064x" % (int(h, 16) ^ ((1 << 64) - 1))  # 64 bits away
    got = m.match({}, {"original": far}, 90, trimmed_variants={"original": h}, trimmed_quality=90)
    assert len(got) == 1 and (got[0].query, got[0].distance) == ("border-trimmed", 0)
    # a trimmed hash below the bank's minimum quality is not matched, whatever the whole one's quality
    got = m.match({}, {"original": far}, 90, trimmed_variants={"original": h}, trimmed_quality=10)
    assert got == []
