"""Generic traces: ``Software`` / ``xmp:CreatorTool`` / IPTC program names, and IPTC ``DigitalSourceType``.

These say *which tool* touched a file and, through DigitalSourceType, whether its maker declared it
machine-made. Only the IPTC codes for *trained* algorithmic media mean generative AI; plain
``algorithmicMedia`` (e.g. a fractal or a rendered chart) does not. A tool name alone counts as AI
evidence only when the tool is known to be a generator (a short list below); "GIMP" is recorded but
is no evidence of anything.
"""

from __future__ import annotations

from bastion.media.provenance.raw import RawMetadata
from bastion.media.provenance.values import ParseResult, Provenance
from bastion.media.provenance.xmp import XmpInfo

DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_SOURCE_TYPES = {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"}

# Lower-case substrings of tool names that only generators write.
AI_TOOL_NAMES = (
    "novelai", "stable diffusion", "stablediffusion", "automatic1111", "comfyui", "invokeai", "fooocus",
    "swarmui", "draw things", "midjourney", "dall-e", "dall·e", "dalle", "adobe firefly", "imagen",
    "leonardo.ai", "nightcafe", "dreamstudio", "image creator", "ideogram", "diffusionbee", "mochi diffusion",
    "easy diffusion", "sd.next", "made with google ai", "chatgpt", "openai", "krita ai diffusion",
)


def source_type_name(value: str) -> str:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` -> ``trainedAlgorithmicMedia``."""
    v = value.strip()
    return v[len(DST_PREFIX) :] if v.startswith(DST_PREFIX) else v.rsplit("/", 1)[-1]


def is_ai_source_type(value: str) -> bool:
    return source_type_name(value) in AI_SOURCE_TYPES


def software_names(meta: RawMetadata, xmp: XmpInfo) -> list[tuple[str, str]]:
    """(name, location) of every tool name the file carries."""
    out: list[tuple[str, str]] = []
    for f in meta.fields:
        if f.key in ("Software", "OriginatingProgram", "Credit") and f.value.strip():
            out.append((f.value.strip(), f.location))
    for key in ("xmp:CreatorTool", "tiff:Software", "photoshop:Credit"):
        for v in xmp.values.get(key, []):
            out.append((v, f"xmp[{key}]"))
    return out


def parse(meta: RawMetadata, xmp: XmpInfo, *, claimed_by_family: bool = False) -> ParseResult:
    """DigitalSourceType and AI tool names. ``claimed_by_family`` suppresses a duplicate record when a
    specific parser already described the same generator."""
    dst: list[tuple[str, str]] = []
    for key in ("Iptc4xmpExt:DigitalSourceType", "photoshop:DigitalSourceType", "GCreations:DigitalSourceType"):
        dst.extend((v, f"xmp[{key}]") for v in xmp.values.get(key, []))
    for f in meta.fields:
        if DST_PREFIX in f.value and len(f.value) < 512:
            dst.append((f.value.strip(), f.location))
    ai_dst = [(v, w) for v, w in dst if is_ai_source_type(v)]
    tools = software_names(meta, xmp)
    ai_tools = [(n, w) for n, w in tools if any(t in n.lower() for t in AI_TOOL_NAMES)]
    if not ai_dst and not ai_tools and not dst:
        return None, []
    if claimed_by_family and not ai_dst and not dst:
        return None, []
    name = ai_tools[0][0] if ai_tools else (tools[0][0] if tools else "unknown")
    prov = Provenance(family="generic", generator=name, ai_generated=bool(ai_dst or ai_tools))
    reasons = [f"DigitalSourceType {source_type_name(v)} at {w}" for v, w in ai_dst]
    reasons += [f"generator tool name {n!r} at {w}" for n, w in ai_tools]
    if not reasons:
        reasons = [f"DigitalSourceType {source_type_name(v)} at {w} (not generative AI)" for v, w in dst]
    prov.evidence = "; ".join(reasons)
    if dst:
        prov.extra["digital_source_types"] = [source_type_name(v) for v, _ in dst]
        prov.sources["digital_source_type"] = dst[0][1]
    if ai_tools:
        prov.sources["generator"] = ai_tools[0][1]
    return prov, []
