"""Ranking emerging terms: which words, hashtags and tag pieces the items of confirmed cases use far more
than the rest of the platform, growing, and seen beside terms the lexicon already knows.

Reads only ``term_counts`` (the confirmed rows of the window, then every row of those few terms),
``term_pairs`` and ``term_cases``: the cost follows the confirmed vocabulary, not the number of stored items.
See :mod:`bastion.terms.stats` for the statistic and ``docs/text.md`` for how to read a candidate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from bastion.errors import InvalidInput
from bastion.terms import stats
from bastion.terms.counts import TOTAL
from bastion.terms.models import PlatformTermRow, TermCaseRow, TermCountRow, TermPairRow

WINDOW_DAYS = 28
#: the least z listed: chance alone lifts some of thousands of ordinary tags to z ~ 2 (each test is one of
#: many); 3 keeps those out while a code shared by a handful of confirmed items scores far above it
MIN_Z = 3.0
RECENT_DAYS = 7
_CHUNK = 500


@dataclass
class Candidate:
    term: str
    kind: str  # hashtag | word | phrase
    score: float
    z: float
    log_odds: float
    z_vs_rejected: float | None
    confirmed_items: int
    rejected_items: int
    items: int
    tag_items: int
    confirmed_cases: int
    first_seen: str | None
    growth: float
    trend: list[int]
    cooccurs: list[dict[str, Any]] = field(default_factory=list)
    example_cases: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("score", "z", "log_odds", "z_vs_rejected", "growth"):
            if d[k] is not None:
                d[k] = round(d[k], 3)
        return d


def _chunks(seq: list, n: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def parse_day(value: str | date | None, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InvalidInput(f"{what} must be a date (YYYY-MM-DD), got {value!r}") from None


class KnownTerms:
    """What is already known, so never a candidate: the lexicon's terms (by their match key, with and
    without spaces), the platform's own terms and rejected candidates, and stopwords."""

    def __init__(self, lexicon, platform: Iterable[tuple[str, str]] = ()):
        """``platform``: (key, status) rows of ``platform_terms``."""
        from bastion.terms.tokens import term_key

        platform = list(platform)
        # active and rejected terms are never proposed; a removed term may come back
        self.platform = {term_key(k) for k, st in platform if st in ("active", "rejected")}
        self.platform_active = {term_key(k) for k, st in platform if st == "active"}
        # every entry, vocab words too: a word the lists already hold as an ordinary word is no code
        self.lexicon_keys = {e.key for e in lexicon.entries if e.key}
        self.lexicon_keys |= {k.replace(" ", "") for k in self.lexicon_keys}
        self.stop = frozenset().union(*lexicon.stopwords.values()) if lexicon.stopwords else frozenset()
        self._cache: dict[str, str] = {}
        # known terms a candidate may co-occur with (their term keys, as intake recorded pairs)
        self.cooccur_keys = {term_key(e.term) for e in lexicon.entries
                             if e.category not in ("vocab", "benign")} | self.platform_active

    def match_key(self, term: str) -> str:
        k = self._cache.get(term)
        if k is None:
            from bastion.text.normalize import normalize

            k = self._cache[term] = normalize(term).text.strip()
        return k

    def known(self, term: str) -> bool:
        if term in self.platform or term in self.stop:
            return True
        k = self.match_key(term)
        return not k or k in self.lexicon_keys or k.replace(" ", "") in self.lexicon_keys


def known_terms(s: Session, lexicon) -> KnownTerms:
    return KnownTerms(lexicon, s.execute(select(PlatformTermRow.key, PlatformTermRow.status)).all())


def _sum_by(s: Session, outcome: str, terms: list[str], since: date, until: date, language: str | None,
            by_day: bool = False) -> dict:
    out: dict = {}
    for part in _chunks(terms):
        cond = [TermCountRow.outcome == outcome, TermCountRow.term.in_(part), TermCountRow.day >= since,
                TermCountRow.day <= until]
        if language:
            cond.append(TermCountRow.language == language)
        if by_day:
            q = select(TermCountRow.term, TermCountRow.day, func.sum(TermCountRow.n)).where(and_(*cond)) \
                .group_by(TermCountRow.term, TermCountRow.day)
            for t, d, n in s.execute(q):
                out.setdefault(t, {})[d] = int(n or 0)
        else:
            q = select(TermCountRow.term, func.sum(TermCountRow.n)).where(and_(*cond)).group_by(TermCountRow.term)
            for t, n in s.execute(q):
                out[t] = int(n or 0)
    return out


