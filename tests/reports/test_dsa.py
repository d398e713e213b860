"""DSA statements of reasons: the validator rejects each kind of invalid statement and accepts every statement
Bastion makes; JSON lines export; submission in batches of 100 to a loopback TEST server."""

from __future__ import annotations

import io
import itertools
import json
from datetime import date

import pytest

from dsa_test_server import DsaTestServer

from bastion.errors import DsaSubmitError, InvalidStatement
from bastion.reports.dsa import service
from bastion.reports.dsa.builder import DsaConfig, StatementInput, build_statement
from bastion.reports.dsa.validator import statement_problems, validate_statements
from bastion.reports.models import DsaStatementRow


def good(**kw) -> dict:
    st = build_statement(StatementInput(decision_id=1, actions=("remove",), content_date=date(2026, 1, 2), application_date=date(2026, 1, 3)))
    st.update(kw)
    return st


def fields(st) -> set[str]:
    return {f for f, _ in statement_problems(st)}


# --- what Bastion makes ----------------------------------------------------------------------------


def test_every_statement_bastion_makes_is_valid():
    configs = [
        DsaConfig(),
        DsaConfig(ground="DECISION_GROUND_INCOMPATIBLE_CONTENT", reference_url="https://example.org/terms", account_decision="DECISION_ACCOUNT_SUSPENDED"),
    ]
    actions = [("remove",), ("label",), ("suspend_account",), ("remove", "suspend_account", "report", "preserve"), ("disable", "age_restrict")]
    media = [("image",), ("video",), ("text",), ("image", "text"), ()]
    sources = [("hash",), ("provenance", "text"), ("user_report",), ("trusted_flagger", "hash"), ("account",)]
    made = 0
    for n, (cfg, act, med, src, gen, person, first, lang) in enumerate(
        itertools.product(configs, actions, media, sources, (False, True), (True, False), (False, True), (None, "en", "xx"))
    ):
        st = build_statement(
            StatementInput(
                decision_id=n, actions=act, media=med, sources=src, generated=gen, decided_by_person=person,
                automated_action_first=first, language=lang, content_date=date(2025, 12, 31), application_date=date(2026, 1, 1),
                item_ref=f"item-{n}",
            ),
            cfg,
        )  # fmt: skip
        assert statement_problems(st) == [], st
        made += 1
    assert made == 2 * 5 * 5 * 5 * 2 * 2 * 2 * 3


