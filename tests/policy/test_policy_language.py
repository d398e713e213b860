"""The policy language: each condition's semantics, how rules combine, and validation errors that name
the file and the line of every mistake."""

from __future__ import annotations

import json
import textwrap

import pytest
from policy_builders import AccountFacts, Facts, PriceFacts, ai_signal, facts, gen_signal, hash_signal, text_signal

from bastion.errors import ConfigError, ProblemList
from bastion.policy import InvalidFacts, InvalidPolicy, Policy, PolicyUnreadable, load_policy


def policy(yaml_text: str) -> Policy:
    return Policy.from_text(textwrap.dedent(yaml_text), "p.yaml")


def one_rule(when: str, actions: str = "[review]") -> Policy:
    return policy(f"rules:\n  - name: r\n    when: {when}\n    actions: {actions}\n    priority: 40\n")


def fires(p: Policy, f: Facts) -> bool:
    return "r" in p.evaluate(f).rules


# --- conditions ------------------------------------------------------------------------------------


def test_signal_filters_source_category_field_language_term_weight_count():
    p = one_rule("{signal: {source: text, category: [minor, coded], field: [title, tag], language: en, "
                 "term: Placeholder-A, min_weight: 0.5, min_count: 2}}")
    a = text_signal("minor", field="title", term="placeholder-a")
    b = text_signal("coded", field="tag", term="placeholder-a", span=(20, 31))
    assert fires(p, facts(a, b))
    assert not fires(p, facts(a))  # min_count 2
    assert not fires(p, facts(a, text_signal("coded", field="body", term="placeholder-a")))  # field
    assert not fires(p, facts(a, text_signal("coded", field="tag", term="placeholder-a", language="de")))
    assert not fires(p, facts(a, text_signal("coded", field="tag", term="other-term")))
    assert not fires(p, facts(a, text_signal("coded", field="tag", term="placeholder-a", weight=0.3)))
    assert not fires(p, facts(a, text_signal("sexual", field="tag", term="placeholder-a")))


def test_signal_skips_uncounted_negative_prompt_hits_unless_that_field_is_asked_for():
    neg = text_signal("minor", field="negative_prompt", counted=False)
    assert not fires(one_rule("{signal: {source: text, category: minor}}"), facts(neg))
    assert fires(one_rule("{signal: {source: text, category: minor, field: negative_prompt}}"), facts(neg))


def test_hash_match_filters_bank_label_type_distance():
    p = one_rule("{hash_match: {bank_category: other, bank: [bank-b], label: entry-2, hash_type: pdq, max_distance: 10}}")
    assert fires(p, facts(hash_signal("other", bank="bank-b", label="entry-2", distance=10)))
    assert not fires(p, facts(hash_signal("other", bank="bank-b", label="entry-2", distance=11)))
    assert not fires(p, facts(hash_signal("other", bank="bank-c", label="entry-2")))
    assert not fires(p, facts(hash_signal("other", bank="bank-b", label="entry-3")))
    assert not fires(p, facts(hash_signal("other", bank="bank-b", label="entry-2", hash_type="md5")))
    assert not fires(p, facts(hash_signal("test", bank="bank-b", label="entry-2")))


def test_provenance_trace_state_and_generator_names():
    assert fires(one_rule("{provenance: {ai_generated: true}}"), facts(ai_signal("watermark")))
    assert not fires(one_rule("{provenance: {ai_generated: true}}"), facts(gen_signal()))
    wm = one_rule("{provenance: {trace: watermark}}")
    assert fires(wm, facts(ai_signal("watermark"))) and not fires(wm, facts(ai_signal("metadata")))
    c2 = one_rule("{provenance: {c2pa_state: [Trusted, Valid]}}")
    assert fires(c2, facts(ai_signal("c2pa", state="Valid")))
    assert not fires(c2, facts(ai_signal("c2pa", state="Invalid")))
    gen = one_rule("{provenance: {generator: ['comfy*', NovelAI]}}")
    assert fires(gen, facts(gen_signal("ComfyUI")))
    assert fires(gen, facts(gen_signal("novelai")))
    assert not fires(gen, facts(gen_signal("InvokeAI")))
    both = one_rule("{provenance: {ai_generated: true, generator: comfy*}}")
    assert not fires(both, facts(gen_signal("ComfyUI")))
    v = both.evaluate(facts(gen_signal("ComfyUI"), ai_signal("metadata")))
    assert [s["category"] for s in v.reasons[0].signals] == ["ai_generated", "generator"]


