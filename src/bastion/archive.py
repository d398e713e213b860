"""Archive scans: a whole media archive, sharded, on an engine, resumable.

The client plans shards from the sources' listings (lazily), cuts each shard into batches (the engine's
tasks), and for each batch that comes back — in order of completion — matches every file against the banks
(one index, here), records its result in the store and hands it to ``on_result``. When the last batch of a
shard is recorded, the shard goes into the ledger. ``--resume RUN_ID`` skips the shards in the ledger and
scans the others again: a batch recorded before a crash is recorded again, and :class:`ResultRecorder`
keeps one row per (run, key), so every file ends up exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

from sqlalchemy import select, update

from bastion.engines import Engine, Task
from bastion.errors import BastionError, ConfigError
from bastion.scan import FileResult, Scanner, ScanSummary
from bastion.sources import DEFAULT_SHARD_SIZE, Shard, plan_shards, specs_json
from bastion.store.db import Store
from bastion.store.schema import ScanResultRow, ScanRunRow, ScanShardRow, utcnow

DEFAULT_BATCH = 32


class UnknownRun(BastionError):
    code = "unknown-run"


# --- the store side ------------------------------------------------------------------------------


def _result_row(run_id: str, res: FileResult) -> dict:
    return {
        "run_id": run_id,
        "key": res.path,
        "sha256": res.sha256,
        "md5": res.md5,
        "size": res.size,
        "media_format": res.media_format,
        "pdq": res.pdq,
        "pdq_quality": res.quality,
        "matched": res.matched,
        "error_code": res.errors[0]["code"] if res.errors else None,
        "result": json.dumps(res.to_json(), ensure_ascii=False),
        "recorded_at": utcnow(),
    }


_RESULT_COLUMNS = ("run_id", "key", "sha256", "md5", "size", "media_format", "pdq", "pdq_quality", "matched",
                   "error_code", "result", "recorded_at")


class ResultRecorder:
    """Idempotent per-file recording: one row per (run, key), the last result wins.

    PostgreSQL: rows are ``COPY``-ed into a temporary staging table and moved with one
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (a batch may hold a key twice only if a source lists it
    twice; the staging table is deduplicated with ``DISTINCT ON``). SQLite: one ``INSERT ... ON CONFLICT``
    statement per batch."""

    def __init__(self, store: Store):
        self.store = store
        self.pg = store.engine.dialect.name == "postgresql"

    def record(self, run_id: str, results: list[FileResult], shard: Shard | None = None) -> None:
        """Record a batch and, when ``shard`` is given, the shard as finished — in one transaction."""
        rows = {r.path: _result_row(run_id, r) for r in results}  # a key once per batch
        with self.store.engine.begin() as conn:
            if rows:
                if self.pg:
                    self._pg_copy(conn, list(rows.values()))
                else:
                    from sqlalchemy.dialects.sqlite import insert

                    stmt = insert(ScanResultRow.__table__)
                    stmt = stmt.on_conflict_do_update(
                        index_elements=["run_id", "key"],
                        set_={c: stmt.excluded[c] for c in _RESULT_COLUMNS if c not in ("run_id", "key")},
                    )
                    conn.execute(stmt, list(rows.values()))
            if shard is not None:
                self._finish_shard(conn, run_id, shard)

    def _pg_copy(self, conn, rows: list[dict]) -> None:
        raw = conn.connection.driver_connection  # psycopg 3
        cols = ", ".join(_RESULT_COLUMNS)
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS scan_results_staging (LIKE scan_results INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            with cur.copy(f"COPY scan_results_staging ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([r[c] for c in _RESULT_COLUMNS])
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _RESULT_COLUMNS if c not in ("run_id", "key"))
            cur.execute(
                f"INSERT INTO scan_results ({cols}) SELECT DISTINCT ON (run_id, key) {cols} FROM scan_results_staging "
                f"ON CONFLICT (run_id, key) DO UPDATE SET {updates}"
            )
            cur.execute("DELETE FROM scan_results_staging")

    @staticmethod
    def _finish_shard(conn, run_id: str, shard: Shard) -> None:
        t = ScanShardRow.__table__
        conn.execute(t.delete().where(t.c.run_id == run_id, t.c.source_no == shard.source_no, t.c.shard_no == shard.shard_no))
        conn.execute(t.insert().values(run_id=run_id, source_no=shard.source_no, shard_no=shard.shard_no,
                                       first_key=shard.first_key, last_key=shard.last_key, files=len(shard.keys),
                                       finished_at=utcnow()))


def start_run(store: Store, sources: list, shard_size: int, classify: tuple[str, ...] = ()) -> str:
    run_id = uuid.uuid4().hex[:16]
    with store.session() as s, s.begin():
        s.add(ScanRunRow(id=run_id, sources=specs_json(sources), shard_size=shard_size, status="running",
                         classify=json.dumps(list(classify))))
    return run_id


def run_classifiers(store: Store, run_id: str) -> tuple[str, ...] | None:
    """The image classifiers run ``run_id`` was started with (empty: none; None: not recorded, a run started
    before migration 0017); raises :class:`UnknownRun` for a run this store does not have."""
    with store.session() as s:
        row = s.get(ScanRunRow, run_id)
        if row is None:
            raise UnknownRun(f"no scan run {run_id!r} in this store")
        return None if row.classify is None else tuple(json.loads(row.classify))


def load_run(store: Store, run_id: str, sources: list) -> tuple[int, dict]:
    """The shard size and the ledger (``(source_no, shard_no) -> (first, last)``) of a run to resume."""
    with store.session() as s:
        row = s.get(ScanRunRow, run_id)
        if row is None:
            raise UnknownRun(f"no scan run {run_id!r} in this store")
        if json.loads(row.sources) != json.loads(specs_json(sources)):
            raise ConfigError(
                f"run {run_id} scanned {', '.join(json.loads(row.sources))}; resume it with the same sources"
            )
        done = {
            (r.source_no, r.shard_no): (r.first_key, r.last_key)
            for r in s.scalars(select(ScanShardRow).where(ScanShardRow.run_id == run_id))
        }
        return row.shard_size, done


def finish_run(store: Store, run_id: str) -> None:
    with store.session() as s, s.begin():
        s.execute(update(ScanRunRow).where(ScanRunRow.id == run_id).values(status="finished", finished_at=utcnow()))


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class _Open:
    shard: Shard
    batches_left: int


def _tasks(sources: list, shard_size: int, batch: int, done: dict, opened: dict[int, _Open]) -> Iterator[Task]:
    tid = 0
    for source_no, src in enumerate(sources):
        for shard in plan_shards(src.keys(), source_no, shard_size, done):
            batches = [shard.keys[i : i + batch] for i in range(0, len(shard.keys), batch)]
            state = _Open(shard, len(batches))  # shared by the shard's batches
            for keys in batches:
                opened[tid] = state
                yield Task(tid, src, keys)
                tid += 1


def run_archive(
    store: Store,
    sources: list,
    engine: Engine,
    scanner: Scanner,
    on_result: Callable[[FileResult], None],
    *,
    run_id: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch: int = DEFAULT_BATCH,
    on_run: Callable[[str], None] | None = None,
) -> tuple[str, ScanSummary]:
    """Scan ``sources`` on ``engine``; ``run_id`` resumes that run. Returns the run id and a summary."""
    if batch < 1:
        raise ConfigError("batch size must be at least 1")
    if run_id is None:
        run_id = start_run(store, sources, shard_size, tuple(getattr(scanner, "classify", ()) or ()))
        done: dict = {}
    else:
        shard_size, done = load_run(store, run_id, sources)
    if on_run is not None:
        on_run(run_id)
    recorder = ResultRecorder(store)
    summary = ScanSummary()
    t0 = time.perf_counter()
    opened: dict[int, _Open] = {}
    tasks = _tasks(sources, shard_size, batch, done, opened)
    # Classifiers only when asked for: an engine written before them still runs unclassified scans.
    kw = {"classify": scanner.classify} if getattr(scanner, "classify", ()) else {}
    for task, results in engine.run(tasks, provenance=scanner.provenance, watermark=scanner.watermark, **kw):
        finished = [scanner.finish(r) for r in results]
        state = opened.pop(task.id)
        state.batches_left -= 1
        shard_done = state.batches_left == 0
        if shard_done and scanner.recorder is not None and hasattr(scanner.recorder, "flush"):
            scanner.recorder.flush()  # the media table has the shard's hashes before the ledger says it is done
        recorder.record(run_id, finished, state.shard if shard_done else None)
        for r in finished:
            summary.count(r)
            on_result(r)
    if scanner.recorder is not None and hasattr(scanner.recorder, "flush"):
        scanner.recorder.flush()
    finish_run(store, run_id)
    summary.seconds = time.perf_counter() - t0
    return run_id, summary
