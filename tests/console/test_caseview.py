"""The case page's view model: spans highlighted and escaped, prompts kept apart, facts shown."""

from __future__ import annotations

from bastion.console.caseview import case_view, highlight_spans, highlight_terms


def test_spans_are_highlighted_and_everything_is_escaped():
    text = "<b>sell</b> & contact @x"
    html = highlight_spans(text, [(3, 7, "trade"), (22, 24, "contact <rule>")])
    assert html == ('&lt;b&gt;<mark title="trade">sell</mark>&lt;/b&gt; &amp; contact '
                    '<mark title="contact &lt;rule&gt;">@x</mark>')


def test_overlapping_and_out_of_range_spans_are_merged_or_ignored():
    html = highlight_spans("abcdefgh", [(1, 4, "a"), (3, 6, "b"), (20, 30, "c"), (5, 2, "d"), (-3, 1, "e")])
    assert html == '<mark title="e, a, b">abcdef</mark>gh'  # touching spans merge too
    assert highlight_spans("", [(0, 1, "x")]) == ""
    assert highlight_spans("abc", [("0", "1", "x")]) == "abc"  # spans must be integers


def test_terms_highlight_case_insensitively_and_escape():
    assert highlight_terms("A <Lighthouse> at dusk", ["lighthouse"], "p") == 'A &lt;<mark title="p">Lighthouse</mark>&gt; at dusk'


def test_case_view_keeps_positive_and_negative_prompts_apart_and_reads_facts():
    case = {"id": 4, "items": [{
        "item_id": "post-1", "kind": "post", "title": "Weekend", "body": "selling now", "tags": ["set", "other"],
        "parent_id": "post-0", "price": {"amount": 3, "currency": "USD"},
        "verdict": {"action": "review", "reasons": [{"rule": "r1", "description": "d", "actions": ["review"],
                                                      "priority": 50}]},
        "signals": [
            {"source": "text", "category": "trade", "term": "selling", "span": [0, 7], "field": "body",
             "evidence": {"rule": "lexicon:x"}},
            {"source": "text", "category": "trade", "term": "set", "normalized": "set", "field": "tag"},
            {"source": "text", "category": "prompt_term", "term": "lighthouse", "field": "prompt"},
        ],
        "media": [{"sha256": "a" * 64, "width": 1000, "height": 500, "held": True,
                   "matches": [{"bank": "b", "label": "l", "distance": 3, "hash_type": "pdq"}],
                   "provenance": {"provenances": [{"generator": "A1111", "model": "m", "ai_generated": True,
                                                   "evidence": "generation parameters",
                                                   "positive_prompts": ["a lighthouse <at> dusk"],
                                                   "negative_prompts": ["blurry"]}],
                                  "c2pa": {"state": "Valid", "ai_generated": True, "ai_evidence": "trainedAlgorithmicMedia",
                                           "actions": [{"x": 1}]},
                                  "watermark": {"checked": True, "found": False, "hits": []}}}],
    }]}
    v = case_view(case)["items"][0]
    assert v["external_id"] == "post-1" and v["parent"] == "post-0" and v["action"] == "review"
    assert v["body_html"] == '<mark title="trade (lexicon:x)">selling</mark> now'
    assert [t["hit"] for t in v["tags"]] == [True, False]
    m = v["media"][0]
    assert (m["box_w"], m["box_h"]) == (480, 240)
    assert m["matches"][0]["bank"] == "b"
    p = m["provenance"]
    assert p["positive"] == ['a <mark title="prompt signal">lighthouse</mark> &lt;at&gt; dusk']
    assert p["negative"] == ["blurry"]  # never highlighted, never mixed with what was asked for
    assert p["generators"] == ["A1111 · model m"]
    assert {t["trace"] for t in p["traces"]} == {"metadata", "c2pa"}
    assert p["c2pa"] == {"state": "Valid", "ai_generated": True, "ai_evidence": "trainedAlgorithmicMedia"}
    assert p["watermark"] == {"checked": True, "found": False}
    assert v["reasons"][0]["rule"] == "r1"
    assert [t["matched"] for t in v["text_signals"]] == ["selling", None, None]
