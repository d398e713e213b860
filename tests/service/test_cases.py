"""Cases: dedupe per account and per item, priorities, claims, decisions and state changes, second looks;
accounts: risk and links with their evidence; batches; retro-matching."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from bastion.banks.repo import BankRepository
from bastion.cases import retro
from bastion.cases.models import CaseItemRow, CaseRow, DecisionRow
from bastion.media.hashing import pdq_from_image
from bastion.model import Bank, HashEntry
from svc_helpers import b64, png_bytes

HIGH = "teen nsfw"
CRITICAL = "selling teen nsfw dm"


def test_items_of_one_account_share_one_open_case_with_the_highest_priority(api):
    a = api.submit({"id": "i1", "body": HIGH, "account": {"id": "acc"}}).json()
    b = api.submit({"id": "i2", "body": CRITICAL, "account": {"id": "acc"}}).json()
    c = api.submit({"id": "i3", "body": HIGH, "account": {"id": "other"}}).json()
    assert a["case_id"] == b["case_id"] != c["case_id"]
    case = api.client.get(f"/v1/cases/{a['case_id']}", headers=api.h("reviewer")).json()
    assert [i["item_id"] for i in case["items"]] == ["i1", "i2"]
    assert case["priority"] == max(a["verdict"]["priority"], b["verdict"]["priority"])
    assert case["automated_action"] == "remove"
    # an item without an account gets a case of its own
    d = api.submit({"id": "i4", "body": HIGH}).json()
    e = api.submit({"id": "i5", "body": HIGH}).json()
    assert d["case_id"] != e["case_id"]


def test_queue_order_filters_and_pagination(api):
    api.submit({"id": "q1", "body": HIGH, "account": {"id": "a1"}})
    api.submit({"id": "q2", "body": CRITICAL, "account": {"id": "a2"}})
    api.submit({"id": "q3", "body": HIGH, "account": {"id": "a3"}})
    r = api.client.get("/v1/cases", headers=api.h("reviewer")).json()
    prios = [c["priority"] for c in r["cases"]]
    assert prios == sorted(prios, reverse=True) and r["next_cursor"] is None
    assert r["cases"][0]["account_id"] == "a2"
    page1 = api.client.get("/v1/cases?limit=2", headers=api.h("reviewer")).json()
    page2 = api.client.get(f"/v1/cases?limit=2&cursor={page1['next_cursor']}", headers=api.h("reviewer")).json()
    ids = [c["id"] for c in page1["cases"] + page2["cases"]]
    assert ids == [c["id"] for c in r["cases"]] and page2["next_cursor"] is None
    only = api.client.get("/v1/cases?account=a3", headers=api.h("reviewer")).json()["cases"]
    assert [c["account_id"] for c in only] == ["a3"]
    assert api.client.get("/v1/cases?source=hash", headers=api.h("reviewer")).json()["cases"] == []
    assert len(api.client.get("/v1/cases?source=text", headers=api.h("reviewer")).json()["cases"]) == 3
    bad = api.client.get("/v1/cases?cursor=zzz", headers=api.h("reviewer"))
    assert bad.status_code == 422 and bad.json()["title"] == "Invalid input"
    assert api.client.get("/v1/cases?status=nonsense", headers=api.h("reviewer")).status_code == 422


def test_claims_and_decisions_move_the_case_through_its_states(api):
    cid = api.submit({"id": "d1", "body": HIGH, "account": {"id": "acc-d"}}).json()["case_id"]
    r = api.client.post(f"/v1/cases/{cid}/claim", headers=api.h("reviewer"))
    assert r.status_code == 200 and r.json()["status"] == "in_review" and r.json()["claimed_by"] == "reviewer-user"
    # another reviewer cannot take it unknowingly
    other = api.client.post(f"/v1/cases/{cid}/claim", headers=api.h("lead"))
    assert other.status_code == 409 and "reviewer-user" in other.json()["detail"]
    d = api.client.post(f"/v1/cases/{cid}/decisions", headers=api.h("reviewer"),
                        json={"outcome": "confirm", "category": "csam-generated", "actions": ["remove", "report"], "note": "n"})
    assert d.status_code == 201, d.text
    assert d.json()["outcome"] == "confirm" and d.json()["user"] == "reviewer-user"
    case = api.client.get(f"/v1/cases/{cid}", headers=api.h("reviewer")).json()
    assert case["status"] == "decided" and case["category"] == "csam-generated" and case["claimed_by"] is None
    assert [x["outcome"] for x in case["decisions"]] == ["confirm"]
    # decided once: a second decision is a conflict
    again = api.client.post(f"/v1/cases/{cid}/decisions", headers=api.h("reviewer"), json={"outcome": "reject"})
    assert again.status_code == 409
    acct = api.client.get("/v1/accounts/acc-d", headers=api.h("reviewer")).json()
    assert acct["confirmed_cases"] == 1 and acct["risk"] == 0.6  # 1 - 0.4^confirmed (noisy-or, see cases/accounts.py)
    # a new flagged item of a confirmed account opens a NEW case (the old one is decided) with the account source
    cid2 = api.submit({"id": "d2", "body": HIGH, "account": {"id": "acc-d"}}).json()["case_id"]
    assert cid2 != cid
    assert "account" in api.client.get(f"/v1/cases/{cid2}", headers=api.h("reviewer")).json()["sources"]


def test_reviewer_reject_of_an_automated_removal_goes_to_a_lead(api):
    cid = api.submit({"id": "s1", "body": CRITICAL}).json()["case_id"]
    r = api.client.post(f"/v1/cases/{cid}/decisions", headers=api.h("reviewer"), json={"outcome": "reject"})
    assert r.status_code == 201 and r.json()["needs_second_look"] is True
    case = api.client.get(f"/v1/cases/{cid}", headers=api.h("lead")).json()
    assert case["status"] == "in_review" and case["needs_second_look"] is True
    r = api.client.post(f"/v1/cases/{cid}/decisions", headers=api.h("lead"), json={"outcome": "reject", "note": "ok"})
    assert r.status_code == 201 and r.json()["needs_second_look"] is False
    case = api.client.get(f"/v1/cases/{cid}", headers=api.h("lead")).json()
    assert case["status"] == "decided" and not case["needs_second_look"]


def test_bad_decisions_are_refused(api):
    cid = api.submit({"id": "b1", "body": HIGH}).json()["case_id"]
    for body in ({"outcome": "maybe"}, {"outcome": "confirm", "actions": ["delete-everything"]}, {"outcome": "confirm", "x": 1}):
        r = api.client.post(f"/v1/cases/{cid}/decisions", headers=api.h("reviewer"), json=body)
        assert r.status_code == 422
    assert api.client.post("/v1/cases/999999/decisions", headers=api.h("reviewer"), json={"outcome": "confirm"}).status_code == 404
    with api.store.session() as s:
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 0


def test_accounts_sharing_a_payment_handle_or_media_are_linked_with_evidence(api):
    api.submit({"id": "l1", "body": "cashapp $abcdef", "account": {"id": "seller-1"}})
    api.submit({"id": "l2", "body": "tips: cashapp $abcdef", "account": {"id": "seller-2"}})
    img = png_bytes(7)
    api.submit({"id": "l3", "media": [{"data": b64(img)}], "account": {"id": "seller-3"}})
    api.submit({"id": "l4", "media": [{"data": b64(img)}], "account": {"id": "seller-2"}})
    api.submit({"id": "l5", "body": "hello", "account": {"id": "loner"}})
    v = api.client.get("/v1/accounts/seller-2", headers=api.h("reviewer")).json()
    links = {l["account_id"]: {(e["kind"], e["value"]) for e in l["evidence"]} for l in v["links"]}
    assert links["seller-1"] == {("payment", "cashapp $abcdef")}
    kinds = {k for k, _ in links["seller-3"]}
    assert kinds == {"media"}
    assert api.client.get("/v1/accounts/loner", headers=api.h("reviewer")).json()["links"] == []
    assert api.client.get("/v1/accounts/nobody", headers=api.h("reviewer")).status_code == 404


def test_batch_is_queued_and_worked_off(api):
    from bastion.cases import jobs

    items = [{"id": f"b-{i}", "body": HIGH if i % 2 else "hello"} for i in range(6)]
    r = api.client.post("/v1/items:batch", json={"items": items}, headers=api.h())
    assert r.status_code == 202
    url = r.json()["status_url"]
    st = api.client.get(url, headers=api.h()).json()
    assert st["counts"]["queued"] == 6 and st["status"] == "running"
    while jobs.work(api.app.state.service, n=4):
        pass
    st = api.client.get(url, headers=api.h()).json()
    assert st["status"] == "done" and st["counts"]["done"] == 6
    actions = [api.client.get(f"/v1/items/b-{i}", headers=api.h()).json()["verdict"]["action"] for i in range(6)]
    assert actions == ["allow", "review"] * 3


def test_batch_with_a_bad_item_is_refused_whole(api):
    r = api.client.post("/v1/items:batch", json=[{"id": "ok"}, {"title": "no id"}], headers=api.h())
    assert r.status_code == 422 and "items[1]" in r.json()["detail"]
    r = api.client.post("/v1/items:batch", json=[{"id": str(i)} for i in range(1001)], headers=api.h())
    assert r.status_code == 422 and "1000" in r.json()["detail"]


def test_a_failing_batch_job_is_recorded_not_lost(api):
    from bastion.cases import jobs

    api.submit({"id": "dup", "title": "first"})
    url = api.client.post("/v1/items:batch", json=[{"id": "dup", "title": "other"}, {"id": "fine"}], headers=api.h()).json()["status_url"]
    jobs.work(api.app.state.service, n=10)
    st = api.client.get(url, headers=api.h()).json()
    assert st["counts"] == {"queued": 0, "running": 0, "done": 1, "failed": 1}
    failed = next(i for i in st["items"] if i["status"] == "failed")
    assert failed["item_id"] == "dup" and failed["error"]["code"] == "conflict"


def _pdq(data: bytes) -> str:
    return pdq_from_image(Image.open(io.BytesIO(data)).convert("RGB"))[0]


def test_retro_matching_opens_cases_for_stored_media_without_reading_it_again(api):
    seen = png_bytes(11)
    api.submit({"id": "old-1", "media": [{"data": b64(seen)}], "account": {"id": "acc-r"}})
    api.submit({"id": "old-2", "media": [{"data": b64(png_bytes(12))}]})
    import hashlib

    repo = BankRepository(api.store)
    repo.create(Bank(name="late", category="csam"))
    repo.add_entries("late", [HashEntry("pdq", _pdq(seen), "new-1"),
                              HashEntry("md5", hashlib.md5(png_bytes(99)).hexdigest(), "unseen")])
    assert retro.pending(api.store) == 1
    out = retro.run(api.store, api.app.state.service.policy)
    assert out.changes == 1 and [m["item_id"] for m in out.matches] == ["old-1"]
    item = api.client.get("/v1/items/old-1", headers=api.h()).json()
    assert item["verdict"]["action"] == "remove" and item["case_id"] is not None
    ev = [s["evidence"] for s in item["signals"] if s["source"] == "hash"][0]
    assert ev["bank"] == "late" and ev["retro"] is True and ev["label"] == "new-1"
    assert retro.pending(api.store) == 0
    # running again changes nothing: no second signal, no second case link
    retro.run(api.store, api.app.state.service.policy)
    with api.store.session() as s:
        assert s.scalar(select(func.count()).select_from(CaseItemRow)) == 1
        assert s.scalar(select(func.count()).select_from(CaseRow)) == 1
    assert api.client.get("/v1/items/old-2", headers=api.h()).json()["case_id"] is None
    # and the live index matches the new hash for new uploads after one refresh
    api.app.state.service.matcher.refresh()
    assert api.submit({"id": "new-1", "media": [{"data": b64(seen)}]}).json()["verdict"]["action"] == "remove"


def test_retro_matching_skips_malformed_stored_hashes_without_shifting_the_others(api):
    from sqlalchemy import update

    from bastion.cases.models import ItemMediaRow, ItemRow

    for i, seed in enumerate((21, 22, 23, 24)):
        api.submit({"id": f"m-{i}", "media": [{"data": b64(png_bytes(seed))}]})
    with api.store.session() as s, s.begin():  # rows damaged outside Bastion: non-hex, and too short
        for ext, bad in (("m-0", "zz" * 32), ("m-1", "ab" * 31)):
            item_id = s.scalar(select(ItemRow.id).where(ItemRow.external_id == ext))
            s.execute(update(ItemMediaRow).where(ItemMediaRow.item_id == item_id).values(pdq=bad))
    repo = BankRepository(api.store)
    repo.create(Bank(name="later", category="csam"))
    repo.add_entries("later", [HashEntry("pdq", _pdq(png_bytes(23)), "x"), HashEntry("pdq", _pdq(png_bytes(24)), "y")])
    out = retro.run(api.store, api.app.state.service.policy)
    assert sorted(m["item_id"] for m in out.matches) == ["m-2", "m-3"]
    assert set(out.timings) == set(retro.TIMINGS) and all(v >= 0 for v in out.timings.values())
    assert out.timings["read"] > 0 and out.timings["search"] > 0


def test_retro_reads_the_stored_hashes_in_id_ranges_on_several_connections_losing_and_repeating_none(api, monkeypatch):
    from bastion.cases.models import ItemMediaRow, ItemRow

    for i in range(7):
        api.submit({"id": f"p-{i}", "media": [{"data": b64(png_bytes(40 + i))}]})
    monkeypatch.setattr(retro, "CHUNK", 2)  # 7 rows: two ranges of several chunks each, on two threads
    monkeypatch.setattr(retro, "READ_WORKERS", 2)
    monkeypatch.setattr(retro.os, "cpu_count", lambda: 2)
    with api.store.session() as s:
        want = s.execute(select(ItemMediaRow.id, ItemMediaRow.pdq).order_by(ItemMediaRow.id)).all()
    index, ids, _quals = retro.StoredIndex(api.store)()
    assert ids.tolist() == [mid for mid, _ in want] and len(index) == len(want) == 7
    for mid, pdq in want:  # every stored hash is in the index under its own id, at distance 0
        assert (mid, 0) in index.search(pdq, 0)
    repo = BankRepository(api.store)
    repo.create(Bank(name="ranges", category="csam"))
    repo.add_entries("ranges", [HashEntry("pdq", _pdq(png_bytes(40 + i)), f"r{i}") for i in (0, 3, 6)])
    out = retro.run(api.store, api.app.state.service.policy)
    assert sorted(m["item_id"] for m in out.matches) == ["p-0", "p-3", "p-6"]
    with api.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.case_id.is_not(None))) == 3
    # a gap of three ids inside a range (rows removed outside Bastion), read in spans of one id
    from sqlalchemy import delete

    with api.store.session() as s, s.begin():
        s.execute(delete(ItemMediaRow).where(ItemMediaRow.id.in_([mid for mid, _ in want[2:5]])))
    monkeypatch.setattr(retro, "CHUNK", 1)
    _index, ids, _quals = retro.StoredIndex(api.store)()
    assert ids.tolist() == [mid for mid, _ in want[:2] + want[5:]]


def test_accounts_sharing_a_generation_seed_and_model_are_linked(api):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "provenance"))
    from prov_builders import a1111_infotext, gradient, png_with_text  # benign placeholder prompts

    one = png_with_text({"parameters": a1111_infotext()}, image=gradient(64, 64))
    two = png_with_text({"parameters": a1111_infotext()}, image=gradient(80, 48))
    r = api.submit({"id": "g1", "media": [{"data": b64(one)}], "account": {"id": "gen-1"}}).json()
    api.submit({"id": "g2", "media": [{"data": b64(two)}], "account": {"id": "gen-2"}})
    cats = {(s["source"], s["category"]) for s in r["signals"]}
    assert ("provenance", "ai_generated") in cats  # generator metadata read from the upload
    v = api.client.get("/v1/accounts/gen-1", headers=api.h("reviewer")).json()
    evidence = {(e["kind"], e["value"]) for l in v["links"] if l["account_id"] == "gen-2" for e in l["evidence"]}
    assert ("seed", "1234567") in evidence
    assert any(k == "model" for k, _ in evidence)


def test_prompts_embedded_in_uploads_are_analysed_and_negative_prompts_never_count(api):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "provenance"))
    from prov_builders import a1111_infotext, gradient, png_with_text

    flagged = png_with_text({"parameters": a1111_infotext(positive="teen nsfw", negative="blurry")}, image=gradient(64, 64))
    r = api.submit({"id": "pr1", "media": [{"data": b64(flagged)}]}).json()
    assert r["verdict"]["action"] == "review"
    rules = {x["rule"] for x in r["verdict"]["reasons"]}
    assert "ai-generated-minor-sexual-prompt" in rules
    assert {s["field"] for s in r["signals"] if s["source"] == "text"} == {"prompt"}
    # the same words only in the negative prompt: recorded in provenance, never counted
    neg = png_with_text({"parameters": a1111_infotext(positive="a watercolor landscape", negative="teen nsfw")},
                        image=gradient(64, 64))
    r = api.submit({"id": "pr2", "media": [{"data": b64(neg)}]}).json()
    assert r["verdict"]["action"] == "allow"
