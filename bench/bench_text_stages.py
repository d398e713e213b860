"""What each stage of the text pipeline adds, on the independent corpus of issue 22 (ablation).

    BASTION_TEXT_PURE=1 python bench/bench_text_stages.py

Runs ``bench/data/text_eval_languages.txt`` with the shipped lists, then again with one stage switched
off at a time (from the Python sources, so the stages can be patched), and reports recall and false flags
per run and which rows changed. Stages:

* ``script_split`` -- Latin codes written against CJK text read as words (``script_split_view``);
* ``decompounding`` -- German and Dutch parts matched inside longer words (their substring entries read as
  whole words only);
* ``text_contexts`` -- benign contexts of a whole text (reporting, news, hardware, fandom), and ``needs``
  on ambiguous codes (both removed);
* ``stems`` -- Snowball stems (no stem pass);
* ``confusables`` -- the Unicode confusables table (empty table).

Also counts, with every stage on, the harmful rows whose every counted lexicon hit needed normalisation
(the matched original text is not the term as written: case aside, folding, look-alikes, leetspeak,
letters written apart). Ends with one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

if os.environ.get("BASTION_TEXT_PURE") != "1":
    sys.exit("run with BASTION_TEXT_PURE=1 (stages are switched off by patching the Python sources)")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_text_languages as corpus  # noqa: E402

from bastion.text import analyze  # noqa: E402
import bastion.text.confusables as conf  # noqa: E402

analyze_mod = sys.modules["bastion.text.analyze"]  # (the package exports the function under that name)
norm = sys.modules["bastion.text.normalize"]
from bastion.text.lexicon import Lexicon, default_lexicon  # noqa: E402

HIGH = corpus.HIGH
REVIEW = corpus.REVIEW


def run(rows, lexicon=None) -> dict:
    out = {}
    for lang, harmful, field, text in rows:
        r = analyze(text, field, lexicon=lexicon)
        out[(lang, harmful, text)] = r.level in HIGH if harmful else r.level in REVIEW
    return out


def summary(res) -> dict:
    h = [v for (l, harmful, t), v in res.items() if harmful]
    b = [v for (l, harmful, t), v in res.items() if not harmful]
    worst = {}
    for (lang, harmful, _t), v in res.items():
        d = worst.setdefault(lang, [0, 0, 0, 0])
        if harmful:
            d[0] += v
            d[1] += 1
        else:
            d[2] += v
            d[3] += 1
    langs_met = sum(1 for d in worst.values() if d[0] / d[1] >= 0.95 and d[2] / d[3] <= 0.03)
    return {"recall": round(sum(h) / len(h), 3), "false_flags": sum(b), "languages_meeting_goal": langs_met}


def changed(base, other) -> list[str]:
    return [f"{lang} {'+' if harmful else '-'} {t}" for (lang, harmful, t), v in base.items() if other[(lang, harmful, t)] != v]


def relexicon(lex: Lexicon, fn) -> Lexicon:
    return Lexicon(tuple(e2 for e in lex.entries if (e2 := fn(e)) is not None), dict(lex.stopwords), lex.sources).prepare()


def main() -> None:
    rows = corpus.read_rows()
    analyze_mod.configure_memo(0)  # every run analyses afresh (the memo would return the first run's signals)
    lex = default_lexicon()
    base = run(rows)
    stages = {}

    # Latin codes inside CJK text.
    orig = analyze_mod.script_edges
    analyze_mod.script_edges = lambda folded: False
    try:
        stages["script_split"] = run(rows)
    finally:
        analyze_mod.script_edges = orig

    stages["decompounding"] = run(rows, relexicon(
        lex, lambda e: dataclasses.replace(e, match="word") if e.language in ("de", "nl") and e.match == "substring" else e))

    stages["text_contexts"] = run(rows, relexicon(
        lex, lambda e: None if e.scope == "text" else (dataclasses.replace(e, needs=()) if e.needs else e)))

    no_stems = relexicon(lex, lambda e: e)
    no_stems._stems.table.clear()
    no_stems._stems.all_stems = frozenset() if hasattr(no_stems._stems, "all_stems") else None
    stages["stems"] = run(rows, no_stems)

    conf.table.cache_clear()
    real_table = conf.table
    conf.table = lambda: {}
    norm.fold_char.cache_clear()
    norm._FOLD_TABLE.clear(); norm._KNOWN.clear(); norm._NOT_ONE_TO_ONE.clear()
    try:
        stages["confusables"] = run(rows, relexicon(lex, lambda e: e))
    finally:
        conf.table = real_table
        norm.fold_char.cache_clear()
        norm._FOLD_TABLE.clear(); norm._KNOWN.clear(); norm._NOT_ONE_TO_ONE.clear()

    normalised = 0
    for lang, harmful, field, text in rows:
        if not harmful:
            continue
        r = analyze(text, field)
        lex_hits = [s for s in r.signals if s.evidence.get("rule", "").startswith("lexicon:")]
        if lex_hits and all(s.evidence.get("match") in ("joined", "stem", "glued", "hashtag") or
                            s.evidence.get("matched", "").lower() != s.term.lower() for s in lex_hits):
            normalised += 1

    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "all_stages": summary(base),
           "harmful_rows_whose_hits_all_needed_normalisation": normalised, "without": {}}
    for name, res in stages.items():
        diff = changed(base, res)
        out["without"][name] = {**summary(res), "rows_changed": len(diff), "examples": diff[:4]}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
