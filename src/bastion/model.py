"""The vocabulary: plain values shared by every part of Bastion. No I/O here.

A :class:`Signal` always carries its evidence (which rule, which bytes or span, which distance) so that a
verdict built from signals can explain itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import field as dc_field  # `field` is also a Signal attribute
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence from one detector.

    ``source`` names the detector family (``hash``, ``provenance``, ``text``); ``category`` what the
    evidence indicates (e.g. ``hash_match``, ``ai_generated``, ``generator``, ``prompt``, ``minor``,
    ``trade``, ``contact``). Text signals fill ``term``/``normalized``/``span``/``language``/``field``;
    other detectors put what they need in ``evidence``.
    """

    source: str
    category: str
    weight: float = 1.0
    term: str | None = None
    normalized: str | None = None
    span: tuple[int, int] | None = None
    language: str | None = None
    field: str | None = None
    evidence: Mapping[str, Any] = dc_field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = dict(self.evidence)
        if self.span is not None:
            d["span"] = list(self.span)
        return {k: v for k, v in d.items() if v is not None and v != {}}


@dataclass(frozen=True, slots=True)
class Match:
    """A hash of a scanned file matched an entry of a bank."""

    bank: str
    bank_category: str
    hash_type: str
    value: str  # the bank entry's hash value
    label: str | None
    distance: int  # 0 for exact hashes
    variant: str | None = None  # dihedral PDQ variant of the *query* that matched, e.g. "rot90"
    #: vPDQ only: share of the query video's unique frames that match the entry, and of the entry's frames
    #: that match the query (the video matches at query >= 80 %). ``distance`` is then the largest of the
    #: matched frames' best distances, and ``value`` the SHA-256 key of the entry's signal.
    query_match_percent: float | None = None
    compared_match_percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {
            "bank": self.bank,
            "category": self.bank_category,
            "hash_type": self.hash_type,
            "hash": self.value,
            "label": self.label,
            "distance": self.distance,
            "variant": self.variant,
        }
        if self.query_match_percent is not None:
            d["query_match_percent"] = self.query_match_percent
            d["compared_match_percent"] = self.compared_match_percent
        return d

    def to_signal(self) -> Signal:
        return Signal(source="hash", category="hash_match", weight=1.0, evidence=self.to_dict())


BANK_CATEGORIES = ("csam", "csam-generated", "known-benign", "test", "other")


@dataclass(frozen=True, slots=True)
class Bank:
    """A named list of hashes. ``known-benign`` banks are allow-lists: their matches never count as hits."""

    name: str
    category: str = "test"
    description: str = ""
    source: str = ""
    enabled: bool = True
    pdq_threshold: int = 31
    min_quality: int = 50
    entry_count: int = 0

    @property
    def is_allow_list(self) -> bool:
        return self.category == "known-benign"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HashEntry:
    """One hash of a bank (or one line of a hash-list file before it is stored)."""

    hash_type: str  # "md5" | "sha1" | "sha256" | "pdq"
    value: str  # lowercase hex
    label: str | None = None
    source_ref: str | None = None
