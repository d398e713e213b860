"""WAL checkpoints of a SQLite store run in the checkpointer's thread, not in the commits of the store's own
connections (store/checkpoint.py): the writer's commits stop paying for the copy-back and its fsyncs."""

from __future__ import annotations

import os
import time

from sqlalchemy import text

from bastion.store.checkpoint import BACKSTOP_PAGES, Checkpointer, start_checkpointer
from bastion.store.db import open_store

ROW = "x" * 3000  # most of a 4 KB page: each row adds about one page to the WAL


def _write(store, rows: int, per_commit: int = 50) -> None:
    for start in range(0, rows, per_commit):
        with store.session() as s, s.begin():
            s.execute(text("INSERT INTO scratch (v) VALUES (:v)"), [{"v": ROW} for _ in range(per_commit)])


def _wal_frames(path) -> int:
    size = os.path.getsize(f"{path}-wal")
    return max(0, (size - 32) // (4096 + 24))


def _wait_for(cond, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _store(tmp_path):
    path = tmp_path / "bastion.db"
    store = open_store(f"sqlite:///{path}")
    with store.session() as s, s.begin():
        s.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT)"))
    return store, path


def test_commits_are_copied_back_by_the_checkpointer(tmp_path):
    store, path = _store(tmp_path)
    ck = start_checkpointer(store)
    try:
        assert ck is not None
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        _write(store, 300)
        assert _wait_for(lambda: ck.pages >= 300), (ck.runs, ck.pages)
        with store.session() as s:
            assert s.execute(text("SELECT count(*) FROM scratch")).scalar() == 300
    finally:
        ck.close()
        store.close()


def test_the_stores_own_commits_no_longer_checkpoint_at_1000_pages(tmp_path):
    store, path = _store(tmp_path)
    # a checkpointer that has not got round to it yet: its first checkpoint waits an hour
    ck = Checkpointer(store, interval=3600)
    ck.start()
    try:
        # without the checkpointer the WAL restarts at 1,000 pages; here it keeps everything until copied back
        # (the checkpointer's first pass may run right after the first commit, the next one only in an hour)
        _write(store, 1600)
        assert _wal_frames(path) > 1200
        assert ck.runs <= 1
    finally:
        ck.close()
        store.close()


def test_without_the_checkpointer_the_commits_checkpoint_themselves(tmp_path):
    """The control of the test above: the same writes restart the WAL at SQLite's default mark."""
    store, path = _store(tmp_path)
    try:
        _write(store, 1600)
        assert _wal_frames(path) < 1200
    finally:
        store.close()


def test_an_idle_store_costs_the_checkpointer_nothing(tmp_path):
    store, _ = _store(tmp_path)
    ck = start_checkpointer(store)
    try:
        time.sleep(4 * ck.interval)
        assert ck.runs == 0
        _write(store, 10, per_commit=10)
        assert _wait_for(lambda: ck.runs >= 1)
    finally:
        ck.close()
        store.close()
    assert not ck._thread.is_alive()


def test_close_gives_the_connections_sqlites_default_back(tmp_path):
    store, _ = _store(tmp_path)
    ck = start_checkpointer(store)
    ck.close()
    store.engine.dispose()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    store.close()


def test_only_sqlite_files_get_one():
    store = open_store("sqlite:///:memory:")
    try:
        assert start_checkpointer(store) is None
    finally:
        store.close()
