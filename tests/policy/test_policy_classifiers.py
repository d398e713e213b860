"""Image classifier signals as policy facts (issue 24): the ``classifier`` condition and the default rules,
which only rank and route for review — never remove, report or suspend on classifier signals alone."""

from __future__ import annotations

import itertools

import pytest

from bastion.classifiers import ClassifierResult
from bastion.model import Signal
from bastion.policy import Policy, default_policy
from bastion.policy.facts import AccountFacts, Facts

POLICY = default_policy()


def cls(name: str, media: int = 0, status: str = "ok", **scores: float) -> Signal:
    r = ClassifierResult(name=name, model=f"test-{name}", version="1", status=status, scores=scores,
                         error=None if status == "ok" else "not installed")
    s = r.to_signal()
    return Signal(s.source, s.category, s.weight, evidence={**s.evidence, "media": media})


def facts(*signals: Signal, account: AccountFacts | None = None, **kw) -> Facts:
    return Facts(item_id="i1", signals=tuple(signals), media_count=2, account=account, **kw)


LINKED = AccountFacts(id="a1", linked_flagged=1)
CONFIRMED = AccountFacts(id="a2", prior_confirmed=2)
PHOTO_NUDE = (cls("photoreal", photoreal=0.93), cls("nudity", nudity=0.91))


def test_photoreal_and_nudity_alone_open_no_case():
    v = POLICY.evaluate(facts(*PHOTO_NUDE))
    assert v.action == "allow" and v.priority == 0 and v.rules == ()


@pytest.mark.parametrize("account", [LINKED, CONFIRMED])
def test_on_an_account_linked_to_confirmed_cases_they_open_a_review_case(account):
    v = POLICY.evaluate(facts(*PHOTO_NUDE, account=account))
    assert v.action == "review" and v.actions == ("review",)
    assert "classifier-photoreal-nudity-linked-account" in v.rules
    reason = next(r for r in v.reasons if r.rule == "classifier-photoreal-nudity-linked-account")
    assert reason.priority == 55
    # the evidence names the classifiers and their models
    models = {s["evidence"]["model"] for s in reason.signals if s["source"] == "classifier"}
    assert models == {"test-photoreal", "test-nudity"}


def test_a_young_face_read_by_a_plug_in_opens_a_review_case_at_60():
    v = POLICY.evaluate(facts(*PHOTO_NUDE, cls("age-plugin", young_face=0.8)))
    assert v.action == "review" and v.priority == 60 + 10  # raised by classifier-photoreal-nudity
    assert v.rules[0] == "classifier-photoreal-nudity-young-face"
    # below any one threshold: nothing
    for low in ((cls("photoreal", photoreal=0.6), cls("nudity", nudity=0.9)),
                (cls("photoreal", photoreal=0.9), cls("nudity", nudity=0.7))):
        assert POLICY.evaluate(facts(*low, cls("age-plugin", young_face=0.9))).action == "allow"
    assert POLICY.evaluate(facts(*PHOTO_NUDE, cls("age-plugin", young_face=0.4))).action == "allow"


def test_the_scores_must_hold_on_the_same_media_file():
    split = (cls("photoreal", media=0, photoreal=0.95), cls("nudity", media=1, nudity=0.95),
             cls("photoreal", media=1, photoreal=0.1), cls("nudity", media=0, nudity=0.01))
    assert POLICY.evaluate(facts(*split, account=LINKED)).action == "allow"


def test_they_raise_the_priority_of_an_item_another_rule_routes_to_review():
    text = Signal("text", "minor", 1.0, term="placeholder", field="body")
    base = POLICY.evaluate(facts(text, text_level="medium", text_score=0.5))
    raised = POLICY.evaluate(facts(text, *PHOTO_NUDE, text_level="medium", text_score=0.5))
    assert base.priority == 30 and raised.priority == 40 and raised.action == "review"


def test_unavailable_and_error_results_never_satisfy_a_score():
    unavailable = (cls("photoreal", status="unavailable"), cls("nudity", status="error"))
    p = Policy.from_text("rules:\n  - name: r\n    when: {classifier: {nudity: {max: 0.1}}}\n    actions: [label]\n")
    assert p.evaluate(facts(*unavailable)).action == "allow"  # "no score" is not "low score"
    assert p.evaluate(facts(cls("nudity", nudity=0.05))).action == "label"
    # but a rule can route the unclassified: signal source classifier, category unavailable
    q = Policy.from_text("rules:\n  - name: r\n    when: {signal: {source: classifier, category: unavailable}}\n"
                         "    actions: [review]\n")
    assert q.evaluate(facts(*unavailable)).action == "review"


def test_no_shipped_rule_removes_reports_or_suspends_on_classifier_signals():
    combos = [cls("photoreal", photoreal=p) for p in (0.0, 0.99)]
    nud = [cls("nudity", nudity=n) for n in (0.0, 0.99)]
    young = [None, cls("age-plugin", young_face=0.99)]
    faces = [None, cls("faces", faces=3.0, face_area=0.4)]
    accounts = [None, LINKED, CONFIRMED, AccountFacts(id="new", age_days=0.5, linked_flagged=3, prior_confirmed=3)]
    for a, b, c, d, acct in itertools.product(combos, nud, young, faces, accounts):
        sigs = [s for s in (a, b, c, d) if s is not None]
        v = POLICY.evaluate(facts(*sigs, account=acct))
        assert set(v.actions) <= {"allow", "review"}, (sigs, acct, v.actions)


def test_classifier_facts_survive_the_stored_round_trip():
    f = facts(*PHOTO_NUDE, account=LINKED)
    back = Facts.from_dict(f.to_dict())
    assert POLICY.evaluate(back).to_dict() == POLICY.evaluate(f).to_dict()
    assert back.signals[1].evidence["scores"] == {"nudity": 0.91}


def test_a_plug_in_score_name_is_accepted_with_a_warning():
    p = Policy.from_text("rules:\n  - name: r\n    when: {classifier: {acme_risk: {min: 0.9}}}\n    actions: [review]\n")
    assert p.evaluate(facts(cls("acme", acme_risk=0.95))).action == "review"
    assert p.evaluate(facts(cls("acme", acme_risk=0.5))).action == "allow"
    assert any("acme_risk" in w[2] and "plug-in" in w[2] for w in p.warnings)
    assert not default_policy().warnings  # young_face is a known name: the shipped policy checks clean
