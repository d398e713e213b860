"""Transparency statistics: counts per period by category, action, detection source and automated vs
human decision; median times detection -> decision -> report; and the figures of DSA articles 15 and 24 that
Bastion's own data supports. Pure over :class:`DecisionRecord` rows (built from the store by
:func:`bastion.reports.from_cases.decision_records`), written as JSON or CSV.

A decision belongs to the period of the day it was made. Times are medians over the decisions of the period
that have both ends (a decision not yet reported has no decision -> report time). Figures the data cannot
give (e.g. orders from authorities, complaints, out-of-court disputes, monthly active recipients) are listed
by name under ``not_available`` instead of being printed as zeros.
"""

from __future__ import annotations

from bastion.clock import as_utc

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

# Every signal source a case can carry; a source recorded but missing here is still counted (after these).
SOURCES = ("hash", "provenance", "text", "account", "classifier", "similarity", "user_report")
PERIODS = ("day", "week", "month", "quarter", "year")

NOT_AVAILABLE = (
    "art15_1a_orders_from_member_state_authorities",
    "art15_1d_complaints_received_through_internal_complaint_handling",
    "art24_1a_out_of_court_dispute_settlement",
    "art24_2_average_monthly_active_recipients",
)


@dataclass(frozen=True)
class DecisionRecord:
    """One decision on a case, with the times and facts statistics need."""

    decision_id: int
    case_id: int
    detected_at: datetime  # when the case was opened (first detection)
    decided_at: datetime
    outcome: str  # confirm | reject
    category: str | None = None
    actions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    automated: bool = False  # decided by the policy with no person
    reported_at: datetime | None = None  # NCMEC report finished
    generated: bool = False
    statement: bool = False  # a DSA statement of reasons was made for it


def period_of(d: datetime | date, period: str) -> str:
    if isinstance(d, datetime):
        d = as_utc(d).date()
    if period == "day":
        return d.isoformat()
    if period == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    if period == "month":
        return f"{d.year}-{d.month:02d}"
    if period == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    if period == "year":
        return str(d.year)
    raise ValueError(f"unknown period {period!r} (known: {', '.join(PERIODS)})")


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


@dataclass
class PeriodStats:
    period: str
    decisions: int = 0
    confirmed: int = 0
    rejected: int = 0
    by_category: Counter = field(default_factory=Counter)
    by_action: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    automated: int = 0
    human: int = 0
    reported: int = 0
    generated: int = 0
    statements: int = 0
    median_hours_detection_to_decision: float | None = None
    median_hours_decision_to_report: float | None = None
    median_hours_detection_to_report: float | None = None
    dsa: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "period": self.period,
            "decisions": self.decisions,
            "confirmed": self.confirmed,
            "rejected": self.rejected,
            "by_category": dict(sorted(self.by_category.items())),
            "by_action": dict(sorted(self.by_action.items())),
            "by_source": {s: self.by_source.get(s, 0) for s in (*SOURCES, *sorted(set(self.by_source) - set(SOURCES)))},
            "automated": self.automated,
            "human": self.human,
            "reported": self.reported,
            "generated": self.generated,
            "statements": self.statements,
            "median_hours_detection_to_decision": self.median_hours_detection_to_decision,
            "median_hours_decision_to_report": self.median_hours_decision_to_report,
            "median_hours_detection_to_report": self.median_hours_detection_to_report,
            "dsa": self.dsa,
        }


def compute(records: list[DecisionRecord], *, period: str = "month") -> dict:
    """``{"period": ..., "periods": [PeriodStats dicts...], "total": {...}, "not_available": [...]}``."""
    groups: dict[str, list[DecisionRecord]] = {}
    for r in records:
        groups.setdefault(period_of(r.decided_at, period), []).append(r)
    periods = [_one(key, groups[key]) for key in sorted(groups)]
    return {
        "period": period,
        "periods": [p.to_dict() for p in periods],
        "total": _one("total", records).to_dict(),
        "not_available": list(NOT_AVAILABLE),
    }


