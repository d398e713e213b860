"""Fooocus: ``parameters`` JSON with ``"metadata_scheme": "fooocus"`` in PNG, or the same JSON in EXIF
UserComment for JPEG/WebP. (Fooocus can also write A1111-style infotext; :mod:`a1111` reads that and names
the generator from its ``Version: Fooocus ...``.) ``full_prompt`` / ``full_negative_prompt`` hold the
prompts after style expansion, which is what the model actually saw, so we record both forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

_RES = re.compile(r"\(?\s*(\d+)\s*[,x×]\s*(\d+)\s*\)?")


def parse(meta: RawMetadata) -> ParseResult:
    for f in meta.fields:
        if f.key not in ("parameters", "UserComment", "Comment") or not f.value.lstrip().startswith("{"):
            continue
        try:
            d = json.loads(f.value)
        except ValueError:
            continue  # other JSON owners report their own parse errors; this may not be ours
        if not isinstance(d, dict) or not _is_fooocus(d):
            continue
        where = f"{f.location}[{f.key}]" if f.location.startswith("png") else f.location
        return parse_dict(d, where), []
    return None, []


def _is_fooocus(d: dict[str, Any]) -> bool:
    return (str(d.get("metadata_scheme", "")).lower() == "fooocus"
            or "fooocus" in str(d.get("version", "")).lower()
            or ("full_prompt" in d and "performance" in d))


def parse_dict(d: dict[str, Any], where: str) -> Provenance:
    prov = Provenance(family="fooocus", generator="Fooocus", version=to_str(d.get("version")),
                      evidence="Fooocus generation metadata")
    add_prompt(prov.positive_prompts, d.get("prompt"))
    for p in d.get("full_prompt") or []:
        add_prompt(prov.positive_prompts, p)
    add_prompt(prov.negative_prompts, d.get("negative_prompt"))
    for p in d.get("full_negative_prompt") or []:
        add_prompt(prov.negative_prompts, p)
    prov.model = to_str(d.get("base_model"))
    prov.model_hash = to_str(d.get("base_model_hash"))
    prov.seed, prov.steps = to_int(d.get("seed")), to_int(d.get("steps"))
    prov.cfg = to_float(d.get("guidance_scale"))
    prov.sampler, prov.scheduler = to_str(d.get("sampler")), to_str(d.get("scheduler"))
    m = _RES.fullmatch(str(d.get("resolution", "")).strip())
    if m:
        prov.width, prov.height = int(m.group(1)), int(m.group(2))
    for entry in d.get("loras") or []:
        if isinstance(entry, (list, tuple)) and entry and isinstance(entry[0], str):
            prov.loras.append(LoraRef(name=entry[0], weight=to_float(entry[1]) if len(entry) > 1 else None,
                                      hash=to_str(entry[2]) if len(entry) > 2 else None))
    prov.sources["parameters"] = where
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
    prov.extra = {k: d[k] for k in ("styles", "performance", "refiner_model", "sharpness", "adm_guidance")
                  if k in d}
    return prov
