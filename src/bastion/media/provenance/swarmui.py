"""SwarmUI (StableSwarmUI): ``parameters`` JSON with a ``sui_image_params`` object, in PNG text or EXIF
UserComment. Keys are lower-case run-together names (``negativeprompt``, ``cfgscale``)."""

from __future__ import annotations

import json
from typing import Any

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str


def parse(meta: RawMetadata) -> ParseResult:
    notes: list[str] = []
    for f in meta.fields:
        if f.key not in ("parameters", "UserComment") or "sui_image_params" not in f.value:
            continue
        where = f"{f.location}[{f.key}]" if f.location.startswith("png") else f.location
        try:
            d = json.loads(f.value)
        except ValueError as exc:
            notes.append(f"swarmui: {where} is not valid JSON ({str(exc)[:60]})")
            return Provenance(family="swarmui", generator="SwarmUI", ai_generated=False,
                              evidence="SwarmUI metadata key present but unreadable"), notes
        params = d.get("sui_image_params") if isinstance(d, dict) else None
        if not isinstance(params, dict):
            notes.append(f"swarmui: {where} has no sui_image_params object")
            continue
        return parse_params(params, d.get("sui_extra_data"), where), notes
    return None, notes


def parse_params(p: dict[str, Any], extra: Any, where: str) -> Provenance:
    prov = Provenance(family="swarmui", generator="SwarmUI", version=to_str(p.get("swarm_version")),
                      evidence="SwarmUI generation metadata")
    add_prompt(prov.positive_prompts, p.get("prompt"))
    add_prompt(prov.negative_prompts, p.get("negativeprompt"))
    prov.model = to_str(p.get("model"))
    prov.seed, prov.steps = to_int(p.get("seed")), to_int(p.get("steps"))
    prov.cfg = to_float(p.get("cfgscale"))
    prov.sampler, prov.scheduler = to_str(p.get("sampler")), to_str(p.get("scheduler"))
    prov.width, prov.height = to_int(p.get("width")), to_int(p.get("height"))
    names, weights = p.get("loras") or [], p.get("loraweights") or []
    if isinstance(names, list):
        for i, name in enumerate(names):
            if isinstance(name, str):
                w = weights[i] if isinstance(weights, list) and i < len(weights) else None
                prov.loras.append(LoraRef(name=name, weight=to_float(w)))
    prov.sources["parameters"] = where
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
    if isinstance(extra, dict):
        prov.extra = {k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool))}
    return prov
