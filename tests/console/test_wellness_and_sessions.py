"""Exposure budget, shifts and breaks, preferences, and sign-in sessions — on SQLite and PostgreSQL, with the
clock passed in (nothing sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bastion.console import exposure, sessions

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def users(store):
    from bastion.auth import service as auth

    with store.session() as s, s.begin():
        ids = {n: auth.create_user(s, n, r).id for n, r in (("rita", "reviewer"), ("leo", "lead"))}
    return ids


def test_head_revision_is_single_and_console_tables_exist(store):
    from sqlalchemy import inspect

    from bastion.store.db import current_revision, head_revision

    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"console_sessions", "console_preferences", "console_org_settings", "console_shifts",
            "console_reveals"} <= tables


def test_reveals_count_against_the_shift_and_a_spent_budget_asks_for_a_break(store, users):
    uid = users["rita"]
    with store.session() as s, s.begin():
        exposure.set_org_defaults(s, {"reveal_budget": 2, "break_minutes": 15, "shift_hours": 8})
    with store.session() as s, s.begin():
        assert exposure.record_reveal(s, uid, 1, "a" * 64, T0).used == 1
        st = exposure.record_reveal(s, uid, 1, "b" * 64, T0 + timedelta(minutes=5))
        assert st.used == 2 and st.spent and st.remaining == 0
    with store.session() as s:
        with pytest.raises(exposure.ExposureBudgetSpent):
            exposure.record_reveal(s, uid, 1, "c" * 64, T0 + timedelta(minutes=6))
        s.rollback()
    # signing out and in again does not reset it: the shift is the user's, not the session's
    with store.session() as s:
        assert exposure.budget_state(s, uid, T0 + timedelta(hours=1)).used == 2
    # a break ends the shift; reveals wait for the break, then a fresh shift starts
    with store.session() as s, s.begin():
        st = exposure.start_break(s, uid, T0 + timedelta(hours=1))
        assert st.shift_id is None and st.break_until == T0 + timedelta(hours=1, minutes=15)
    with store.session() as s:
        with pytest.raises(exposure.OnBreak):
            exposure.record_reveal(s, uid, 1, "c" * 64, T0 + timedelta(hours=1, minutes=10))
        s.rollback()
    with store.session() as s, s.begin():
        st = exposure.record_reveal(s, uid, 1, "c" * 64, T0 + timedelta(hours=1, minutes=16))
        assert st.used == 1 and st.budget == 2
    with store.session() as s:
        assert exposure.reveal_count(s, uid) == 3


def test_a_shift_ends_by_itself_and_a_lead_extension_adds_to_the_current_one(store, users):
    uid = users["rita"]
    with store.session() as s, s.begin():
        exposure.set_org_defaults(s, {"reveal_budget": 1, "shift_hours": 2})
        exposure.record_reveal(s, uid, 7, "a" * 64, T0)
        st = exposure.extend_budget(s, uid, 3, T0 + timedelta(minutes=1), by_user_id=users["leo"])
        assert (st.used, st.budget) == (1, 4)
    with store.session() as s, s.begin():
        later = exposure.budget_state(s, uid, T0 + timedelta(hours=2, minutes=1))  # a new shift
        assert (later.used, later.budget) == (0, 1)
    with store.session() as s:
        with pytest.raises(exposure.InvalidSetting):
            exposure.extend_budget(s, uid, 0, T0, by_user_id=users["leo"])


def test_org_defaults_are_validated_and_users_override_three_of_them(store, users):
    uid = users["rita"]
    with store.session() as s, s.begin():
        org = exposure.set_org_defaults(s, {"blur": 8, "grayscale": False})
        assert org.blur == 8 and not org.grayscale and org.reveal_budget == 20
    for bad in ({"blur": 0}, {"blur": 11}, {"reveal_budget": -1}, {"shift_hours": 0}, {"colour": "x"},
                {"idle_minutes": True}):
        with store.session() as s:
            with pytest.raises(exposure.InvalidSetting):
                exposure.set_org_defaults(s, bad)
    with store.session() as s:
        assert exposure.org_defaults(s).blur == 8  # nothing half-written
    with store.session() as s, s.begin():
        p = exposure.preferences(s, uid)
        assert (p.blur, p.grayscale, p.overridden) == (8, False, ())
        p = exposure.set_preferences(s, uid, blur=4, grayscale=True, mute_video=None)
        assert (p.blur, p.grayscale, p.mute_video) == (4, True, True) and set(p.overridden) == {"blur", "grayscale"}
        assert p.safe_view().blur == 4
        with pytest.raises(exposure.InvalidSetting):
            exposure.set_preferences(s, uid, blur=99, grayscale=None, mute_video=None)


def test_sessions_store_only_a_hash_expire_when_idle_and_end_on_sign_out(store, users):
    from sqlalchemy import select

    from bastion.console.models import ConsoleSessionRow

    uid = users["rita"]
    idle = timedelta(minutes=30)
    with store.session() as s, s.begin():
        token, signed = sessions.start_session(s, uid, T0)
    with store.session() as s:
        stored = s.scalars(select(ConsoleSessionRow.token_sha256)).all()
        assert token not in stored and len(stored[0]) == 64
    with store.session() as s, s.begin():
        again = sessions.resume_session(s, token, T0 + timedelta(minutes=29), idle)
        assert again is not None and again.user_id == uid and again.csrf_token == signed.csrf_token
    with store.session() as s, s.begin():  # used at 09:29: idle counts from then
        assert sessions.resume_session(s, token, T0 + timedelta(minutes=58), idle) is not None
    with store.session() as s, s.begin():
        assert sessions.resume_session(s, token, T0 + timedelta(minutes=89), idle) is None  # idle 31 min
    with store.session() as s, s.begin():
        assert sessions.resume_session(s, token, T0 + timedelta(minutes=90), idle) is None  # stays ended
    with store.session() as s, s.begin():
        token2, signed2 = sessions.start_session(s, uid, T0)
        assert signed2.csrf_token != signed.csrf_token
        sessions.end_session(s, signed2.session_id, T0 + timedelta(minutes=1))
    with store.session() as s:
        assert sessions.resume_session(s, token2, T0 + timedelta(minutes=2), idle) is None
        assert sessions.resume_session(s, "", T0, idle) is None
        assert sessions.resume_session(s, "x" * 500, T0, idle) is None


def test_tokens_compare_in_constant_time_and_reject_empties():
    assert sessions.tokens_equal("abc", "abc")
    assert not sessions.tokens_equal("abc", "abd")
    assert not sessions.tokens_equal("", "")
    assert not sessions.tokens_equal(None, "abc")


def test_the_organisations_floors_bind_every_reviewer(store, users):
    uid = users["rita"]
    with store.session() as s:
        org = exposure.org_defaults(s)
        assert (org.min_blur, org.reviewer_colour) == (4, False)  # out of the box: no recognisable preview
        for kw in ({"blur": 1, "grayscale": None}, {"blur": 3, "grayscale": None}, {"blur": None, "grayscale": False}):
            with pytest.raises(exposure.InvalidSetting):
                exposure.set_preferences(s, uid, mute_video=None, **kw)
        s.rollback()
    with store.session() as s:
        assert exposure.preferences(s, uid).overridden == ()
    with store.session() as s:  # the org's own default may not go below its floor either
        for bad in ({"blur": 3}, {"min_blur": 7}, {"min_blur": 0}, {"min_blur": 11}):
            with pytest.raises(exposure.InvalidSetting):
                exposure.set_org_defaults(s, bad)
    with store.session() as s, s.begin():
        exposure.set_org_defaults(s, {"min_blur": 2, "reviewer_colour": True})
        p = exposure.set_preferences(s, uid, blur=2, grayscale=False, mute_video=None)
        assert (p.blur, p.grayscale) == (2, False) and p.safe_view().blur == 2
    with store.session() as s, s.begin():  # floors raised later hold at once, whatever was stored
        exposure.set_org_defaults(s, {"min_blur": 5, "reviewer_colour": False})
        p = exposure.preferences(s, uid)
        assert (p.blur, p.grayscale, p.overridden) == (6, True, ())
        assert p.safe_view().grayscale


def test_nobody_extends_their_own_reveal_budget(store, users):
    with store.session() as s:
        with pytest.raises(exposure.OwnBudget):
            exposure.extend_budget(s, users["leo"], 5, T0, by_user_id=users["leo"])
        s.rollback()
    with store.session() as s, s.begin():
        assert exposure.budget_state(s, users["leo"], T0).budget == 20
        assert exposure.extend_budget(s, users["rita"], 5, T0, by_user_id=users["leo"]).budget == 25
