"""Every rule of the shipped default policy fires with its reasons; nothing fired is `allow`; allow-list
matches never count."""

from __future__ import annotations

import pytest
from policy_builders import AccountFacts, PriceFacts, ai_signal, facts, gen_signal, hash_signal, text_signal

from bastion.policy import Verdict, default_policy
from bastion.text import analyze_item

POLICY = default_policy()


def reason(verdict: Verdict, rule: str):
    found = [r for r in verdict.reasons if r.rule == rule]
    assert found, f"rule {rule!r} did not fire: {verdict.rules}"
    return found[0]


def test_the_shipped_policy_loads_with_a_version_and_names_every_rule():
    names = [r.name for r in POLICY.rules]
    assert names == ["known-abuse-hash", "text-critical", "real-material-offer", "ai-generated-minor-sexual-prompt",
                     "text-high", "similar-to-confirmed-account", "classifier-photoreal-nudity-young-face",
                     "classifier-photoreal-nudity-linked-account", "other-bank-match", "text-medium", "test-bank-match",
                     "classifier-photoreal-nudity", "account-prior-confirmed", "account-linked-to-flagged",
                     "similar-to-confirmed", "new-account"]
    assert len(POLICY.version) == 12 and all(r.description for r in POLICY.rules)


def test_nothing_fired_is_allow_with_no_reasons():
    v = POLICY.evaluate(facts(text_level="low", text_score=0.2, media_count=3, price=PriceFacts(5.0, "USD", "vip"),
                              account=AccountFacts(id="acc-1", age_days=400.0, items=50)))
    assert (v.action, v.actions, v.priority, v.reasons) == ("allow", ("allow",), 0, ())
    assert v.to_dict() == {"action": "allow", "actions": ["allow"], "priority": 0, "reasons": []}


@pytest.mark.parametrize("category", ["csam", "csam-generated"])
def test_known_abuse_hash_removes_reports_and_preserves(category):
    v = POLICY.evaluate(facts(hash_signal(category, bank="bank-x", label="entry-7", distance=6, media=2), media_count=3))
    assert v.action == "remove"
    assert v.actions == ("remove", "report", "preserve")
    assert v.priority == 100
    r = reason(v, "known-abuse-hash")
    assert r.actions == ("remove", "report", "preserve") and r.priority == 100
    (sig,) = r.signals
    assert sig["source"] == "hash" and sig["evidence"]["bank"] == "bank-x"
    assert sig["evidence"]["label"] == "entry-7" and sig["evidence"]["distance"] == 6
    assert sig["evidence"]["category"] == category and sig["evidence"]["media"] == 2


def test_known_abuse_hash_outranks_every_other_rule():
    v = POLICY.evaluate(facts(hash_signal("csam"), text_signal("minor"), text_level="critical", text_score=0.95))
    assert v.rules[0] == "known-abuse-hash"
    assert v.actions == ("review", "remove", "report", "preserve")
    assert v.action == "remove"


def test_allow_list_matches_never_count():
    benign = hash_signal("known-benign", bank="logos", label="company-logo")
    v = POLICY.evaluate(facts(benign, media_count=1))
    assert v.action == "allow" and v.reasons == ()
    # ...not even beside a real match: the real one fires, the allow-list one is not cited as evidence
    v = POLICY.evaluate(facts(benign, hash_signal("csam", bank="bank-x", media=1), media_count=2))
    assert v.action == "remove"
    assert [s["evidence"]["bank"] for s in reason(v, "known-abuse-hash").signals] == ["bank-x"]


def test_allow_list_matches_never_count_in_custom_rules_either():
    from bastion.policy import Policy

    p = Policy.from_text("rules:\n  - name: any-hash\n    when: {signal: {source: hash}}\n    actions: [review]\n")
    assert p.evaluate(facts(hash_signal("known-benign"))).action == "allow"
    assert p.evaluate(facts(hash_signal("other"))).action == "review"


def test_text_critical_removes_and_reviews_citing_the_text_spans():
    spans = [text_signal("minor", term="placeholder-a", span=(0, 13)),
             text_signal("sexual", term="placeholder-b", span=(14, 27), field="tag"),
             text_signal("trade", term="placeholder-c", span=(28, 41))]
    v = POLICY.evaluate(facts(*spans, text_level="critical", text_score=0.95,
                              text_combinations=("minor_sexual_and_commerce",)))
    assert v.action == "remove" and v.actions == ("review", "remove") and v.priority == 90
    r = reason(v, "text-critical")
    assert r.signals[0] == {"source": "item", "category": "text_level", "evidence": {"level": "critical", "score": 0.95}}
    assert [(s["term"], s["span"], s["field"]) for s in r.signals[1:]] == [
        ("placeholder-a", [0, 13], "body"), ("placeholder-b", [14, 27], "tag"), ("placeholder-c", [28, 41], "body")]
    assert "text-high" not in v.rules  # critical is not repeated as high


def test_text_high_reviews_with_high_priority_from_a_real_analysis():
    # the fewest clinical words that make a minor + sexual combination (see tests/text)
    result = analyze_item([("title", "child"), ("tag", "nsfw")])
    assert result.level == "high"
    v = POLICY.evaluate(facts(*result.signals, text_level=result.level, text_score=result.score,
                              text_combinations=tuple(result.combinations)))
    assert v.action == "review" and v.actions == ("review",) and v.priority == 70
    r = reason(v, "text-high")
    assert {s["category"] for s in r.signals[1:]} == {"minor", "sexual"}
    assert {s["field"] for s in r.signals[1:]} == {"title", "tag"}


def test_text_medium_reviews_at_lower_priority():
    v = POLICY.evaluate(facts(text_signal("trade"), text_level="medium", text_score=0.45))
    assert v.rules == ("text-medium",) and v.action == "review" and v.priority == 30


