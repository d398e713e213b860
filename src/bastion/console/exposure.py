"""Reviewer wellness: organisation defaults, per-user overrides, shifts and the reveal budget.

Plain functions over a Session; the caller commits. Time is passed in (``now``) so tests of expiry and
breaks never sleep.

The budget model: a shift starts the first time a reviewer needs one (sign-in, first reveal) and lasts
``shift_hours``. Each reveal of an original counts against ``reveal_budget`` plus whatever a lead added.
When the budget is spent the console asks for a break and refuses further reveals; starting a break ends
the shift, and a new one (with a fresh budget) starts only after ``break_minutes``. So the budget cannot be
reset by signing out and in again, and a lead can still extend it when a case cannot wait.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.clock import as_utc
from bastion.console.models import (
    ConsoleOrgSettingRow,
    ConsolePreferenceRow,
    ConsoleRevealRow,
    ConsoleShiftRow,
)
from bastion.console.safemedia import MAX_BLUR, MIN_BLUR, SafeView
from bastion.errors import BastionError, Forbidden


class ExposureBudgetSpent(BastionError):
    """The reviewer has used every reveal of this shift; a break (or a lead's extension) comes first."""

    code = "exposure-budget-spent"


class OnBreak(BastionError):
    """The reviewer started a break that has not yet lasted ``break_minutes``."""

    code = "on-break"


class InvalidSetting(BastionError):
    code = "invalid-setting"


class OwnBudget(Forbidden):
    """Nobody extends their own reveal budget: the point of the budget is that someone else decides."""

    code = "own-budget"


@dataclass(frozen=True, slots=True)
class OrgDefaults:
    """What an organisation sets for everyone; a reviewer may override blur, grayscale and mute_video, but
    only within the floors: never a blur below ``min_blur``, and colour only when ``reviewer_colour`` allows it.

    The floors are the organisation's (an admin sets them), not the reviewer's: a blur of 1 in colour leaves
    an image recognisable without a reveal, so without a budget and without an audit row."""

    blur: int = 6
    grayscale: bool = True
    mute_video: bool = True
    min_blur: int = 4
    reviewer_colour: bool = False
    reveal_budget: int = 20
    shift_hours: int = 8
    break_minutes: int = 15
    idle_minutes: int = 30

    def validate(self) -> "OrgDefaults":
        problems = []
        if not MIN_BLUR <= self.blur <= MAX_BLUR:
            problems.append(f"blur must be {MIN_BLUR}..{MAX_BLUR}")
        if not isinstance(self.min_blur, int) or isinstance(self.min_blur, bool) or \
                not MIN_BLUR <= self.min_blur <= MAX_BLUR:
            problems.append(f"min_blur must be {MIN_BLUR}..{MAX_BLUR}")
        elif isinstance(self.blur, int) and self.blur < self.min_blur:
            problems.append(f"the default blur ({self.blur}) is below the floor min_blur ({self.min_blur})")
        for name, lo, hi in (("reveal_budget", 0, 10_000), ("shift_hours", 1, 24), ("break_minutes", 0, 240),
                             ("idle_minutes", 1, 24 * 60)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                problems.append(f"{name} must be an integer {lo}..{hi}")
        if problems:
            raise InvalidSetting("; ".join(problems))
        return self


BOOL_KEYS = ("grayscale", "mute_video", "reviewer_colour")
INT_KEYS = ("blur", "min_blur", "reveal_budget", "shift_hours", "break_minutes", "idle_minutes")


def org_defaults(session: Session) -> OrgDefaults:
    stored = {r.key: r.value for r in session.scalars(select(ConsoleOrgSettingRow))}
    known = {k: v for k, v in stored.items() if k in BOOL_KEYS + INT_KEYS}
    return OrgDefaults(**known)


def set_org_defaults(session: Session, values: dict[str, Any], *, by_user_id: int | None = None) -> OrgDefaults:
    """Validate and store organisation defaults (unknown keys are an error, nothing is half-written)."""
    unknown = set(values) - set(BOOL_KEYS + INT_KEYS)
    if unknown:
        raise InvalidSetting(f"unknown setting(s): {', '.join(sorted(unknown))}")
    merged = OrgDefaults(**{**asdict(org_defaults(session)), **values}).validate()
    for key in values:
        row = session.get(ConsoleOrgSettingRow, key)
        if row is None:
            row = ConsoleOrgSettingRow(key=key)
            session.add(row)
        row.value = getattr(merged, key)
        row.updated_by = by_user_id
    session.flush()
    return merged


@dataclass(frozen=True, slots=True)
class MediaPreferences:
    blur: int
    grayscale: bool
    mute_video: bool
    #: which of the three the user set themselves (the rest are the organisation's)
    overridden: tuple[str, ...] = ()

    def safe_view(self) -> SafeView:
        return SafeView(blur=self.blur, grayscale=self.grayscale)


def _within_floors(org: OrgDefaults, key: str, value: Any) -> bool:
    if key == "blur":
        return value >= org.min_blur
    if key == "grayscale":
        return bool(value) or org.reviewer_colour or not org.grayscale
    return True


def preferences(session: Session, user_id: int, org: OrgDefaults | None = None) -> MediaPreferences:
    """What this user's derivatives are made with: their overrides where the organisation's floors allow
    them, else the organisation's defaults. Floors raised after a user chose hold at once."""
    org = org or org_defaults(session)
    row = session.get(ConsolePreferenceRow, user_id)
    values = {"blur": org.blur, "grayscale": org.grayscale, "mute_video": org.mute_video}
    overridden = []
    if row is not None:
        for k in values:
            v = getattr(row, k)
            if v is not None and _within_floors(org, k, v):
                values[k] = v
                overridden.append(k)
    return MediaPreferences(**values, overridden=tuple(overridden))


def set_preferences(session: Session, user_id: int, *, blur: int | None, grayscale: bool | None,
                    mute_video: bool | None) -> MediaPreferences:
    """Store a user's overrides; ``None`` for a field means "use the organisation default". A value beyond
    the organisation's floors is refused (:class:`InvalidSetting`), nothing stored."""
    if blur is not None and not MIN_BLUR <= blur <= MAX_BLUR:
        raise InvalidSetting(f"blur must be {MIN_BLUR}..{MAX_BLUR}")
    org = org_defaults(session)
    if blur is not None and not _within_floors(org, "blur", blur):
        raise InvalidSetting(f"your organisation's lowest blur is {org.min_blur}")
    if grayscale is not None and not _within_floors(org, "grayscale", grayscale):
        raise InvalidSetting("your organisation shows media in grayscale; colour is not yours to choose")
    row = session.get(ConsolePreferenceRow, user_id)
    if row is None:
        row = ConsolePreferenceRow(user_id=user_id)
        session.add(row)
    row.blur, row.grayscale, row.mute_video = blur, grayscale, mute_video
    session.flush()
    return preferences(session, user_id)


# --- shifts and the reveal budget ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetState:
    shift_id: int | None
    budget: int  # org budget at shift start + lead extensions
    used: int
    started_at: datetime | None
    ends_at: datetime | None
    #: set while a break is running: when the next shift may start
    break_until: datetime | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.used)

    @property
    def spent(self) -> bool:
        return self.remaining == 0


def _latest_shift(session: Session, user_id: int) -> ConsoleShiftRow | None:
    return session.scalars(
        select(ConsoleShiftRow).where(ConsoleShiftRow.user_id == user_id)
        .order_by(ConsoleShiftRow.started_at.desc(), ConsoleShiftRow.id.desc()).limit(1)
    ).first()


def _open(shift: ConsoleShiftRow | None, now: datetime) -> bool:
    return shift is not None and shift.ended_at is None and as_utc(shift.ends_at) > now


def _used(session: Session, shift_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ConsoleRevealRow)
                          .where(ConsoleRevealRow.shift_id == shift_id)) or 0


