"""The background loops of `bastion serve` sleep when there is nothing to do and wake at once when there is.

An idle server once burned a whole core: a task's report object was always truthy, so its loop never
waited. These tests count the loops' runs on a real server (SQLite and PostgreSQL): idle, each loop runs
about once per poll period; new work (a batch, a bank hash added by another "process") starts within a
second even with a poll period far longer than that.
"""

from __future__ import annotations

import threading
import time

import pytest

from bastion.api.background import Loops, Pass, as_pass

from svc_helpers import make_api

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _server(database_url, home, **settings):
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app

    app = create_app(ServeSettings(home=home, database_url=database_url, background=True, json_logs=False, **settings))
    return app, TestClient(app)


def test_an_idle_server_runs_each_loop_about_once_per_poll_period(database_url, tmp_path):
    poll = 0.25
    app, client = _server(database_url, tmp_path / "h", poll_seconds=poll, listen_poll_seconds=poll)
    with client:
        time.sleep(0.5)  # start-up: the first runs of every loop
        before = {n: s["runs"] for n, s in app.state.loops.stats().items()}
        t0 = time.monotonic()
        time.sleep(2.0)
        stats = app.state.loops.stats()
        periods = (time.monotonic() - t0) / poll
    app.state.store.close()
    assert set(stats) == {"index-sync", "retro-match", "lexicon-sync", "retro-text", "batch-jobs", "webhooks",
                          "similar-index", "similar-retro"}
    for name, s in stats.items():
        runs = s["runs"] - before[name]
        # a handful more than one run per period is tolerated (a slow machine wakes late, never early)
        assert 1 <= runs <= periods + 3, (name, runs, periods)
        assert s["busy"] == 0 and s["errors"] == 0, (name, s)


def test_with_a_watcher_an_idle_loop_waits_the_long_poll(database_url, tmp_path):
    """PostgreSQL: LISTEN; SQLite: the data_version watcher. Either way no commit is missed, so an idle loop
    waits its long poll."""
    app, client = _server(database_url, tmp_path / "h", poll_seconds=0.1, listen_poll_seconds=30)
    with client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not app.state.store.wake.listening:
            time.sleep(0.05)
        assert app.state.store.wake.listening
        time.sleep(0.3)
        before = {n: s["runs"] for n, s in app.state.loops.stats().items()}
        time.sleep(1.5)
        after = app.state.loops.stats()
    app.state.store.close()
    # polled every 0.1 s this would be ~15 runs each; listening, an idle loop does not run at all
    assert all(after[n]["runs"] - before[n] <= 1 for n in after), (before, after)


def test_a_batch_starts_at_once_although_the_poll_period_is_long(database_url, tmp_path):
    from bastion.auth import service as auth

    app, client = _server(database_url, tmp_path / "h", poll_seconds=30, listen_poll_seconds=30)
    with client:
        with app.state.store.session() as s, s.begin():
            auth.create_user(s, "ingest", "integration")
            token = auth.create_token(s, "ingest", "t")[1]
        time.sleep(0.3)  # the loops have run once and are waiting their 30 s
        h = {"Authorization": f"Bearer {token}"}
        t0 = time.monotonic()
        r = client.post("/v1/items:batch", headers=h, json=[{"id": f"b-{i}", "kind": "post", "body": "hello"} for i in range(3)])
        assert r.status_code == 202, r.text
        url = r.json()["status_url"]
        while time.monotonic() - t0 < 10:
            st = client.get(url, headers=h).json()
            if st["status"] == "done":
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        assert st["status"] == "done" and st["counts"]["done"] == 3, st
    app.state.store.close()
    assert took < 5, took  # woken by the batch's commit, not by the 30 s poll


def test_a_bank_hash_added_by_another_process_wakes_the_server(database_url, tmp_path):
    """Another "process" (its own engine, no shared memory) adds a hash with the server's poll period at 30 s:
    on PostgreSQL NOTIFY reaches the server's LISTEN connection, on SQLite the data_version watcher sees the
    commit within a second; either way the server's index has the hash about a second later."""
    from bastion.banks.repo import BankRepository
    from bastion.model import Bank, HashEntry
    from bastion.store.db import open_store

    pdq = "f" * 16 + "0" * 48
    app, client = _server(database_url, tmp_path / "h", poll_seconds=30, listen_poll_seconds=30)
    other = open_store(database_url)
    with client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not app.state.store.wake.listening:
            time.sleep(0.05)
        repo = BankRepository(other)
        repo.create(Bank(name="other", category="csam"))
        live = app.state.service.matcher
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and live.rebuilds < 1:
            time.sleep(0.02)
        assert live.rebuilds == 1
        t0 = time.monotonic()
        repo.add_entries("other", [HashEntry("pdq", pdq, "x")])
        while time.monotonic() - t0 < 10 and not live.match({}, {"original": pdq}, 100):
            time.sleep(0.02)
        took = time.monotonic() - t0
        assert [m.bank for m in live.match({}, {"original": pdq}, 100)] == ["other"]
    other.close()
    app.state.store.close()
    assert took < 3, took


def test_a_webhook_retry_runs_when_due_not_at_the_next_poll(store):
    from datetime import datetime, timedelta, timezone

    from bastion.effects import webhooks
    from bastion.effects.delivery import Deliverer

    d = Deliverer(store)
    assert d.next_due_in() is None  # nothing pending: nothing to wait for
    with store.session() as s, s.begin():
        webhooks.create_subscription(s, "https://receiver.invalid/hook", ["verdict"], secret="s" * 20)
        webhooks.enqueue(s, "verdict", {"x": 1}, now=datetime.now(timezone.utc) + timedelta(seconds=40))
    due = d.next_due_in()
    assert due is not None and 35 < due <= 40


def test_a_task_that_does_not_say_how_much_it_did_is_an_error_not_busy():
    class Report:  # what deliver_due used to hand the loop: always truthy
        pass

    with pytest.raises(TypeError):
        as_pass(Report())
    assert as_pass(3) == Pass(3) and as_pass(Pass(0, 1.5)).due_in == 1.5
    loops = Loops(poll_seconds=0.2)
    lp = loops.every("bad", Report)
    time.sleep(1.0)
    loops.close()
    assert 1 <= lp.runs <= 8 and lp.errors == lp.runs  # logged and waited, never spun


def test_work_done_runs_again_at_once_and_a_wake_ends_the_wait():
    from bastion.store.wake import WakeHub

    hub = WakeHub()
    left = [5]
    ran = threading.Event()

    def task() -> int:
        ran.set()
        if left[0]:
            left[0] -= 1
            return 1
        return 0

    loops = Loops(hub, poll_seconds=60)
    lp = loops.every("t", task, channels=("jobs",))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and lp.runs < 6:
        time.sleep(0.01)
    assert lp.runs == 6 and lp.busy == 5  # five units back to back, then one idle run, then it waits
    left[0] = 1
    hub.fire("jobs")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and lp.runs < 8:
        time.sleep(0.01)
    loops.close()
    assert lp.runs == 8 and lp.busy == 6
