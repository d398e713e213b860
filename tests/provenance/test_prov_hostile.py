"""Hostile or nonsensical JSON under every generator's keys gives notes or partial records, never an exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from prov_builders import gradient, png_with_text

from bastion.media.provenance import ProvenanceSettings, inspect_bytes

META_ONLY = ProvenanceSettings(watermark=False, stealth=False)
TINY = gradient(8, 8)
KEYS = ["prompt", "workflow", "parameters", "invokeai_metadata", "sd-metadata", "Comment", "Dream"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=20))
links = st.lists(st.one_of(st.text(max_size=3), st.integers(-2, 20)), min_size=2, max_size=2)
json_values = st.recursive(st.one_of(scalars, links),
                           lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                   st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                           max_leaves=40)
node = st.fixed_dictionaries({"class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "CFGGuider",
                                                             "SamplerCustomAdvanced", "ConditioningCombine",
                                                             "LoraLoader", "EmptyLatentImage", "Text Multiline",
                                                             "ControlNetApplyAdvanced", "Unknown"]),
                              "inputs": st.dictionaries(st.sampled_from(["text", "positive", "negative", "conditioning",
                                                                         "conditioning_1", "model", "guider", "seed",
                                                                         "latent_image", "samples", "noise", "cfg"]),
                                                        json_values, max_size=6)})
graphs = st.dictionaries(st.sampled_from([str(i) for i in range(12)]), node, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KEYS), json_values)
def test_random_json_under_generator_keys_never_raises(key, value):
    r = inspect_bytes(png_with_text({key: json.dumps(value), "Software": "NovelAI"}, image=TINY), settings=META_ONLY)
    json.dumps(r.to_dict())
    assert all(isinstance(p, str) for p in r.positive_prompts())


@settings(max_examples=80, deadline=None)
@given(graphs)
def test_random_comfyui_graphs_never_raise_and_prompts_are_strings_from_the_graph(graph):
    text = json.dumps(graph)
    r = inspect_bytes(png_with_text({"prompt": text}, image=TINY), settings=META_ONLY)
    assert not any("parser failed" in n for n in r.notes), r.notes
    for prompt in r.positive_prompts() + r.negative_prompts():
        assert isinstance(prompt, str)
        # every prompt is (a join of) strings present in the graph, never invented
        assert all(part in text or json.dumps(part)[1:-1] in text for part in prompt.split(" ") if part)
