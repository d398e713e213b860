"""Concurrent writers (issue 12, item 6): a second import or a recording scan waits its turn instead of
dying with "database is locked"; two imports of the same hashes in different orders neither deadlock nor
both claim the rows; a writer that cannot get its turn gets a clear StoreBusy error."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from bastion.banks.repo import BankRepository
from bastion.model import Bank, HashEntry
from bastion.store.writers import StoreBusy, writing


def _entries(n: int, seed: int = 0) -> list[HashEntry]:
    rng = np.random.default_rng(seed)
    return [HashEntry("pdq", bytes(h).hex()) for h in rng.integers(0, 256, (n, 32), dtype=np.uint8)]


def _hold_sqlite_lock(path: str, seconds: float, held: threading.Event) -> threading.Thread:
    def hold():
        con = sqlite3.connect(path, timeout=30)
        con.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        con.rollback()
        con.close()

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    return t


def test_a_second_sqlite_writer_waits_longer_than_the_busy_timeout(tmp_path):
    from bastion.store.db import open_store
    from bastion.store.media import MediaRecorder
    from bastion.scan import FileResult

    path = tmp_path / "bastion.db"
    store = open_store(f"sqlite:///{path}")
    repo = BankRepository(store)
    repo.create(Bank(name="k"))
    messages: list[str] = []
    held = threading.Event()
    # another import holding the write lock for longer than SQLite's 10 s busy timeout
    holder = _hold_sqlite_lock(str(path), 11.5, held)
    held.wait(10)
    import logging

    class Catch(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Catch()
    logging.getLogger("bastion.store").addHandler(handler)
    try:
        result = repo.add_entries("k", _entries(50))
        rec = MediaRecorder(store)
        res = FileResult(path="a.png", sha256="a" * 64, md5="b" * 32, sha1="c" * 40, size=3)
        rec(res)
        rec.flush()
    finally:
        logging.getLogger("bastion.store").removeHandler(handler)
        holder.join()
        store.close()
    assert result.added == 50
    assert rec.recorded == 1
    assert any("waiting for another writer" in m for m in messages)


def test_a_writer_that_cannot_get_its_turn_gets_a_clear_error(tmp_path):
    from bastion.store.db import open_store

    path = tmp_path / "bastion.db"
    store = open_store(f"sqlite:///{path}")
    held = threading.Event()
    holder = _hold_sqlite_lock(str(path), 4, held)
    held.wait(10)
    try:
        with pytest.raises(StoreBusy, match="busy with another writer"):
            with writing(store, "test import", wait=1.0, on_wait=lambda m: None):
                pass
    finally:
        holder.join()
        store.close()


def test_two_imports_of_the_same_hashes_in_different_orders_each_report_their_own(store):
    repo = BankRepository(store)
    repo.create(Bank(name="k"))
    entries = _entries(6000, seed=3)
    shuffled = list(entries)
    np.random.default_rng(4).shuffle(shuffled)
    results: dict[str, object] = {}

    def run(name, items):
        try:
            results[name] = repo.add_entries("k", items)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[name] = exc

    threads = [threading.Thread(target=run, args=(n, items)) for n, items in (("a", entries), ("b", shuffled[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    added = sorted(r.added for r in results.values())
    assert added == [0, 6000], added  # one import added them all; the other added none and says so
    assert sorted(r.merged for r in results.values()) == [0, 6000]
    assert repo.get("k").entry_count == 6000 if hasattr(repo.get("k"), "entry_count") else True
