"""A matcher that stays current while the service runs: every process reads the bank change log
(``bank_changes``) and applies new PDQ entries to its in-memory index incrementally — a new bank hash is
matchable within one poll (a second by default) in every ``bastion serve`` process, without a rebuild.
Exact hashes need nothing: they are looked up in the store at match time. Settings changes (threshold,
enable/disable) and deleted banks reload the bank table and, where entries must appear, rebuild from the
on-disk cache.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from bastion.banks.matcher import NO_ORIGIN, Matcher
from bastion.banks.changes import BankChangeRow
from bastion.store.db import Store
from bastion.store.schema import BankEntryRow


class LiveMatcher:
    def __init__(self, store: Store, *, cache_dir: Path | None = None):
        self.store = store
        self.cache_dir = cache_dir
        self._lock = threading.RLock()
        self.last_change = self._top_change()
        self._matcher = Matcher.from_store(store, cache_dir=cache_dir)
        self.rebuilds = 0
        self.applied = 0

    def _top_change(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.max(BankChangeRow.id))) or 0

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    def match(self, exact, pdq_variants=None, pdq_quality=None, **more):
        """:meth:`Matcher.match` (``more``: ``trimmed_variants``, ``trimmed_quality``, ``vpdq``)."""
        with self._lock:
            return self._matcher.match(exact, pdq_variants, pdq_quality, **more)

    def refresh(self) -> int:
        """Apply changes logged since the last call. Returns how many change rows were applied."""
        with self.store.session() as s:
            rows = s.scalars(select(BankChangeRow).where(BankChangeRow.id > self.last_change)
                             .order_by(BankChangeRow.id).limit(1000)).all()
        if not rows:
            return 0
        if any(r.op in ("update", "delete") for r in rows):
            top = rows[-1].id
            fresh = Matcher.from_store(self.store, cache_dir=self.cache_dir)
            with self._lock:
                self._matcher, self.last_change = fresh, top
            self.rebuilds += 1
            return len(rows)
        with self._lock:
            m = self._matcher
            for r in rows:
                if r.op == "add" and r.bank_id in m._banks:
                    self._add(m, r)
                elif r.op == "remove":
                    for entry_id, hash_type, _ in r.entries or []:
                        if hash_type == "pdq":
                            m._index.remove(int(entry_id))
                self.last_change = r.id
        self.applied += len(rows)
        return len(rows)

    def _add(self, m: Matcher, change: BankChangeRow) -> None:
        with self.store.session() as s:
            videos = s.scalar(select(BankEntryRow.id).where(
                BankEntryRow.bank_id == change.bank_id, BankEntryRow.hash_type == "vpdq",
                BankEntryRow.id >= change.first_entry_id, BankEntryRow.id <= change.last_entry_id).limit(1))
        if videos is not None:
            m.reload_videos()  # so a new vPDQ entry matches live
        with self.store.session() as s:
            got = s.execute(select(BankEntryRow.id, BankEntryRow.value, BankEntryRow.derived_from).where(
                BankEntryRow.bank_id == change.bank_id, BankEntryRow.hash_type == "pdq",
                BankEntryRow.id >= change.first_entry_id, BankEntryRow.id <= change.last_entry_id)).all()
        if not got:
            return
        ids = np.fromiter((i for i, _, _ in got), dtype=np.int64, count=len(got))
        hashes = np.frombuffer(bytes.fromhex("".join(v for _, v, _ in got)), dtype=np.uint8).reshape(-1, 32)
        origins = np.fromiter((NO_ORIGIN if o is None else o for _, _, o in got), dtype=np.int64, count=len(got))
        m._index.add_many(ids, hashes)
        # keep the id -> bank arrays sorted (one merge per change, not per entry)
        all_ids = np.concatenate([m._entry_ids, ids])
        all_banks = np.concatenate([m._entry_bank, np.full(len(ids), change.bank_id, dtype=np.int64)])
        all_origins = np.concatenate([m._entry_origin, origins])  # derived entries: their original's id
        order = np.argsort(all_ids, kind="stable")
        m._entry_ids, m._entry_bank, m._entry_origin = all_ids[order], all_banks[order], all_origins[order]
        m._has_derived = m._has_derived or bool((origins != NO_ORIGIN).any())
        m._max_threshold = max((b.pdq_threshold for b in m._banks.values()), default=31)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # a database hiccup must not kill the loop; the next poll retries
                import logging

                logging.getLogger("bastion.index").exception("bank change log refresh failed")