def test_fields_follow_how_the_decision_was_made():
    st = build_statement(
        StatementInput(
            decision_id=4, actions=("remove", "suspend_account"), media=("image",), generated=True, sources=("provenance",),
            decided_by_person=True, automated_action_first=True, content_date=date(2026, 1, 1), application_date=date(2026, 1, 2),
        )
    )  # fmt: skip
    assert st["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
    assert st["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE"]
    assert st["content_type"] == ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"]
    assert (st["automated_detection"], st["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_PARTIALLY")
    assert st["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"] and st["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert st["source_type"] == "SOURCE_VOLUNTARY" and st["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert st["illegal_content_legal_ground"] and st["illegal_content_explanation"]
    assert "incompatible_content_ground" not in st
    auto = build_statement(StatementInput(decision_id=5, actions=("remove",), decided_by_person=False, content_date=date(2026, 1, 1), application_date=date(2026, 1, 1)))
    assert auto["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert auto["category_specification"] == ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"] and "CONTENT_TYPE_SYNTHETIC_MEDIA" not in auto["content_type"]
    notice = build_statement(StatementInput(decision_id=6, actions=("remove",), sources=("user_report",), content_date=date(2026, 1, 1), application_date=date(2026, 1, 1)))
    assert (notice["automated_detection"], notice["source_type"], notice["automated_decision"]) == ("No", "SOURCE_ARTICLE_16", "AUTOMATED_DECISION_NOT_AUTOMATED")
    # nothing restricted -> no statement is due
    assert build_statement(StatementInput(decision_id=7, actions=("review", "report"), content_date=date(2026, 1, 1), application_date=date(2026, 1, 1))) is None


def test_puid_is_stable_and_valid():
    a = build_statement(StatementInput(decision_id=9, actions=("remove",), item_ref="post/ü 1", content_date=date(2026, 1, 1), application_date=date(2026, 1, 1)))
    b = build_statement(StatementInput(decision_id=9, actions=("remove",), item_ref="post/ü 1", content_date=date(2026, 1, 1), application_date=date(2026, 1, 1)))
    assert a["puid"] == b["puid"] and statement_problems(a) == []


# --- each kind of invalid statement ----------------------------------------------------------------

INVALID = [
    ("no restriction of any kind", lambda st: st.pop("decision_visibility"), "decision_visibility"),
    ("visibility not an array", lambda st: st.update(decision_visibility="DECISION_VISIBILITY_CONTENT_REMOVED"), "decision_visibility"),
    ("unknown visibility", lambda st: st.update(decision_visibility=["DECISION_VISIBILITY_GONE"]), "decision_visibility"),
    ("visibility other without text", lambda st: st.update(decision_visibility=["DECISION_VISIBILITY_OTHER"]), "decision_visibility_other"),
    ("monetary other without text", lambda st: st.update(decision_monetary="DECISION_MONETARY_OTHER"), "decision_monetary_other"),
    ("unknown monetary", lambda st: st.update(decision_monetary="DECISION_MONETARY_FINE"), "decision_monetary"),
    ("unknown provision", lambda st: st.update(decision_provision="DECISION_PROVISION_X"), "decision_provision"),
    ("unknown account decision", lambda st: st.update(decision_account="DECISION_ACCOUNT_BANNED"), "decision_account"),
    ("unknown account type", lambda st: st.update(account_type="ACCOUNT_TYPE_ROBOT"), "account_type"),
    ("no ground", lambda st: st.pop("decision_ground"), "decision_ground"),
    ("unknown ground", lambda st: st.update(decision_ground="DECISION_GROUND_MOOD"), "decision_ground"),
    ("illegal ground without legal ground", lambda st: st.pop("illegal_content_legal_ground"), "illegal_content_legal_ground"),
    ("illegal ground without explanation", lambda st: st.update(illegal_content_explanation=""), "illegal_content_explanation"),
    (
        "incompatible ground without its fields",
        lambda st: st.update(decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT"),
        "incompatible_content_ground",
    ),
    (
        "incompatible illegal not Yes/No",
        lambda st: st.update(
            decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT", incompatible_content_ground="t", incompatible_content_explanation="e", incompatible_content_illegal="Maybe"
        ),
        "incompatible_content_illegal",
    ),
    ("reference url not a url", lambda st: st.update(decision_ground_reference_url="terms page"), "decision_ground_reference_url"),
    ("no content type", lambda st: st.update(content_type=[]), "content_type"),
    ("unknown content type", lambda st: st.update(content_type=["CONTENT_TYPE_HOLOGRAM"]), "content_type"),
    ("content type other without text", lambda st: st.update(content_type=["CONTENT_TYPE_OTHER"]), "content_type_other"),
    ("no category", lambda st: st.pop("category"), "category"),
    ("unknown category", lambda st: st.update(category="STATEMENT_CATEGORY_MISC"), "category"),
    ("unknown additional category", lambda st: st.update(category_addition=["STATEMENT_CATEGORY_MISC"]), "category_addition"),
    ("unknown keyword", lambda st: st.update(category_specification=["KEYWORD_NOPE"]), "category_specification"),
    ("country outside EU/EEA", lambda st: st.update(territorial_scope=["US"]), "territorial_scope"),
    ("unknown language", lambda st: st.update(content_language="XX"), "content_language"),
    ("lowercase language", lambda st: st.update(content_language="en"), "content_language"),
    ("bad EAN", lambda st: st.update(content_id={"EAN-13": "123"}), "content_id.EAN-13"),
    ("bad EAN field", lambda st: st.update(content_id_ean="12345678901234"), "content_id_ean"),
    ("no content date", lambda st: st.pop("content_date"), "content_date"),
    ("content date format", lambda st: st.update(content_date="02/01/2026"), "content_date"),
    ("content date too early", lambda st: st.update(content_date="1999-12-31"), "content_date"),
    ("not a calendar date", lambda st: st.update(content_date="2026-02-30"), "content_date"),
    ("no application date", lambda st: st.pop("application_date"), "application_date"),
    ("application date too early", lambda st: st.update(application_date="2019-12-31"), "application_date"),
    ("application date too late", lambda st: st.update(application_date="2038-01-02"), "application_date"),
    ("end date before application", lambda st: st.update(end_date_account_restriction="2026-01-01"), "end_date_account_restriction"),
    ("end date format", lambda st: st.update(end_date_visibility_restriction="soon"), "end_date_visibility_restriction"),
    ("no facts", lambda st: st.update(decision_facts=" "), "decision_facts"),
    ("facts too long", lambda st: st.update(decision_facts="x" * 5001), "decision_facts"),
    ("explanation too long", lambda st: st.update(illegal_content_explanation="x" * 2001), "illegal_content_explanation"),
    ("no source", lambda st: st.pop("source_type"), "source_type"),
    ("unknown source", lambda st: st.update(source_type="SOURCE_RUMOUR"), "source_type"),
    ("source identity too long", lambda st: st.update(source_identity="x" * 501), "source_identity"),
    ("no automated detection", lambda st: st.pop("automated_detection"), "automated_detection"),
    ("automated detection not Yes/No", lambda st: st.update(automated_detection=True), "automated_detection"),
    ("unknown automated decision", lambda st: st.update(automated_decision="AUTOMATED_DECISION_SOMEWHAT"), "automated_decision"),
    ("no puid", lambda st: st.pop("puid"), "puid"),
    ("puid with spaces", lambda st: st.update(puid="a b"), "puid"),
    ("puid too long", lambda st: st.update(puid="a" * 501), "puid"),
    ("unknown field", lambda st: st.update(decision_mood="calm"), "decision_mood"),
]


@pytest.mark.parametrize("what,change,field", INVALID, ids=[w for w, _, _ in INVALID])
def test_validator_rejects(what, change, field):
    st = good()
    assert statement_problems(st) == []
    change(st)
    assert field in fields(st), statement_problems(st)
    with pytest.raises(InvalidStatement):
        validate_statements([st])


def test_excluded_fields_are_not_errors_and_the_incompatible_ground_passes_complete():
    # the database drops conditional fields that do not apply; it does not refuse them
    assert statement_problems(good(incompatible_content_ground="x")) == []
    ok = good(decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT", incompatible_content_ground="t", incompatible_content_explanation="e")
    assert statement_problems(ok) == []


def test_repeated_puid_in_one_list_is_refused_with_every_problem_listed():
    a, b = good(), good(category="nope")
    with pytest.raises(InvalidStatement) as info:
        validate_statements([a, b])
    msgs = [(w, f) for w, f, _ in info.value.problems]
    assert (a["puid"], "puid") in msgs and (a["puid"], "category") in msgs


# --- storage, export and submission ----------------------------------------------------------------


@pytest.fixture
def dsa_server():
    s = DsaTestServer()
    yield s
    s.close()


def statements(n, start=0):
    return [good(puid=f"bastion-d{i}") for i in range(start, start + n)]


def test_record_export_and_submit_in_batches_of_100(store, dsa_server):
    with store.session() as s, s.begin():
        for st in statements(250):
            service.record_statement(s, st, decision_id=int(st["puid"].split("d")[-1]))
        again = service.record_statement(s, statements(1)[0])
        assert again.puid == "bastion-d0"
    with store.session() as s:
        rows = service.statements_since(s)
        buf = io.StringIO()
        assert service.export_jsonl((r.statement for r in rows), buf) == 250
    lines = buf.getvalue().splitlines()
    assert len(lines) == 250 and json.loads(lines[0])["puid"] == "bastion-d0"
    client = service.DsaClient(dsa_server.url, "t0k", sleep=lambda s: None)
    counts = service.submit_pending(store, client)
    assert counts == {"submitted": 250, "already_there": 0, "refused": 0, "calls": 3}
    assert [len(json.loads(c)["statements"]) for c in dsa_server.calls] == [100, 100, 50]
    with store.session() as s:
        assert {r.state for r in service.statements_since(s)} == {"submitted"}
    assert service.submit_pending(store, client)["calls"] == 0


def test_lost_answer_retry_counts_existing_puids_as_submitted(store, dsa_server):
    with store.session() as s, s.begin():
        for st in statements(3):
            service.record_statement(s, st)
    for st in statements(2):  # the database already has two of them (an earlier answer was lost)
        dsa_server.store[st["puid"]] = st
    dsa_server.fail_next = [503]
    counts = service.submit_pending(store, service.DsaClient(dsa_server.url, "t0k", sleep=lambda s: None))
    assert counts == {"submitted": 1, "already_there": 2, "refused": 0, "calls": 2}
    assert set(dsa_server.store) == {"bastion-d0", "bastion-d1", "bastion-d2"}


def test_a_refused_statement_does_not_block_the_others(store, dsa_server):
    with store.session() as s, s.begin():
        for st in statements(3):
            service.record_statement(s, st)
        bad = s.query(DsaStatementRow).filter_by(puid="bastion-d1").one()
        bad.statement = {**bad.statement, "decision_facts": "x" * 6000}  # changed behind the validator's back
    with pytest.raises(InvalidStatement):  # checked before anything is sent
        service.submit_pending(store, service.DsaClient(dsa_server.url, "t0k", sleep=lambda s: None))
    assert dsa_server.calls == []


def test_invalid_statements_are_not_recorded_and_auth_errors_are_typed(store, dsa_server):
    with store.session() as s:
        with pytest.raises(InvalidStatement):
            service.record_statement(s, good(category="nope"))
    with pytest.raises(DsaSubmitError, match="401"):
        service.DsaClient(dsa_server.url, "wrong", sleep=lambda s: None).submit_batch(statements(1))
    with pytest.raises(DsaSubmitError, match="1 to 100"):
        service.DsaClient(dsa_server.url, "t0k").submit_batch(statements(101))


def test_likeness_to_confirmed_material_is_automated_detection_of_media_and_says_it_is_no_match():
    st = build_statement(StatementInput(decision_id=9, actions=("remove",), sources=("similarity",),
                                        content_date=date(2026, 1, 1), application_date=date(2026, 1, 2)))
    assert st["automated_detection"] == "Yes" and st["source_type"] == "SOURCE_VOLUNTARY"
    assert "likeness to material a reviewer had confirmed" in st["decision_facts"] and "not a match" in st["decision_facts"]
