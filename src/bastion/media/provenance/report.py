"""The result of inspecting one file: every generator record, C2PA, watermark, and notes; and its signals.

Weights of ``ai_generated`` signals say how much each kind of trace can be believed: a trusted C2PA
claim is signed by a known party; generator metadata and intact C2PA claims are easy to add but nobody
adds them by accident; an invalid (tampered) C2PA claim and a watermark read are slightly weaker. None of
them clears anything: absence of provenance never lowers risk, so no signal is produced for absence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bastion.media.provenance.c2pa import C2paResult
from bastion.media.provenance.values import Provenance
from bastion.media.provenance.watermark import WatermarkResult
from bastion.excerpts import bound_texts, excerpt
from bastion.model import Signal

WEIGHT_METADATA = 0.9
WEIGHT_C2PA_TRUSTED = 1.0
WEIGHT_C2PA_VALID = 0.9
WEIGHT_C2PA_INVALID = 0.6
WEIGHT_WATERMARK = 0.8


@dataclass(slots=True)
class ProvenanceReport:
    format: str
    provenances: list[Provenance] = field(default_factory=list)
    c2pa: C2paResult | None = None
    watermark: WatermarkResult | None = None
    software: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ai_generated(self) -> bool:
        """True if any trace says machine-made. False means "no trace found", never "not AI"."""
        return (any(p.ai_generated for p in self.provenances)
                or (self.c2pa is not None and self.c2pa.ai_generated)
                or (self.watermark is not None and self.watermark.found))

    def positive_prompts(self) -> list[str]:
        """Every positive prompt, de-duplicated, in the order found: what the scanner hands to text detectors.
        Negative prompts are deliberately excluded: they list what the image should *not* show."""
        out: list[str] = []
        for p in self.provenances:
            for text in p.positive_prompts:
                if text not in out:
                    out.append(text)
        return out

    def negative_prompts(self) -> list[str]:
        out: list[str] = []
        for p in self.provenances:
            for text in p.negative_prompts:
                if text not in out:
                    out.append(text)
        return out

    def signals(self) -> list[Signal]:
        """``generator``, ``ai_generated`` (one per independent trace, evidence says which) and ``prompt``."""
        out: list[Signal] = []
        for p in self.provenances:
            if not p.ai_generated:
                continue
            location = p.sources.get("parameters") or p.sources.get("generator") or next(iter(p.sources.values()), None)
            out.append(Signal(source="provenance", category="generator", weight=WEIGHT_METADATA, evidence=_clean({
                "generator": p.generator, "family": p.family, "version": p.version, "model": p.model,
                "location": location})))
            out.append(Signal(source="provenance", category="ai_generated", weight=WEIGHT_METADATA, evidence=_clean({
                "trace": "metadata", "reason": p.evidence, "generator": p.generator, "location": location})))
        if self.c2pa is not None and self.c2pa.ai_generated:
            weight = (WEIGHT_C2PA_TRUSTED if self.c2pa.trusted
                      else WEIGHT_C2PA_INVALID if self.c2pa.state == "Invalid" else WEIGHT_C2PA_VALID)
            out.append(Signal(source="provenance", category="ai_generated", weight=weight, evidence=_clean({
                "trace": "c2pa", "reason": self.c2pa.ai_evidence, "validation_state": self.c2pa.state,
                "claim_generator": self.c2pa.claim_generator, "failure_codes": self.c2pa.failure_codes or None})))
            if self.c2pa.claim_generator:
                out.append(Signal(source="provenance", category="generator", weight=weight, evidence=_clean({
                    "generator": self.c2pa.claim_generator, "family": "c2pa", "location": "c2pa"})))
        if self.watermark is not None:
            for hit in self.watermark.hits:
                out.append(Signal(source="provenance", category="ai_generated", weight=WEIGHT_WATERMARK, evidence={
                    "trace": "watermark", "reason": f"Stable Diffusion {hit.scheme} invisible watermark "
                                                    f"({hit.matched}/{hit.total} bits)", **hit.to_dict()}))
        # Names and reasons read from the file are the uploader's: bounded (bastion.excerpts). A prompt's text is
        # kept whole here, for the text detectors; whoever serialises the signal bounds it (FileResult.to_json).
        for n, sig in enumerate(out):
            evidence, cut = bound_texts(sig.evidence)
            if cut:
                out[n] = dataclasses.replace(sig, evidence={**evidence, "excerpts": cut})
        for p in self.provenances:
            for text in p.positive_prompts:
                out.append(Signal(source="provenance", category="prompt", weight=1.0, field="prompt", evidence=_clean({
                    "text": text, "polarity": "positive", "generator": p.generator and excerpt(p.generator),
                    "location": p.sources.get("positive_prompts")})))
        return out

    def to_dict(self) -> dict[str, Any]:
        """What is kept and shown. Text read from the file is bounded (:func:`bastion.excerpts.bound_texts`:
        64 KB a string, 256 KB in all); ``excerpts`` then says, for each cut string, the full text's SHA-256
        and length."""
        d = {
            "format": self.format,
            "ai_generated": self.ai_generated,
            "provenances": [p.to_dict() for p in self.provenances],
            "c2pa": self.c2pa.to_dict() if self.c2pa is not None else None,
            "watermark": self.watermark.to_dict() if self.watermark is not None else None,
            "software": list(self.software),
            "notes": list(self.notes),
        }
        bounded, cut = bound_texts(d)
        if cut:
            bounded["excerpts"] = cut
        return bounded


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
