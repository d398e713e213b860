"""What the policy sees of one item: :class:`Facts`. Plain frozen values, no I/O.

The service builds the facts of an item once, from the scanner's signals, the text score and the
account's history, and stores ``Facts.to_dict()`` beside the verdict; ``bastion policy replay`` reads
them back with :meth:`Facts.from_dict`, so a new policy can be tried on stored items without scanning
anything again. The dict form is JSON-safe (strings, numbers, booleans, lists, dicts, None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from bastion.model import Signal
from bastion.policy.errors import InvalidFacts

__all__ = ["AccountFacts", "Facts", "ITEM_KINDS", "PriceFacts", "signal_from_dict", "signal_to_dict"]

#: Kinds of item the service accepts.
ITEM_KINDS: tuple[str, ...] = ("post", "comment", "message", "profile")
_TEXT_LEVELS = ("none", "low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class PriceFacts:
    """The item's price or access tier, as the platform sent it (commerce context, never proof)."""

    amount: float | None = None
    currency: str | None = None
    tier: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency, "tier": self.tier}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "price") -> PriceFacts:
        _mapping(d, where, {"amount", "currency", "tier"})
        return cls(amount=_number(d.get("amount"), f"{where}.amount", optional=True),
                   currency=_text(d.get("currency"), f"{where}.currency", optional=True),
                   tier=_text(d.get("tier"), f"{where}.tier", optional=True))


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The submitting account's history at the time of the item."""

    id: str
    age_days: float | None = None
    items: int = 0
    prior_confirmed: int = 0  # cases of this account confirmed by a reviewer
    risk: float = 0.0  # 0..1, aggregated from the account's items
    linked_flagged: int = 0  # linked accounts (shared contacts, wallets, media, seeds) with confirmed cases

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "age_days": self.age_days, "items": self.items, "prior_confirmed": self.prior_confirmed,
                "risk": self.risk, "linked_flagged": self.linked_flagged}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "account") -> AccountFacts:
        _mapping(d, where, {"id", "age_days", "items", "prior_confirmed", "risk", "linked_flagged"})
        if "id" not in d:
            raise InvalidFacts(f"{where}: missing 'id'")
        return cls(id=_text(d["id"], f"{where}.id"),
                   age_days=_number(d.get("age_days"), f"{where}.age_days", optional=True),
                   items=_count(d.get("items", 0), f"{where}.items"),
                   prior_confirmed=_count(d.get("prior_confirmed", 0), f"{where}.prior_confirmed"),
                   risk=_number(d.get("risk", 0.0), f"{where}.risk"),
                   linked_flagged=_count(d.get("linked_flagged", 0), f"{where}.linked_flagged"))


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a policy rule may look at for one item.

    ``signals`` holds every signal of the item: text signals (fields title/body/tag/comment/message/
    prompt/negative_prompt), hash signals (``source="hash"``, ``category="hash_match"``, evidence =
    ``Match.to_dict()`` plus ``{"media": index}``) and provenance signals (evidence plus ``{"media": index}``).
    ``text_level``/``text_score``/``text_combinations`` are the item-level text result.
    """

    item_id: str
    kind: str = "post"
    signals: tuple[Signal, ...] = ()
    text_level: str = "none"
    text_score: float = 0.0
    text_combinations: tuple[str, ...] = ()
    price: PriceFacts | None = None
    media_count: int = 0
    account: AccountFacts | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "kind": self.kind,
            "signals": [signal_to_dict(s) for s in self.signals],
            "text_level": self.text_level,
            "text_score": self.text_score,
            "text_combinations": list(self.text_combinations),
            "price": self.price.to_dict() if self.price is not None else None,
            "media_count": self.media_count,
            "account": self.account.to_dict() if self.account is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Facts:
        """The inverse of :meth:`to_dict`. Raises :class:`InvalidFacts` naming the first bad key."""
        _mapping(d, "facts", _FACT_KEYS)
        if "item_id" not in d:
            raise InvalidFacts("facts: missing 'item_id'")
        kind = d.get("kind", "post")
        if kind not in ITEM_KINDS:
            raise InvalidFacts(f"facts.kind: {kind!r} is not one of {', '.join(ITEM_KINDS)}")
        level = d.get("text_level", "none")
        if level not in _TEXT_LEVELS:
            raise InvalidFacts(f"facts.text_level: {level!r} is not one of {', '.join(_TEXT_LEVELS)}")
        signals = d.get("signals", [])
        if not isinstance(signals, (list, tuple)):
            raise InvalidFacts("facts.signals: expected a list of signal objects")
        combos = d.get("text_combinations", [])
        if not isinstance(combos, (list, tuple)) or not all(isinstance(c, str) for c in combos):
            raise InvalidFacts("facts.text_combinations: expected a list of combination names")
        price, account = d.get("price"), d.get("account")
        return cls(
            item_id=_text(d["item_id"], "facts.item_id"),
            kind=kind,
            signals=tuple(signal_from_dict(s, f"facts.signals[{i}]") for i, s in enumerate(signals)),
            text_level=level,
            text_score=_number(d.get("text_score", 0.0), "facts.text_score"),
            text_combinations=tuple(combos),
            price=PriceFacts.from_dict(price, "facts.price") if price is not None else None,
            media_count=_count(d.get("media_count", 0), "facts.media_count"),
            account=AccountFacts.from_dict(account, "facts.account") if account is not None else None,
        )


_FACT_KEYS = frozenset({"item_id", "kind", "signals", "text_level", "text_score", "text_combinations", "price",
                        "media_count", "account"})
_SIGNAL_KEYS = frozenset({"source", "category", "weight", "term", "normalized", "span", "language", "field", "evidence"})


def signal_to_dict(s: Signal) -> dict[str, Any]:
    """``Signal.to_dict()`` without ``dataclasses.asdict`` (which deep-copies and is several times slower)."""
    d: dict[str, Any] = {"source": s.source, "category": s.category, "weight": s.weight}
    if s.term is not None:
        d["term"] = s.term
    if s.normalized is not None:
        d["normalized"] = s.normalized
    if s.span is not None:
        d["span"] = [s.span[0], s.span[1]]
    if s.language is not None:
        d["language"] = s.language
    if s.field is not None:
        d["field"] = s.field
    if s.evidence:
        d["evidence"] = dict(s.evidence)
    return d


def signal_from_dict(d: Any, where: str = "signal") -> Signal:
    _mapping(d, where, _SIGNAL_KEYS)
    for key in ("source", "category"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise InvalidFacts(f"{where}.{key}: expected a non-empty string")
    span = d.get("span")
    if span is not None:
        if (not isinstance(span, (list, tuple)) or len(span) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)):
            raise InvalidFacts(f"{where}.span: expected [start, end] integers")
        span = (span[0], span[1])
    evidence = d.get("evidence", {})
    if not isinstance(evidence, Mapping):
        raise InvalidFacts(f"{where}.evidence: expected an object")
    return Signal(
        source=d["source"], category=d["category"], weight=_number(d.get("weight", 1.0), f"{where}.weight"),
        term=_text(d.get("term"), f"{where}.term", optional=True),
        normalized=_text(d.get("normalized"), f"{where}.normalized", optional=True),
        span=span, language=_text(d.get("language"), f"{where}.language", optional=True),
        field=_text(d.get("field"), f"{where}.field", optional=True), evidence=dict(evidence))


def _mapping(d: Any, where: str, keys: frozenset[str] | set[str]) -> None:
    if not isinstance(d, Mapping):
        raise InvalidFacts(f"{where}: expected an object, got {type(d).__name__}")
    unknown = sorted(set(d) - keys)
    if unknown:
        raise InvalidFacts(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(keys))}")


def _text(v: Any, where: str, optional: bool = False) -> Any:
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise InvalidFacts(f"{where}: expected a string, got {type(v).__name__}")
    return v


def _number(v: Any, where: str, optional: bool = False) -> Any:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidFacts(f"{where}: expected a finite number, got {v!r}")
    return float(v)


def _count(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InvalidFacts(f"{where}: expected a non-negative integer, got {v!r}")
    return v
