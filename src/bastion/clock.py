"""Time as Bastion keeps it: aware datetimes in UTC.

Every timestamp Bastion writes is UTC, but SQLite hands them back without their zone, and people and
platforms send naive ones. :func:`as_utc` is the one place that decides what such a value means.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import overload

__all__ = ["as_utc"]


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime: a naive one is taken to be UTC, an aware one is converted; None
    stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
