"""The plug-in interface for image classifiers (issue 24).

A classifier looks at one decoded picture and returns **named scores** (``{"nudity": 0.03}``), with the
**model id and version** that produced them and the **time it took**. Bastion turns each result into a
signal (``source: classifier``, ``category`` = the classifier's name) that the policy reads as facts and the
console shows beside the blurred image. These signals rank and route items for human review; no policy
shipped with Bastion removes, reports or suspends on a classifier signal alone.

Writing one
-----------
Subclass :class:`Classifier` (or write any object with the same attributes and methods)::

    class MyClassifier(Classifier):
        name = "my-nudity"          # registry name: lower-case letters, digits, '-', '_' or '.'
        model = "acme-nsfw"         # which model gives the scores
        version = "2.1"             # its version (weights, not just code)
        scores = ("nudity",)        # the score names it returns, each a finite number (0..1 by convention)

        def load(self) -> None:     # once per worker process, before the first picture
            ...                     # raise ClassifierUnavailable if a package or model file is missing

        def classify(self, picture: Picture) -> Mapping[str, float]:
            return {"nudity": 0.12}  # or an Outcome(scores, details) to add JSON-safe details

and declare it as an entry point of your distribution, in the group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."bastion.classifiers"]
    my-nudity = "my_package.module:MyClassifier"

The entry point may name a class or a factory function (called with no argument). The entry point's
name is the classifier's name for ``bastion scan --classify=my-nudity`` and the service's
``BASTION_CLASSIFIERS``; it must equal the object's ``name``.

Rules a classifier keeps
------------------------
* **Never download at run time.** Models ship inside a package; :meth:`Classifier.load` reads them from
  there. A classifier that cannot load raises :class:`ClassifierUnavailable`; Bastion then reports the
  classification as *unavailable* for that picture (never as a clean result).
* ``classify`` gets a :class:`Picture`: the RGB decode the examine pipeline already made (oriented, reduced
  so its short side is between 256 and 511 pixels when the original is larger), plus the original bytes
  when the caller has them (a remote classifier may prefer to send those). It must not keep the picture.
* It runs in a worker process under that file's time budget; a classifier that calls out over the network
  sets its own timeouts well inside it.
* A problem with one picture raises any exception: it is reported as an ``error`` outcome for that
  classifier and picture, and the other classifiers still run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

from bastion.model import Signal

__all__ = ["ENTRY_POINT_GROUP", "SOURCE", "Classifier", "ClassifierResult", "ClassifierUnavailable",
           "ImageClassifier", "Outcome", "Picture", "check_scores"]

#: The entry-point group plug-in classifiers are declared in.
ENTRY_POINT_GROUP = "bastion.classifiers"
#: The ``source`` of every classifier signal.
SOURCE = "classifier"
#: Names of classifiers and scores.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class ClassifierUnavailable(Exception):
    """A classifier cannot run here: its optional packages (``pip install 'bastion[classifiers]'``) or its
    model files are missing. Bastion reports the classification as unavailable, never as clean."""


@dataclass(frozen=True)
class Picture:
    """What a classifier is given: one decoded still image.

    ``image`` is a ``PIL.Image.Image`` in mode ``RGB``, already oriented; ``width``/``height`` are the full
    original's (the decode may be reduced); ``format`` the container (``jpeg``, ``png`` ...); ``data`` the
    original file bytes when the caller has them (``None`` otherwise)."""

    image: Any
    width: int
    height: int
    format: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """What ``classify`` may return instead of a plain mapping: the scores plus JSON-safe ``details``
    (e.g. ``{"boxes": [[x, y, w, h], ...]}``), shown to reviewers, never read by the policy."""

    scores: Mapping[str, float]
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ImageClassifier(Protocol):
    """The interface, as a protocol: any object with these attributes and methods is a classifier."""

    name: str
    model: str
    version: str
    scores: tuple[str, ...]

    def load(self) -> None: ...

    def classify(self, picture: Picture) -> "Mapping[str, float] | Outcome": ...


class Classifier:
    """A convenient base class for :class:`ImageClassifier` (``load`` does nothing by default)."""

    name: str = ""
    model: str = ""
    version: str = ""
    scores: tuple[str, ...] = ()
    #: A short line for ``bastion classifiers`` listings and the docs.
    description: str = ""

    def load(self) -> None:
        """Load models once per process. Raise :class:`ClassifierUnavailable` when something is missing."""

    def classify(self, picture: Picture) -> "Mapping[str, float] | Outcome":  # pragma: no cover - abstract
        raise NotImplementedError


#: Statuses of a :class:`ClassifierResult`.
STATUSES = ("ok", "unavailable", "error")


@dataclass(frozen=True)
class ClassifierResult:
    """One classifier's answer about one picture, as Bastion records it.

    ``status`` is ``ok`` (``scores`` hold), ``unavailable`` (the classifier could not load: nothing was
    looked at) or ``error`` (it failed on this picture). ``seconds`` is the time ``classify`` took (not the
    one-off load)."""

    name: str
    model: str
    version: str
    status: str = "ok"
    scores: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_signal(self) -> Signal:
        """The signal of this result: ``source: classifier``, ``category``: the classifier's name (or
        ``unavailable`` / ``error``), ``weight``: its highest score clamped to 0..1 (1.0 without scores, so a
        weight filter never hides an unavailable classifier), evidence: model, version, scores, milliseconds,
        details and error."""
        evidence: dict[str, Any] = {"classifier": self.name, "model": self.model, "version": self.version,
                                    "status": self.status, "ms": round(self.seconds * 1000.0, 2)}
        if self.scores:
            evidence["scores"] = {k: float(v) for k, v in self.scores.items()}
        if self.details:
            evidence["details"] = dict(self.details)
        if self.error:
            evidence["error"] = self.error
        category = self.name if self.status == "ok" else self.status
        weight = max((min(1.0, max(0.0, float(v))) for v in self.scores.values()), default=1.0) if self.scores else 1.0
        return Signal(source=SOURCE, category=category, weight=weight, evidence=evidence)

    @classmethod
    def from_signal(cls, sig: Signal | Mapping[str, Any]) -> "ClassifierResult":
        ev = sig.evidence if isinstance(sig, Signal) else (sig.get("evidence") or {})
        return cls(name=str(ev.get("classifier", "")), model=str(ev.get("model", "")),
                   version=str(ev.get("version", "")), status=str(ev.get("status", "ok")),
                   scores=dict(ev.get("scores") or {}), seconds=float(ev.get("ms") or 0.0) / 1000.0,
                   details=dict(ev.get("details") or {}), error=ev.get("error"))


def check_scores(name: str, raw: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, details) from what ``classify`` returned, or ``ValueError`` saying what is wrong: a mapping of
    score names to finite numbers, or an :class:`Outcome`."""
    details: Mapping[str, Any] = {}
    if isinstance(raw, Outcome):
        raw, details = raw.scores, raw.details
    if not isinstance(raw, Mapping):
        raise ValueError(f"classifier {name!r} returned {type(raw).__name__}, expected a mapping of score names to numbers")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not NAME_RE.match(k):
            raise ValueError(f"classifier {name!r}: score name {k!r} must be lower-case letters, digits, '-', '_' or '.'")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"classifier {name!r}: score {k!r} is {v!r}, expected a finite number")
        out[k] = float(v)
    if not isinstance(details, Mapping):
        raise ValueError(f"classifier {name!r}: details must be a mapping")
    return out, dict(details)
