"""POST /v1/items: verdicts with reasons, idempotent retries, 409s, bad input refused with nothing written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bastion.banks.repo import BankRepository
from bastion.cases.models import AccountRow, CaseRow, ItemMediaRow, ItemRow
from bastion.media.hashing import pdq_from_image
from bastion.model import Bank, HashEntry

from svc_helpers import b64, png_bytes

# Clinical placeholder texts: the fewest indicator words that exercise a rule.
HIGH = "teen nsfw"  # a minor and a sexual indicator together -> text level high
CRITICAL = "selling teen nsfw dm"  # ... with trade -> critical


def count(api, model) -> int:
    with api.store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_benign_item_is_allowed_with_no_case(api):
    r = api.submit({"id": "p-1", "title": "my new watercolour", "tags": ["landscape"], "account": {"id": "a-1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["item_id"] == "p-1"
    assert body["verdict"] == {"action": "allow", "actions": ["allow"], "priority": 0, "reasons": []}
    assert body["case_id"] is None
    assert count(api, CaseRow) == 0


def test_text_high_goes_to_review_with_reasons_and_a_case(api):
    r = api.submit({"id": "p-2", "body": HIGH, "account": {"id": "a-2"}})
    v = r.json()["verdict"]
    assert v["action"] == "review" and "review" in v["actions"]
    rules = [x["rule"] for x in v["reasons"]]
    assert "text-high" in rules
    reason = next(x for x in v["reasons"] if x["rule"] == "text-high")
    spans = [s["span"] for s in reason["signals"] if s.get("source") == "text"]
    assert [0, 4] in spans and [5, 9] in spans  # the matched words, by position
    case_id = r.json()["case_id"]
    assert case_id is not None
    case = api.client.get(f"/v1/cases/{case_id}", headers=api.h("reviewer")).json()
    assert case["status"] == "open" and case["priority"] == v["priority"]
    assert case["sources"] == ["text"] and [i["item_id"] for i in case["items"]] == ["p-2"]


def test_text_critical_removes_and_opens_a_case(api):
    v = api.submit({"id": "p-3", "body": CRITICAL}).json()["verdict"]
    assert v["action"] == "remove" and set(v["actions"]) >= {"remove", "review"}
    assert v["reasons"][0]["rule"] == "text-critical"


def _bank(api, category: str, data: bytes, name: str = "known") -> None:
    from PIL import Image
    import io

    repo = BankRepository(api.store)
    repo.create(Bank(name=name, category=category))
    pdq, _ = pdq_from_image(Image.open(io.BytesIO(data)).convert("RGB"))
    repo.add_entries(name, [HashEntry("pdq", pdq, "stand-in-1")])
    api.app.state.service.matcher.refresh()


def test_bank_match_removes_reports_preserves_and_holds_the_media(api):
    known = png_bytes(1)
    _bank(api, "csam", known)
    r = api.submit({"id": "m-1", "media": [{"filename": "x.png", "data": b64(known)}], "account": {"id": "a-9"}})
    v = r.json()["verdict"]
    assert v["action"] == "remove" and set(v["actions"]) == {"remove", "report", "preserve"}
    reason = v["reasons"][0]
    assert reason["rule"] == "known-abuse-hash"
    ev = reason["signals"][0]["evidence"]
    assert ev["bank"] == "known" and ev["label"] == "stand-in-1" and ev["distance"] == 0 and ev["media"] == 0
    with api.store.session() as s:
        m = s.scalar(select(ItemMediaRow))
    assert m.held and api.app.state.service.holding.get(m.sha256) == known
    # an unrelated image is allowed and its bytes are not kept
    r = api.submit({"id": "m-2", "media": [{"filename": "y.png", "data": b64(png_bytes(2))}]})
    assert r.json()["verdict"]["action"] == "allow"
    with api.store.session() as s:
        m2 = s.scalar(select(ItemMediaRow).join(ItemRow).where(ItemRow.external_id == "m-2"))
    assert not m2.held and not api.app.state.service.holding.exists(m2.sha256)


def test_allow_list_match_never_counts(api):
    benign = png_bytes(3)
    _bank(api, "known-benign", benign, "allow")
    v = api.submit({"id": "m-3", "media": [{"data": b64(benign)}]}).json()["verdict"]
    assert v["action"] == "allow"


def test_multipart_and_json_are_the_same_item(api):
    data = png_bytes(4)
    item = {"id": "mp-1", "title": "a study"}
    r1 = api.client.post("/v1/items", data={"item": json.dumps(item)}, files={"f": ("a.png", data, "image/png")},
                         headers=api.h())
    assert r1.status_code == 200, r1.text
    r2 = api.submit({**item, "media": [{"filename": "a.png", "data": b64(data)}]})
    assert r2.status_code == 200 and r2.json() == r1.json()
    assert count(api, ItemRow) == 1 and count(api, ItemMediaRow) == 1


def test_retry_returns_the_stored_answer_and_never_stores_twice(api):
    item = {"id": "r-1", "body": HIGH, "account": {"id": "a-r"}}
    first = api.submit(item).json()
    again = api.submit(item).json()
    assert again == first
    assert count(api, ItemRow) == 1
    with api.store.session() as s:
        assert s.scalar(select(AccountRow.item_count).where(AccountRow.external_id == "a-r")) == 1
    assert api.client.get("/v1/items/r-1", headers=api.h()).json()["verdict"] == first["verdict"]


def test_same_id_with_another_body_is_409_and_changes_nothing(api):
    api.submit({"id": "c-1", "title": "first"})
    r = api.submit({"id": "c-1", "title": "second"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 409 and "different body" in r.json()["detail"]
    assert api.client.get("/v1/items/c-1", headers=api.h()).json()["title"] == "first"


def test_idempotency_key(api):
    r1 = api.submit({"id": "k-1", "title": "a"}, headers={"Idempotency-Key": "key-1"})
    r2 = api.submit({"id": "k-1", "title": "a"}, headers={"Idempotency-Key": "key-1"})
    assert r1.json() == r2.json()
    r3 = api.submit({"id": "k-2", "title": "b"}, headers={"Idempotency-Key": "key-1"})
    assert r3.status_code == 409 and "Idempotency-Key" in r3.json()["detail"]
    assert count(api, ItemRow) == 1


BAD = [
    ("malformed json", {"content": b'{"id": "x", ', "headers": {"content-type": "application/json"}}, 400),
    ("not an object", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 422),
    ("missing id", {"json": {"title": "x"}}, 422),
    ("empty id", {"json": {"id": ""}}, 422),
    ("unknown field", {"json": {"id": "x", "titel": "typo"}}, 422),
    ("unknown kind", {"json": {"id": "x", "kind": "story"}}, 422),
    ("tags not a list", {"json": {"id": "x", "tags": "a,b"}}, 422),
    ("negative price", {"json": {"id": "x", "price": {"amount": -1}}}, 422),
    ("bad base64", {"json": {"id": "x", "media": [{"data": "%%%"}]}}, 422),
    ("media with data and url", {"json": {"id": "x", "media": [{"data": "", "url": "http://a"}]}}, 422),
    ("not an image", {"json": {"id": "x", "media": [{"filename": "a.txt", "data": b64(b"plain text")}]}}, 422),
    ("truncated image", {"json": {"id": "x", "media": [{"data": b64(png_bytes(5)[:200])}]}}, 422),
    ("url media switched off", {"json": {"id": "x", "media": [{"url": "https://example.com/a.png"}]}}, 422),
    ("wrong content type", {"content": b"id=x", "headers": {"content-type": "text/plain"}}, 415),
    ("multipart without item", {"data": {"other": "1"}, "files": {"f": ("a.png", b"x", "image/png")}}, 422),
]


@pytest.mark.parametrize("what,kw,status", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_problem_and_nothing_is_written(api, what, kw, status):
    kw = dict(kw)  # the table is shared by the SQLite and PostgreSQL runs
    headers = {**api.h(), **kw.pop("headers", {})}
    r = api.client.post("/v1/items", headers=headers, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status
    assert count(api, ItemRow) == 0 and count(api, ItemMediaRow) == 0 and count(api, AccountRow) == 0


def test_decompression_bomb_is_refused(api):
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # ~60 KB file declaring 400 megapixels
    r = api.submit({"id": "bomb", "media": [{"data": b64(buf.getvalue())}]})
    detail = r.json()["detail"].lower()
    assert r.status_code == 422 and ("bomb" in detail or "pixels" in detail), r.text
    assert count(api, ItemRow) == 0


def test_body_over_the_limit_is_413_before_it_is_read(api):
    big = b'{"id": "big", "body": "' + b"a" * (65 * 1024 * 1024) + b'"}'
    r = api.client.post("/v1/items", content=big, headers={**api.h(), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["status"] == 413
    assert count(api, ItemRow) == 0


def test_unknown_item_is_404_problem(api):
    r = api.client.get("/v1/items/nope", headers=api.h())
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
