"""ComfyUI: the ``prompt`` (API graph) and ``workflow`` (UI graph) JSON, in PNG text or WebP/JPEG EXIF.

A ComfyUI file does not say "the prompt is X"; it stores the whole node graph. Grabbing every string in it
would mix positive with negative prompts, file names and notes, so we trace the graph the way ComfyUI runs
it: from each sampler's ``positive`` / ``negative`` input back through conditioning nodes (combine, concat,
area, ControlNet, Flux guidance, ...) to the text encoders, and from there to the text (which may itself
come from a custom string node). Unknown nodes are followed through any conditioning-typed input, so new
custom nodes degrade to "found the text, slightly less sure where it sat" rather than to nothing.
"""

from __future__ import annotations

import json
from typing import Any

from bastion.media.provenance.raw import RawMetadata, TextField
from bastion.media.provenance.values import LoraRef, ParseResult, Provenance, add_prompt, to_float, to_int, to_str

Graph = dict[str, dict[str, Any]]  # node id -> {"class_type": str, "inputs": {name: value | [node_id, slot]}}

# Text encoders: class -> inputs holding text.
TEXT_ENCODERS: dict[str, tuple[str, ...]] = {
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": ("text",),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl"),
    "CLIPTextEncodeSD3": ("clip_l", "clip_g", "t5xxl"),
    "CLIPTextEncodeHunyuanDiT": ("bert", "mt5xl"),
    "TextEncodeHunyuanVideo_ImageToVideo": ("prompt",),
    "CLIPTextEncodeLumina2": ("user_prompt",),
    "CLIPTextEncodePixArtAlpha": ("text",),
    "BNK_CLIPTextEncodeAdvanced": ("text",),
    "CLIPTextEncodeA1111": ("text",),
    "smZ CLIPTextEncode": ("text",),
}
# Inputs through which conditioning flows (any node); used to walk combine/concat/area/guidance nodes.
CONDITIONING_INPUTS = ("conditioning", "conditioning_1", "conditioning_2", "conditioning_to", "conditioning_from",
                       "cond", "positive", "negative", "base_positive", "base_negative")
# Guiders (SamplerCustomAdvanced): class -> (positive input, negative input or None).
GUIDERS: dict[str, tuple[str, str | None]] = {
    "CFGGuider": ("positive", "negative"),
    "BasicGuider": ("conditioning", None),
    "DualCFGGuider": ("cond1", "negative"),
    "PerpNegGuider": ("positive", "negative"),
}
SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced", "KSampler (Efficient)",
            "KSamplerAdvanced (Efficient)", "KSamplerSDXL (Eff.)", "FaceDetailer", "DetailerForEach",
            "UltimateSDUpscale", "ImpactKSamplerBasicPipe"}
