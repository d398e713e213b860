"""A simulated platform for emerging-term discovery (issue 23 item 5). Benign and synthetic throughout.

The platform: ~100,000 items over 60 simulated days from ~5,000 artists. Art tags are drawn from a Zipf
distribution over ~3,000 tags (single art words and #CamelCase pairs of them); titles from ordinary phrases.
Ordinary trends: a few challenge tags burst to a few percent of all items for a week or two. A small
community (~40 accounts, ~2% of items) tags its posts with NEUTRAL PLACEHOLDER code tokens (made-up
"zq..." syllables, never real codes): it starts with a seed set that is in the platform's lexicon and,
over time, introduces new code tokens that replace them (the seeds fade from ~90% of its items to ~25%).
It also over-uses a few ordinary "flavour" tags (real art words) — a term the statistic may rightly
surface but that is not a code, so it counts against precision. A decoy term in the lexicon is sometimes
used innocently by ordinary artists: those items open cases that reviewers reject.

Every item goes through the service's intake in process (``Service.submit``: text analysis, policy, cases,
term counts). Reviewers decide open cases one simulated day later: community cases are confirmed with
probability 0.7 (a fraction), decoy cases rejected with probability 0.9, the rest left open. Nobody
promotes anything during the 60 days (the lead only looks), so the ranking is judged on its own.

Each simulated day the candidate list (window: the 28 days up to that day) is read; per simulated week we
report precision@10/@20 (a hit: a planted new code), the best precision@20 possible that week (how many
new codes existed), popular tags in the top 10/20 (tags among the 200 most used of the window, and trend
tags), and for each new code the days from its first use to its first top-20 appearance.

After day 60 the lead promotes the new codes found in the final top 20 (``bastion.terms.service``), and
retro-scoring (``bastion.terms.retro.run``) re-scores the stored items holding them: we count the cases it
opens, including items that never opened one because they carried only new codes.

    python bench/sim_terms.py                   # ~100k items, a few minutes
    python bench/sim_terms.py --items 20000     # a quick run
    python bench/sim_terms.py --seed 11 --variants '[{"name": "prior10", "a0": 10}]' --out /tmp/sim11.json
                                                # every day also ranked with a fixed prior of 10; all lists kept
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path

import numpy as np

DAYS = 60
ART_WORDS = (
    "dragon landscape portrait sketch ink watercolor oil acrylic digital pixel anime manga comic fantasy scifi "
    "forest ocean mountain city street night sunset sunrise moon star galaxy space robot mecha knight wizard "
    "witch elf fairy cat dog fox wolf bird owl horse flower garden tree autumn winter spring summer rain snow "
    "castle ruins temple village market cafe kitchen still life figure gesture study anatomy hands eyes "
    "character design concept environment prop creature monster cute chibi kawaii lineart colour shading "
    "lighting texture pattern abstract surreal minimal retro vintage neon cyberpunk steampunk gothic pastel "
    "noir mural poster logo icon sticker badge emblem fanart original oc commission tutorial process wip "
    "speedpaint timelapse traditional gouache charcoal pencil marker pastel crayon clay sculpture papercraft"
).split()
TITLE_WORDS = ("new piece", "quick sketch", "finished at last", "practice", "work in progress", "commission done",
               "study of light", "morning doodle", "for a friend", "old drawing redone", "trying a new brush",
               "weekend painting", "daily drawing", "colour test", "character sheet", "little scene")
TRENDS = ("springchallenge", "drawthisagain", "monthofmonsters", "sketchdaily", "colorpaletteswap", "mermaymonth")
FLAVOUR = ("velvet", "lantern", "porcelain", "moth", "ribbon", "lullaby")


def placeholder_tokens(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """Made-up, pronounceable, neutral tokens ("zq" + syllables): never real words or real codes."""
    cons, vows = "bdfgklmnprstvz", "aeiou"
    out: list[str] = []
    while len(out) < n:
        t = "zq" + "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))] for _ in range(2)) + cons[rng.integers(len(cons))]
        if t not in taken:
            taken.add(t)
            out.append(t)
    return out


class Platform:
    def __init__(self, seed: int, items: int, new_codes: int):
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        singles = list(dict.fromkeys(ART_WORDS))
        pairs = {a.capitalize() + b.capitalize() for a in singles for b in singles if a != b}
        pairs = sorted(pairs)
        rng.shuffle(pairs)
        self.tags = singles + pairs[: 3000 - len(singles)]
        order = rng.permutation(len(self.tags))
        self.tags = [self.tags[i] for i in order]
        ranks = np.arange(1, len(self.tags) + 1)
        w = 1.0 / ranks ** 1.1
        self.tag_p = w / w.sum()
        taken: set[str] = set()
        self.seed_codes = placeholder_tokens(rng, 4, taken)
        self.new_codes = placeholder_tokens(rng, new_codes, taken)
        self.decoy = placeholder_tokens(rng, 1, taken)[0]
        # new code k appears on day intro[k] and stays in use (the newest ones most)
        self.intro = {c: int(2 + k * (DAYS - 8) / max(new_codes - 1, 1)) for k, c in enumerate(self.new_codes)}
        self.trend_windows = {t: (int(d), int(d) + int(rng.integers(7, 15))) for t, d in
                              zip(TRENDS, rng.integers(0, DAYS - 10, len(TRENDS)))}
        self.per_day = items // DAYS
        self.artists = 5000
        self.community = [f"c{k}" for k in range(40)]

    def _art_tags(self, n: int) -> list[str]:
        idx = self.rng.choice(len(self.tags), size=n, replace=False, p=self.tag_p)
        return ["#" + self.tags[i] if self.rng.random() < 0.5 else self.tags[i] for i in idx]

    def day_items(self, day: int) -> list[dict]:
        rng = self.rng
        out: list[dict] = []
        n_comm = int(self.per_day * 0.02)
        for i in range(self.per_day - n_comm):
            tags = self._art_tags(int(rng.integers(2, 6)))
            for t, (a, b) in self.trend_windows.items():
                if a <= day < b and rng.random() < 0.04:
                    tags.append("#" + t)
            if rng.random() < 0.003:
                tags.append(self.decoy)  # an innocent use of a term the lexicon holds
            out.append({"account": f"a{int(rng.integers(self.artists))}", "title": TITLE_WORDS[int(rng.integers(len(TITLE_WORDS)))],
                        "tags": tags, "community": False})
        live = [c for c in self.new_codes if self.intro[c] <= day]
        seed_share = 0.9 - 0.65 * day / DAYS
        for i in range(n_comm):
            tags = self._art_tags(int(rng.integers(1, 4)))
            codes: list[str] = []
            if rng.random() < seed_share:
                codes.append(self.seed_codes[int(rng.integers(len(self.seed_codes)))])
            if live:
                # the newest codes are used most: weight by recency over the last three weeks
                age = np.array([day - self.intro[c] for c in live], dtype=float)
                w = np.exp(-age / 10.0)
                k = 1 + int(rng.random() < 0.6)
                picks = rng.choice(len(live), size=min(k, len(live)), replace=False, p=w / w.sum())
                codes += [live[j] for j in picks]
            if not codes:
                codes.append(self.seed_codes[int(rng.integers(len(self.seed_codes)))])
            if rng.random() < 0.3:
                tags.append(FLAVOUR[int(rng.integers(len(FLAVOUR)))])
            tags += [("#" + c if rng.random() < 0.5 else c) for c in codes]
            rng.shuffle(tags)
            out.append({"account": self.community[int(rng.integers(len(self.community)))],
                        "title": TITLE_WORDS[int(rng.integers(len(TITLE_WORDS)))], "tags": tags, "community": True,
                        "codes": codes})
        order = rng.permutation(len(out))
        return [out[i] for i in order]


def _rank_variant(s_factory, lexicon, day, v: dict) -> list[str]:
    """The day's top 20 with the statistic's parameters of variant ``v``: ``a0`` (the prior's weight in
    pseudo-items, or "conf" / "conf*k": k times the window's confirmed items), ``min_log_odds``, ``min_z``."""
    from bastion.terms import stats
    from bastion.terms.candidates import rank

    saved = stats.prior_strength
    a0 = v.get("a0")
    if a0 is not None:
        def strength(n, a0=a0):
            if isinstance(a0, str):
                return float(n) * (float(a0.split("*")[1]) if "*" in a0 else 1.0)
            return float(a0)
        stats.prior_strength = strength
    try:
        with s_factory() as s:
            got = rank(s, lexicon, until=day, limit=20, min_log_odds=v.get("min_log_odds"),
                       min_z=v.get("min_z", 3.0))
    finally:
        stats.prior_strength = saved
    return [c["term"] for c in got["candidates"]]


def _summary(tops: list[list[str]], sim: "Platform", first_use: dict[str, int], popular: set[str]) -> dict:
    codes = set(sim.new_codes)
    first: dict[str, int] = {}
    for day, top in enumerate(tops):
        for t in top:
            if t in codes and t not in first:
                first[t] = day
    lag = {c: (first[c] - first_use[c]) if c in first else None for c in sim.new_codes if c in first_use}
    weeks = []
    for w in range(DAYS // 7 + (1 if DAYS % 7 else 0)):
        top = tops[min(w * 7 + 6, DAYS - 1)]
        weeks.append({"week": w + 1, "p@10": sum(t in codes for t in top[:10]) / 10,
                      "p@20": sum(t in codes for t in top[:20]) / 20,
                      "popular_in_top10": sorted(t for t in top[:10] if t in popular),
                      "false_in_top20": sorted(t for t in top[:20] if t not in codes)})
    return {"codes_in_top20_within_7_days": sum(1 for x in lag.values() if x is not None and x <= 7),
            "codes_used": len(lag), "max_days_to_top20": max((x for x in lag.values() if x is not None), default=None),
            "never_in_top20": sorted(c for c, x in lag.items() if x is None),
            "days_with_popular_in_top10": [{"day": d, "terms": [t for t in top[:10] if t in popular]}
                                           for d, top in enumerate(tops) if any(t in popular for t in top[:10])],
            "weeks": weeks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--new-codes", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--variants", default=None,
                    help='JSON list of other parameters to rank every day with, e.g. [{"name": "x", "a0": "conf", "min_log_odds": 1.4}]')
    ap.add_argument("--out", default=None, help="also write the report with every day's list to this file")
    args = ap.parse_args()

    from bastion.auth import service as auth
    from bastion.cases import service as cases
    from bastion.cases.holding import MediaHolding
    from bastion.cases.ingest import Service
    from bastion.cases.models import CaseItemRow, CaseRow, ItemRow
    from bastion.cases.schemas import ItemIn
    from bastion.policy import default_policy
    from bastion.store.db import open_store
    from bastion.terms import retro, service as terms
    from bastion.terms.candidates import rank
    from bastion.terms.live import LiveLexicon
    from sqlalchemy import func, select

    home = Path(tempfile.mkdtemp(prefix="bastion-sim-terms-"))
    url = args.database_url or f"sqlite:///{home / 'bastion.db'}"
    store = open_store(url)
    sim = Platform(args.seed, args.items, args.new_codes)
    with store.session() as s, s.begin():
        reviewer = auth.create_user(s, "sim-reviewer", "lead")
        for c in sim.seed_codes + [sim.decoy]:
            terms.add_term(s, c, category="coded", language="und", weight=0.9, actor="sim-lead")
        # the seeds were known before the simulation: nothing to re-score
        from bastion.terms.models import TermChangeRow
        from sqlalchemy import update

        s.execute(update(TermChangeRow).values(retro_done=True))
    lexicon = LiveLexicon(store)
    svc = Service(store, None, default_policy(), MediaHolding(home / "holding"), lexicon=lexicon)
    start = datetime.now(timezone.utc).date() - timedelta(days=DAYS + 1)
    rnd = np.random.default_rng(args.seed + 1)
    variants = json.loads(args.variants) if args.variants else []

    community_items: dict[str, list[str]] = {}
    first_use: dict[str, int] = {}
    first_top20: dict[str, int] = {}
    daily: list[dict] = []
    t_submit = 0.0
    t_rank: list[float] = []
    n = 0
    pool = ThreadPoolExecutor(args.threads)
    waiting: set[int] = set()
    for day in range(DAYS):
        d = start + timedelta(days=day)
        items = sim.day_items(day)
        payloads = []
        for k, it in enumerate(items):
            n += 1
            iid = f"d{day}-{k}"
            ts = datetime.combine(d, dtime(0, 0), tzinfo=timezone.utc) + timedelta(seconds=int(86399 * k / max(len(items), 1)))
            payloads.append(ItemIn(id=iid, kind="post", title=it["title"], tags=it["tags"],
                                   account={"id": it["account"]}, created_at=ts))
            if it["community"]:
                community_items[iid] = it["codes"]
                for c in it["codes"]:
                    first_use.setdefault(c, day)
        t0 = time.perf_counter()
        list(pool.map(svc.submit, payloads))
        t_submit += time.perf_counter() - t0
        # reviewers decide the cases that were open at the end of yesterday (one simulated day of delay)
        with store.session() as s, s.begin():
            user = auth.get_user(s, "sim-reviewer")
            for cid in sorted(waiting):
                if s.get(CaseRow, cid).status != "open":
                    continue
                ext = s.scalars(select(ItemRow.external_id).join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
                                .where(CaseItemRow.case_id == cid)).all()
                community = any(e in community_items for e in ext)
                if community and rnd.random() < 0.7:
                    cases.decide(s, cid, user, "confirm", category="other")
                elif not community and rnd.random() < 0.9:
                    cases.decide(s, cid, user, "reject")
            waiting = set(s.scalars(select(CaseRow.id).where(CaseRow.status == "open")).all())
        t0 = time.perf_counter()
        with store.session() as s:
            got = rank(s, lexicon.current, until=d, limit=20)
        t_rank.append(time.perf_counter() - t0)
        top = [c["term"] for c in got["candidates"]]
        for c in sim.new_codes:
            if c in top and c not in first_top20:
                first_top20[c] = day
        daily.append({"day": day, "top": top, "window": got["window"]})
        for v in variants:  # the same day ranked with other parameters of the statistic (--variants)
            v.setdefault("tops", []).append(_rank_variant(s_factory=store.session, lexicon=lexicon.current, day=d, v=v))
    pool.shutdown()

    # popular tags: the 200 most used terms of the final window, and trend tags
    with store.session() as s:
        from bastion.terms.models import TermCountRow

        popular = {t for t, _ in s.execute(select(TermCountRow.term, func.sum(TermCountRow.n)).where(
            TermCountRow.outcome == "all", TermCountRow.term != "").group_by(TermCountRow.term)
            .order_by(func.sum(TermCountRow.n).desc()).limit(200))}
    popular |= set(TRENDS)
    codes = set(sim.new_codes)
    weeks = []
    for w in range(DAYS // 7 + (1 if DAYS % 7 else 0)):
        last = min(w * 7 + 6, DAYS - 1)
        top = daily[last]["top"]
        live = [c for c in sim.new_codes if first_use.get(c, DAYS) <= last]
        p10 = sum(1 for t in top[:10] if t in codes) / 10
        p20 = sum(1 for t in top[:20] if t in codes) / 20
        weeks.append({"week": w + 1, "day": last + 1, "p@10": p10, "p@20": p20,
                      "best_possible_p@20": min(len(live), 20) / 20, "codes_in_use": len(live),
                      "popular_in_top10": sorted(t for t in top[:10] if t in popular),
                      "popular_in_top20": sorted(t for t in top[:20] if t in popular),
                      "flavour_in_top20": sorted(t for t in top[:20] if t in FLAVOUR),
                      "other_in_top20": sorted(t for t in top[:20] if t not in codes and t not in popular and t not in FLAVOUR)})
    lag = {c: (first_top20[c] - first_use[c]) if c in first_top20 else None for c in sim.new_codes if c in first_use}
    max_pop10 = max(len([t for t in d["top"][:10] if t in popular]) for d in daily)
    pop10_days = [{"day": d["day"], "terms": [t for t in d["top"][:10] if t in popular]} for d in daily
                  if any(t in popular for t in d["top"][:10])]

    if args.out and url.startswith("sqlite:///"):
        # a copy of the store as the 60 days left it (before promotion), to study the ranking again offline
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as src, sqlite3.connect(home / "before-promotion.db") as dst:
            src.backup(dst)
    # promotion of what the final list shows, then retro-scoring
    final_top = daily[-1]["top"][:20]
    promoted = [t for t in final_top if t in codes]
    with store.session() as s:
        cases_before = s.scalar(select(func.count(CaseRow.id)))
        never_flagged = {e for (e,) in s.execute(select(ItemRow.external_id).where(ItemRow.action == "allow"))} & set(community_items)
    with store.session() as s, s.begin():
        for c in promoted:
            terms.add_term(s, c, category="coded", language="und", weight=0.9, actor="sim-lead")
    t0 = time.perf_counter()
    res = retro.run(store, svc.policy, lexicon, max_changes=100)
    t_retro = time.perf_counter() - t0
    with store.session() as s:
        cases_after = s.scalar(select(func.count(CaseRow.id)))
        reached = {e for (e,) in s.execute(select(ItemRow.external_id).join(CaseItemRow, CaseItemRow.item_id == ItemRow.id)
                                           .where(CaseItemRow.reason == "retro_text"))}
    svc.writer.close()
    report = {
        "items": n, "community_items": len(community_items), "new_codes": len(sim.new_codes),
        "submit_seconds": round(t_submit, 1), "items_per_second": round(n / t_submit, 1),
        "rank_seconds_median": round(float(np.median(t_rank)), 3), "rank_seconds_max": round(max(t_rank), 3),
        "weeks": weeks,
        "days_to_top20": lag,
        "codes_in_top20_within_7_days": sum(1 for v in lag.values() if v is not None and v <= 7),
        "codes_used": len(lag),
        "max_popular_in_top10_any_day": max_pop10,
        "days_with_popular_in_top10": pop10_days,
        "store": str(home),
        "retro": {"promoted": len(promoted), "found": res.found, "rescored": res.rescored,
                  "cases_opened_or_joined": len(res.cases), "new_cases": cases_after - cases_before,
                  "community_items_never_flagged_before": len(never_flagged),
                  "of_those_now_in_a_retro_text_case": len(never_flagged & reached),
                  "benign_items_reached": len(reached - set(community_items)), "seconds": round(t_retro, 2)},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load": os.getloadavg(),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    if variants:
        report["variants"] = [{"name": v.get("name"), "params": {k: v[k] for k in v if k not in ("tops", "name")},
                               **_summary(v["tops"], sim, first_use, popular)} for v in variants]
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({**report, "daily": daily, "new_codes": sim.new_codes,
                                              "flavour": list(FLAVOUR), "popular": sorted(popular),
                                              "first_use": first_use}, indent=1))
    store.close()


if __name__ == "__main__":
    main()
