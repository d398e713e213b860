"""Plain values every generator parser returns: :class:`Provenance` and :class:`LoraRef`. No I/O here.

One :class:`Provenance` describes what one generator family wrote into a file. Prompts are kept as lists
because graph tools (ComfyUI) can feed several text encoders into one image; positive and negative prompts
are kept apart from the start so nothing downstream can mistake an exclusion for a description.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A parser reads raw metadata and returns what it found (or None) plus notes about malformed input.
ParseResult = tuple["Provenance | None", list[str]]


@dataclass(frozen=True, slots=True)
class LoraRef:
    """A LoRA / LyCORIS / hypernetwork applied to the model, as named in the file."""

    name: str
    weight: float | None = None
    hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("name", self.name), ("weight", self.weight), ("hash", self.hash)) if v is not None}


@dataclass(slots=True)
class Provenance:
    """What one generator family recorded in the file.

    ``sources`` maps each field that was filled to where in the file it came from (e.g.
    ``{"positive_prompts": "png:tEXt[parameters]"}``) so a reviewer can verify it by hand.
    ``ai_generated`` is True when this record alone says the image is machine-made (a generator's own
    parameters do; a plain ``Software: GIMP`` does not); ``evidence`` says why.
    """

    family: str
    generator: str
    version: str | None = None
    model: str | None = None
    model_hash: str | None = None
    loras: list[LoraRef] = field(default_factory=list)
    embeddings: list[str] = field(default_factory=list)
    seed: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    positive_prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    ai_generated: bool = True
    evidence: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def positive_prompt(self) -> str | None:
        """The first positive prompt, for display; use ``positive_prompts`` for analysis."""
        return self.positive_prompts[0] if self.positive_prompts else None

    @property
    def negative_prompt(self) -> str | None:
        return self.negative_prompts[0] if self.negative_prompts else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "family": self.family,
            "generator": self.generator,
            "version": self.version,
            "model": self.model,
            "model_hash": self.model_hash,
            "loras": [lr.to_dict() for lr in self.loras],
            "embeddings": list(self.embeddings),
            "seed": self.seed,
            "sampler": self.sampler,
            "scheduler": self.scheduler,
            "steps": self.steps,
            "cfg": self.cfg,
            "width": self.width,
            "height": self.height,
            "positive_prompts": list(self.positive_prompts),
            "negative_prompts": list(self.negative_prompts),
            "ai_generated": self.ai_generated,
            "evidence": self.evidence,
            "sources": dict(self.sources),
            "extra": _jsonable(self.extra),
        }
        return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


# --- small coercions shared by the parsers -------------------------------------------------------


def to_int(value: Any) -> int | None:
    """An int from whatever a generator wrote ("42", 42.0, " 42 "), or None. Booleans are not numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f == int(f) else None


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def add_prompt(target: list[str], text: Any) -> None:
    """Append a prompt if it is a non-blank string not already present (order kept)."""
    if isinstance(text, str):
        t = text.strip()
        if t and t not in target:
            target.append(t)


def first_present(mapping: dict[str, Any], *keys: str, convert: Callable[[Any], Any] = lambda v: v) -> Any:
    """The converted value of the first key present (and convertible) in ``mapping``."""
    for key in keys:
        if key in mapping and mapping[key] is not None:
            value = convert(mapping[key])
            if value is not None:
                return value
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
