"""Item-level scoring of text signals, driven by a configuration file rather than code.

Why combinations: single indicator words are everywhere in ordinary life ("my kid", "nude palette",
"commission open"); what marks abuse promotion is their *co-occurrence* in one item. So each category
gets a strength (noisy-or of its counted signals, field-weighted), and named combinations of categories
set the level. Every fired combination becomes a human-readable reason.

The configuration's models and loaders live in :mod:`bastion.text.score_config` (plain Python: this
module is compiled, see docs/decisions/0007-compiled-text.md) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from bastion.model import Signal
from bastion.text._fast import frozen_builder
from bastion.text.score_config import (
    LEVELS,
    TEXT_FIELDS,
    Combination,
    ScoringConfig,
    default_scoring_config,
    load_scoring_config,
)

__all__ = ["Combination", "ScoringConfig", "Score", "load_scoring_config", "default_scoring_config", "score_signals", "LEVELS",
           "TEXT_FIELDS", "field_counts"]


def field_counts(config: ScoringConfig, field: str) -> bool:
    """Whether signals from ``field`` count toward the score: never for ``negative_prompt``."""
    return field != "negative_prompt" and config.field_weights.get(field, 0.0) > 0


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    level: str
    strengths: dict[str, float]
    fired: tuple[str, ...]
    reasons: tuple[str, ...]


# Built for every item with a signal: see bastion.text._fast.
_new_score = frozen_builder(Score)


def _fmt(s: Signal) -> str:
    where = f" in {s.field}" if s.field else ""
    return f"{s.category} {s.term!r}{where}"


class _Compiled:
    """A config's combinations as plain tuples, strongest first (computed once per config object)."""

    __slots__ = ("config", "combos", "levels", "field_weights", "solo", "min_strength", "fired_by_present", "scores")

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
        # Scores by what they are computed from (see score_signals): a bounded table.
        self.scores: dict[tuple[tuple[str, float, str | None, str], ...], Score] = {}

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
        # A fresh empty score: every caller gets its own strengths dict, including this one (a caller that
        # changed the shared one changed every later empty result in the process).
        return _new_score(0.0, "none", {}, (), ())
    compiled = _compiled(config)
    # A score depends on nothing but each signal's category, weight, field and term, in order (the term
    # and field only for the reasons' wording), and the config: the same indicator words in the same
    # fields score the same in any text, so a score is computed once per such tuple (a bounded table,
    # like the fired combinations per set of categories). Each caller gets its own strengths dict.
    key = tuple([(s.category, s.weight, s.field, s.term) for s in signals])
    known = compiled.scores.get(key)
    if known is not None:
        return _new_score(known.score, known.level, dict(known.strengths), known.fired, known.reasons)
    out = _score(signals, compiled)
    if len(compiled.scores) >= 4096:
        compiled.scores.clear()
    compiled.scores[key] = out
    return _new_score(out.score, out.level, dict(out.strengths), out.fired, out.reasons)


def _score(signals: list[Signal], compiled: _Compiled) -> Score:
    """:func:`score_signals` computed."""
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
