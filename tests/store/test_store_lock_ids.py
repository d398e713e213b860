"""Every PostgreSQL advisory lock Bastion takes is numbered by one helper (bastion.store.db.advisory_lock_id):
the migration lock and the writers' locks (bastion.store.writers) hold exactly the ids it gives."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from bastion.store import db as storedb
from bastion.store.db import MIGRATION_LOCK, advisory_lock_id

_HELD = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
             "AND classid::bigint = :c AND objid::bigint = :o")


def _parts(k: int) -> dict[str, int]:
    """pg_locks shows a bigint advisory key as its high and low 32 bits."""
    return {"c": (k >> 32) & 0xFFFFFFFF, "o": k & 0xFFFFFFFF}


def test_ids_are_stable_signed_32_bit_and_distinct_for_the_locks_in_use():
    from bastion.banks.repo import _BANK_WRITES  # noqa: PLC2701 - the name the bank writers lock

    names = [MIGRATION_LOCK, "store", "media", _BANK_WRITES]
    ids = [advisory_lock_id(n) for n in names]
    assert all(-(1 << 31) <= k < (1 << 31) for k in ids)
    assert len(set(ids)) == len(ids)
    assert advisory_lock_id("store") == advisory_lock_id("store") != advisory_lock_id("Store")


@pytest.mark.postgres
def test_the_migration_lock_and_a_writer_lock_hold_the_helpers_ids(database_url, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    from bastion.store.writers import writing

    store = storedb.open_store(database_url)
    try:
        # names of this test's own, so another session's migration never holds the same id
        monkeypatch.setattr(storedb, "MIGRATION_LOCK", f"test-migration-{uuid.uuid4().hex}")
        key = advisory_lock_id(storedb.MIGRATION_LOCK)
        with store.engine.connect() as probe:
            assert probe.execute(_HELD, _parts(key)).scalar_one() == 0
            with storedb._migration_lock(store.engine):
                assert probe.execute(_HELD, _parts(key)).scalar_one() == 1
                assert probe.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one() is False
            assert probe.execute(_HELD, _parts(key)).scalar_one() == 0
            probe.rollback()

            name = f"test-writer-{uuid.uuid4().hex}"
            with writing(store, "a test write", key=name):
                assert probe.execute(_HELD, _parts(advisory_lock_id(name))).scalar_one() == 1
            assert probe.execute(_HELD, _parts(advisory_lock_id(name))).scalar_one() == 0
    finally:
        store.close()