def _window_rows(s: Session, since_d: date, until_d: date, recent_from: date, language: str | None,
                 min_items: int) -> list[tuple[str, int, int, int]]:
    """(term, confirmed items, items, items in the recent days) of every term at least ``min_items``
    confirmed items of the window hold, the items themselves (term ``""``) among them: one statement, the
    confirmed rows of the window grouped first, then each of those terms' ``all`` rows found by the key."""
    cond = [TermCountRow.outcome == "confirm", TermCountRow.day >= since_d, TermCountRow.day <= until_d]
    if language:
        cond.append(TermCountRow.language == language)
    conf = (select(TermCountRow.term.label("term"), func.sum(TermCountRow.n).label("y"))
            .where(and_(*cond)).group_by(TermCountRow.term).having(func.sum(TermCountRow.n) >= min_items)
            .subquery("c"))
    a = aliased(TermCountRow)

    def items_from(first: date):
        cond = [a.outcome == "all", a.term == conf.c.term, a.day >= first, a.day <= until_d]
        if language:
            cond.append(a.language == language)
        return select(func.coalesce(func.sum(a.n), 0)).where(and_(*cond)).scalar_subquery()

    # a correlated sum per term (an index range each) rather than a join and a second GROUP BY: SQLite
    # then needs no temporary B-tree (a third of the time on a 10M-item store)
    q = select(conf.c.term, conf.c.y, items_from(since_d), items_from(recent_from)).select_from(conf)
    return [(t, int(y), int(n), int(r)) for t, y, n, r in s.execute(q)]


def _rejected(s: Session, since_d: date, until_d: date, language: str | None) -> dict[str, int]:
    """Items of rejected cases per term in the window (the rejected vocabulary: few rows)."""
    cond = [TermCountRow.outcome == "reject", TermCountRow.day >= since_d, TermCountRow.day <= until_d]
    if language:
        cond.append(TermCountRow.language == language)
    return {t: int(n) for t, n in s.execute(
        select(TermCountRow.term, func.sum(TermCountRow.n)).where(and_(*cond)).group_by(TermCountRow.term))}


