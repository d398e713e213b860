"""The ``similar_to_confirmed`` policy fact (issue 24, point 3): the condition's filters and mistakes, the
shipped rules (same or linked account -> review; otherwise only a raise of a flagged item's priority; never
remove or report), and the signal's round trip through stored facts."""

from __future__ import annotations

import textwrap

import pytest
from policy_builders import AccountFacts, facts, hash_signal, text_signal

from bastion.cases.similar import Near, ConfirmedRef, similar_signal
from bastion.errors import ProblemList
from bastion.model import Signal
from bastion.policy import Facts, InvalidPolicy, Policy, default_policy


def near(distance: int = 50, account: str = "same", *, case_id: int = 7, media: int = 0) -> Signal:
    ref = ConfirmedRef(media_id=3, case_id=case_id, account_id=1, item_id=2, item_external_id="item-c", position=0)
    return similar_signal(Near(ref, distance), media, account, 80)


def one_rule(when: str) -> Policy:
    return Policy.from_text(f"rules:\n  - name: r\n    when: {when}\n    actions: [review]\n    priority: 40\n", "p.yaml")


def test_the_signal_says_distance_case_and_account_and_no_hash():
    s = near(40, "linked")
    assert (s.source, s.category) == ("similarity", "similar_to_confirmed")
    assert s.evidence == {"media": 0, "distance": 40, "radius": 80, "case_id": 7, "confirmed_item": "item-c",
                          "confirmed_media": 0, "account": "linked"}
    assert 0 < s.weight < 1 and near(0).weight == 1.0 and near(80).weight < near(40).weight


def test_the_condition_filters_by_distance_account_and_count():
    p = one_rule("{similar_to_confirmed: {max_distance: 48, account: [same, linked]}}")
    assert "r" in p.evaluate(facts(near(48, "same"))).rules
    assert "r" in p.evaluate(facts(near(10, "linked"))).rules
    assert "r" not in p.evaluate(facts(near(49, "same"))).rules
    assert "r" not in p.evaluate(facts(near(10, "other"))).rules
    assert "r" not in p.evaluate(facts(hash_signal("csam", distance=5))).rules  # a match is not likeness
    two = one_rule("{similar_to_confirmed: {account: other, min_count: 2}}")
    assert "r" not in two.evaluate(facts(near(30, "other"))).rules
    v = two.evaluate(facts(near(30, "other"), near(60, "other", case_id=8)))
    assert [s["evidence"]["case_id"] for s in v.to_dict()["reasons"][0]["signals"]] == [7, 8]
    # and through the generic signal condition
    assert "r" in one_rule("{signal: {source: similarity, category: similar_to_confirmed}}").evaluate(facts(near())).rules


@pytest.mark.parametrize("when, message", [
    ("{similar_to_confirmed: {}}", "empty condition"),
    ("{similar_to_confirmed: {account: [friend]}}", "unknown account relation 'friend'"),
    ("{similar_to_confirmed: {max_distance: 300}}", "out of range"),
    ("{similar_to_confirmed: {radius: 40}}", "unknown key 'radius'"),
])
def test_mistakes_are_refused_with_their_line(when, message):
    with pytest.raises((InvalidPolicy, ProblemList)) as err:
        one_rule(when)
    assert message in str(err.value) and "p.yaml:3" in str(err.value)


def test_the_shipped_policy_reviews_same_or_linked_and_only_raises_otherwise():
    pol = default_policy()
    for account in ("same", "linked"):
        v = pol.evaluate(facts(near(70, account)))
        assert (v.action, v.priority) == ("review", 75)  # 60, raised 15
        assert set(v.actions) == {"review"}  # never remove, report or suspend on likeness
    alone = pol.evaluate(facts(near(20, "other")))
    assert (alone.action, alone.priority, alone.reasons) == ("allow", 0, ())
    # beside another reason to look, it raises the priority: text high (70) + 15
    flagged = pol.evaluate(facts(near(20, "other"), text_signal("minor"), text_signal("sexual"), text_level="high",
                                 text_score=0.8, account=AccountFacts(id="a", age_days=400.0)))
    assert flagged.action == "review" and flagged.priority == 85
    assert "similar-to-confirmed" in flagged.rules


def test_the_signal_survives_stored_facts_and_replays_the_same():
    f = facts(near(33, "same"), media_count=1)
    back = Facts.from_dict(f.to_dict())
    assert back.signals == f.signals
    assert default_policy().evaluate(back).to_dict() == default_policy().evaluate(f).to_dict()
    text = textwrap.dedent("""\
        rules:
          - name: near-any
            when: {similar_to_confirmed: {max_distance: 40}}
            raise_priority: 5
    """)
    assert Policy.from_text(text, "x.yaml").evaluate(back).to_dict()["priority"] == 0  # raising alone flags nothing
