"""Benchmark: policy evaluations per second (one core) with the shipped default policy. Run by hand:

    .venv/bin/python bench/bench_policy.py [--items 20000] [--repeat 3]

The service calls ``Policy.evaluate`` once per submitted item (goal of the whole request: 1,000 text
items/s on 2 cores, i.e. a budget of ~2 ms of CPU per item), so what matters is the share of that budget
the policy takes. Measured in the same run, interleaved in chunks so other load falls on all alike:

- ``evaluate``: the default policy over a mix of facts (benign stand-ins: most items clean or with a few
  text signals, some with hash matches, provenance, prices and account history, like a platform's stream);
- ``evaluate+json``: the same plus ``json.dumps(verdict.to_dict())`` (what the service stores and answers);
- ``heavy``: items with 200 text signals that fire most rules (the worst case of long texts);
- the baseline ``analyze_item``: the text analysis of an ordinary item's title, body and tags, which the
  service runs on every item anyway; reported as the ratio evaluate / analyze_item.

Rates are CPU seconds of this process (``time.process_time``). Ends by printing ONE JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bastion.model import Match, Signal  # noqa: E402
from bastion.policy import AccountFacts, Facts, PriceFacts, default_policy  # noqa: E402
from bastion.text import analyze_item  # noqa: E402

TITLES = ["a red cube", "speedpaint of a forest at dusk", "new watercolor landscape, prints available",
          "stream tonight at 8pm", "WIP: still fixing the hands lol", "commission $30 per piece, dm me"]
TAGS = [["watercolor", "landscape"], ["sketchbook"], ["oc", "fanart", "digital"], []]


def text_sig(rng: random.Random, category: str, field: str = "body") -> Signal:
    start = rng.randrange(0, 200)
    return Signal("text", category, 0.8, "placeholder", "placeholder", (start, start + 11), "en", field,
                  {"text_index": 0, "rule": "lexicon:bench", "matched": "placeholder"})


def hash_sig(category: str, media: int) -> Signal:
    s = Match("bank-a", category, "pdq", "0" * 64, "entry-1", 8).to_signal()
    return Signal(s.source, s.category, s.weight, evidence={**s.evidence, "media": media})


def make_facts(rng: random.Random, i: int) -> Facts:
    r = rng.random()
    signals: list[Signal] = []
    level, score, combos = "none", 0.0, ()
    if r < 0.6:  # clean
        pass
    elif r < 0.8:  # a few weak text signals
        signals = [text_sig(rng, rng.choice(["trade", "contact", "price"])) for _ in range(rng.randint(1, 3))]
        level, score = rng.choice([("low", 0.2), ("medium", 0.45)])
    elif r < 0.9:  # high / critical text
        signals = [text_sig(rng, "minor"), text_sig(rng, "sexual", "tag"), text_sig(rng, "trade")]
        level, score, combos = rng.choice([("high", 0.75, ("minor_and_sexual",)),
                                           ("critical", 0.95, ("minor_sexual_and_commerce",))])
    elif r < 0.95:  # AI-generated media with prompt signals
        signals = [Signal("provenance", "ai_generated", 0.9, evidence={"trace": "metadata", "media": 0}),
                   Signal("provenance", "generator", 0.9, evidence={"generator": "ComfyUI", "media": 0}),
                   text_sig(rng, "minor", "prompt"), text_sig(rng, "sexual", "prompt")]
    else:  # hash matches, one in five on an allow-list
        signals = [hash_sig(rng.choice(["csam", "other", "test", "known-benign", "known-benign"]), 0)]
    account = None
    if rng.random() < 0.7:
        account = AccountFacts(id=f"acc-{i % 500}", age_days=rng.choice([None, 1.0, 30.0, 400.0]), items=rng.randint(0, 99),
                               prior_confirmed=1 if rng.random() < 0.03 else 0, risk=rng.random() * 0.5,
                               linked_flagged=1 if rng.random() < 0.03 else 0)
    price = PriceFacts(rng.choice([1.0, 9.99, 50.0]), "USD", rng.choice([None, "vip"])) if rng.random() < 0.2 else None
    return Facts(item_id=f"item-{i}", kind=rng.choice(["post", "comment", "message"]), signals=tuple(signals),
                 text_level=level, text_score=score, text_combinations=combos, price=price,
                 media_count=sum(1 for s in signals if s.source != "text"), account=account)


def heavy_facts(rng: random.Random, i: int) -> Facts:
    cats = ["minor", "sexual", "trade", "contact", "payment", "price", "coded"]
    signals = [text_sig(rng, cats[j % len(cats)], rng.choice(["title", "body", "tag", "prompt"])) for j in range(200)]
    signals += [hash_sig("other", 0), Signal("provenance", "ai_generated", 0.9, evidence={"trace": "c2pa", "media": 0})]
    return Facts(item_id=f"heavy-{i}", signals=tuple(signals), text_level="critical", text_score=0.95,
                 text_combinations=("coded_and_context", "minor_sexual_and_commerce"), media_count=1,
                 account=AccountFacts(id="acc-h", age_days=2.0, prior_confirmed=2, linked_flagged=1))


def timed(fn, items) -> float:
    t = time.process_time()
    for x in items:
        fn(x)
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(7)
    policy = default_policy()
    stream = [make_facts(rng, i) for i in range(args.items)]
    heavy = [heavy_facts(rng, i) for i in range(max(1, args.items // 20))]
    texts = [[("title", rng.choice(TITLES)), ("body", rng.choice(TITLES))] + [("tag", t) for t in rng.choice(TAGS)]
             for _ in range(args.items)]
    for f in stream[:200]:  # warm caches (lexicon load, compiled rules)
        policy.evaluate(f)
    analyze_item(texts[0])

    def ev_json(f: Facts) -> None:
        json.dumps(policy.evaluate(f).to_dict())

    totals = {"evaluate": 0.0, "evaluate_json": 0.0, "heavy": 0.0, "analyze_item": 0.0}
    counts = dict.fromkeys(totals, 0)
    for _ in range(args.repeat):
        for start in range(0, args.items, args.chunk):
            part, tpart = stream[start:start + args.chunk], texts[start:start + args.chunk]
            hpart = heavy[start // 20:(start + args.chunk) // 20]
            totals["evaluate"] += timed(policy.evaluate, part)
            totals["analyze_item"] += timed(analyze_item, tpart)
            totals["evaluate_json"] += timed(ev_json, part)
            totals["heavy"] += timed(policy.evaluate, hpart)
            counts["evaluate"] += len(part)
            counts["analyze_item"] += len(tpart)
            counts["evaluate_json"] += len(part)
            counts["heavy"] += len(hpart)
    rate = {k: counts[k] / totals[k] for k in totals}
    actions: dict[str, int] = {}
    for f in stream:
        a = policy.evaluate(f).action
        actions[a] = actions.get(a, 0) + 1
    for k in totals:
        print(f"{k:>14}: {rate[k]:>10,.0f} /s  ({1e6 / rate[k]:.1f} µs each)")
    print(f"evaluate / analyze_item time ratio: {rate['analyze_item'] / rate['evaluate']:.3f}; "
          f"share of a 2 ms/item budget: {100 * (1e3 / rate['evaluate_json']) / 2:.2f} %")
    print(json.dumps({
        "bench": "policy", "date": date.today().isoformat(), "machine": f"{platform.machine()} {_cores()} cores",
        "python": platform.python_version(), "items": args.items, "repeat": args.repeat,
        "rules": len(policy.rules), "actions": actions,
        "evaluate_per_s": round(rate["evaluate"]), "evaluate_json_per_s": round(rate["evaluate_json"]),
        "heavy_200_signals_per_s": round(rate["heavy"]), "analyze_item_per_s": round(rate["analyze_item"]),
        "evaluate_vs_analyze_item_time": round(rate["analyze_item"] / rate["evaluate"], 3),
    }))


def _cores() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
