"""Emerging terms through the service: counts kept at intake and decision, the ranking and its evidence,
promotion applied live by another server, rejection, removal, retro-scoring, and the audit rows.

Terms are neutral placeholders ("corvalt", "nimbrel"): the tests exercise machinery, not real codes."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import select

from svc_helpers import make_api


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _seed(api, *, code_known: bool = True):
    """Three accounts post items tagged with a known code ("corvalt", added first) and an unknown one
    ("nimbrel"); thirty ordinary items share a popular tag ("sunset") at the same rate as the flagged ones."""
    if code_known:
        r = api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "corvalt", "category": "coded", "weight": 0.9})
        assert r.status_code == 201, r.text
        api.app.state.service.lexicon.refresh()
    for a in range(3):
        for k in range(2):
            tags = ["corvalt", "nimbrel"] + (["sunset"] if k == 0 else ["ink"])
            r = api.submit({"id": f"c{a}-{k}", "account": {"id": f"acct-{a}"}, "title": f"upload {a}", "tags": tags})
            assert r.status_code in (200, 201), r.text
    for i in range(30):
        tags = ["sunset" if i % 2 == 0 else "forest", "ink", f"oc{i}"]
        assert api.submit({"id": f"b{i}", "account": {"id": f"artist-{i}"}, "title": "landscape study", "tags": tags}).status_code in (200, 201)


def _cases(api) -> list[int]:
    got = api.client.get("/v1/cases", headers=api.h("lead")).json()
    return sorted(c["id"] for c in got["cases"])


def _decide(api, case_id: int, outcome: str):
    r = api.client.post(f"/v1/cases/{case_id}/decisions", headers=api.h("lead"), json={"outcome": outcome, "category": "other"})
    assert r.status_code == 201, r.text


def test_candidates_rank_a_code_above_a_popular_tag_with_their_evidence(api):
    _seed(api)
    cases = _cases(api)
    assert len(cases) == 3  # one per account: the known code made each item reviewable
    for cid in cases:
        _decide(api, cid, "confirm")
    r = api.client.get("/v1/terms/candidates", headers=api.h("reviewer"), params={"until": _today()})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["window"]["items"] == 36 and got["window"]["confirmed_items"] == 6
    terms = [c["term"] for c in got["candidates"]]
    assert terms[0] == "nimbrel"
    assert "corvalt" not in terms  # known: never a candidate
    assert "sunset" not in terms[:1] and "ink" not in terms[:1]
    top = got["candidates"][0]
    assert top["kind"] == "hashtag" and top["confirmed_items"] == 6 and top["items"] == 6 and top["confirmed_cases"] == 3
    assert top["first_seen"] == _today() and top["trend"][-1] == 6 and len(top["trend"]) == 28
    assert sorted(top["example_cases"]) == cases
    assert [x["term"] for x in top["cooccurs"]] == ["corvalt"] and top["cooccurs"][0]["npmi"] > 0.9
    assert top["z"] > 0 and top["score"] >= top["z"]
    # a popular tag used by the flagged items at the rate everyone uses it ranks below, if at all
    for c in got["candidates"]:
        if c["term"] == "sunset":
            assert c["score"] < top["score"] / 2
    # --min-log-odds: a floor on the ratio itself (off by default)
    lo = top["log_odds"]
    floor = api.client.get("/v1/terms/candidates", headers=api.h("reviewer"),
                           params={"until": _today(), "min_log_odds": lo - 0.01}).json()["candidates"]
    assert floor and floor[0]["term"] == "nimbrel" and all(c["log_odds"] >= lo - 0.01 for c in floor)
    above = api.client.get("/v1/terms/candidates", headers=api.h("reviewer"),
                           params={"until": _today(), "min_log_odds": lo + 0.01}).json()["candidates"]
    assert "nimbrel" not in [c["term"] for c in above]
    # the language filter: these texts have no stopwords, so their language is unknown ("und")
    assert api.client.get("/v1/terms/candidates", headers=api.h("reviewer"),
                          params={"until": _today(), "language": "fr"}).json()["candidates"] == []
    # only staff read candidates
    assert api.client.get("/v1/terms/candidates", headers=api.h("integration")).status_code == 403
    assert api.client.get("/v1/terms/candidates", headers=api.h("lead"), params={"since": "soon"}).status_code == 422


def test_a_rejected_decision_moves_the_counts_and_a_rejected_candidate_is_not_proposed_again(api):
    from bastion.effects import audit

    _seed(api)
    cases = _cases(api)
    for cid in cases[:2]:
        _decide(api, cid, "confirm")
    _decide(api, cases[2], "reject")
    # four confirmed items (two of them in rejected cases too) are modest evidence: z ~ 3, under a floor of 5
    assert api.client.get("/v1/terms/candidates", headers=api.h("lead"), params={"until": _today(), "min_z": 5}).json()["candidates"] == []
    got = api.client.get("/v1/terms/candidates", headers=api.h("lead"), params={"until": _today(), "min_z": 1}).json()
    top = got["candidates"][0]
    assert got["window"]["confirmed_items"] == 4 and got["window"]["rejected_items"] == 2
    assert top["term"] == "nimbrel" and top["confirmed_items"] == 4 and top["rejected_items"] == 2
    assert top["z_vs_rejected"] is not None
    # reviewers may not change the lexicon; a lead may
    assert api.client.post("/v1/terms/rejections", headers=api.h("reviewer"), json={"term": "nimbrel"}).status_code == 403
    r = api.client.post("/v1/terms/rejections", headers=api.h("lead"), json={"term": "#Nimbrel", "note": "an art group's name"})
    assert r.status_code == 201 and r.json()["status"] == "rejected"
    again = api.client.get("/v1/terms/candidates", headers=api.h("lead"), params={"until": _today(), "min_z": 1}).json()
    assert "nimbrel" not in [c["term"] for c in again["candidates"]]
    with api.store.session() as s:
        rows, _ = audit.list_entries(s, action="term.reject")
        assert len(rows) == 1 and rows[0]["actor"] == "lead-user" and rows[0]["target_id"] == "nimbrel"
        assert rows[0]["details"]["note"] == "an art group's name"
        assert audit.verify(s).ok


def test_add_remove_are_audited_validated_and_listed(api):
    from bastion.effects import audit

    bad = api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "nimbrel", "category": "no-such", "weight": 0.5})
    assert bad.status_code == 400 or bad.status_code == 422
    assert api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "nimbrel", "weight": 1.5}).status_code in (400, 422)
    r = api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "Nimbrel", "category": "coded", "language": "en", "weight": 0.7})
    assert r.status_code == 201 and r.json()["key"] == "nimbrel"
    assert api.client.post("/v1/terms/rejections", headers=api.h("lead"), json={"term": "nimbrel"}).status_code == 409
    listed = api.client.get("/v1/terms", headers=api.h("auditor")).json()["terms"]
    assert [(t["term"], t["status"], t["weight"]) for t in listed] == [("Nimbrel", "active", 0.7)]
    assert api.client.delete("/v1/terms/nimbrel", headers=api.h("lead")).status_code == 200
    assert api.client.delete("/v1/terms/nimbrel", headers=api.h("lead")).status_code == 404
    with api.store.session() as s:
        rows, _ = audit.list_entries(s, target_type="term")
        assert [r["action"] for r in rows] == ["term.remove", "term.add"]
        add = rows[1]
        assert add["details"]["category"] == "coded" and add["details"]["weight"] == 0.7 and add["details"]["language"] == "en"
        assert audit.verify(s).ok


def test_a_term_added_through_one_server_is_applied_by_another_within_a_second(database_url, tmp_path):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app

    a = make_api(database_url, tmp_path / "a")
    b_app = create_app(ServeSettings(home=tmp_path / "b", database_url=database_url, background=True,
                                     poll_seconds=0.2, json_logs=False))
    with a.client, TestClient(b_app) as b:
        live = b_app.state.service.lexicon
        before = live.rebuilds
        t0 = time.monotonic()
        r = a.client.post("/v1/terms", headers=a.h("lead"), json={"term": "nimbrel", "category": "coded", "weight": 0.9})
        assert r.status_code == 201
        while time.monotonic() - t0 < 10 and live.rebuilds == before:
            time.sleep(0.02)
        took = time.monotonic() - t0
        assert live.rebuilds == before + 1, "the other server never applied the change"
        assert took < 5  # one poll (0.2 s here, 1 s by default); generous for a loaded machine
        got = b.post("/v1/items", headers=a.h("integration"), json={"id": "n1", "title": "x", "tags": ["nimbrel"]}).json()
        assert any(s.get("term") == "nimbrel" for s in got["signals"]) and got["verdict"]["action"] != "allow"
        # removed through the first: the second stops flagging it without a restart
        assert a.client.delete("/v1/terms/nimbrel", headers=a.h("lead")).status_code == 200
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and live.rebuilds == before + 1:
            time.sleep(0.02)
        got = b.post("/v1/items", headers=a.h("integration"), json={"id": "n2", "title": "x", "tags": ["nimbrel"]}).json()
        assert got["verdict"]["action"] == "allow" and not got["signals"]
    a.app.state.store.close()


def test_retro_scoring_opens_cases_for_stored_items_holding_a_new_term(api):
    from bastion.cases.models import CaseItemRow, ItemRow
    from bastion.effects.models import OutboxRow
    from bastion.terms import retro
    from bastion.terms.models import TermChangeRow

    for i in range(4):
        assert api.submit({"id": f"old{i}", "account": {"id": f"acct-{i % 2}"}, "title": "set", "tags": ["#NimbrelArt", "ink"]}).json()["verdict"]["action"] == "allow"
    for i in range(5):
        api.submit({"id": f"other{i}", "title": "set", "tags": ["ink", "nimbus"]})
    from bastion.effects import webhooks

    with api.store.session() as s, s.begin():
        webhooks.create_subscription(s, "https://hooks.example.org/bastion", ["retro_text"])
    webhooks.forget_cached_subscriptions()
    svc = api.app.state.service
    assert retro.run(api.store, svc.policy, svc.lexicon).changes == 0  # idle: nothing to do
    r = api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "nimbrel", "category": "coded", "weight": 0.9})
    assert r.status_code == 201
    assert retro.pending(api.store) == 1
    got = retro.run(api.store, svc.policy, svc.lexicon)
    assert got.changes == 1 and got.found == 4 and got.rescored == 4
    assert sorted(got.items) == [f"old{i}" for i in range(4)]
    assert len(got.cases) == 2  # one case per account
    with api.store.session() as s:
        reasons = s.scalars(select(CaseItemRow.reason)).all()
        assert reasons == ["retro_text"] * 4
        item = s.scalar(select(ItemRow).where(ItemRow.external_id == "old0"))
        sig = [x for x in item.facts["signals"] if x.get("term") == "nimbrel"]
        assert sig and sig[0]["evidence"]["retro"] is True and item.action != "allow"
        assert s.scalar(select(ItemRow.action).where(ItemRow.external_id == "other0")) == "allow"
        events = [o.event for o in s.scalars(select(OutboxRow))]
        ch = s.scalars(select(TermChangeRow).where(TermChangeRow.op == "add")).one()
        assert ch.retro_done and ch.retro_result == {"found": 4, "rescored": 4, "cases": 2}
    assert events == ["retro_text"] * 4  # one webhook per re-scored item, through the outbox
    # idempotent and idle afterwards
    assert retro.run(api.store, svc.policy, svc.lexicon).changes == 0


def test_counts_of_items_committed_together_are_exact_even_when_a_group_is_retried(api):
    """The writer commits concurrent items in one transaction; their counts are written in one statement per
    table at commit. A duplicate item in the group fails it: the group is retried item by item, and nothing
    is counted twice."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func

    from bastion.terms.models import ItemTermsRow, TermCountRow, TermItemRow

    svc = api.app.state.service
    from bastion.cases.schemas import ItemIn

    items = [ItemIn(id=f"g{i}", title="pond study", tags=["ink", f"tag{i % 3}"]) for i in range(24)]
    items += [ItemIn(id="g0", title="pond study", tags=["ink", "tag0"])]  # a retry of g0 racing the first
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(svc.submit, items))
    with api.store.session() as s:
        def count(term, outcome="all"):
            return s.scalar(select(func.sum(TermCountRow.n)).where(TermCountRow.term == term, TermCountRow.outcome == outcome))
        assert count("") == 24 and count("ink") == 24 and count("ink", "tag") == 24
        assert count("tag0") == 8 and count("pond study") == 24
        assert s.scalar(select(func.count()).select_from(ItemTermsRow)) == 24
        assert s.scalar(select(func.count()).select_from(TermItemRow).where(TermItemRow.term == "ink")) == 24
    assert svc.writer.groups >= 1  # some items were committed together


