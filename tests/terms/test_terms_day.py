"""The day an item's terms count for (bastion.terms.counts.day_of) is a UTC day: a naive time is UTC (as
bastion.clock.as_utc says), never the zone of the other timestamp, and an aware time counts on its UTC day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from bastion.terms.counts import day_of

PLUS5 = timezone(timedelta(hours=5))
MINUS5 = timezone(timedelta(hours=-5))


def test_an_aware_time_counts_on_its_utc_day():
    received = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    # 01:00 on the 2nd at +05:00 is 20:00 on the 1st in UTC
    assert day_of(received, datetime(2026, 3, 2, 1, 0, tzinfo=PLUS5)) == date(2026, 3, 1)
    # no platform time: the time it reached Bastion, on its UTC day
    assert day_of(datetime(2026, 3, 2, 1, 0, tzinfo=PLUS5), None) == date(2026, 3, 1)


def test_a_naive_platform_time_is_utc_not_the_zone_of_the_receipt():
    # received 20:00 at -05:00 = 01:00 UTC on the 2nd; posted (naive, so UTC) 00:30 on the 2nd: before it
    # reached Bastion, so it is believed. Taken in the receipt's zone (05:30 UTC) it would be "in the future".
    received = datetime(2026, 3, 1, 20, 0, tzinfo=MINUS5)
    assert day_of(received, datetime(2026, 3, 2, 0, 30)) == date(2026, 3, 2)
    # a naive time after the receipt is not believed: the receipt's UTC day
    assert day_of(received, datetime(2026, 3, 2, 1, 30)) == date(2026, 3, 2)
    assert day_of(datetime(2026, 3, 2, 3, 0, tzinfo=PLUS5), datetime(2026, 3, 1, 23, 0)) == date(2026, 3, 1)


def test_naive_on_both_sides_is_utc_on_both_sides():
    assert day_of(datetime(2026, 3, 2, 0, 10), datetime(2026, 3, 1, 23, 50)) == date(2026, 3, 1)
    assert day_of(datetime(2026, 3, 1, 23, 50), datetime(2026, 3, 2, 0, 10)) == date(2026, 3, 1)  # future: receipt
