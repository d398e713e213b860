"""Item-level scoring of text signals, driven by a configuration file rather than code.

Why combinations: single indicator words are everywhere in ordinary life ("my kid", "nude palette",
"commission open"); what marks abuse promotion is their *co-occurrence* in one item. So each category
gets a strength (noisy-or of its counted signals, field-weighted), and named combinations of categories
set the level. Every fired combination becomes a human-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bastion.model import Signal
from bastion.text._fast import frozen_builder
from bastion.text.errors import InvalidLexicon

__all__ = ["Combination", "ScoringConfig", "Score", "load_scoring_config", "default_scoring_config", "score_signals", "LEVELS"]

LEVELS: tuple[str, ...] = ("none", "low", "medium", "high", "critical")


class Combination(BaseModel):
    """A named co-occurrence of categories that sets a minimum score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    score: float = Field(ge=0.0, le=1.0)
    reason: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> "Combination":
        if not self.all and not self.any:
            raise ValueError(f"combination {self.name!r} needs 'all' or 'any' categories")
        return self


#: The fields a text can come from (as :data:`bastion.text.analyze.FIELDS`; repeated here because analyze
#: imports this module). ``negative_prompt`` is reported but never counted.
TEXT_FIELDS: tuple[str, ...] = ("title", "tag", "body", "comment", "prompt", "negative_prompt", "message")


def field_counts(config: "ScoringConfig", field: str) -> bool:
    """Whether signals from ``field`` count toward the score: never for ``negative_prompt``."""
    return field != "negative_prompt" and config.field_weights.get(field, 0.0) > 0


class ScoringConfig(BaseModel):
    """Weights, thresholds and combinations; loaded from YAML (``lexicons/scoring.yaml`` by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    field_weights: dict[str, float]
    min_strength: float = Field(0.5, ge=0.0, le=1.0)
    levels: dict[str, float]
    solo: dict[str, float] = {}
    combinations: tuple[Combination, ...] = ()

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: dict[str, float]) -> dict[str, float]:
        need = list(LEVELS[1:])
        if sorted(v) != sorted(need):
            raise ValueError(f"levels must define exactly {need}")
        values = [v[k] for k in need]
        if values != sorted(values) or not all(0.0 < x <= 1.0 for x in values):
            raise ValueError("level thresholds must be increasing and in (0, 1]")
        return v

    @field_validator("field_weights")
    @classmethod
    def _fields(cls, v: dict[str, float]) -> dict[str, float]:
        # Every field named, no other: a misspelt name used to be ignored and the real field weighed 1.0.
        unknown = sorted(set(v) - set(TEXT_FIELDS))
        missing = [f for f in TEXT_FIELDS if f not in v]
        if unknown:
            raise ValueError(f"unknown field names {unknown}; the fields are {list(TEXT_FIELDS)}")
        if missing:
            raise ValueError(f"field weights missing for {missing}")
        if any(not 0.0 <= w <= 1.0 for w in v.values()):
            raise ValueError("field weights must be in [0, 1]")
        if v.get("negative_prompt", 0.0) != 0.0:
            raise ValueError("negative_prompt must weigh 0: what a prompt asks to avoid never counts")
        return v

    def level_of(self, score: float) -> str:
        level = "none"
        for name in LEVELS[1:]:
            if score >= self.levels[name]:
                level = name
        return level


def load_scoring_config(path: str | Path) -> ScoringConfig:
    """Load and validate a scoring file; raises :class:`InvalidLexicon` with every problem."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidLexicon([(str(p), "file", f"cannot read scoring config: {exc}")]) from exc
    return _validate(data, str(p))


def _validate(data: object, where: str) -> ScoringConfig:
    try:
        return ScoringConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidLexicon(
            [(where, ".".join(str(x) for x in err["loc"]) or "top", err["msg"]) for err in exc.errors()]
        ) from exc


@lru_cache(maxsize=1)
def default_scoring_config() -> ScoringConfig:
    """The shipped scoring configuration, loaded once per process."""
    ref = resources.files("bastion.text").joinpath("lexicons", "scoring.yaml")
    return _validate(yaml.safe_load(ref.read_text(encoding="utf-8")), str(ref))


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    level: str
    strengths: dict[str, float]
    fired: tuple[str, ...]
    reasons: tuple[str, ...]