def current_shift(session: Session, user_id: int, now: datetime, org: OrgDefaults | None = None,
                  *, start: bool = True) -> ConsoleShiftRow | None:
    """The user's open shift; a new one is started (when ``start``) unless a break is still running."""
    shift = _latest_shift(session, user_id)
    if _open(shift, now):
        return shift
    if shift is not None and shift.ended_at is not None:
        org = org or org_defaults(session)
        if as_utc(shift.ended_at) + timedelta(minutes=org.break_minutes) > now:
            return None  # on a break
    if not start:
        return None
    org = org or org_defaults(session)
    shift = ConsoleShiftRow(user_id=user_id, started_at=now, ends_at=now + timedelta(hours=org.shift_hours),
                            budget=org.reveal_budget, extra=0)
    session.add(shift)
    session.flush()
    return shift


def budget_state(session: Session, user_id: int, now: datetime, org: OrgDefaults | None = None) -> BudgetState:
    org = org or org_defaults(session)
    shift = current_shift(session, user_id, now, org)
    if shift is None:
        last = _latest_shift(session, user_id)
        until = as_utc(last.ended_at) + timedelta(minutes=org.break_minutes) if last and last.ended_at else None
        return BudgetState(None, 0, 0, None, None, break_until=until)
    return BudgetState(shift.id, shift.budget + shift.extra, _used(session, shift.id), as_utc(shift.started_at),
                       as_utc(shift.ends_at))