def test_text_signals_that_did_not_count_are_not_cited():
    v = POLICY.evaluate(facts(text_signal("minor"), text_signal("sexual", field="negative_prompt", counted=False),
                              text_level="high", text_score=0.75))
    assert [s.get("field") for s in reason(v, "text-high").signals[1:]] == ["body"]


def test_ai_generated_media_with_minor_and_sexual_prompt_signals_is_reviewed():
    prompt = [text_signal("minor", field="prompt", term="placeholder-a"),
              text_signal("sexual", field="prompt", term="placeholder-b", span=(12, 25))]
    v = POLICY.evaluate(facts(ai_signal("c2pa", media=1), *prompt, media_count=2))
    assert v.rules == ("ai-generated-minor-sexual-prompt",)
    assert v.action == "review" and v.priority == 80
    sigs = reason(v, "ai-generated-minor-sexual-prompt").signals
    assert sigs[0]["source"] == "provenance" and sigs[0]["evidence"]["trace"] == "c2pa"
    assert [s["term"] for s in sigs[1:]] == ["placeholder-a", "placeholder-b"]


@pytest.mark.parametrize("missing", ["provenance", "minor", "sexual"])
def test_ai_generated_rule_needs_all_three_parts(missing):
    parts = {"provenance": ai_signal(), "minor": text_signal("minor", field="prompt"),
             "sexual": text_signal("sexual", field="prompt", span=(12, 25))}
    del parts[missing]
    v = POLICY.evaluate(facts(*parts.values()))
    assert "ai-generated-minor-sexual-prompt" not in v.rules


def test_prompt_signals_must_come_from_a_prompt():
    v = POLICY.evaluate(facts(ai_signal(), text_signal("minor", field="title"), text_signal("sexual", field="tag")))
    assert "ai-generated-minor-sexual-prompt" not in v.rules


def test_real_material_offer_fires_on_the_combination_and_only_then():
    v = POLICY.evaluate(facts(text_signal("trade"), text_level="medium", text_score=0.6,
                              text_combinations=("real_material_offer",)))
    assert v.rules[0] == "real-material-offer" and v.priority == 85 and v.action == "review"
    assert reason(v, "real-material-offer").signals[0] == {
        "source": "item", "category": "text_combination", "evidence": {"name": "real_material_offer"}}
    v = POLICY.evaluate(facts(text_signal("trade"), text_level="medium", text_score=0.6,
                              text_combinations=("sexual_trade_contact",)))
    assert "real-material-offer" not in v.rules


def test_other_and_test_bank_matches():
    v = POLICY.evaluate(facts(hash_signal("other")))
    assert v.rules == ("other-bank-match",) and v.action == "review" and v.priority == 50
    v = POLICY.evaluate(facts(hash_signal("test", label="integration-check")))
    assert v.rules == ("test-bank-match",) and v.actions == ("label",) and v.priority == 10


def test_account_history_raises_the_priority_of_a_flagged_item():
    acc = AccountFacts(id="acc-9", age_days=2.0, items=4, prior_confirmed=2, risk=0.7, linked_flagged=1)
    v = POLICY.evaluate(facts(text_signal("trade"), text_level="medium", text_score=0.45, account=acc))
    assert v.action == "review"
    assert v.priority == 30 + 20 + 10 + 5
    assert v.rules == ("text-medium", "account-prior-confirmed", "account-linked-to-flagged", "new-account")
    r = reason(v, "account-prior-confirmed")
    assert r.actions == () and r.priority == 20 and "raises the priority by 20" in r.description
    assert r.signals == ({"source": "account", "category": "prior_confirmed",
                          "evidence": {"account": "acc-9", "prior_confirmed": 2}},)


def test_account_history_alone_does_not_flag_a_clean_item():
    acc = AccountFacts(id="acc-9", age_days=1.0, prior_confirmed=3, linked_flagged=2)
    v = POLICY.evaluate(facts(account=acc))
    assert (v.action, v.priority, v.reasons) == ("allow", 0, ())


def test_priority_is_capped_at_100():
    acc = AccountFacts(id="acc-9", age_days=1.0, prior_confirmed=3, linked_flagged=2)
    v = POLICY.evaluate(facts(hash_signal("csam"), account=acc))
    assert v.priority == 100 and v.action == "remove"


def test_verdict_dict_shape_matches_the_contract():
    v = POLICY.evaluate(facts(hash_signal("csam"), text_level="high", text_score=0.8))
    d = v.to_dict()
    assert set(d) == {"action", "actions", "priority", "reasons"}
    assert all(set(r) == {"rule", "description", "actions", "priority", "signals"} for r in d["reasons"])
    assert Verdict.from_dict(d) == v


def test_policy_to_dict_is_json_safe_and_keeps_each_rule_as_written():
    import json

    d = json.loads(json.dumps(POLICY.to_dict()))
    assert d["version"] == POLICY.version and len(d["rules"]) == len(POLICY.rules)
    first = d["rules"][0]
    assert first["name"] == "known-abuse-hash" and first["line"] > 1
    assert first["when"] == {"hash_match": {"bank_category": ["csam", "csam-generated"]}}
    assert first["actions"] == ["remove", "report", "preserve"]
    assert d["rules"][-1]["raise_priority"] == 5 and d["rules"][-1]["actions"] == []


def test_the_default_policy_reviews_a_real_material_offer_found_in_text():
    """End to end with the shipped scoring: the text combination the default rule keys on exists and fires."""
    from bastion.text import analyze

    r = analyze("real not ai, kids content, dm for prices", "comment")
    assert "real_material_offer" in r.combinations
