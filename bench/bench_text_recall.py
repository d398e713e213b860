"""Text detection quality on two corpora: the tuning corpus and a held-out one (issue 10).

    python bench/bench_text_recall.py [--show-misses]

* ``src/bastion/text/corpus/dev.jsonl``: generated from the shipped lists' own words (the lists were tuned
  on it; its figures measure regressions, not real accuracy).
* ``tests/text/data/heldout.jsonl``: written by hand for issue 10 *before* the lexicons were changed
  (see its git history), from outside the lists' vocabulary: inflected forms in de/fr/es/en, compact pairs
  of short words, offers of "real" (not generated) material, coded tags with digits and run-together
  words, and benign look-alikes from art-community life. Short, clinical, non-graphic.

Figures per corpus: harmful recall (items labelled ``harmful`` reaching level high or critical), recall at
``review`` (level medium or above: the default policy sends those to review), false flags (items without
``harmful`` reaching medium or above: what a reviewer would see for nothing), and the evaluation
harness's per-category precision/recall. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bastion.text import analyze
from bastion.text.evaluate import evaluate, read_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {
    "dev": ROOT / "src" / "bastion" / "text" / "corpus" / "dev.jsonl",
    "heldout": ROOT / "tests" / "text" / "data" / "heldout.jsonl",
}
REVIEW = frozenset({"medium", "high", "critical"})
HIGH = frozenset({"high", "critical"})


def figures(path: Path, show: bool) -> dict:
    records = read_corpus(path)
    harmful = [r for r in records if "harmful" in r.labels]
    benign = [r for r in records if "harmful" not in r.labels]
    hit_high = hit_review = flagged = 0
    misses, flags = [], []
    for r in records:
        res = analyze(r.text, r.field, r.language)
        if "harmful" in r.labels:
            hit_high += res.level in HIGH
            hit_review += res.level in REVIEW
            if res.level not in HIGH:
                misses.append(f"{res.level:8} {r.text}")
        elif res.level in REVIEW:
            flagged += 1
            flags.append(f"{res.level:8} {r.text}  [{'; '.join(res.combinations)}]")
    report = evaluate(records)
    out = {
        "items": len(records),
        "harmful": len(harmful),
        "benign": len(benign),
        "harmful_recall_high": round(hit_high / len(harmful), 4) if harmful else None,
        "harmful_recall_review": round(hit_review / len(harmful), 4) if harmful else None,
        "benign_flagged_review": flagged,
        "false_flag_rate": round(flagged / len(benign), 4) if benign else None,
        "overall": report.overall.to_dict(),
        "categories": {c: {"precision": s.precision, "recall": s.recall} for c, s in report.per_category.items()},
    }
    if show:
        for m in misses:
            print(f"  miss  {m}")
        for f in flags:
            print(f"  flag  {f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name, path in CORPORA.items():
        if args.show_misses:
            print(f"== {name}")
        out[name] = figures(path, args.show_misses)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