def test_a_tag_piece_that_never_occurs_outside_its_tag_is_not_listed_beside_it(api):
    """Pieces split off a tag ("nimbrel" and "vask" of "nimbrel_vask") hold the same items as the tag: listed
    once, as the whole tag. A piece also used on its own ("orlin") stays."""
    r = api.client.post("/v1/terms", headers=api.h("lead"), json={"term": "corvalt", "category": "coded", "weight": 0.9})
    assert r.status_code == 201
    api.app.state.service.lexicon.refresh()
    for a in range(3):
        for k in range(2):
            tags = ["corvalt", "nimbrel_vask", "orlin_tesk" if k == 0 else "orlin"]
            assert api.submit({"id": f"c{a}-{k}", "account": {"id": f"acct-{a}"}, "title": "upload", "tags": tags}).status_code in (200, 201)
    for i in range(20):
        assert api.submit({"id": f"b{i}", "account": {"id": f"artist-{i}"}, "title": "study", "tags": ["ink", f"oc{i}"]}).status_code in (200, 201)
    for cid in _cases(api):
        _decide(api, cid, "confirm")
    got = api.client.get("/v1/terms/candidates", headers=api.h("lead"), params={"until": _today(), "min_z": 1}).json()
    terms = [c["term"] for c in got["candidates"]]
    assert "nimbrelvask" in terms and "nimbrel" not in terms and "vask" not in terms
    assert "orlin" in terms  # six items, three of them outside "orlintesk"


def test_counts_go_to_the_utc_day_of_the_platform_time_whatever_zone_it_was_sent_in(api):
    """An item posted at 01:00 on 2 March at +05:00 was posted on 1 March (UTC); a naive time is UTC."""
    from datetime import date

    from bastion.terms.models import TermCountRow

    assert api.submit({"id": "z1", "title": "pond study", "tags": ["zonetag"],
                       "created_at": "2020-03-02T01:00:00+05:00"}).status_code in (200, 201)
    assert api.submit({"id": "z2", "title": "pond study", "tags": ["zonetag"],
                       "created_at": "2020-03-01T23:30:00"}).status_code in (200, 201)
    with api.store.session() as s:
        days = s.execute(select(TermCountRow.day, TermCountRow.n).where(
            TermCountRow.term == "zonetag", TermCountRow.outcome == "all")).all()
    assert [(d if isinstance(d, date) else date.fromisoformat(str(d)), n) for d, n in days] == [(date(2020, 3, 1), 2)]
