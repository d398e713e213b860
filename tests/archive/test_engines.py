"""Archive mode through the real CLI: the same folder on the local pool and on Dask gives the same results;
the ledger and the per-run results table hold every file exactly once."""

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import _bomb_png, generated_pattern

runner = CliRunner()


def cli(db_url, *args):
    return runner.invoke(app, ["--database-url", db_url, *args], catch_exceptions=False)


def rows_of(text: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # scan_id and time say which run and when: they differ between runs by design, the results must not
    out = {r["path"]: {k: v for k, v in r.items() if k not in ("scan_id", "time")} for r in rows}
    assert len(out) == len(rows), "a file was reported twice"
    return out


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "archive"
    (d / "a").mkdir(parents=True)
    (d / "b").mkdir()
    for i in range(1, 8):
        generated_pattern(i).resize((200, 150)).save(d / ("a" if i % 2 else "b") / f"p{i}.png")
    generated_pattern(1).resize((160, 120)).save(d / "b" / "copy.jpg", quality=80)
    (d / "b" / "bomb.png").write_bytes(_bomb_png())
    (d / "a" / "empty.jpg").write_bytes(b"")
    return d


def test_local_and_dask_engines_give_identical_results(database_url, folder, tmp_path):
    assert cli(database_url, "bank", "create", "known").exit_code == 0
    plain = cli(database_url, "scan", str(folder), "--jsonl", "--jobs", "1", "--no-record")
    base = rows_of(plain.stdout)
    assert cli(database_url, "bank", "add", "known", base[str(folder / "a" / "p1.png")]["pdq"], "--type", "pdq").exit_code == 0

    local = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "2", "--shard-size", "4", "--jsonl")
    dask = cli(database_url, "scan", str(folder), "--engine", "dask", "--jobs", "2", "--shard-size", "4", "--jsonl")
    assert local.exit_code == dask.exit_code == 1, (local.output, dask.output)
    lr, dr = rows_of(local.stdout), rows_of(dask.stdout)
    assert len(lr) == 10
    assert lr == dr
    # the ordinary scan sees the same hashes and errors (its matches came before the bank entry)
    assert {k: (v["sha256"], v["pdq"], v["errors"]) for k, v in base.items()} == {
        k: (v["sha256"], v["pdq"], v["errors"]) for k, v in lr.items()
    }
    matched = sorted(k.rsplit("/", 1)[1] for k, v in lr.items() if v["matches"])
    assert matched == ["copy.jpg", "p1.png"]
    assert lr[str(folder / "b" / "bomb.png")]["errors"][0]["code"] == "decompression-bomb"

    # each run: 3 shards in the ledger, 10 result rows, one per file
    from bastion.store.db import open_store
    from bastion.store.schema import ScanResultRow, ScanRunRow, ScanShardRow

    store = open_store(database_url)
    try:
        with store.session() as s:
            runs = s.scalars(select(ScanRunRow)).all()
            assert len(runs) == 2 and {r.status for r in runs} == {"finished"}
            for r in runs:
                assert s.scalar(select(func.count()).select_from(ScanShardRow).where(ScanShardRow.run_id == r.id)) == 3
                keys = s.scalars(select(ScanResultRow.key).where(ScanResultRow.run_id == r.id)).all()
                assert sorted(keys) == sorted(lr)
    finally:
        store.close()