CHECKPOINT_LOADERS: dict[str, str] = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "ImageOnlyCheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
    "UnetLoaderGGUF": "unet_name",
    "DiffusersLoader": "model_path",
    "Efficient Loader": "ckpt_name",
    "Eff. Loader SDXL": "base_ckpt_name",
}
LORA_LOADERS = {"LoraLoader", "LoraLoaderModelOnly"}
# Widget order of common nodes in the UI ``workflow`` format (values are positional there).
WORKFLOW_WIDGETS: dict[str, tuple[str, ...]] = {
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": ("width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "KSampler": ("seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": ("add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name",
                         "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "RandomNoise": ("noise_seed", "control_after_generate"),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "CFGGuider": ("cfg",),
    "FluxGuidance": ("guidance",),
    "SamplerCustom": ("add_noise", "noise_seed", "control_after_generate", "cfg"),
}
_MAX_DEPTH = 64


def parse(meta: RawMetadata) -> ParseResult:
    notes: list[str] = []
    prompt_field, workflow_field = _find(meta, "prompt"), _find(meta, "workflow")
    if prompt_field is not None and not prompt_field.value.lstrip().startswith("{"):
        prompt_field = None  # a plain-text "prompt" key belongs to another tool (e.g. Easy Diffusion)
    if prompt_field is None and workflow_field is None:
        return None, notes
    graph: Graph | None = None
    where = None
    if prompt_field is not None:
        graph = _load_api_graph(prompt_field, notes)
        where = _where(prompt_field)
    if graph is None and workflow_field is not None:
        wf = _load_json(workflow_field, notes)
        if isinstance(wf, dict):
            graph = workflow_to_graph(wf)
            where = _where(workflow_field)
            if graph is None:
                notes.append(f"comfyui: {_where(workflow_field)} is not a ComfyUI workflow graph")
    if graph is None:
        if notes and (prompt_field or workflow_field):
            # Unreadable JSON under ComfyUI's keys is still a weak sign of ComfyUI; record the family, no fields.
            return Provenance(family="comfyui", generator="ComfyUI", ai_generated=False,
                              evidence="ComfyUI metadata keys present but unreadable"), notes
        return None, notes
    prov = trace_graph(graph, where or "")
    if workflow_field is not None:
        prov.sources.setdefault("workflow", _where(workflow_field))
    return prov, notes


def _find(meta: RawMetadata, key: str) -> TextField | None:
    """ComfyUI key in PNG text, or an EXIF string value prefixed ``prompt:`` / ``workflow:`` (WebP/JPEG)."""
    for f in meta.fields:
        if f.key == key and f.location.startswith("png"):
            return f
    prefix = key + ":"
    for f in meta.fields:
        if f.location.startswith("exif") and f.value.startswith(prefix):
            return TextField(key, f.value[len(prefix) :], f.location)
    return None


def _where(f: TextField) -> str:
    return f"{f.location}[{f.key}]"


def _load_json(f: TextField, notes: list[str]) -> Any:
    try:
        return json.loads(f.value)
    except (ValueError, RecursionError) as exc:
        notes.append(f"comfyui: {_where(f)} is not valid JSON ({str(exc)[:80]})")
        return None


def _load_api_graph(f: TextField, notes: list[str]) -> Graph | None:
    data = _load_json(f, notes)
    if data is None:
        return None
    if not isinstance(data, dict) or not any(isinstance(v, dict) and "class_type" in v for v in data.values()):
        notes.append(f"comfyui: {_where(f)} is JSON but not a ComfyUI API graph")
        return None
    return {str(k): v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("inputs", {}), dict)}


def workflow_to_graph(wf: dict[str, Any]) -> Graph | None:
    """Convert the UI ``workflow`` (nodes + links, positional widget values) into the API graph shape."""
    nodes, links = wf.get("nodes"), wf.get("links")
    if not isinstance(nodes, list) or not isinstance(links, list):
        return None
    link_src: dict[int, list[Any]] = {}
    for link in links:
        if isinstance(link, list) and len(link) >= 5:
            link_src[link[0]] = [str(link[1]), link[2]]
        elif isinstance(link, dict) and "id" in link:
            link_src[link["id"]] = [str(link.get("origin_id")), link.get("origin_slot", 0)]
    graph: Graph = {}
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node:
            continue
        ctype = str(node.get("type", ""))
        inputs: dict[str, Any] = {}
        widgets = node.get("widgets_values")
        if isinstance(widgets, list):
            names = WORKFLOW_WIDGETS.get(ctype, ())
            for i, value in enumerate(widgets):
                inputs[names[i] if i < len(names) else f"widget_{i}"] = value
        elif isinstance(widgets, dict):
            inputs.update(widgets)
        for inp in node.get("inputs") or []:
            if isinstance(inp, dict) and inp.get("link") in link_src:
                inputs[str(inp.get("name"))] = link_src[inp["link"]]
        graph[str(node["id"])] = {"class_type": ctype, "inputs": inputs}
    return graph


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) and isinstance(value[1], int)


