"""Evaluation harness: precision, recall and F1 per category over a labelled JSONL corpus.

Each line: ``{"text": ..., "field": "body", "language": "en", "labels": ["minor", "sexual", "harmful"]}``.
``labels`` lists the categories that *should* be found; the pseudo-category ``harmful`` means the item
should reach level ``high`` or ``critical``. A category is predicted when a counted signal of it is found.
Why per category: a lexicon change usually moves one category, and an overall figure hides that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bastion.text.analyze import FIELDS, TextResult, analyze
from bastion.text.errors import InvalidCorpus
from bastion.text.lexicon import Lexicon
from bastion.text.score import ScoringConfig

__all__ = ["CorpusRecord", "CategoryStats", "EvalReport", "read_corpus", "evaluate", "EVAL_CATEGORIES"]

#: Categories scored by the harness ("harmful" is the item-level verdict: level high or critical).
EVAL_CATEGORIES: tuple[str, ...] = ("minor", "sexual", "trade", "coded", "contact", "payment", "price", "harmful")
_HARMFUL_LEVELS = frozenset({"high", "critical"})


@dataclass(frozen=True, slots=True)
class CorpusRecord:
    text: str
    field: str
    language: str | None
    labels: frozenset[str]
    line: int


def read_corpus(path: str | Path) -> list[CorpusRecord]:
    """Read a JSONL corpus; raises :class:`InvalidCorpus` naming every bad line (none is skipped)."""
    p = Path(path)
    records: list[CorpusRecord] = []
    problems: list[str] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidCorpus(f"{p}: cannot read: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{p}:{n}: not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            problems.append(f"{p}:{n}: needs a string 'text'")
            continue
        fld = obj.get("field", "body")
        if fld not in FIELDS:
            problems.append(f"{p}:{n}: unknown field {fld!r}")
            continue
        labels = obj.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            problems.append(f"{p}:{n}: 'labels' must be a list of strings")
            continue
        lang = obj.get("language")
        records.append(CorpusRecord(obj["text"], fld, lang if isinstance(lang, str) else None, frozenset(labels), n))
    if problems:
        raise InvalidCorpus("invalid corpus:\n" + "\n".join(problems[:30]) + (f"\n... and {len(problems) - 30} more" if len(problems) > 30 else ""))
    return records


@dataclass
class CategoryStats:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass
class Miss:
    record: CorpusRecord
    missing: list[str]  # labelled but not found
    extra: list[str]  # found but not labelled
    level: str
    score: float
    found: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.record.line, "text": self.record.text, "field": self.record.field,
                "language": self.record.language, "missing": self.missing, "extra": self.extra,
                "level": self.level, "score": self.score, "found": self.found}


@dataclass
class EvalReport:
    per_category: dict[str, CategoryStats]
    overall: CategoryStats  # micro-average over the evaluated categories except "harmful"
    total: int
    misses: list[Miss] = field(default_factory=list)

    def worst(self, n: int = 10) -> list[Miss]:
        """Worst first: a missed harmful item, then a false harmful verdict, then by number of errors."""
        def key(m: Miss) -> tuple[int, int, int]:
            return (0 if "harmful" in m.missing else 1 if "harmful" in m.extra else 2,
                    -(len(m.missing) + len(m.extra)), m.record.line)
        return sorted(self.misses, key=key)[:n]

    def to_dict(self, worst: int = 10) -> dict[str, Any]:
        return {"total": self.total, "overall": self.overall.to_dict(),
                "categories": {c: s.to_dict() for c, s in self.per_category.items()},
                "worst_misses": [m.to_dict() for m in self.worst(worst)]}


def _predicted(result: TextResult) -> set[str]:
    found = result.categories & set(EVAL_CATEGORIES)
    if result.level in _HARMFUL_LEVELS:
        found.add("harmful")
    return found


def evaluate(
    records: Iterable[CorpusRecord], *, lexicon: Lexicon | None = None, config: ScoringConfig | None = None
) -> EvalReport:
    """Run :func:`bastion.text.analyze` on every record and tally per-category outcomes."""
    stats = {c: CategoryStats() for c in EVAL_CATEGORIES}
    overall = CategoryStats()
    misses: list[Miss] = []
    total = 0
    for rec in records:
        total += 1
        res = analyze(rec.text, rec.field, rec.language, lexicon=lexicon, config=config)
        found = _predicted(res)
        labels = rec.labels & set(EVAL_CATEGORIES)
        for c in EVAL_CATEGORIES:
            st = stats[c]
            if c in found and c in labels:
                st.tp += 1
            elif c in found:
                st.fp += 1
            elif c in labels:
                st.fn += 1
            else:
                continue
            if c != "harmful":
                if c in found and c in labels:
                    overall.tp += 1
                elif c in found:
                    overall.fp += 1
                else:
                    overall.fn += 1
        missing, extra = sorted(labels - found), sorted(found - labels)
        if missing or extra:
            misses.append(Miss(rec, missing, extra, res.level, res.score, sorted(found)))
    return EvalReport(stats, overall, total, misses)
