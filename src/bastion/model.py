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
    """A hash of a scanned file matched an entry of a bank.

    ``query`` says which hash of the file matched: ``None`` for the whole picture, ``"border-trimmed"``
    for the picture with its uniform border cut off. ``derivation`` is set for a crop match: the file's
    hash matched a stored sub-region (e.g. ``"centre-90"``) of the bank entry, whose own hash is
    ``derived_hash``; ``value`` and ``label`` are always those of the original entry.
    """

    bank: str
    bank_category: str
    hash_type: str
    value: str  # the bank entry's hash value (the original entry's, for a crop match)
    label: str | None
    distance: int  # 0 for exact hashes
    variant: str | None = None  # dihedral PDQ variant of the *query* that matched, e.g. "rot90"
    #: vPDQ only: share of the query video's unique frames that match the entry, and of the entry's frames
    #: that match the query (the video matches at query >= 80 %). ``distance`` is then the largest of the
    #: matched frames' best distances, and ``value`` the SHA-256 key of the entry's signal.
    query_match_percent: float | None = None
    compared_match_percent: float | None = None
    query: str | None = None  # None: the whole picture; "border-trimmed": its border cut off
    derivation: str | None = None  # crop matches: which stored sub-region of the original matched
    derived_hash: str | None = None  # crop matches: that sub-region's hash

    @property
    def kind(self) -> str:
        """How the file matched, in one word: ``"exact"`` (a cryptographic hash), the perceptual hash type
        (``"pdq"``, ``"vpdq"``), ``"border-trimmed"`` or ``"crop"``."""
        if self.derivation is not None:
            return "crop"
        if self.query is not None:
            return self.query
        return "exact" if self.hash_type in ("md5", "sha1", "sha256") else self.hash_type

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
        # Only when they say something, so plain matches read exactly as before.
        if self.query is not None:
            d["query"] = self.query
        if self.derivation is not None:
            d["match"] = "crop"
            d["derivation"] = self.derivation
            d["derived_hash"] = self.derived_hash
        return d

    def to_signal(self) -> Signal:
        return Signal(source="hash", category="hash_match", weight=1.0, evidence=self.to_dict())


BANK_CATEGORIES = ("csam", "csam-generated", "known-benign", "test", "other")

#: What a reviewer's decision on a case can say, and the actions it can take (the policy's actions and side
#: actions, in the order a reviewer is offered them). The one list: the service, the API schema, the console.
DECISION_OUTCOMES = ("confirm", "reject")
DECISION_ACTIONS = ("remove", "suspend_account", "report", "preserve", "allow", "label", "review")


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
    entry_count: int = 0  # original entries
    derived_count: int = 0  # derived entries: hashes of sub-regions of media the bank was built from

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
