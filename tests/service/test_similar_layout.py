"""The second look of likeness to confirmed material (issue 24, point 3): beyond the PDQ radius, up to the
layout radius, and for smooth pictures (quality 35–49), a candidate counts only when the coarse colour layouts
of the upload and the confirmed image agree. Benign images only: scikit-image's coffee-cup photo, a
colour-jittered re-crop of it, its colours turned around, and synthetic hashes."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from bastion.cases import similar, similar_retro
from bastion.cases.models import DecisionRow, ItemMediaRow, ItemRow
from bastion.media.hashing import hamming
from bastion.media.windows import LAYOUT_GRID, layout_distance, layout_of
from svc_helpers import b64, coffee_series, confirm_case, jpeg_bytes, similarity_signals

HIGH = "teen nsfw"  # the service tests' text that opens a case (text-high)


@pytest.fixture(scope="module")
def pictures():
    base, member = coffee_series()
    w, h = base.size
    swapped = Image.fromarray(np.asarray(base)[:, :, ::-1].copy())  # red and blue exchanged: same shapes
    return {"base": base, "member": member, "swapped": swapped,
            "base_jpeg": jpeg_bytes(base), "member_jpeg": jpeg_bytes(member)}


def test_a_layout_is_the_mean_colour_of_each_cell(pictures):
    img = Image.new("RGB", (80, 60), (10, 20, 30))
    img.paste((200, 100, 0), (0, 0, 40, 60))  # left half
    cells = np.frombuffer(bytes.fromhex(layout_of(img)), dtype=np.uint8).reshape(LAYOUT_GRID[1], LAYOUT_GRID[0], 3)
    assert (cells[:, :4] == (200, 100, 0)).all() and (cells[:, 4:] == (10, 20, 30)).all()
    assert layout_of(img.convert("L")) == layout_of(img.convert("L").convert("RGB"))  # greyscale: grey cells
    base, member, swapped = (layout_of(pictures[k]) for k in ("base", "member", "swapped"))
    assert layout_distance(base, base) == 0.0
    # a re-crop with its colours jittered keeps its layout; the same shapes in other colours do not
    assert layout_distance(base, member) < similar.LAYOUT_MAX_DISTANCE < layout_distance(base, swapped)
    with pytest.raises(ValueError):
        layout_distance(base, base[:-6])


def _flip(h: str, n: int) -> str:
    """``h`` with its first ``n`` bits flipped: a hash exactly ``n`` bits away."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(h), dtype=np.uint8))
    bits[:n] ^= 1
    return np.packbits(bits).tobytes().hex()


def _index(refs, **kw) -> similar.ConfirmedIndex:
    ix = similar.ConfirmedIndex(store=None, **kw)
    ix._built = similar.build_index(refs)
    ix._state = ("test",)
    return ix


def test_beyond_the_radius_a_candidate_counts_only_when_the_layouts_agree():
    rng = np.random.default_rng(3)
    h = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
    near_layout, far_layout = "40" * 144, "c0" * 144  # 0 and 221.7 apart from "40"*144 ...
    ref = similar.ConfirmedRef(1, 7, None, 1, "c-1", 0, quality=90, layout=near_layout)
    ix = _index([(ref, [h])])
    assert ix.radius == similar.DEFAULT_RADIUS and ix.layout_radius == similar.LAYOUT_RADIUS
    inside, beyond, outside = _flip(h, 70), _flip(h, 85), _flip(h, similar.LAYOUT_RADIUS + 1)
    # within the radius PDQ alone counts, whatever the layouts
    got = ix.search(inside, 90, layout=far_layout)
    assert [(n.ref.case_id, n.distance, n.layout) for n in got] == [(7, 70, None)]
    # beyond it: only with the layouts near each other, and the layouts' distance is said
    got = ix.search(beyond, 90, layout="44" * 144)
    assert [(n.ref.case_id, n.distance) for n in got] == [(7, 85)] and got[0].layout == pytest.approx(6.9, abs=0.1)
    assert ix.search(beyond, 90, layout=far_layout) == []
    assert ix.search(beyond, 90) == []  # the upload's layout unknown: PDQ alone
    assert ix.search(outside, 90, layout=near_layout) == []  # beyond the layout radius: nothing
    # a confirmed image without a layout (hashed before layouts were kept): PDQ alone
    old = _index([(similar.ConfirmedRef(1, 7, None, 1, "c-1", 0, quality=90), [h])])
    assert old.search(beyond, 90, layout=near_layout) == [] and len(old.search(inside, 90)) == 1
    # the second look switched off
    off = _index([(ref, [h])], layout_radius=0)
    assert off.search(beyond, 90, layout=near_layout) == [] and len(off.search(inside, 90)) == 1
    # the signal names the layouts' distance and the outer radius; its weight falls to 0 at the outer radius
    sig = similar.similar_signal(ix.search(beyond, 90, layout=near_layout)[0], 0, "other", ix.radius, ix.layout_radius)
    assert sig.evidence["layout"] == 0.0 and sig.evidence["layout_radius"] == similar.LAYOUT_RADIUS
    assert 0 < sig.weight < 0.1
    plain = similar.similar_signal(ix.search(inside, 90)[0], 0, "other", ix.radius, ix.layout_radius)
    assert "layout" not in plain.evidence and plain.weight == round(1 - 70 / 77, 3)


