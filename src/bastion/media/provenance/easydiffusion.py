"""Easy Diffusion: one PNG text chunk per parameter (``prompt``, ``negative_prompt``, ``seed``,
``use_stable_diffusion_model``, ``num_inference_steps``, ``guidance_scale``, ``sampler_name``, ``width``,
``height``, ``use_lora_model``), or the same keys as one JSON object in EXIF UserComment / ``parameters``.

Its ``prompt`` key clashes with ComfyUI's; the two are told apart by content (ComfyUI's is a JSON graph).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

_MARKERS = ("use_stable_diffusion_model", "num_inference_steps")


def parse(meta: RawMetadata) -> ParseResult:
    png = {f.key: f for f in meta.fields if f.location.startswith("png")}
    if any(k in png for k in _MARKERS) and "prompt" in png and not png["prompt"].value.lstrip().startswith("{"):
        values = {k: f.value for k, f in png.items()}
        return parse_values(values, f"{png['prompt'].location}"), []
    for f in meta.fields:
        if f.key in ("UserComment", "parameters") and f.value.lstrip().startswith("{") and _MARKERS[0] in f.value:
            try:
                d = json.loads(f.value)
            except ValueError:
                continue
            if isinstance(d, dict):
                return parse_values(d, f"{f.location}[{f.key}]" if f.location.startswith("png") else f.location), []
    return None, []


def parse_values(d: Mapping[str, Any], where: str) -> Provenance:
    prov = Provenance(family="easydiffusion", generator="Easy Diffusion", evidence="Easy Diffusion generation metadata")
    add_prompt(prov.positive_prompts, d.get("prompt"))
    add_prompt(prov.negative_prompts, d.get("negative_prompt"))
    prov.model = to_str(d.get("use_stable_diffusion_model"))
    prov.seed, prov.steps = to_int(d.get("seed")), to_int(d.get("num_inference_steps"))
    prov.cfg = to_float(d.get("guidance_scale"))
    prov.sampler = to_str(d.get("sampler_name"))
    prov.width, prov.height = to_int(d.get("width")), to_int(d.get("height"))
    lora = d.get("use_lora_model")
    for name in (lora if isinstance(lora, list) else [lora]):
        if isinstance(name, str) and name.strip() and name.strip().lower() != "none":
            prov.loras.append(LoraRef(name=name.strip(), weight=to_float(d.get("lora_alpha"))))
    prov.sources["parameters"] = where
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
    return prov
