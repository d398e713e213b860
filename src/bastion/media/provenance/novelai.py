"""NovelAI: PNG text ``Software: NovelAI``, ``Source`` (model), ``Description`` (prompt) and ``Comment`` JSON
with the full parameters; the same keys can also arrive as JSON hidden in the alpha channel (see
:mod:`stealth`). V4 models put the prompt in ``v4_prompt.caption`` (a base caption plus per-character
captions) and the negative in ``v4_negative_prompt``; we read both shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import ParseResult, Provenance, add_prompt, to_float, to_int, to_str


def parse(meta: RawMetadata) -> ParseResult:
    software = meta.get("Software")
    comment = meta.get("Comment")
    is_nai = software is not None and "novelai" in software.value.lower()
    if not is_nai and not (comment is not None and '"uc"' in comment.value and meta.get("Source") is not None):
        return None, []
    fields = {f.key: f.value for f in meta.fields if f.location.startswith("png")}
    where = comment.location if comment else (software.location if software else "png")
    return parse_fields(fields, where)


def parse_fields(fields: Mapping[str, str], where: str) -> ParseResult:
    """Parse NovelAI's key/value set (PNG text chunks, or the stealth JSON object)."""
    notes: list[str] = []
    prov = Provenance(family="novelai", generator="NovelAI", evidence="NovelAI generation metadata")
    prov.model = to_str(fields.get("Source"))
    comment: dict[str, Any] = {}
    raw_comment = fields.get("Comment")
    if isinstance(raw_comment, dict):
        comment = raw_comment
    elif isinstance(raw_comment, str):
        try:
            loaded = json.loads(raw_comment)
            comment = loaded if isinstance(loaded, dict) else {}
            if not isinstance(loaded, dict):
                notes.append(f"novelai: {where}[Comment] is JSON but not an object")
        except ValueError as exc:
            notes.append(f"novelai: {where}[Comment] is not valid JSON ({str(exc)[:60]})")
    positive = comment.get("prompt")
    v4 = comment.get("v4_prompt")
    if isinstance(v4, dict):
        cap = v4.get("caption") or {}
        if isinstance(cap, dict):
            add_prompt(prov.positive_prompts, cap.get("base_caption"))
            for ch in cap.get("char_captions") or []:
                if isinstance(ch, dict):
                    add_prompt(prov.positive_prompts, ch.get("char_caption"))
    add_prompt(prov.positive_prompts, positive)
    if not prov.positive_prompts:
        add_prompt(prov.positive_prompts, fields.get("Description"))
    v4n = comment.get("v4_negative_prompt")
    if isinstance(v4n, dict) and isinstance(v4n.get("caption"), dict):
        add_prompt(prov.negative_prompts, v4n["caption"].get("base_caption"))
        for ch in v4n["caption"].get("char_captions") or []:
            if isinstance(ch, dict):
                add_prompt(prov.negative_prompts, ch.get("char_caption"))
    add_prompt(prov.negative_prompts, comment.get("uc"))
    prov.steps = to_int(comment.get("steps"))
    prov.seed = to_int(comment.get("seed"))
    prov.cfg = to_float(comment.get("scale"))
    prov.sampler = to_str(comment.get("sampler"))
    prov.scheduler = to_str(comment.get("noise_schedule"))
    prov.width, prov.height = to_int(comment.get("width")), to_int(comment.get("height"))
    prov.version = to_str(comment.get("version")) if "version" in comment else None
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = f"{where}[Comment]" if (positive or v4) else f"{where}[Description]"
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = f"{where}[Comment]"
    if comment:
        prov.sources["parameters"] = f"{where}[Comment]"
    known = {"prompt", "uc", "steps", "seed", "scale", "sampler", "noise_schedule", "width", "height",
             "v4_prompt", "v4_negative_prompt", "version"}
    prov.extra = {k: v for k, v in comment.items() if k not in known and isinstance(v, (str, int, float, bool))}
    return prov, notes
