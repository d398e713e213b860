"""Transparency statistics on seeded decisions equal figures computed by hand (written out below)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from bastion.reports.stats import DecisionRecord, compute, period_of, to_csv, to_json

T = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)

# January: 4 decisions; February: 2.
RECORDS = [
    # hash match, human confirmed after 2 h, reported 10 h after decision, account suspended
    DecisionRecord(1, 1, T, T + 2 * H, "confirm", "csam", ("remove", "report", "suspend_account"), ("hash",), False, T + 12 * H),
    # generated material, provenance + text, human confirmed after 4 h, reported 6 h later
    DecisionRecord(2, 2, T, T + 4 * H, "confirm", "csam-generated", ("remove", "report"), ("provenance", "text"), False, T + 10 * H, generated=True),
    # a user's notice, human rejected after 1 h
    DecisionRecord(3, 3, T + 24 * H, T + 25 * H, "reject", "csam", (), ("user_report",), False),
    # automated: hash match decided by policy at once, not reported yet
    DecisionRecord(4, 4, T + 48 * H, T + 48 * H, "confirm", "csam", ("remove",), ("hash", "account"), True),
    # February: a notice confirmed after 8 h and reported 2 h later; an automated removal overturned
    DecisionRecord(5, 5, T + 30 * 24 * H, T + 30 * 24 * H + 8 * H, "confirm", "csam", ("remove", "report"), ("user_report", "text"), False, T + 30 * 24 * H + 10 * H),
    DecisionRecord(6, 6, T + 31 * 24 * H, T + 31 * 24 * H, "reject", "csam", ("remove",), ("text",), True),
]


def test_monthly_figures_equal_hand_computed():
    res = compute(RECORDS, period="month")
    jan, feb = res["periods"]
    assert jan["period"] == "2026-01" and feb["period"] == "2026-02"
    assert (jan["decisions"], jan["confirmed"], jan["rejected"]) == (4, 3, 1)
    assert jan["by_category"] == {"csam": 3, "csam-generated": 1}
    assert jan["by_action"] == {"remove": 3, "report": 2, "suspend_account": 1}
    assert jan["by_source"] == {"hash": 2, "provenance": 1, "text": 1, "account": 1, "classifier": 0, "similarity": 0,
                                 "user_report": 1}
    assert (jan["automated"], jan["human"], jan["reported"], jan["generated"]) == (1, 3, 2, 1)
    # detection->decision hours: 2, 4, 1, 0 -> median 1.5; decision->report: 10, 6 -> 8; detection->report: 12, 10 -> 11
    assert jan["median_hours_detection_to_decision"] == 1.5
    assert jan["median_hours_decision_to_report"] == 8.0
    assert jan["median_hours_detection_to_report"] == 11.0
    # February: detection->decision 8, 0 -> 4; decision->report 2; detection->report 10
    assert (feb["median_hours_detection_to_decision"], feb["median_hours_decision_to_report"], feb["median_hours_detection_to_report"]) == (4.0, 2.0, 10.0)

    d = jan["dsa"]
    assert d["art15_1b_notices"] == 1 and d["art15_1b_notices_actioned"] == 0
    assert d["art15_1b_median_hours_to_act_on_notices"] == 1.0
    assert d["art15_1c_own_initiative_decisions"] == 3
    assert d["art15_1c_own_initiative_by_category"] == {"csam": 2, "csam-generated": 1}
    assert d["art15_1c_detected_by_automated_means"] == 3
    assert d["art15_1c_restrictions_by_type"] == {"remove": 3, "report": 2, "suspend_account": 1}
    assert (d["art15_1e_decisions_fully_automated"], d["art15_1e_automated_decisions_overturned"]) == (1, 0)
    assert d["art24_1b_account_suspensions"] == 1
    f = feb["dsa"]
    assert (f["art15_1b_notices"], f["art15_1b_notices_actioned"], f["art15_1e_automated_decisions_overturned"]) == (1, 1, 1)
    assert f["art15_1c_own_initiative_decisions"] == 0  # the one confirmed decision came from a notice

    total = res["total"]
    assert (total["decisions"], total["confirmed"], total["automated"]) == (6, 4, 2)
    # all six detection->decision: 2, 4, 1, 0, 8, 0 -> sorted 0,0,1,2,4,8 -> median 1.5
    assert total["median_hours_detection_to_decision"] == 1.5
    # decision->report: 10, 6, 2 -> 6
    assert total["median_hours_decision_to_report"] == 6.0
    assert "art24_2_average_monthly_active_recipients" in res["not_available"]


def test_periods():
    d = datetime(2026, 3, 31, 23, 30, tzinfo=timezone.utc)
    assert [period_of(d, p) for p in ("day", "week", "month", "quarter", "year")] == ["2026-03-31", "2026-W14", "2026-03", "2026-Q1", "2026"]
    # a time in another zone belongs to its UTC day
    assert period_of(datetime(2026, 4, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), "day") == "2026-03-31"
    with pytest.raises(ValueError):
        period_of(d, "fortnight")
    assert [p["period"] for p in compute(RECORDS, period="week")["periods"]] == ["2026-W02", "2026-W06"]


def test_csv_and_json_carry_the_same_figures():
    res = compute(RECORDS)
    rows = list(csv.DictReader(io.StringIO(to_csv(res))))
    pick = {(r["period"], r["metric"], r["key"]): r["value"] for r in rows}
    assert pick[("2026-01", "decisions", "")] == "4"
    assert pick[("2026-01", "by_source", "hash")] == "2"
    assert pick[("2026-01", "median_hours_detection_to_decision", "")] == "1.5"
    assert pick[("2026-02", "art15_1b_notices_actioned", "")] == "1"
    assert pick[("total", "art15_1c_restrictions_by_type", "remove")] == "4"
    assert json.loads(to_json(res)) == res


def test_empty_data():
    res = compute([])
    assert res["periods"] == [] and res["total"]["decisions"] == 0
    assert res["total"]["median_hours_detection_to_decision"] is None


def test_likeness_classifier_and_unlisted_sources_are_counted():
    recs = [
        DecisionRecord(7, 7, T, T + H, "confirm", "csam", ("remove",), ("similarity", "classifier"), False),
        DecisionRecord(8, 8, T, T + H, "reject", "csam", (), ("future_source",), False),
    ]
    by = compute(recs, period="month")["total"]["by_source"]
    assert by["similarity"] == 1 and by["classifier"] == 1
    assert by["future_source"] == 1 and by["hash"] == 0