def test_a_smooth_picture_counts_only_through_its_layout():
    """Quality 35–49 on either side (smooth pictures generators often make): never on PDQ alone."""
    rng = np.random.default_rng(4)
    h = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
    near, far = "40" * 144, "c0" * 144
    smooth_ref = similar.ConfirmedRef(1, 7, None, 1, "c-1", 0, quality=40, layout=near)
    ix = _index([(smooth_ref, [h])])
    assert ix.search(_flip(h, 10), 90, layout=far) == []
    assert [n.distance for n in ix.search(_flip(h, 10), 90, layout=near)] == [10]
    sharp = _index([(similar.ConfirmedRef(1, 7, None, 1, "c-1", 0, quality=90, layout=near), [h])])
    assert sharp.search(_flip(h, 10), 40, layout=far) == []  # the upload is the smooth one
    assert len(sharp.search(_flip(h, 10), 40, layout=near)) == 1
    assert sharp.search(_flip(h, 10), similar.LAYOUT_MIN_QUALITY - 1, layout=near) == []  # under 35: never


def test_the_examine_step_gives_the_layout_confirmation_stores(pictures):
    from bastion.scan import examine_bytes

    plain = examine_bytes("a.jpg", pictures["base_jpeg"])
    asked = examine_bytes("a.jpg", pictures["base_jpeg"], windows=True)
    assert plain.layout is None and len(asked.layout) == LAYOUT_GRID[0] * LAYOUT_GRID[1] * 6
    assert "layout" not in asked.to_json()  # internal: never written in scan output
    assert (asked.windows, asked.layout) == similar.descriptors(pictures["base_jpeg"], asked.pdq)


def test_a_member_beyond_the_radius_is_found_through_the_layouts_and_an_old_case_gets_its_layout(api, pictures):
    """The service end to end: the radius set just under the member's distance, so only the second look can
    find it. A case confirmed before layouts were kept has none: PDQ alone, until migration 0016 queues it
    again and the background task hashes its layout."""
    from alembic import command

    from bastion.store.db import _alembic_config

    from bastion.scan import examine_bytes

    svc = api.app.state.service
    a, b = (examine_bytes("x.jpg", pictures[k], windows=True) for k in ("base_jpeg", "member_jpeg"))
    d = min(hamming(x, y) for x in (a.pdq, *a.windows) for y in (b.pdq, *b.windows))  # whole and windows
    svc.similar.radius = d - 1
    assert svc.similar.layout_radius == similar.LAYOUT_RADIUS > d
    first = api.submit({"id": "l-1", "body": HIGH, "media": [{"data": b64(pictures["base_jpeg"])}],
                        "account": {"id": "maker"}}).json()
    confirm_case(api, first["case_id"])
    assert similar_retro.run(api.store, svc.policy, holding=svc.holding).windows == 1
    member = api.submit({"id": "l-2", "media": [{"data": b64(pictures["member_jpeg"])}], "account": {"id": "maker"}}).json()
    sig = similarity_signals(member)
    assert len(sig) == 1 and sig[0]["evidence"]["case_id"] == first["case_id"]
    assert sig[0]["evidence"]["layout"] < similar.LAYOUT_MAX_DISTANCE
    assert member["verdict"]["action"] == "review"

    # as a case confirmed before this version: windows kept, no layout
    with api.store.session() as s, s.begin():
        row = s.scalars(select(ItemMediaRow).join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
                        .where(ItemRow.external_id == "l-1")).one()
        row.result = {k: v for k, v in row.result.items() if k != "similar_layout"}
    svc.similar.refresh(force=True)
    again = api.submit({"id": "l-3", "media": [{"data": b64(pictures["member_jpeg"])}], "account": {"id": "maker"}}).json()
    assert similarity_signals(again) == []
    # the migration queues the confirming decision again, for its layouts only (downgrade to 0015, upgrade)
    cfg = _alembic_config()
    with api.store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
        command.upgrade(cfg, "head")
    with api.store.session() as s:
        assert s.scalars(select(DecisionRow.similar_retro).where(DecisionRow.case_id == first["case_id"])).all() == ["layout"]
    assert similar_retro.pending(api.store) == 1
    out = similar_retro.run(api.store, svc.policy, holding=svc.holding)
    assert out.decisions == 1 and out.windows == 1 and out.compared == 0  # hashed, not compared again
    assert similar_retro.pending(api.store) == 0
    with api.store.session() as s:
        assert len(s.scalars(select(ItemMediaRow.result).join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
                             .where(ItemRow.external_id == "l-1")).one()["similar_layout"]) == 288
    # (a process started after the upgrade builds its index while the decision is pending and again when it is
    # done; this one saw "done" before the test took the layout away, so it is told to rebuild)
    svc.similar.refresh(force=True)
    third = api.submit({"id": "l-4", "media": [{"data": b64(pictures["member_jpeg"])}], "account": {"id": "maker"}}).json()
    assert len(similarity_signals(third)) == 1


def test_windows_from_one_luma_plane_equal_the_hashes_of_each_cropped_window(pictures):
    """windows_of slices one luma plane; each window's hash is the fast PDQ of that window cropped out (in
    colour or in luma, full size or a reduced decode of a larger original)."""
    from bastion.media.hashing import pdq_dihedral_fast
    from bastion.media.windows import WINDOWS, windows_of

    for image, full in ((pictures["member"], None), (pictures["member"].convert("L"), None),
                        (pictures["base"], (800, 534))):
        w, h = image.size
        fw, fh = full or (w, h)
        expected = []
        for _, (left, top, right, bottom) in WINDOWS:
            crop = image.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))
            kept = (max(crop.width, round(crop.width * fw / w)), max(crop.height, round(crop.height * fh / h)))
            expected.append(pdq_dihedral_fast(crop, kept)[0]["original"])
        assert windows_of(image, full) == expected and len(set(expected)) > 1
    with pytest.raises(ValueError):
        windows_of(pictures["base"].convert("CMYK"))
