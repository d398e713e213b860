"""Negative prompts are recorded but never count as what an image depicts.

A landscape whose negative prompt excludes a word must not be flagged for that word. The placeholder
below is a clinical anatomical term used only in negative prompts.
"""

from __future__ import annotations

import json

import pytest
from prov_builders import POSITIVE, a1111_infotext, png_with_text

from bastion.media.provenance import ProvenanceSettings, inspect_bytes

EXCLUDED = "torso"
NEG = f"blurry, lowres, {EXCLUDED}"
META_ONLY = ProvenanceSettings(watermark=False, stealth=False)

FIXTURES = {
    "a1111": {"parameters": a1111_infotext(negative=NEG)},
    "comfyui": {"prompt": json.dumps({
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": POSITIVE}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": NEG}},
        "3": {"class_type": "KSampler", "inputs": {"positive": ["1", 0], "negative": ["2", 0], "seed": 3}}})},
    "novelai": {"Software": "NovelAI", "Description": POSITIVE, "Comment": json.dumps({"prompt": POSITIVE, "uc": NEG})},
    "invokeai": {"Dream": f'"{POSITIVE} [{NEG}]" -s 20 -S 1'},
    "invokeai3": {"invokeai_metadata": json.dumps({"positive_prompt": POSITIVE, "negative_prompt": NEG})},
    "fooocus": {"parameters": json.dumps({"metadata_scheme": "fooocus", "prompt": POSITIVE, "negative_prompt": NEG,
                                          "full_negative_prompt": [NEG]})},
    "swarmui": {"parameters": json.dumps({"sui_image_params": {"prompt": POSITIVE, "negativeprompt": NEG}})},
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_negative_prompt_never_counts_as_depiction(name):
    r = inspect_bytes(png_with_text(FIXTURES[name]), settings=META_ONLY)
    assert r.positive_prompts() == [POSITIVE]
    assert any(EXCLUDED in n for n in r.negative_prompts()), "the negative prompt is still recorded"
    prompt_signals = [s for s in r.signals() if s.category == "prompt"]
    assert prompt_signals, "the positive prompt produces a signal"
    for s in r.signals():
        assert EXCLUDED not in json.dumps(s.to_dict())
    assert all(s.evidence["polarity"] == "positive" for s in prompt_signals)
    # ...and it is still visible to a reviewer in the full report.
    assert EXCLUDED in json.dumps(r.to_dict())
