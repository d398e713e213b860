"""InvokeAI: ``invokeai_metadata`` JSON (3.x and later), ``sd-metadata`` JSON (2.x) and the ``Dream`` command line
(1.x/2.x). In 2.x the negative prompt sits inside the prompt in square brackets (``a lake [blurry]``);
we split it out so exclusions are never read as the subject.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from bastion.media.provenance.raw import RawMetadata, TextField
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def parse(meta: RawMetadata) -> ParseResult:
    notes: list[str] = []
    for key, parser in (("invokeai_metadata", _parse_v3), ("sd-metadata", _parse_v2)):
        f = meta.get(key)
        if f is None:
            continue
        where = f"{f.location}[{key}]"
        try:
            data = json.loads(f.value)
        except ValueError as exc:
            notes.append(f"invokeai: {where} is not valid JSON ({str(exc)[:60]})")
            continue
        if not isinstance(data, dict):
            notes.append(f"invokeai: {where} is JSON but not an object")
            continue
        prov = parser(data, where)
        if meta.get("invokeai_graph") is not None:
            prov.sources["graph"] = f"{meta.get('invokeai_graph').location}[invokeai_graph]"  # type: ignore[union-attr]
        return prov, notes
    dream = meta.get("Dream")
    if dream is not None:
        return _parse_dream(dream), notes
    if notes:
        return Provenance(family="invokeai", generator="InvokeAI", ai_generated=False,
                          evidence="InvokeAI metadata keys present but unreadable"), notes
    return None, notes


def split_bracketed_negative(prompt: str) -> tuple[str, str]:
    """``"a lake [blurry, lowres]"`` -> (``"a lake"``, ``"blurry, lowres"``)."""
    negatives = [m.strip() for m in _BRACKETS.findall(prompt) if m.strip()]
    positive = re.sub(r"\s+", " ", _BRACKETS.sub(" ", prompt)).strip()
    return positive, ", ".join(negatives)


def _model_name(model: Any) -> tuple[str | None, str | None]:
    if isinstance(model, dict):
        return to_str(model.get("name") or model.get("model_name")), to_str(model.get("hash") or model.get("key"))
    return to_str(model), None


def _parse_v3(d: dict[str, Any], where: str) -> Provenance:
    prov = Provenance(family="invokeai", generator="InvokeAI", version=to_str(d.get("app_version")),
                      evidence="InvokeAI generation metadata")
    add_prompt(prov.positive_prompts, d.get("positive_prompt"))
    add_prompt(prov.positive_prompts, d.get("positive_style_prompt"))
    add_prompt(prov.negative_prompts, d.get("negative_prompt"))
    add_prompt(prov.negative_prompts, d.get("negative_style_prompt"))
    prov.model, prov.model_hash = _model_name(d.get("model"))
    prov.seed, prov.steps = to_int(d.get("seed")), to_int(d.get("steps"))
    prov.cfg = to_float(d.get("cfg_scale"))
    prov.scheduler = to_str(d.get("scheduler"))
    prov.width, prov.height = to_int(d.get("width")), to_int(d.get("height"))
    for lora in d.get("loras") or []:
        if isinstance(lora, dict):
            name, h = _model_name(lora.get("model") or lora.get("lora"))
            if name:
                prov.loras.append(LoraRef(name=name, weight=to_float(lora.get("weight")), hash=h))
    _sources(prov, where)
    prov.extra = {k: d[k] for k in ("generation_mode", "rand_device", "cfg_rescale_multiplier") if k in d}
    return prov


def _parse_v2(d: dict[str, Any], where: str) -> Provenance:
    prov = Provenance(family="invokeai", generator="InvokeAI", version=to_str(d.get("app_version")),
                      evidence="InvokeAI generation metadata (sd-metadata)")
    prov.model = to_str(d.get("model_weights"))
    prov.model_hash = to_str(d.get("model_hash"))
    image = d.get("image") if isinstance(d.get("image"), dict) else {}
    prompt = image.get("prompt")
    texts: list[str] = []
    if isinstance(prompt, str):
        texts = [prompt]
    elif isinstance(prompt, list):
        texts = [p.get("prompt") for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt"), str)]
    for text in texts:
        pos, neg = split_bracketed_negative(text)
        add_prompt(prov.positive_prompts, pos)
        add_prompt(prov.negative_prompts, neg)
    prov.seed, prov.steps = to_int(image.get("seed")), to_int(image.get("steps"))
    prov.cfg = to_float(image.get("cfg_scale"))
    prov.sampler = to_str(image.get("sampler"))
    prov.width, prov.height = to_int(image.get("width")), to_int(image.get("height"))
    _sources(prov, where)
    return prov


def _parse_dream(f: TextField) -> Provenance:
    """``"prompt [neg]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`` (InvokeAI 1.x/2.x ``Dream`` chunk)."""
    where = f"{f.location}[Dream]"
    prov = Provenance(family="invokeai", generator="InvokeAI", evidence="InvokeAI Dream command")
    try:
        argv = shlex.split(f.value)
    except ValueError:
        argv = f.value.split()
    prompt_words: list[str] = []
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and len(a) > 1 and not a[1:].replace(".", "").isdigit():
            opts[a] = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
        else:
            prompt_words.append(a)
            i += 1
    pos, neg = split_bracketed_negative(" ".join(prompt_words))
    add_prompt(prov.positive_prompts, pos)
    add_prompt(prov.negative_prompts, neg)
    prov.steps = to_int(opts.get("-s"))
    prov.seed = to_int(opts.get("-S"))
    prov.width, prov.height = to_int(opts.get("-W")), to_int(opts.get("-H"))
    prov.cfg = to_float(opts.get("-C"))
    prov.sampler = to_str(opts.get("-A"))
    _sources(prov, where)
    return prov


def _sources(prov: Provenance, where: str) -> None:
    prov.sources["parameters"] = where
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