def test_text_level_is_at_least_and_text_score_a_minimum():
    p = one_rule("{text_level: medium}")
    assert [fires(p, facts(text_level=lv)) for lv in ("none", "low", "medium", "high", "critical")] == [
        False, False, True, True, True]
    s = one_rule("{text_score: 0.5}")
    assert fires(s, facts(text_score=0.5)) and not fires(s, facts(text_score=0.49))


def test_text_combination_cites_the_signals_of_its_categories():
    p = one_rule("{text_combination: [minor_and_sexual, coded_term]}")
    f = facts(text_signal("minor"), text_signal("sexual", span=(12, 20)), text_signal("contact", span=(30, 40)),
              text_combinations=("minor_and_sexual",), text_level="high")
    v = p.evaluate(f)
    assert [s["category"] for s in v.reasons[0].signals] == ["text_combination", "minor", "sexual"]
    assert not fires(p, facts(text_combinations=("sexual_trade_contact",)))


def test_price_kind_media_count_and_account():
    price = one_rule("{price: {tier: [VIP, gold], currency: usd, min_amount: 5, max_amount: 50}}")
    assert fires(price, facts(price=PriceFacts(10.0, "USD", "vip")))
    assert not fires(price, facts(price=PriceFacts(60.0, "USD", "vip")))
    assert not fires(price, facts(price=PriceFacts(10.0, "EUR", "vip")))
    assert not fires(price, facts(price=PriceFacts(10.0, "USD", None)))
    assert not fires(price, facts())
    assert fires(one_rule("{price: {present: false}}"), facts())
    assert fires(one_rule("{price: {has_tier: true}}"), facts(price=PriceFacts(tier="x")))
    assert not fires(one_rule("{price: {has_tier: true}}"), facts(price=PriceFacts(amount=3.0)))
    assert fires(one_rule("{kind: [message, comment]}"), facts(kind="message"))
    assert not fires(one_rule("{kind: [message, comment]}"), facts(kind="post"))
    mc = one_rule("{media_count: {min: 2, max: 3}}")
    assert [fires(mc, facts(media_count=n)) for n in (1, 2, 3, 4)] == [False, True, True, False]
    acc = one_rule("{account: {risk: {min: 0.5}, age_days: {max: 30}, items: {max: 10}}}")
    assert fires(acc, facts(account=AccountFacts(id="a", age_days=3.0, items=2, risk=0.6)))
    assert not fires(acc, facts(account=AccountFacts(id="a", age_days=None, items=2, risk=0.6)))  # age unknown
    assert not fires(acc, facts(account=AccountFacts(id="a", age_days=3.0, items=20, risk=0.6)))
    assert not fires(acc, facts())
    assert fires(one_rule("{account: {known: false}}"), facts())


def test_all_any_not_and_implicit_all_of_several_keys():
    p = one_rule("{all: [{kind: post}, {any: [{text_level: high}, {hash_match: {bank_category: other}}]}, "
                 "{not: {price: {present: true}}}]}")
    assert fires(p, facts(text_level="high"))
    assert fires(p, facts(hash_signal("other")))
    assert not fires(p, facts(text_level="high", price=PriceFacts(1.0)))
    assert not fires(p, facts(text_level="high", kind="comment"))
    implicit = one_rule("{kind: post, text_level: high}")
    assert fires(implicit, facts(text_level="high")) and not fires(implicit, facts(text_level="high", kind="profile"))


def test_any_cites_every_branch_that_held():
    p = one_rule("{any: [{hash_match: {bank_category: other}}, {text_level: high}]}")
    v = p.evaluate(facts(hash_signal("other"), text_level="high"))
    assert [s["source"] for s in v.reasons[0].signals] == ["hash", "item"]