_EMPTY = Score(0.0, "none", {}, (), ())
# Built for every item with a signal: see bastion.text._fast.
_new_score = frozen_builder(Score)


def _fmt(s: Signal) -> str:
    where = f" in {s.field}" if s.field else ""
    return f"{s.category} {s.term!r}{where}"


class _Compiled:
    """A config's combinations as plain tuples, strongest first (computed once per config object)."""

    __slots__ = ("config", "combos", "levels", "field_weights", "solo", "min_strength", "fired_by_present")

    def __init__(self, config: ScoringConfig):
        self.config = config  # keeps the object alive so its id() is not reused while cached
        ordered = sorted(config.combinations, key=lambda c: -c.score)
        self.combos = tuple((c.name, frozenset(c.all), c.all, c.any, c.score, c.reason) for c in ordered)
        self.levels = tuple((config.levels[name], name) for name in LEVELS[1:])
        # The same objects as the config's (a frozen model), read here without model attribute lookups.
        self.field_weights = config.field_weights
        self.solo = config.solo
        self.min_strength = config.min_strength
        # Which combinations fire depends only on the set of present categories: worked out once per set.
        self.fired_by_present: dict[frozenset[str], tuple[tuple[str, tuple[str, ...], float, str], ...]] = {}

    def fired(self, present: frozenset[str]) -> tuple[tuple[str, tuple[str, ...], float, str], ...]:
        """(name, categories named in its reason, score, reason) of each combination that fires when
        exactly ``present`` reach the minimum strength, strongest first."""
        out = self.fired_by_present.get(present)
        if out is None:
            found = []
            for name, all_set, all_cats, any_cats, combo_score, reason in self.combos:
                if not all_set <= present:
                    continue
                hit_any = [c for c in any_cats if c in present]
                if any_cats and not hit_any:
                    continue
                found.append((name, tuple(all_cats) + tuple(hit_any[:1]), combo_score, reason))
            out = tuple(found)
            if len(self.fired_by_present) >= 4096:
                self.fired_by_present.clear()
            self.fired_by_present[present] = out
        return out


_COMPILED: dict[int, _Compiled] = {}


def _compiled(config: ScoringConfig) -> _Compiled:
    c = _COMPILED.get(id(config))
    if c is None or c.config is not config:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        c = _COMPILED[id(config)] = _Compiled(config)
    return c


def score_signals(signals: Iterable[Signal], config: ScoringConfig) -> Score:
    """Score counted signals. Signals whose field weight is 0 (``negative_prompt``) add nothing."""
    if not isinstance(signals, list):
        signals = list(signals)
    if not signals:
        return _EMPTY
    compiled = _compiled(config)
    field_weights = compiled.field_weights
    remaining: dict[str, float] = {}
    best_by_cat: dict[str, Signal] = {}
    for s in signals:
        if s.field == "negative_prompt":
            continue  # never counts, whatever the configuration
        w = s.weight * field_weights.get(s.field or "body", 0.0)
        if w <= 0:
            continue
        c = s.category
        remaining[c] = remaining.get(c, 1.0) * (1.0 - (w if w < 1.0 else 1.0))
        cur = best_by_cat.get(c)
        if cur is None or s.weight > cur.weight:
            best_by_cat[c] = s
    strengths = {c: round(1.0 - r, 4) for c, r in remaining.items()}

    score = 0.0
    solo_cat = None
    solo = compiled.solo
    for c, st in strengths.items():
        v = st * solo.get(c, 0.0)
        if v > score:
            score, solo_cat = v, c

    # Combinations, strongest first: the first reason is the one that set the level.
    reasons: list[str] = []
    fired: list[str] = []
    min_strength = compiled.min_strength
    present = frozenset([c for c, st in strengths.items() if st >= min_strength])
    for name, cats, combo_score, reason in compiled.fired(present) if present else ():
        fired.append(name)
        evidence = ", ".join([_fmt(best_by_cat[c]) for c in cats])
        reasons.append(f"{name}: {reason or ' + '.join(cats)} [{evidence}]")
        if combo_score > score:
            score = combo_score
    if solo_cat is not None:
        reasons.append(f"strongest single indicator: {_fmt(best_by_cat[solo_cat])} (strength {strengths[solo_cat]:.2f})")
    level = "none"
    for threshold, name in compiled.levels:
        if score >= threshold:
            level = name
    return _new_score(round(score, 4), level, strengths, tuple(fired), tuple(reasons))