def record_reveal(session: Session, user_id: int, case_id: int, media_sha256: str, now: datetime,
                  org: OrgDefaults | None = None) -> BudgetState:
    """Count one reveal, or raise :class:`ExposureBudgetSpent` / :class:`OnBreak` (nothing recorded)."""
    org = org or org_defaults(session)
    shift = current_shift(session, user_id, now, org)
    if shift is None:
        raise OnBreak("you are on a break; reveals resume when it is over")
    if _used(session, shift.id) >= shift.budget + shift.extra:
        raise ExposureBudgetSpent("the reveals of this shift are used up: please take a break "
                                  "(a lead can extend the budget)")
    session.add(ConsoleRevealRow(user_id=user_id, shift_id=shift.id, case_id=case_id, media_sha256=media_sha256,
                                 created_at=now))
    session.flush()
    return budget_state(session, user_id, now, org)


def start_break(session: Session, user_id: int, now: datetime) -> BudgetState:
    shift = current_shift(session, user_id, now, start=False)
    if shift is not None:
        shift.ended_at = now
        session.flush()
    return budget_state(session, user_id, now)


def extend_budget(session: Session, user_id: int, extra: int, now: datetime, *, by_user_id: int) -> BudgetState:
    """A lead (``by_user_id``) adds ``extra`` reveals to another user's current shift (starting one, ending a
    break if needed). Raises :class:`OwnBudget` for one's own budget."""
    if by_user_id == user_id:
        raise OwnBudget("you cannot extend your own reveal budget: another lead or an admin can")
    if not isinstance(extra, int) or not 1 <= extra <= 1000:
        raise InvalidSetting("an extension is 1..1000 reveals")
    org = org_defaults(session)
    shift = current_shift(session, user_id, now, org)
    if shift is None:  # on a break: the lead's extension ends it
        shift = ConsoleShiftRow(user_id=user_id, started_at=now, ends_at=now + timedelta(hours=org.shift_hours),
                                budget=0, extra=0)
        session.add(shift)
    shift.extra += extra
    session.flush()
    return budget_state(session, user_id, now, org)


def reveal_count(session: Session, user_id: int, since: datetime | None = None) -> int:
    q = select(func.count()).select_from(ConsoleRevealRow).where(ConsoleRevealRow.user_id == user_id)
    if since is not None:
        q = q.where(ConsoleRevealRow.created_at >= since)
    return session.scalar(q) or 0
