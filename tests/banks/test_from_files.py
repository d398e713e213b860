"""Banks built from media files: `bank add --file`, derived sub-region entries, crop matches, exports.

Benign scikit-image samples only; every cropped copy is made in the test.
"""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from typer.testing import CliRunner

from bastion.banks.from_files import DEFAULT_WINDOWS, DERIVATIONS, WINDOWS, add_files, derivations, derived_boxes, entries_from_file
from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.cli import app
from bastion.errors import BastionError
from bastion.model import Bank, HashEntry
from bastion.scan import examine_file
from bastion.store.db import head_revision

runner = CliRunner()


def cli(db_url, *args):
    return runner.invoke(app, ["--database-url", db_url, *args], catch_exceptions=False)


def sample(name: str) -> Image.Image:
    a = getattr(skdata, name)()
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[:, :, :3].astype(np.uint8))


def save_jpeg(img: Image.Image, path, quality=90):
    img.save(path, "JPEG", quality=quality)
    return path


def crop(img: Image.Image, frac: float, where: str) -> Image.Image:
    w, h = img.size
    dw, dh = round(w * frac), round(h * frac)
    return img.crop({
        "centre": (dw // 2, dh // 2, w - (dw - dw // 2), h - (dh - dh // 2)),
        "top-left": (dw, dh, w, h),  # cut from the top-left corner: the bottom-right part is kept
        "right": (0, 0, w - dw, h),  # cut on the right
    }[where])


def scan_matches(store, path):
    r = examine_file(str(path), provenance=False)
    return Matcher.from_store(store).match({"sha256": r.sha256, "md5": r.md5}, r.pdq_variants, r.quality)


def test_the_sub_regions_are_a_fixed_set_inside_the_picture():
    boxes = derived_boxes(640, 480)
    assert [n for n, _ in boxes] == [d[0] for d in DERIVATIONS] and len(boxes) == len(set(n for n, _ in boxes))
    assert len(DERIVATIONS) == DEFAULT_WINDOWS and {"crop-l4-t4-r4-b4", "crop-l0-t0-r0-b8", "crop-l2-t2-r5-b5"} <= {n for n, _ in boxes}
    for _, (x0, y0, x1, y1) in boxes:
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
        assert 0.80 <= (x1 - x0) * (y1 - y0) / (640 * 480) <= 0.951  # 91 % × 91 % up to 95 % of one side
    # the set is closed under mirrors and quarter turns, so a mirrored or turned crop is served as well
    cuts = set(WINDOWS[:DEFAULT_WINDOWS])
    for l, t, r, b in cuts:
        assert {(r, t, l, b), (l, b, r, t), (t, l, b, r)} <= cuts
    assert derivations(10) == tuple((n, c) for n, c in DERIVATIONS[:10])
    with pytest.raises(ValueError):
        derivations(len(WINDOWS) + 1)


def free_crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    """Cut these shares off each side: edges cut by unequal amounts, no anchor to line up with."""
    w, h = img.size
    return img.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))


def test_free_crops_of_a_generated_picture_added_with_file_match_as_crops(database_url, tmp_path):
    from bastion.demo import generated_pattern
    from bastion.store.db import open_store

    known = generated_pattern(3)
    src = save_jpeg(known, tmp_path / "known.jpg", 95)
    other = save_jpeg(generated_pattern(4), tmp_path / "other.jpg", 90)
    assert cli(database_url, "bank", "create", "held").exit_code == 0
    r = cli(database_url, "bank", "add", "held", "--file", str(src), "--label", "[pattern-3]")
    assert r.exit_code == 0 and "derived sub-region entries added" in r.stdout, r.output
    store = open_store(database_url)
    try:
        original_pdq = BankRepository(store).entries("held", "pdq")[0].value
        rng = np.random.default_rng(12)
        matched = 0
        for i in range(8):
            # 5-10 % off each axis, split at random between its two edges; half resized back
            fx, fy = rng.uniform(0.05, 0.10, 2)
            a, b = rng.uniform(0, fx), rng.uniform(0, fy)
            copy = free_crop(known, a, b, fx - a, fy - b)
            if i % 2:
                copy = copy.resize(known.size, Image.BILINEAR)
            ms = scan_matches(store, save_jpeg(copy, tmp_path / f"free-{i}.jpg", 85))
            assert all(m.label == "[pattern-3]" for m in ms)  # nothing else, ever
            if ms:
                matched += 1
                assert [(m.kind, m.value) for m in ms] == [("crop", original_pdq)] and ms[0].distance <= 31
        assert matched >= 7, matched
        # an unrelated picture (same generator, another seed), whole or cropped, matches nothing
        assert scan_matches(store, other) == []
        assert scan_matches(store, save_jpeg(free_crop(generated_pattern(4), 0.03, 0.02, 0.04, 0.05), tmp_path / "o.jpg", 85)) == []
    finally:
        store.close()

    # exports carry the original hashes only: no sub-region hash leaves as if it were the picture's
    store = open_store(database_url)
    derived = {e.value for e, _, _ in BankRepository(store).iter_derived("held")}
    store.close()
    assert len(derived) > 30
    for args in (["--format", "csv"], ["--format", "te", "--type", "pdq"], ["--format", "csv", "--confirmed"]):
        r = cli(database_url, "bank", "export", "held", *args)
        assert r.exit_code == 0, r.output
        assert original_pdq in r.stdout  # --confirmed: the bank, brought up to date, as a partner list
        assert not any(h in r.stdout for h in derived), args
    from bastion.console.backend import export_bank

    store = open_store(database_url)
    try:
        out = export_bank(store, "held", "csv")  # the review console's export
        assert original_pdq in out and not any(h in out for h in derived)
    finally:
        store.close()


