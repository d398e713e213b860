"""Text detection per language on the independent corpus of issue 22.

    python bench/bench_text_languages.py [--show-misses] [--jsonl OUT]

``bench/data/text_eval_languages.txt`` was written by hand before the lexicons were changed for issue 22,
outside the lists' own words and apart from the tuning corpora (``src/bastion/text/corpus``,
``tests/text/data``): at least 30 harmful rows and 30 benign look-alikes for each of en, fr, es, de, ja,
pt, it, nl, ru, pl, ko and zh (simplified and traditional). Rows are short and clinical.

Per language: recall (harmful rows reaching level high or critical) and false flags (benign rows reaching
medium or above, which the default policy sends to review). ``--jsonl`` writes the rows in the format of
``bastion eval text``. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bastion.text import analyze

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "data" / "text_eval_languages.txt"
REVIEW = frozenset({"medium", "high", "critical"})
HIGH = frozenset({"high", "critical"})


def read_rows(path: Path = CORPUS) -> list[tuple[str, bool, str, str]]:
    """(language, harmful, field, text) per row; raises ValueError naming a malformed line."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3 or parts[1] not in "+-" or not parts[2].strip():
            raise ValueError(f"{path}:{n}: expected '<lang> <+|-> text'")
        lang, mark, text = parts
        field = "body"
        head, sep, rest = text.partition(": ")
        if sep and head in ("title", "tag", "body", "comment", "message", "prompt"):
            field, text = head, rest
        rows.append((lang, mark == "+", field, text))
    return rows


def figures(rows, show: bool = False) -> dict:
    per: dict[str, dict] = {}
    for lang, harmful, field, text in rows:
        d = per.setdefault(lang, {"harmful": 0, "hit": 0, "benign": 0, "flagged": 0, "misses": [], "flags": []})
        res = analyze(text, field)
        if harmful:
            d["harmful"] += 1
            if res.level in HIGH:
                d["hit"] += 1
            else:
                d["misses"].append(f"{res.level:8} {text}")
        else:
            d["benign"] += 1
            if res.level in REVIEW:
                d["flagged"] += 1
                d["flags"].append(f"{res.level:8} {text}  [{'; '.join(res.combinations)}]")
    out = {}
    for lang, d in per.items():
        out[lang] = {
            "harmful": d["harmful"], "benign": d["benign"],
            "recall": round(d["hit"] / d["harmful"], 3) if d["harmful"] else None,
            "false_flags": d["flagged"],
            "false_flag_rate": round(d["flagged"] / d["benign"], 3) if d["benign"] else None,
        }
        if show:
            print(f"== {lang}: recall {out[lang]['recall']}  false flags {d['flagged']}/{d['benign']}")
            for m in d["misses"]:
                print(f"  miss  {m}")
            for f in d["flags"]:
                print(f"  flag  {f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--jsonl", type=Path, help="also write the rows as a `bastion eval text` corpus")
    args = ap.parse_args()
    rows = read_rows()
    if args.jsonl:
        with args.jsonl.open("w", encoding="utf-8") as f:
            for lang, harmful, field, text in rows:
                f.write(json.dumps({"text": text, "field": field, "language": lang,
                                    "labels": ["harmful"] if harmful else []}, ensure_ascii=False) + "\n")
    per = figures(rows, args.show_misses)
    total_h = sum(v["harmful"] for v in per.values())
    total_b = sum(v["benign"] for v in per.values())
    hit = sum(round(v["recall"] * v["harmful"]) for v in per.values())
    flagged = sum(v["false_flags"] for v in per.values())
    met = all(v["recall"] >= 0.95 and v["false_flag_rate"] <= 0.03 for v in per.values())
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": len(rows),
        "recall": round(hit / total_h, 3), "false_flag_rate": round(flagged / total_b, 3),
        "goal_met_every_language": met, "languages": per,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
