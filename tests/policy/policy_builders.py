"""Benign stand-in signals for policy tests: placeholder terms and hashes, never real indicator content."""

from __future__ import annotations

from bastion.model import Match, Signal
from bastion.policy import AccountFacts, Facts, PriceFacts

__all__ = ["AccountFacts", "Facts", "PriceFacts", "ai_signal", "facts", "gen_signal", "hash_signal", "text_signal"]


def hash_signal(bank_category: str, *, bank: str = "bank-a", label: str | None = "entry-1", distance: int = 0,
                hash_type: str = "pdq", media: int = 0) -> Signal:
    """A hash signal exactly as the service builds it: Match.to_signal() plus the media index."""
    m = Match(bank=bank, bank_category=bank_category, hash_type=hash_type, value="0" * 64, label=label,
              distance=distance)
    sig = m.to_signal()
    return Signal(sig.source, sig.category, sig.weight, evidence={**sig.evidence, "media": media})


def text_signal(category: str, *, field: str = "body", term: str = "placeholder", span=(0, 11),
                language: str | None = "en", counted: bool = True, weight: float = 0.8) -> Signal:
    ev = {"text_index": 0, "rule": "lexicon:test", "matched": term}
    if not counted:
        ev["counted"] = False
    return Signal("text", category, weight, term, term, span, language, field, ev)


def ai_signal(trace: str = "metadata", *, media: int = 0, state: str | None = None, weight: float = 0.9) -> Signal:
    ev = {"trace": trace, "reason": f"placeholder {trace} trace", "media": media}
    if state is not None:
        ev["validation_state"] = state
    return Signal("provenance", "ai_generated", weight, evidence=ev)


def gen_signal(generator: str = "ComfyUI", *, media: int = 0) -> Signal:
    return Signal("provenance", "generator", 0.9, evidence={"generator": generator, "family": "comfyui", "media": media})


def facts(*signals: Signal, **kw) -> Facts:
    kw.setdefault("item_id", "item-1")
    return Facts(signals=tuple(signals), **kw)
