"""AUTOMATIC1111 / Forge / SD.Next "infotext": the ``parameters`` PNG text, or EXIF UserComment in JPEG/WebP.

The format is three parts: the positive prompt (any number of lines), an optional line starting
``Negative prompt:`` (continuing until the parameter line), and a last line of ``Key: value`` pairs
starting with ``Steps:``. Values may be double-quoted when they contain commas (``Lora hashes: "a: 1, b:
2"``). We parse exactly that, from the end, because prompts can themselves contain colons and commas.
"""

from __future__ import annotations

import re
from typing import Any

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

# Same shape as A1111's own `re_param` (modules/infotext_utils.py).
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^:>]+)(?::([^:>]+))?[^>]*>", re.IGNORECASE)
_NEG = "Negative prompt:"


def looks_like_infotext(text: str) -> bool:
    """Cheap check used before parsing UserComment or stealth payloads, which may hold anything."""
    return bool(re.search(r"(^|\n)Steps: \d+", text)) or f"\n{_NEG}" in text or text.startswith(_NEG)


def parse(meta: RawMetadata) -> ParseResult:
    """Find and parse A1111-style infotext in ``parameters`` or EXIF UserComment."""
    candidates = [f for f in meta.fields if f.key == "parameters"] + [
        f for f in meta.fields if f.key == "UserComment"
    ]
    for f in candidates:
        text = f.value
        if text.lstrip().startswith("{"):
            continue  # JSON: Fooocus / SwarmUI / others, parsed by their own modules
        if f.key == "UserComment" and not looks_like_infotext(text):
            continue
        where = f"{f.location}[{f.key}]" if f.location.startswith("png") else f.location
        return parse_infotext(text, where), []
    return None, []


def parse_infotext(text: str, where: str) -> Provenance:
    """Parse one infotext string; ``where`` names its location for ``Provenance.sources``."""
    text = text.replace("\r\n", "\n").strip("\x00")
    lines = text.split("\n")
    params: dict[str, str] = {}
    # The parameter line is the last line that starts with "Steps:" (A1111 writes it last).
    param_idx = None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Steps:"):
            param_idx = i
            break
    body_lines = lines if param_idx is None else lines[:param_idx]
    if param_idx is not None:
        params = parse_param_line("\n".join(lines[param_idx:]))
    positive_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in body_lines:
        if not in_negative and line.startswith(_NEG):
            in_negative = True
            line = line[len(_NEG) :]
        (negative_lines if in_negative else positive_lines).append(line)
    positive = "\n".join(positive_lines).strip()
    negative = "\n".join(negative_lines).strip()

    version = params.get("Version")
    generator = _generator_name(version, params)
    prov = Provenance(family="a1111", generator=generator, version=version, evidence=f"{generator} generation parameters")
    add_prompt(prov.positive_prompts, positive)
    add_prompt(prov.negative_prompts, negative)
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
    if params:
        prov.sources["parameters"] = where
    prov.steps = to_int(params.get("Steps"))
    prov.sampler = to_str(params.get("Sampler"))
    prov.scheduler = to_str(params.get("Schedule type"))
    prov.cfg = to_float(params.get("CFG scale"))
    prov.seed = to_int(params.get("Seed"))
    prov.model = to_str(params.get("Model"))
    prov.model_hash = to_str(params.get("Model hash"))
    size = _SIZE.match(params.get("Size", ""))
    if size:
        prov.width, prov.height = int(size.group(1)), int(size.group(2))
    prov.loras = _loras(positive, params)
    prov.embeddings = sorted(_hash_list(params.get("TI hashes", "")).keys())
    known = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Model", "Model hash", "Size", "Version",
             "Lora hashes", "TI hashes"}
    prov.extra = {k: v for k, v in params.items() if k not in known}
    return prov


def parse_param_line(line: str) -> dict[str, str]:
    """``Steps: 20, Sampler: Euler a, Lora hashes: "x: 1, y: 2"`` -> dict (quotes removed)."""
    out: dict[str, str] = {}
    for m in _PARAM.finditer(line):
        key, value = m.group(1).strip(), m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        out[key] = value
    return out


def _generator_name(version: str | None, params: dict[str, str]) -> str:
    v = (version or "").lower()
    if v.startswith("f") and re.match(r"f\d", v):
        return "Forge"
    if "fooocus" in v:
        return "Fooocus"
    if params.get("App", "").lower().startswith("sd.next") or "sd.next" in v or "Pipeline" in params and "Operations" in params:
        return "SD.Next"
    if "comfyui" in v:
        return "ComfyUI"
    return "AUTOMATIC1111"


def _hash_list(value: str) -> dict[str, str]:
    """``"name: hash, other: hash"`` -> {name: hash}."""
    out: dict[str, str] = {}
    for part in value.split(","):
        if ":" in part:
            name, h = part.rsplit(":", 1)
            if name.strip():
                out[name.strip()] = h.strip()
    return out


def _loras(positive: str, params: dict[str, Any]) -> list[LoraRef]:
    hashes = _hash_list(params.get("Lora hashes", ""))
    refs: list[LoraRef] = []
    seen: set[str] = set()
    for m in _LORA_TAG.finditer(positive):
        name = m.group(2).strip()
        if name in seen:
            continue
        seen.add(name)
        refs.append(LoraRef(name=name, weight=to_float(m.group(3)), hash=hashes.get(name)))
    for name, h in hashes.items():  # hashed LoRAs not named in the prompt (e.g. added by a style)
        if name not in seen:
            refs.append(LoraRef(name=name, hash=h))
    return refs