def test_an_original_added_with_file_gets_the_reference_pdq(tmp_path):
    """The fast path hashes a reduced decode; what goes into the bank (and out in exports) is the reference."""
    import pdqhash

    # benign stripes with fine noise, large enough that a scan's fast path decodes it reduced (and drifts)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1800, 0:2400]
    base = ((np.sin(x / 17) + np.cos(y / 23)) * 60 + 128).astype(np.int16) + rng.integers(-40, 40, (1800, 2400))
    big = Image.fromarray(np.clip(np.stack([base, base, 255 - base], axis=-1), 0, 255).astype(np.uint8))
    src = save_jpeg(big, tmp_path / "big.jpg", 92)
    got = entries_from_file(src)
    bits, quality = pdqhash.compute(np.asarray(Image.open(src).convert("RGB")))
    assert got.parent.value == np.packbits(bits.astype(np.uint8)).tobytes().hex()
    assert examine_file(str(src), provenance=False).pdq != got.parent.value  # the case this guards is real
    assert got.derived and all(h != got.parent.value for _, h in got.derived)


def test_cropped_copies_match_as_crops_of_the_original(store, tmp_path):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    known = sample("astronaut")
    src = save_jpeg(known, tmp_path / "known.jpg", 95)
    res = add_files(repo, "held", [src], label="[astronaut]")
    assert (res.files, res.added) == (1, 3)  # sha256, md5 and the whole-picture PDQ are the originals
    assert res.derived_added >= len(DERIVATIONS) - 2
    bank = repo.get("held")
    assert bank.entry_count == 3 and bank.derived_count == res.derived_added
    original_pdq = entries_from_file(src).parent.value

    # the file itself still matches exactly and directly
    ms = scan_matches(store, src)
    assert {(m.hash_type, m.kind) for m in ms} == {("sha256", "exact"), ("md5", "exact"), ("pdq", "pdq")}

    for frac, where in ((0.05, "centre"), (0.075, "top-left"), (0.10, "right"), (0.06, "centre")):
        copy = save_jpeg(crop(known, frac, where), tmp_path / f"crop-{where}-{frac}.jpg", 85)
        ms = scan_matches(store, copy)
        assert len(ms) == 1, (frac, where, ms)
        m = ms[0]
        assert m.kind == "crop" and m.distance <= 31
        assert (m.value, m.label) == (original_pdq, "[astronaut]")  # reported as the original
        assert m.derivation in {d[0] for d in DERIVATIONS} and m.derived_hash != original_pdq
        d = m.to_dict()
        assert d["match"] == "crop" and d["hash"] == original_pdq and d["derivation"] == m.derivation

    # a crop of another picture matches nothing
    other = save_jpeg(crop(sample("coffee"), 0.075, "centre"), tmp_path / "other.jpg", 85)
    assert scan_matches(store, other) == []


def test_without_derived_entries_a_crop_matches_nothing(store, tmp_path):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    known = sample("astronaut")
    add_files(repo, "held", [save_jpeg(known, tmp_path / "known.jpg", 95)], derive=False)
    assert repo.get("held").derived_count == 0
    copy = save_jpeg(crop(known, 0.075, "top-left"), tmp_path / "crop.jpg", 85)
    assert scan_matches(store, copy) == []


def test_removing_the_original_removes_its_derived_entries(store, tmp_path):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    src = save_jpeg(sample("chelsea"), tmp_path / "c.jpg", 95)
    add_files(repo, "held", [src])
    assert repo.get("held").derived_count > 0
    pdq = entries_from_file(src).parent.value
    assert repo.remove_entries("held", [HashEntry("pdq", pdq)]).removed == 1
    assert repo.get("held").derived_count == 0
    assert list(repo.iter_derived("held")) == []


