"""Signals and item-level score: combinations from configuration, fields, negative prompts, explanations."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

from bastion.model import Signal
from bastion.text import FIELDS, analyze, analyze_item, default_scoring_config, load_scoring_config
from bastion.text.errors import InvalidLexicon, InvalidText, UnknownField
from bastion.text.score import ScoringConfig, score_signals


def sig(category: str, weight: float = 0.8, field: str = "body") -> Signal:
    return Signal("text", category, weight, term=category, field=field)


@pytest.mark.parametrize(
    ("categories", "level"),
    [
        ([], "none"),
        (["minor"], "none"),
        (["sexual"], "low"),
        (["trade"], "none"),
        (["minor", "sexual"], "high"),
        (["minor", "sexual", "trade"], "critical"),
        (["minor", "sexual", "contact"], "critical"),
        (["minor", "sexual", "payment"], "critical"),
        (["coded"], "high"),
        (["coded", "trade"], "critical"),
        (["minor", "trade", "contact"], "medium"),
    ],
)
def test_default_combinations(categories: list[str], level: str) -> None:
    res = score_signals([sig(c) for c in categories], default_scoring_config())
    assert res.level == level


def test_weak_signals_do_not_complete_a_combination() -> None:
    # Creator-payment pages (weight 0.3) stay below min_strength: an artist's ko-fi link is not trade.
    res = score_signals([sig("minor"), sig("sexual"), sig("payment", 0.3)], default_scoring_config())
    assert res.level == "high" and "minor_sexual_and_commerce" not in res.fired


def test_several_weak_signals_add_up() -> None:
    cfg = default_scoring_config()
    one = score_signals([sig("minor"), sig("sexual", 0.3)], cfg)
    two = score_signals([sig("minor"), sig("sexual", 0.3), sig("sexual", 0.3)], cfg)
    assert one.level != "high" and two.level == "high"  # noisy-or: 1 - 0.7 * 0.7 = 0.51


def test_scoring_is_configuration_not_code(tmp_path: Path) -> None:
    shipped = resources.files("bastion.text").joinpath("lexicons", "scoring.yaml")
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["combinations"].append({"name": "trade_alone_is_medium", "all": ["trade"], "score": 0.5, "reason": "test rule"})
    p = tmp_path / "scoring.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    cfg = load_scoring_config(p)
    res = analyze("selling prints", config=cfg)
    assert res.level == "medium"
    assert res.reasons[0].startswith("trade_alone_is_medium: test rule")
    assert analyze("selling prints").level == "none"


def test_invalid_scoring_config_lists_problems(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"field_weights": {"body": 2}, "levels": {"low": 0.5, "medium": 0.2, "high": 0.7,
                                                                           "critical": 0.9}, "surprise": 1}))
    with pytest.raises(InvalidLexicon) as exc:
        load_scoring_config(p)
    msg = str(exc.value)
    assert "field_weights" in msg and "levels" in msg and "surprise" in msg


def test_item_score_combines_fields() -> None:
    res = analyze_item([("title", "preteen portrait"), ("tag", "#nsfw"), ("comment", "dm me")])
    assert res.level == "critical"
    assert {s.field for s in res.signals} == {"title", "tag", "comment"}
    assert [s.evidence["text_index"] for s in res.signals] == [0, 1, 2]
    assert "minor_sexual_and_commerce" in res.combinations


def test_negative_prompt_hits_are_reported_but_never_count() -> None:
    res = analyze_item([("prompt", "a watercolor landscape"), ("negative_prompt", "child, nsfw, nude, 12yo")])
    assert res.level == "none" and res.score == 0.0
    assert {s.category for s in res.signals} == {"minor", "sexual"}
    assert all(s.field == "negative_prompt" and s.evidence["counted"] is False for s in res.signals)
    assert res.categories == set()
    assert any("not counted toward intent" in r for r in res.reasons)
    # The same words in the prompt do count.
    assert analyze_item([("prompt", "child, nsfw")]).level == "high"


def test_negative_prompt_does_not_supply_context_for_needs_terms() -> None:
    res = analyze_item([("tag", "cp"), ("negative_prompt", "nsfw")])
    assert res.level == "none"
    assert any(s.term == "cp" for s in res.suppressed)


def test_reasons_explain_which_combination_fired_with_evidence() -> None:
    res = analyze("12yo nsfw dm for price")
    assert res.level == "critical"
    assert res.reasons[0].startswith("minor_sexual_and_commerce:")
    assert "'12yo'" in res.reasons[0] and "'nsfw'" in res.reasons[0]


def test_signals_carry_the_shared_vocabulary() -> None:
    text = "Ｎ.Ｓ.Ｆ.Ｗ 12yo"
    res = analyze(text, "title")
    assert res.signals
    for s in res.signals:
        assert s.source == "text" and s.field == "title" and s.span is not None
        assert s.category in {"minor", "sexual"}
        assert s.normalized and s.term and s.language == "en"
        assert text[s.span[0] : s.span[1]] == s.evidence["matched"]
    sexual = next(s for s in res.signals if s.category == "sexual")
    # `normalized` is what was written, folded (width, case): readable, never the internal match view
    assert sexual.span == (0, 7) and sexual.normalized == "n.s.f.w"
    little = analyze("L1ttle g1rl", "title").signals[0]
    assert little.term == "little girl" and little.normalized == "l1ttle g1rl"  # not "itie giri"


def test_to_dict_is_json_serialisable() -> None:
    res = analyze_item([("body", "kid-friendly page"), ("tag", "#nsfw"), ("message", "t.me/abc_chan 12yo")])
    d = json.loads(json.dumps(res.to_dict()))
    assert d["level"] == res.level and len(d["signals"]) == len(res.signals)
    assert d["suppressed"][0]["evidence"]["suppressed"].startswith("benign context")


def test_every_field_is_accepted_and_unknown_fields_are_typed_errors() -> None:
    for f in FIELDS:
        assert analyze("a red cube", f).level == "none"
    with pytest.raises(UnknownField):
        analyze("a red cube", "caption")
    with pytest.raises(InvalidText):
        analyze(b"a red cube")  # type: ignore[arg-type]


def test_empty_and_whitespace_texts() -> None:
    for t in ("", "   ", "\u200b\u200b", "\n\n"):
        res = analyze(t)
        assert res.level == "none" and res.signals == []


def test_long_text_keeps_offsets() -> None:
    text = "a red cube. " * 2000 + "preteen nsfw"
    res = analyze(text)
    assert res.level == "high"
    assert {text[s.span[0] : s.span[1]] for s in res.signals} == {"preteen", "nsfw"}


def test_config_object_is_typed() -> None:
    assert isinstance(default_scoring_config(), ScoringConfig)
    assert default_scoring_config().field_weights["negative_prompt"] == 0.0


def _config_with_weights(weights: dict) -> dict:
    import copy

    data = copy.deepcopy(default_scoring_config().model_dump(mode="json"))
    data["field_weights"] = weights
    return data


def test_scoring_config_field_names_are_validated(tmp_path: Path) -> None:
    """Issue 12: a misspelt field used to be ignored (the real field then weighed 1.0)."""
    base = dict(default_scoring_config().field_weights)
    misspelt = {k: v for k, v in base.items() if k != "negative_prompt"} | {"negative_promt": 0.0}
    for weights, words in ((misspelt, "negative_promt"), ({"body": 1.0}, "missing"),
                           (base | {"negative_prompt": 0.5}, "never counts")):
        p = tmp_path / "s.yaml"
        p.write_text(yaml.safe_dump(_config_with_weights(weights)), encoding="utf-8")
        with pytest.raises(InvalidLexicon, match=words):
            load_scoring_config(p)


def test_a_negative_prompt_never_counts_whatever_the_configuration() -> None:
    from bastion.model import Signal
    from bastion.text.score import ScoringConfig, score_signals

    cfg = default_scoring_config()
    # a config built around the validator (model_construct) still cannot make it count
    forced = ScoringConfig.model_construct(**{**dict(cfg), "field_weights": {**cfg.field_weights, "negative_prompt": 1.0}})
    signal = Signal(source="text", category="trade", weight=0.9, field="negative_prompt")
    assert score_signals([signal], forced).score == 0.0
    text_only_negative = analyze_item([("negative_prompt", "selling prints"), ("body", "a landscape")], config=forced)
    assert text_only_negative.score == 0.0


def test_score_knows_the_same_fields_as_analyze() -> None:
    from bastion.text.analyze import FIELDS
    from bastion.text.score import TEXT_FIELDS

    assert TEXT_FIELDS == FIELDS