def test_strongest_action_wins_and_actions_are_ordered_and_deduplicated():
    p = policy("""
        rules:
          - name: a
            when: {kind: post}
            actions: [preserve, label]
            priority: 10
          - name: b
            when: {media_count: {min: 1}}
            actions: [review, preserve, suspend_account]
            priority: 60
          - name: c
            when: {media_count: {min: 5}}
            actions: [allow]
    """)
    v = p.evaluate(facts(media_count=1))
    assert v.action == "review" and v.actions == ("label", "review", "suspend_account", "preserve")
    assert v.priority == 60 and v.rules == ("b", "a")  # by priority
    only_side = policy("rules:\n  - {name: s, when: {kind: post}, actions: [preserve], priority: 5}\n")
    v = only_side.evaluate(facts())
    assert v.action == "allow" and v.actions == ("allow", "preserve")


def test_disabled_rules_do_not_fire_and_version_follows_the_content():
    a = one_rule("{kind: post}")
    b = policy("rules:\n  - {name: r, when: {kind: post}, actions: [review], enabled: false}\n")
    assert b.evaluate(facts()).action == "allow" and a.evaluate(facts()).action == "review"
    assert a.version != b.version and a.version == one_rule("{kind: post}").version


def test_evaluate_is_pure():
    p = one_rule("{text_level: high}")
    f = facts(text_signal("minor"), text_level="high")
    before = json.dumps(f.to_dict(), sort_keys=True)
    assert p.evaluate(f) == p.evaluate(f)
    assert json.dumps(f.to_dict(), sort_keys=True) == before


# --- validation: every mistake with its file and line -----------------------------------------------


def problems(yaml_text: str) -> list[tuple[str, int, str]]:
    with pytest.raises(InvalidPolicy) as exc:
        policy(yaml_text)
    assert isinstance(exc.value, ProblemList) and isinstance(exc.value, ConfigError)
    return exc.value.problems


def assert_problem(yaml_text: str, line: int, *words: str) -> None:
    found = problems(yaml_text)
    hits = [p for p in found if p[1] == line and all(w in p[2] for w in words)]
    assert hits, f"no problem on line {line} with {words}: {found}"
    assert all(p[0] == "p.yaml" for p in found)


RULE = "rules:\n  - name: r\n    when: {kind: post}\n    actions: [review]\n"


def test_valid_base_rule():
    assert policy(RULE).rules[0].name == "r"