def test_a_direct_hit_beats_a_crop_hit_at_the_same_distance(store, tmp_path):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    src = save_jpeg(sample("rocket"), tmp_path / "r.jpg", 95)
    add_files(repo, "held", [src], label="r")
    entry, derivation, origin = next(iter(repo.iter_derived("held")))
    m = Matcher.from_store(store)
    assert m.derived_entries == repo.get("held").derived_count
    got = m.match({}, {"original": entry.value}, 90)  # exactly a stored sub-region
    assert [(x.kind, x.value, x.derivation, x.distance) for x in got] == [("crop", origin, derivation, 0)]
    got = m.match({}, {"original": origin, "rot90": entry.value}, 90)
    assert [(x.kind, x.distance) for x in got] == [("pdq", 0)]


def test_an_unreadable_file_adds_nothing_and_a_non_image_gets_no_sub_regions(store, tmp_path):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    good = save_jpeg(sample("astronaut"), tmp_path / "a.jpg")
    with pytest.raises(BastionError, match="missing.jpg"):
        add_files(repo, "held", [good, tmp_path / "missing.jpg"])
    assert repo.get("held").entry_count == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    res = add_files(repo, "held", [notes])
    assert (res.added, res.derived_added) == (2, 0) and res.notes  # its exact hashes, and why no PDQ