def rank(s: Session, lexicon, *, since: str | date | None = None, until: str | date | None = None,
         language: str | None = None, limit: int = 50, min_items: int = 2, min_cases: int = 2,
         min_z: float = MIN_Z, min_log_odds: float | None = None, examples: int = 5) -> dict[str, Any]:
    """The ranked candidates of the window [since, until] (default: the 28 days up to today, UTC): terms of
    at least ``min_items`` confirmed items in ``min_cases`` confirmed cases whose z is at least ``min_z``
    and whose log-odds ratio is at least ``min_log_odds`` (default :data:`stats.MIN_LOG_ODDS`)."""
    import numpy as np

    until_d = parse_day(until, "until") or datetime.now(timezone.utc).date()
    since_d = parse_day(since, "since") or until_d - timedelta(days=WINDOW_DAYS - 1)
    if since_d > until_d:
        raise InvalidInput(f"since ({since_d}) is after until ({until_d})")
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    min_items = max(int(min_items), 1)
    min_delta = stats.MIN_LOG_ODDS if min_log_odds is None else float(min_log_odds)
    language = (language or "").strip().lower() or None
    days = (until_d - since_d).days + 1
    recent_from = max(since_d, until_d - timedelta(days=RECENT_DAYS - 1))

    rows = _window_rows(s, since_d, until_d, recent_from, language, min_items)
    total = next((r for r in rows if r[0] == TOTAL), None)
    if total is not None:
        _, n_conf, n_all, recent_total = total
    else:  # fewer confirmed items than min_items: nothing to rank, but the window still says what it held
        n_conf = sum(_sum_by(s, "confirm", [TOTAL], since_d, until_d, language).values())
        by_day = _sum_by(s, "all", [TOTAL], since_d, until_d, language, by_day=True).get(TOTAL, {})
        n_all = sum(by_day.values())
        recent_total = sum(n for d, n in by_day.items() if d >= recent_from)
    rejected = _rejected(s, since_d, until_d, language)
    n_rej = rejected.pop(TOTAL, 0)
    window = {"since": since_d.isoformat(), "until": until_d.isoformat(), "language": language,
              "items": n_all, "confirmed_items": n_conf, "rejected_items": n_rej}
    rows = [r for r in rows if r[0] != TOTAL]
    if not rows or n_conf == 0 or n_all == 0:
        return {"window": window, "candidates": []}
    before_total = n_all - recent_total

    # 1. the statistic of every term confirmed items hold, at once (arrays: one row per term)
    names = [r[0] for r in rows]
    y_i = np.minimum(np.array([r[1] for r in rows], dtype=float), n_conf)
    y_all = np.maximum(np.array([r[2] for r in rows], dtype=float), y_i)
    recent = np.array([r[3] for r in rows], dtype=float)
    y_j = y_all - y_i
    n_j = np.maximum(float(n_all - n_conf), y_j)
    a0 = stats.prior_strength(n_conf)
    delta, z = stats.log_odds_arrays(y_i, float(n_conf), y_j, n_j, y_all / n_all, a0)
    keep = np.nonzero((z >= min_z) & (z > 0) & (delta >= min_delta))[0]
    # 2. what is known is never a candidate (checked on the few that stand out only); a term as common in
    # rejected cases as in confirmed ones tells nothing
    known = known_terms(s, lexicon)
    keep = [int(k) for k in keep if not known.known(names[k]) and rejected.get(names[k], 0) < y_i[k]]
    if not keep:
        return {"window": window, "candidates": []}
    idx = np.array(keep)
    if before_total:
        g = stats.growth_arrays(recent[idx], recent_total, y_all[idx] - recent[idx], before_total)
    else:
        g = np.zeros(len(idx))
    pre_score = stats.score_arrays(z[idx], g, np.zeros(len(idx)))

    pre: list[tuple[float, str, stats.LogOdds, float | None, float]] = []
    y_all_of: dict[str, int] = {}
    confirmed: dict[str, int] = {}
    for j, k in enumerate(keep):
        t = names[k]
        y_all_of[t] = int(y_all[k])
        confirmed[t] = int(y_i[k])
        zr = None
        if n_rej:
            zr = stats.log_odds(y_i[k], n_conf, min(rejected.get(t, 0), n_rej), n_rej, y_all[k] / n_all, a0).z
        pre.append((float(pre_score[j]), t, stats.LogOdds(float(delta[k]), float(z[k])), zr, float(g[j])))
    pre.sort(key=lambda x: (-x[0], x[1]))
    short = pre[: max(3 * limit, 60)]
    top = [t for _, t, *_ in short]
    if not top:
        return {"window": window, "candidates": []}
    all_by_day = _sum_by(s, "all", top, since_d, until_d, language, by_day=True)
    tagged = _sum_by(s, "tag", top, since_d, until_d, language)

    # evidence for the short list: cases, first seen, co-occurrence with known terms
    cases: dict[str, list[int]] = {}
    for part in _chunks(top):
        for t, cid in s.execute(select(TermCaseRow.term, TermCaseRow.case_id).where(
                TermCaseRow.term.in_(part), TermCaseRow.outcome == "confirm").order_by(TermCaseRow.term, TermCaseRow.case_id)):
            cases.setdefault(t, []).append(int(cid))
    first: dict[str, date] = {}
    for part in _chunks(top):
        for t, d in s.execute(select(TermCountRow.term, func.min(TermCountRow.day)).where(
                TermCountRow.outcome == "all", TermCountRow.term.in_(part)).group_by(TermCountRow.term)):
            first[t] = d
    pairs: dict[str, list[tuple[str, int]]] = {}
    for part in _chunks(top):
        for t, k, n in s.execute(select(TermPairRow.term, TermPairRow.known, TermPairRow.n).where(TermPairRow.term.in_(part))):
            if k in known.cooccur_keys and n > 0:
                pairs.setdefault(t, []).append((k, int(n)))
    ever: dict[str, int] = {}
    wanted = sorted(set(top) | {k for v in pairs.values() for k, _ in v} | {TOTAL})
    for part in _chunks(wanted):
        for t, n in s.execute(select(TermCountRow.term, func.sum(TermCountRow.n)).where(
                TermCountRow.outcome == "all", TermCountRow.term.in_(part)).group_by(TermCountRow.term)):
            ever[t] = int(n or 0)
    n_ever = ever.get(TOTAL, 0)

    out: list[Candidate] = []
    for _, t, lo, zr, g in short:
        ids = cases.get(t, [])
        if len(ids) < min_cases:
            continue
        co = []
        for k, n in pairs.get(t, []):
            nk = max(ever.get(k, 0), n)
            co.append({"term": k, "items": n, "npmi": round(stats.npmi(n, max(ever.get(t, 0), n), nk, max(n_ever, nk)), 3)})
        co.sort(key=lambda d: (-d["npmi"], -d["items"], d["term"]))
        best = co[0]["npmi"] if co else 0.0
        series = all_by_day.get(t, {})
        trend = [series.get(since_d + timedelta(days=i), 0) for i in range(days)]
        y_all = y_all_of[t]
        kind = "phrase" if " " in t else ("hashtag" if tagged.get(t, 0) * 2 >= max(y_all, 1) else "word")
        out.append(Candidate(
            term=t, kind=kind, score=stats.score(lo.z, g, best), z=lo.z, log_odds=lo.delta, z_vs_rejected=zr,
            confirmed_items=confirmed[t], rejected_items=rejected.get(t, 0), items=y_all, tag_items=tagged.get(t, 0),
            confirmed_cases=len(ids), first_seen=first[t].isoformat() if t in first else None, growth=g,
            trend=trend, cooccurs=co[:5], example_cases=ids[-examples:][::-1]))
    out.sort(key=lambda c: (-c.score, c.term))
    out = _without_pieces(out)
    return {"window": window, "candidates": [c.to_dict() for c in out[:limit]]}


#: a listed term inside another listed term is dropped when the longer one holds at least this share of its items
PIECE_COVER = 0.9


def _without_pieces(found: list[Candidate]) -> list[Candidate]:
    """Drop a candidate that is part of another candidate and hardly occurs outside it: a tag piece
    (``zqva`` of ``zqvaset``, split at a known word) or a word of a listed pair is the same evidence twice."""
    keep = []
    for c in found:
        if not any(u.term != c.term and c.term in u.term and u.items >= PIECE_COVER * c.items for u in found):
            keep.append(c)
    return keep