class _Tracer:
    """Walks one graph. Keeps a visited set per walk so cyclic or hostile graphs terminate."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.text_nodes: set[str] = set()

    def node(self, link: Any) -> tuple[str, dict[str, Any]] | None:
        if not _is_link(link):
            return None
        nid = str(link[0])
        n = self.graph.get(nid)
        return (nid, n) if isinstance(n, dict) else None

    def texts(self, link: Any, depth: int = 0, seen: set[str] | None = None) -> list[str]:
        """All prompt texts that reach the conditioning output ``link``."""
        seen = set() if seen is None else seen
        found = self.node(link)
        if found is None or depth > _MAX_DEPTH:
            return []
        nid, n = found
        key = f"{nid}:{link[1]}"
        if key in seen:
            return []
        seen.add(key)
        ctype, inputs = n.get("class_type", ""), n.get("inputs") or {}
        out: list[str] = []
        if ctype in TEXT_ENCODERS:
            self.text_nodes.add(nid)
            for name in TEXT_ENCODERS[ctype]:
                for t in self.string_value(inputs.get(name), depth + 1, set()):
                    add_prompt(out, t)
            return out
        slot = link[1]
        if "positive" in inputs and "negative" in inputs:
            # Nodes such as ControlNetApplyAdvanced pass both through: output 0 is positive, 1 negative.
            names: tuple[str, ...] = ("positive",) if slot == 0 else ("negative",)
        else:
            names = CONDITIONING_INPUTS
        for name in names:
            for t in self.texts(inputs.get(name), depth + 1, seen):
                add_prompt(out, t)
        return out

    def string_value(self, value: Any, depth: int, seen: set[str]) -> list[str]:
        """A text input: a literal, or a link to a string node (primitive, multiline, concatenate, ...)."""
        if isinstance(value, str):
            return [value]
        found = self.node(value)
        if found is None or depth > _MAX_DEPTH or found[0] in seen:
            return []
        nid, n = found
        seen.add(nid)
        self.text_nodes.add(nid)
        parts: list[str] = []
        for name, v in (n.get("inputs") or {}).items():
            if name in ("clip", "model", "vae", "seed", "delimiter", "clean_whitespace") or isinstance(v, (int, float, bool)):
                continue
            parts.extend(self.string_value(v, depth + 1, seen))
        return [" ".join(p for p in parts if p.strip())] if parts else []

    def upstream(self, link: Any, want: set[str], through: tuple[str, ...], depth: int = 0) -> list[tuple[str, dict]]:
        """Nodes of the wanted classes found walking back through the named inputs (e.g. model chain)."""
        found = self.node(link)
        if found is None or depth > _MAX_DEPTH:
            return []
        nid, n = found
        out = [(nid, n)] if n.get("class_type") in want else []
        for name in through:
            if name in (n.get("inputs") or {}):
                out.extend(self.upstream(n["inputs"][name], want, through, depth + 1))
        return out


def trace_graph(graph: Graph, where: str) -> Provenance:
    """Trace prompts and parameters through an API-shaped graph."""
    t = _Tracer(graph)
    prov = Provenance(family="comfyui", generator="ComfyUI", evidence="ComfyUI workflow graph")
    samplers = [n for nid, n in sorted(graph.items(), key=lambda kv: _sort_key(kv[0]))
                if n.get("class_type") in SAMPLERS]
    primary: dict[str, Any] | None = None
    for n in samplers:
        inputs = n.get("inputs") or {}
        pos_link, neg_link = inputs.get("positive"), inputs.get("negative")
        guider = t.node(inputs.get("guider"))
        if guider is not None:
            g = guider[1]
            pos_name, neg_name = GUIDERS.get(g.get("class_type", ""), ("positive", "negative"))
            gin = g.get("inputs") or {}
            pos_link, neg_link = gin.get(pos_name), gin.get(neg_name) if neg_name else None
            if "cfg" in gin and prov.cfg is None:
                prov.cfg = to_float(gin.get("cfg"))
        for text in t.texts(pos_link):
            add_prompt(prov.positive_prompts, text)
        for text in t.texts(neg_link):
            add_prompt(prov.negative_prompts, text)
        if primary is None:
            primary = n
    if not samplers:
        # No sampler we know: fall back to text encoders, marked as unplaced (neither side is known).
        for n in graph.values():
            if n.get("class_type") in TEXT_ENCODERS:
                for name in TEXT_ENCODERS[n["class_type"]]:
                    for text in t.string_value((n.get("inputs") or {}).get(name), 0, set()):
                        add_prompt(prov.extra.setdefault("unplaced_prompts", []), text)
    if primary is not None:
        _sampler_params(t, primary, prov)
    if prov.positive_prompts:
        prov.sources["positive_prompts"] = where
    if prov.negative_prompts:
        prov.sources["negative_prompts"] = where
    prov.sources["parameters"] = where
    prov.extra["node_types"] = sorted({str(n.get("class_type")) for n in graph.values()})[:100]
    return prov


def _sort_key(nid: str) -> tuple[int, str]:
    return (int(nid), "") if nid.isdigit() else (1 << 30, nid)


def _sampler_params(t: _Tracer, sampler: dict[str, Any], prov: Provenance) -> None:
    inputs = sampler.get("inputs") or {}
    prov.seed = _literal_int(t, inputs.get("seed", inputs.get("noise_seed")))
    prov.steps = to_int(inputs.get("steps"))
    prov.cfg = prov.cfg if "cfg" not in inputs else to_float(inputs.get("cfg"))
    prov.sampler = to_str(inputs.get("sampler_name")) if isinstance(inputs.get("sampler_name"), str) else None
    prov.scheduler = to_str(inputs.get("scheduler")) if isinstance(inputs.get("scheduler"), str) else None
    # SamplerCustomAdvanced: noise / sampler / sigmas nodes hold the parameters.
    noise = t.node(inputs.get("noise"))
    if noise is not None and prov.seed is None:
        prov.seed = _literal_int(t, (noise[1].get("inputs") or {}).get("noise_seed"))
    samp = t.node(inputs.get("sampler"))
    if samp is not None and prov.sampler is None:
        prov.sampler = to_str((samp[1].get("inputs") or {}).get("sampler_name"))
    sig = t.node(inputs.get("sigmas"))
    if sig is not None:
        sin = sig[1].get("inputs") or {}
        prov.steps = prov.steps or to_int(sin.get("steps"))
        prov.scheduler = prov.scheduler or to_str(sin.get("scheduler"))
    # Model chain: checkpoint and LoRAs.
    model_link = inputs.get("model")
    if model_link is None and (g := t.node(inputs.get("guider"))) is not None:
        model_link = (g[1].get("inputs") or {}).get("model")
    chain = t.upstream(model_link, set(CHECKPOINT_LOADERS) | LORA_LOADERS, ("model",))
    for _, n in chain:
        nin = n.get("inputs") or {}
        if n["class_type"] in LORA_LOADERS and isinstance(nin.get("lora_name"), str):
            prov.loras.append(LoraRef(name=nin["lora_name"], weight=to_float(nin.get("strength_model"))))
        elif n["class_type"] in CHECKPOINT_LOADERS and prov.model is None:
            prov.model = to_str(nin.get(CHECKPOINT_LOADERS[n["class_type"]]))
    prov.loras.reverse()  # loader order, closest to the checkpoint first
    # Size: walk the latent back to an empty-latent node.
    latent = t.upstream(inputs.get("latent_image"), {"EmptyLatentImage", "EmptySD3LatentImage",
                                                     "EmptyHunyuanLatentVideo", "EmptyLTXVLatentVideo"},
                        ("samples", "latent_image", "latent"))
    if latent:
        lin = latent[0][1].get("inputs") or {}
        prov.width, prov.height = to_int(lin.get("width")), to_int(lin.get("height"))


def _literal_int(t: _Tracer, value: Any) -> int | None:
    """Seeds are often links to a seed/primitive node; follow one hop for its value."""
    if _is_link(value):
        found = t.node(value)
        if found is None:
            return None
        nin = found[1].get("inputs") or {}
        for name in ("seed", "noise_seed", "value", "int"):
            if name in nin and not _is_link(nin[name]):
                return to_int(nin[name])
        return None
    return to_int(value)