@pytest.mark.parametrize("text,line,words", [
    (RULE + "    prority: 5\n", 5, ("unknown key 'prority'", "did you mean 'priority'")),
    ("version: 1\nrulez: []\n", 2, ("unknown key 'rulez'",)),
    (RULE.replace("[review]", "[review, ban]"), 4, ("unknown action 'ban'",)),
    (RULE.replace("{kind: post}", "{text_level: severe}"), 3, ("unknown text level 'severe'",)),
    (RULE.replace("{kind: post}", "{text_level: none}"), 3, ("would hold for every item",)),
    (RULE.replace("{kind: post}", "{signal: {source: text, category: nudity}}"), 3, ("unknown category 'nudity'",)),
    (RULE.replace("{kind: post}", "{signal: {source: hash, category: minor}}"), 3, ("unknown category 'minor'",)),
    (RULE.replace("{kind: post}", "{signal: {source: vision}}"), 3, ("unknown source 'vision'",)),
    (RULE.replace("{kind: post}", "{classifier: {Nudity: {min: 0.5}}}"), 3, ("score name 'Nudity'",)),
    (RULE.replace("{kind: post}", "{classifier: {nudity: 0.5}}"), 3, ("expected a mapping",)),
    (RULE.replace("{kind: post}", "{classifier: {}}"), 3, ("empty condition",)),
    (RULE.replace("{kind: post}", "{hash_match: {bank_category: partner}}"), 3, ("unknown bank category 'partner'",)),
    (RULE.replace("{kind: post}", "{hash_match: {bank_category: known-benign}}"), 3, ("never count",)),
    (RULE.replace("{kind: post}", "{kind: story}"), 3, ("unknown item kind 'story'",)),
    (RULE.replace("{kind: post}", "{provenance: {trace: exif}}"), 3, ("unknown trace 'exif'",)),
    (RULE + "    priority: high\n", 5, ("priority", "expected a whole number")),
    (RULE + "    priority: 101\n", 5, ("out of range",)),
    (RULE.replace("{kind: post}", "{media_count: {min: two}}"), 3, ("expected a whole number",)),
    (RULE.replace("{kind: post}", "{media_count: 2}"), 3, ("expected a mapping",)),
    (RULE.replace("{kind: post}", "{account: {risk: {min: 2}}}"), 3, ("out of range",)),
    (RULE.replace("{kind: post}", "{provenance: {ai_generated: false}}"), 3, ("proves nothing",)),
    (RULE.replace("{kind: post}", "{}"), 3, ("empty condition",)),
    (RULE.replace("when: {kind: post}", "when:"), 3, ("empty condition",)),
    (RULE.replace("{kind: post}", "{any: []}"), 3, ("empty list of conditions",)),
    (RULE.replace("{kind: post}", "{signal: {}}"), 3, ("empty condition",)),
    (RULE.replace("{kind: post}", "{account: {}}"), 3, ("empty condition",)),
    (RULE.replace("{kind: post}", "{not: {}}"), 3, ("empty condition",)),
    (RULE.replace("{kind: post}", "{signal: {field: title}}"), 3, ("give a source or a category",)),
    (RULE.replace("    when: {kind: post}\n", ""), 2, ("missing 'when'",)),
    (RULE.replace("    actions: [review]\n", ""), 2, ("needs 'actions'",)),
    (RULE.replace("name: r", "name: Bad Name"), 2, ("must be lower-case",)),
    ("rules:\n  - name: r\n    when:\n      kind: post\n      kind: comment\n    actions: [review]\n", 5,
     ("duplicate key 'kind'", "first on line 4")),
    ("version: 2\n" + RULE, 1, ("unsupported version 2",)),
    ("rules: []\n", 1, ("at least one rule",)),
    ("", 1, ("empty",)),
    ("rules:\n  - name: r\n    when: {kind: post\n", 4, ("not valid YAML",)),
    ("- just\n- a list\n", 1, ("expected a mapping",)),
])
def test_each_kind_of_mistake_names_its_line(text, line, words):
    assert_problem(text, line, *words)


def test_every_indicator_category_of_the_lexicons_is_usable_in_rules():
    from bastion.text.lexicon import KNOWN_CATEGORIES

    for category in sorted(KNOWN_CATEGORIES - {"benign", "vocab"}):
        p = one_rule(f"{{signal: {{source: text, category: {category}}}}}")
        assert fires(p, facts(text_signal(category)))
    assert_problem(RULE.replace("{kind: post}", "{signal: {category: benign}}"), 3, "unknown category 'benign'")


def test_duplicate_rule_names_name_both_lines():
    text = RULE + "  - name: r\n    when: {kind: comment}\n    actions: [label]\n"
    assert_problem(text, 5, "duplicate rule name", "first defined on line 2")


def test_every_problem_is_listed_at_once_in_line_order():
    text = textwrap.dedent("""\
        rules:
          - name: a
            when: {text_level: hgh}
            actions: [review, delete]
          - name: b
            when: {signal: {source: txt}}
            actions: [label]
            priorty: 3
    """)
    found = problems(text)
    assert [p[1] for p in found] == [3, 4, 6, 8]
    assert "did you mean 'high'" in found[0][2] and "did you mean 'text'" in found[2][2]
    with pytest.raises(InvalidPolicy) as exc:
        policy(text)
    assert "p.yaml:3: rule 'a'.when.text_level" in str(exc.value)


def test_unknown_text_combination_is_a_warning_not_an_error():
    p = one_rule("{text_combination: not_defined_yet}")
    assert p.warnings and p.warnings[0][1] == 3 and "not_defined_yet" in p.warnings[0][2]
    assert not fires(p, facts(text_combinations=("minor_and_sexual",)))