def _one(key: str, rs: list[DecisionRecord]) -> PeriodStats:
    p = PeriodStats(period=key, decisions=len(rs))
    to_decision, to_report, detection_to_report = [], [], []
    for r in rs:
        if r.outcome == "confirm":
            p.confirmed += 1
        elif r.outcome == "reject":
            p.rejected += 1
        p.by_category[r.category or "unspecified"] += 1
        for a in sorted(set(r.actions)):
            p.by_action[a] += 1
        for s in sorted(set(r.sources)):
            p.by_source[s] += 1
        if r.automated:
            p.automated += 1
        else:
            p.human += 1
        p.generated += r.generated
        p.statements += r.statement
        to_decision.append(_hours(r.detected_at, r.decided_at))
        if r.reported_at is not None:
            p.reported += 1
            to_report.append(_hours(r.decided_at, r.reported_at))
            detection_to_report.append(_hours(r.detected_at, r.reported_at))
    p.median_hours_detection_to_decision = _median(to_decision)
    p.median_hours_decision_to_report = _median(to_report)
    p.median_hours_detection_to_report = _median(detection_to_report)
    p.dsa = _dsa(rs)
    return p


def _dsa(rs: list[DecisionRecord]) -> dict:
    """Figures of DSA art. 15(1) and 24(1) the data supports."""
    confirmed = [r for r in rs if r.outcome == "confirm"]
    notices = [r for r in rs if "user_report" in r.sources]
    own = [r for r in confirmed if "user_report" not in r.sources]
    notice_times = [_hours(r.detected_at, r.decided_at) for r in notices]
    return {
        # 15(1)(b): notices (art. 16) received, by category, and actions taken on them
        "art15_1b_notices": len(notices),
        "art15_1b_notices_by_category": dict(sorted(Counter(r.category or "unspecified" for r in notices).items())),
        "art15_1b_notices_actioned": sum(1 for r in notices if r.outcome == "confirm"),
        "art15_1b_median_hours_to_act_on_notices": _median(notice_times),
        # 15(1)(c): content moderation at the provider's own initiative
        "art15_1c_own_initiative_decisions": len(own),
        "art15_1c_own_initiative_by_category": dict(sorted(Counter(r.category or "unspecified" for r in own).items())),
        "art15_1c_detected_by_automated_means": sum(1 for r in own if any(s != "user_report" for s in r.sources)),
        "art15_1c_restrictions_by_type": dict(sorted(Counter(a for r in confirmed for a in set(r.actions)).items())),
        # 15(1)(e): use of automated means
        "art15_1e_decisions_fully_automated": sum(1 for r in rs if r.automated),
        "art15_1e_automated_decisions_overturned": sum(1 for r in rs if r.automated and r.outcome == "reject"),
        # 24(1)(b): suspensions imposed (art. 23 applies to manifestly illegal content)
        "art24_1b_account_suspensions": sum(1 for r in confirmed if "suspend_account" in r.actions),
    }


def to_json(result: dict) -> str:
    import json

    return json.dumps(result, indent=2, sort_keys=False)


def to_csv(result: dict) -> str:
    """Long format, one figure a row: ``period,metric,key,value`` (``key`` empty for plain counts)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["period", "metric", "key", "value"])
    for p in [*result["periods"], result["total"]]:
        for metric, value in p.items():
            if metric == "period":
                continue
            if metric == "dsa":
                for k, v in value.items():
                    if isinstance(v, dict):
                        for kk, vv in v.items():
                            w.writerow([p["period"], k, kk, vv])
                    else:
                        w.writerow([p["period"], k, "", "" if v is None else v])
            elif isinstance(value, dict):
                for k, v in value.items():
                    w.writerow([p["period"], metric, k, v])
            else:
                w.writerow([p["period"], metric, "", "" if value is None else value])
    return out.getvalue()
