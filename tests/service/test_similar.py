"""Likeness to confirmed material (issue 24, point 3): an image near a confirmed case's images gets a
``similar_to_confirmed`` signal at intake and, when a case is confirmed, stored items near it get one too. It
is never a match and never leaves Bastion in a bank or a partner list. Benign images only: scikit-image's
sample photo of a coffee cup and another of a rocket, and colour-jittered / re-cropped copies of them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from bastion.cases import similar, similar_retro
from bastion.cases.models import ItemMediaRow, ItemRow
from bastion.media.hashing import hamming, pdq_hash
from svc_helpers import b64, coffee_series, confirm_case, jpeg_bytes, similarity_signals

HIGH = "teen nsfw"  # the service tests' text that opens a case (text-high)


@pytest.fixture(scope="module")
def photos():
    """A benign photo, a series member of it (colours changed, frame re-cropped), and an unrelated photo."""
    from skimage import data

    base, member = coffee_series()
    w, h = base.size
    other = Image.fromarray(data.rocket()).resize((400, 267))
    a = np.asarray(base)
    moved = Image.fromarray(a[:, np.clip(np.arange(w) + 20, 0, w - 1)])  # the frame moved by 5 %
    out = {"base": jpeg_bytes(base), "member": jpeg_bytes(member), "other": jpeg_bytes(other), "moved": jpeg_bytes(moved)}
    d_member = hamming(pdq_hash(out["base"]).hash, pdq_hash(out["member"]).hash)
    d_other = hamming(pdq_hash(out["base"]).hash, pdq_hash(out["other"]).hash)
    assert 0 < d_member <= similar.DEFAULT_RADIUS < d_other, (d_member, d_other)  # the premise of every test here
    return out


def test_an_image_near_a_confirmed_case_gets_a_signal_that_is_never_a_match(api, photos):
    first = api.submit({"id": "s-1", "body": HIGH, "media": [{"data": b64(photos["base"])}],
                        "account": {"id": "maker"}}).json()
    # before any confirmation nothing is similar to "confirmed material"
    early = api.submit({"id": "s-0", "media": [{"data": b64(photos["member"])}], "account": {"id": "bystander"}}).json()
    assert similarity_signals(early) == []
    confirm_case(api, first["case_id"])
    # a payment handle shared with the confirmed case's account links "helper" to it (links are recorded when
    # an item is stored, so the link exists from helper's next item on)
    api.submit({"id": "s-link", "body": "tips: cashapp $series1", "account": {"id": "maker"}})
    api.submit({"id": "s-link2", "body": "cashapp $series1", "account": {"id": "helper"}})

    same = api.submit({"id": "s-2", "media": [{"data": b64(photos["member"])}], "account": {"id": "maker"}}).json()
    linked = api.submit({"id": "s-3", "media": [{"data": b64(photos["member"])}], "account": {"id": "helper"}}).json()
    stranger = api.submit({"id": "s-4", "media": [{"data": b64(photos["member"])}], "account": {"id": "stranger"}}).json()
    unrelated = api.submit({"id": "s-5", "media": [{"data": b64(photos["other"])}], "account": {"id": "maker2"}}).json()

    sig = similarity_signals(same)
    assert len(sig) == 1 and sig[0]["category"] == "similar_to_confirmed"
    ev = sig[0]["evidence"]
    assert ev["case_id"] == first["case_id"] and ev["confirmed_item"] == "s-1" and ev["media"] == 0
    assert ev["account"] == "same" and 0 < ev["distance"] <= ev["radius"] == similar.DEFAULT_RADIUS
    assert similarity_signals(linked)[0]["evidence"]["account"] == "linked"
    assert similarity_signals(stranger)[0]["evidence"]["account"] == "other"
    assert similarity_signals(unrelated) == []
    # never a match: no hash signal, no bank match on the media, no confirmed file's hash in the evidence
    confirmed_pdq = pdq_hash(photos["base"]).hash
    for answer in (same, linked, stranger):
        assert not [s for s in answer["signals"] if s["source"] == "hash"]
        assert confirmed_pdq not in str(answer)
    # the shipped policy: same or linked account -> a person looks (review, never remove or report);
    # an unrelated account's near image alone is not flagged (the signal only raises a flagged item's priority)
    # 60, raised 15 (similar) and 20 (the account has a confirmed case)
    assert same["verdict"]["action"] == "review" and same["verdict"]["priority"] == 95
    assert {r["rule"] for r in same["verdict"]["reasons"]} == {"similar-to-confirmed-account", "similar-to-confirmed",
                                                               "account-prior-confirmed"}
    assert same["case_id"] is not None and same["case_id"] != first["case_id"]
    assert "report" not in same["verdict"]["actions"] and "remove" not in same["verdict"]["actions"]
    assert linked["verdict"]["action"] == "review"
    assert stranger["verdict"]["action"] == "allow" and stranger["case_id"] is None
    # the console's case page data carries it for the reviewer
    case = api.client.get(f"/v1/cases/{same['case_id']}", headers=api.h("reviewer")).json()
    assert "similarity" in case["sources"]
    from bastion.console.caseview import case_view

    shown = case_view(case)["items"][0]["media"][0]["similar"]
    assert shown[0]["case_id"] == first["case_id"] and shown[0]["account_text"] == "the same account"


def test_confirming_a_case_finds_recent_items_near_it_and_nothing_is_exported(api, photos):
    svc = api.app.state.service
    # posted before anyone reviewed the series: nothing to compare with yet
    early = api.submit({"id": "r-2", "media": [{"data": b64(photos["member"])}], "account": {"id": "maker"}}).json()
    api.submit({"id": "r-3", "media": [{"data": b64(photos["other"])}], "account": {"id": "maker"}})
    assert similarity_signals(early) == [] and early["case_id"] is None
    first = api.submit({"id": "r-1", "body": HIGH, "media": [{"data": b64(photos["base"])}],
                        "account": {"id": "maker"}}).json()
    assert similar_retro.pending(api.store) == 0
    confirm_case(api, first["case_id"])
    assert similar_retro.pending(api.store) == 1

    out = similar_retro.run(api.store, svc.policy, holding=svc.holding)
    assert out.decisions == 1 and out.windows == 1 and out.items == ["r-2"]  # not r-3, not the case's own r-1
    assert similar_retro.pending(api.store) == 0
    assert similar_retro.run(api.store, svc.policy, holding=svc.holding).decisions == 0  # done once
    item = api.client.get("/v1/items/r-2", headers=api.h("reviewer")).json()
    sig = similarity_signals(item)
    assert len(sig) == 1 and sig[0]["evidence"]["retro"] is True and sig[0]["evidence"]["account"] == "same"
    assert item["verdict"]["action"] == "review" and item["case_id"] is not None
    with api.store.session() as s:
        windows = s.scalars(select(ItemMediaRow.result).join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
                            .where(ItemRow.external_id == "r-1")).one()["similar_windows"]
    assert 1 <= len(windows) <= len(similar.WINDOWS)
    # the intake index holds the confirmed image under its windows too
    svc.similar.refresh()
    assert len(svc.similar) == 1 + len(windows)

    # never exported: the confirmed-hash export and partner lists hold the confirmed case's file only, never
    # the similar item's (its case is not confirmed), and no similarity evidence reaches them
    from bastion.reports.from_cases import confirmed_media
    from bastion.reports.sharing import confirmed_entries, write_partner_list

    with api.store.session() as s:
        media, _ = confirmed_media(s, svc.holding)
        near_sha = s.scalar(select(ItemMediaRow.sha256).join(ItemRow, ItemRow.id == ItemMediaRow.item_id)
                            .where(ItemRow.external_id == "r-2"))
    assert [m.case_id for m in media] == [first["case_id"]]
    listed = io.StringIO()
    write_partner_list(confirmed_entries(media), listed)
    assert near_sha not in listed.getvalue() and pdq_hash(photos["member"]).hash not in listed.getvalue()
    assert "similar" not in listed.getvalue()


def test_the_index_follows_decisions_and_a_radius_of_zero_switches_the_signal_off(api, photos, database_url, tmp_path):
    svc = api.app.state.service
    first = api.submit({"id": "x-1", "body": HIGH, "media": [{"data": b64(photos["base"])}],
                        "account": {"id": "maker"}}).json()
    svc.similar.refresh()
    assert len(svc.similar) == 0  # an open case is not confirmed material
    builds = svc.similar.builds
    assert svc.similar.refresh() == 0 and svc.similar.builds == builds  # nothing changed: no rebuild
    confirm_case(api, first["case_id"])
    assert svc.similar.refresh() == 1 and len(svc.similar) == 1

    from bastion.api.app import build_service
    from bastion.api.settings import ServeSettings

    settings = ServeSettings.from_env({"BASTION_SIMILAR_RADIUS": "0"}, home=tmp_path / "off", database_url=database_url)
    assert settings.similar_radius == 0
    off = build_service(settings)
    try:
        assert off.similar is None  # not looked for at all
    finally:
        off.writer.close()
        off.examiner.close()
        off.store.close()


def test_a_reframed_member_beyond_the_radius_is_found_through_both_images_windows(api, photos):
    """The frame moved by 5 %: the whole-image PDQ is as far as an unrelated picture's, but a window of the
    new upload (hashed in the examine worker) equals a window of the confirmed image (hashed when its case was
    confirmed)."""
    svc = api.app.state.service
    assert hamming(pdq_hash(photos["base"]).hash, pdq_hash(photos["moved"]).hash) > similar.DEFAULT_RADIUS
    first = api.submit({"id": "m-1", "body": HIGH, "media": [{"data": b64(photos["base"])}],
                        "account": {"id": "maker"}}).json()
    confirm_case(api, first["case_id"])
    assert similar_retro.run(api.store, svc.policy, holding=svc.holding).windows == 1
    moved = api.submit({"id": "m-2", "media": [{"data": b64(photos["moved"])}], "account": {"id": "maker"}}).json()
    sig = similarity_signals(moved)
    assert len(sig) == 1 and sig[0]["evidence"]["case_id"] == first["case_id"]
    assert sig[0]["evidence"]["distance"] < 31  # window to window
    assert moved["verdict"]["action"] == "review"


def test_the_examine_step_hashes_windows_only_when_asked(photos):
    from bastion.scan import examine_bytes

    plain = examine_bytes("a.jpg", photos["base"])
    asked = examine_bytes("a.jpg", photos["base"], windows=True)
    assert plain.windows == [] and plain.pdq == asked.pdq
    assert 1 <= len(asked.windows) <= len(similar.WINDOWS) and all(len(w) == 64 for w in asked.windows)
    assert asked.pdq not in asked.windows
    # the same function of the same decode as at confirmation: a confirmed image's stored windows
    assert asked.windows == similar.window_hashes(photos["base"], asked.pdq)