def test_load_policy_reads_a_file_and_refuses_a_missing_one(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(RULE)
    assert load_policy(path).path == str(path)
    path.write_text(RULE.replace("[review]", "[ban]"))
    with pytest.raises(InvalidPolicy) as exc:
        load_policy(path)
    assert exc.value.problems[0][:2] == (str(path), 4)
    with pytest.raises(PolicyUnreadable):
        load_policy(tmp_path / "missing.yaml")


# --- facts round trip ------------------------------------------------------------------------------


def test_facts_round_trip_through_json():
    f = facts(hash_signal("csam", media=1), text_signal("minor", field="prompt"), ai_signal("c2pa", state="Valid"),
              gen_signal(), kind="comment", text_level="high", text_score=0.75,
              text_combinations=("minor_and_sexual",), price=PriceFacts(9.5, "EUR", "gold"), media_count=2,
              account=AccountFacts(id="acc-1", age_days=3.5, items=12, prior_confirmed=1, risk=0.2, linked_flagged=3))
    d = json.loads(json.dumps(f.to_dict()))
    assert Facts.from_dict(d) == f
    assert Facts.from_dict(Facts(item_id="x").to_dict()) == Facts(item_id="x")


@pytest.mark.parametrize("bad,words", [
    ({"kind": "post"}, "missing 'item_id'"),
    ({"item_id": "x", "colour": "red"}, "unknown key"),
    ({"item_id": "x", "kind": "story"}, "facts.kind"),
    ({"item_id": "x", "text_level": "severe"}, "facts.text_level"),
    ({"item_id": "x", "signals": [{"source": "text"}]}, "facts.signals[0].category"),
    ({"item_id": "x", "signals": [{"source": "text", "category": "minor", "span": [1]}]}, "span"),
    ({"item_id": "x", "media_count": -1}, "media_count"),
    ({"item_id": "x", "account": {"items": 3}}, "missing 'id'"),
    ({"item_id": "x", "price": {"amount": "ten"}}, "facts.price.amount"),
])
def test_facts_from_dict_names_what_is_wrong(bad, words):
    with pytest.raises(InvalidFacts, match=words.replace("[", r"\[").replace("]", r"\]")):
        Facts.from_dict(bad)


# --- property: any facts survive the JSON round trip -------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bastion.model import Signal  # noqa: E402

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | _names,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3), max_leaves=6)
_signals = st.builds(
    Signal, source=st.sampled_from(["text", "hash", "provenance"]), category=_names,
    weight=st.floats(0, 1), term=st.none() | _names, normalized=st.none() | _names,
    span=st.none() | st.tuples(st.integers(0, 500), st.integers(0, 500)), language=st.none() | _names,
    field=st.none() | st.sampled_from(["title", "body", "tag", "prompt"]),
    evidence=st.dictionaries(_names, _json, max_size=4))
_facts = st.builds(
    Facts, item_id=_names, kind=st.sampled_from(["post", "comment", "message", "profile"]),
    signals=st.lists(_signals, max_size=5).map(tuple),
    text_level=st.sampled_from(["none", "low", "medium", "high", "critical"]), text_score=st.floats(0, 1),
    text_combinations=st.lists(_names, max_size=3).map(tuple),
    price=st.none() | st.builds(PriceFacts, amount=st.none() | st.floats(0, 1e6), currency=st.none() | _names,
                                tier=st.none() | _names),
    media_count=st.integers(0, 50),
    account=st.none() | st.builds(AccountFacts, id=_names, age_days=st.none() | st.floats(0, 1e4),
                                  items=st.integers(0, 10**6), prior_confirmed=st.integers(0, 100),
                                  risk=st.floats(0, 1), linked_flagged=st.integers(0, 100)))


@settings(max_examples=150, deadline=None)
@given(_facts)
def test_any_facts_round_trip_through_json(f):
    assert Facts.from_dict(json.loads(json.dumps(f.to_dict()))) == f
