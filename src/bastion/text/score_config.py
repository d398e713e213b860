"""The scoring configuration of text signals: its pydantic models, validation and the shipped default.

Kept apart from :mod:`bastion.text.score` (re-exported there) because that module is compiled with Cython
for speed (docs/decisions/0007-compiled-text.md) and pydantic models need plain Python methods.
How the configuration is used: :mod:`bastion.text.score`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bastion.text.errors import InvalidLexicon

__all__ = ["Combination", "ScoringConfig", "load_scoring_config", "default_scoring_config", "LEVELS", "TEXT_FIELDS"]

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
