"""Recording what a scan saw: hashes and metadata per distinct file (by SHA-256), never pixels."""

from __future__ import annotations

from sqlalchemy import select

from bastion.names import path_text
from bastion.store.db import Store
from bastion.store.writers import writing
from bastion.store.schema import MediaRow, utcnow


class MediaRecorder:
    """Upserts scan results in batches (one transaction per ``batch`` files). Use as a context manager so
    the last batch is written."""

    def __init__(self, store: Store, batch: int = 500):
        self.store = store
        self.batch = batch
        self._pending: dict[str, object] = {}
        self.recorded = 0

    def __call__(self, res) -> None:
        if not res.sha256:
            return
        self._pending[res.sha256] = res
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        now = utcnow()
        # Waits its turn (with a message) while an import holds the store, instead of failing the scan.
        with writing(self.store, "recording scan results", key="media") as s:
            existing = {
                row.sha256: row for row in s.scalars(select(MediaRow).where(MediaRow.sha256.in_(list(self._pending))))
            }
            for sha, res in self._pending.items():
                row = existing.get(sha)
                if row is None:
                    row = MediaRow(sha256=sha, md5=res.md5, sha1=res.sha1, size=res.size or 0, first_seen=now)
                    s.add(row)
                row.pdq, row.pdq_quality = res.pdq, res.quality
                row.media_format, row.width, row.height = res.media_format, res.width, res.height
                row.last_path, row.last_seen = path_text(res.path), now  # a non-UTF-8 name escaped, never an abort
        self.recorded += len(self._pending)
        self._pending.clear()

    def __enter__(self) -> "MediaRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