def test_cli_add_file_export_and_reimport(database_url, tmp_path):
    a = save_jpeg(sample("astronaut"), tmp_path / "a.jpg", 95)
    b = save_jpeg(sample("coffee"), tmp_path / "b.jpg", 95)
    assert cli(database_url, "bank", "create", "held").exit_code == 0
    r = cli(database_url, "bank", "add", "held", "--file", str(a), "--file", str(b), "--label", "[held]")
    assert r.exit_code == 0, r.output
    assert "a.jpg: md5, sha256, pdq (+" in r.stdout and "added 6, already present 0, derived sub-region entries added" in r.stdout
    shown = json.loads(cli(database_url, "bank", "show", "held", "--json", "--limit", "100").stdout)
    assert shown["entry_count"] == 6 and shown["derived_count"] > 60
    assert len(shown["entries"]) == 6  # derived entries are not listed as entries

    # a default export (what goes to partners) carries the six original hashes only
    out = tmp_path / "held.csv"
    assert cli(database_url, "bank", "export", "held", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {r["hash_type"] for r in rows} == {"sha256", "md5", "pdq"}
    te = cli(database_url, "bank", "export", "held", "--format", "te", "--type", "pdq").stdout
    assert len(te.splitlines()) == 2

    # asked for, derived entries come marked with their original, and are never imported as originals
    full = tmp_path / "full.csv"
    assert cli(database_url, "bank", "export", "held", "-o", str(full), "--include-derived").exit_code == 0
    rows = list(csv.DictReader(full.open()))
    derived = [r for r in rows if r["derived_from"]]
    pdqs = {r["hash"] for r in rows if r["hash_type"] == "pdq" and not r["derived_from"]}
    assert len(derived) == shown["derived_count"] and {r["derived_from"] for r in derived} == pdqs
    assert all(r["derivation"] for r in derived)
    assert cli(database_url, "bank", "export", "held", "--format", "te", "--include-derived").exit_code == 2
    cli(database_url, "bank", "create", "copy")
    r = cli(database_url, "bank", "import", "copy", str(full))
    assert r.exit_code == 0 and f"not imported: {len(derived)} derived entries" in r.output
    assert json.loads(cli(database_url, "bank", "show", "copy", "--json").stdout)["entry_count"] == 6

    assert cli(database_url, "bank", "add", "held").exit_code == 2  # neither hashes nor files
    assert cli(database_url, "bank", "add", "held", "--file", str(tmp_path / "nope.jpg")).exit_code == 2


def test_one_migration_head():
    assert head_revision() is not None


def test_a_live_index_picks_up_derived_entries_as_crops(store, tmp_path):
    from bastion.banks.live import LiveMatcher

    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    live = LiveMatcher(store)  # built before anything is in the bank: entries arrive through the change log
    known = sample("astronaut")
    add_files(repo, "held", [save_jpeg(known, tmp_path / "known.jpg", 95)], label="[astronaut]")
    assert live.refresh() >= 1
    r = examine_file(str(save_jpeg(crop(known, 0.075, "top-left"), tmp_path / "crop.jpg", 85)), provenance=False)
    got = live.match({}, r.pdq_variants, r.quality)
    assert [(m.kind, m.label) for m in got] == [("crop", "[astronaut]")]


def test_a_confirmed_image_still_held_gets_its_sub_regions_once(store, tmp_path):
    """`bank export --confirmed` syncs the confirmed bank: a confirmed image whose bytes are in the holding
    folder also gets its derived entries (once), so crops of it match as crops; exports still carry originals."""
    import hashlib

    from bastion.cases.holding import MediaHolding
    from bastion.demo import generated_pattern
    from bastion.reports.sharing import ConfirmedMedia, reference_pdq, sync_confirmed_bank, write_partner_list

    known = generated_pattern(21)
    buf = io.BytesIO()
    known.save(buf, "JPEG", quality=95)
    held_bytes = buf.getvalue()
    gone = save_jpeg(generated_pattern(22), tmp_path / "gone.jpg", 95).read_bytes()  # confirmed, bytes not held
    holding = MediaHolding(tmp_path / "holding")
    holding.put(hashlib.sha256(held_bytes).hexdigest(), held_bytes)
    media = [ConfirmedMedia(hashlib.sha256(d).hexdigest(), hashlib.md5(d).hexdigest(), reference_pdq(d)[0], "test", i)
             for i, d in enumerate((held_bytes, gone))]
    repo = BankRepository(store)
    first = sync_confirmed_bank(repo, "confirmed", media, holding=holding)
    assert first.added == 6 and first.derived_added > 30
    assert {origin for _, _, origin in repo.iter_derived("confirmed")} == {media[0].pdq}
    again = sync_confirmed_bank(repo, "confirmed", media, holding=holding)
    assert (again.added, again.derived_added) == (0, 0)
    assert repo.get("confirmed").derived_count == first.derived_added

    copy = save_jpeg(free_crop(known, 0.02, 0.06, 0.05, 0.02), tmp_path / "copy.jpg", 85)
    assert [(m.kind, m.value) for m in scan_matches(store, copy)] == [("crop", media[0].pdq)]
    out = io.StringIO()
    write_partner_list(repo.entries("confirmed"), out, "csv")
    derived = {e.value for e, _, _ in repo.iter_derived("confirmed")}
    assert media[0].pdq in out.getvalue() and not any(h in out.getvalue() for h in derived)


def test_derived_entries_without_their_original_are_refused(store):
    repo = BankRepository(store)
    repo.create(Bank("held", "test"))
    with pytest.raises(BastionError, match="derived entries are not stored"):
        repo.add_with_derived("held", [], HashEntry("pdq", "ab" * 32), [("crop-l4-t4-r4-b4", "cd" * 32)])
    assert repo.get("held").entry_count == 0 and repo.get("held").derived_count == 0


def test_the_console_adds_a_held_confirmed_image_with_its_reference_pdq_and_sub_regions(store, tmp_path):
    """Confirming a case in the review console with "add to bank": media whose bytes are still held go in as
    media Bastion holds (reference PDQ, derived windows); media no longer held keep the scan's hashes."""
    import hashlib
    from types import SimpleNamespace

    from bastion.banks.from_files import image_entries
    from bastion.cases.holding import MediaHolding
    from bastion.console.backend import add_case_media_to_bank
    from bastion.demo import generated_pattern

    known = generated_pattern(31)
    buf = io.BytesIO()
    known.save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    holding = MediaHolding(tmp_path / "holding")
    holding.put(sha, data)
    scanned = examine_file(str(save_jpeg(known, tmp_path / "k.jpg", 95)), provenance=False)
    case = {"id": 7, "items": [{"media": [
        {"sha256": sha, "md5": hashlib.md5(data).hexdigest(), "pdq": scanned.pdq, "quality": scanned.quality, "filename": "k.jpg"},
        {"sha256": "ab" * 32, "md5": "cd" * 16, "pdq": "ef" * 32, "quality": 90, "filename": "gone.jpg"},  # not held
    ]}]}
    repo = BankRepository(store)
    repo.create(Bank("confirmed-here", "test"))
    got = add_case_media_to_bank(store, case, "confirmed-here", SimpleNamespace(name="lead"), holding)
    reference = image_entries(data).parent.value
    assert got["added"] == 6 and got["derived_added"] > 30  # md5, sha256 of each; a PDQ of each
    pdqs = {e.value for e in repo.entries("confirmed-here", "pdq")}
    assert pdqs == {reference, "ef" * 32}
    assert {origin for _, _, origin in repo.iter_derived("confirmed-here")} == {reference}
    copy = save_jpeg(free_crop(known, 0.06, 0.01, 0.02, 0.07), tmp_path / "copy.jpg", 85)
    assert [(m.kind, m.value) for m in scan_matches(store, copy)] == [("crop", reference)]
