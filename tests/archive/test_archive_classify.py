"""Image classifiers in archive mode (issue 24 follow-up): `bastion scan --engine local|dask --classifiers ...`
runs them in the workers on the pipeline's decode and carries their signals into the JSON lines and the
``scan_results`` rows, as a folder scan does; a classifier that cannot load stops the run before any file is
read (exit 2). Benign pictures only: a photograph scikit-image ships and generated flat drawings."""

import json
import os
import shutil

import skimage
from PIL import Image, ImageDraw
from sqlalchemy import select
from typer.testing import CliRunner

import bastion.classifiers as clf
from bastion.cli import app

runner = CliRunner()
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")


def cli(db_url, *args):
    return runner.invoke(app, ["--database-url", db_url, *args], catch_exceptions=False)


def rows_of(text: str) -> dict[str, dict]:
    return {json.loads(ln)["path"].rsplit("/", 1)[-1]: json.loads(ln) for ln in text.splitlines() if ln.startswith("{")}


def classified(row: dict) -> dict[str, dict]:
    """classifier name -> its evidence, without the time it took (differs run to run)."""
    return {s["evidence"]["classifier"]: {k: v for k, v in s["evidence"].items() if k != "ms"}
            for s in row.get("signals", []) if s["source"] == "classifier"}


def init(db_url):
    r = cli(db_url, "init")
    assert r.exit_code == 0, r.output


def make_folder(tmp_path):
    d = tmp_path / "archive"
    d.mkdir()
    shutil.copy(os.path.join(DATA, "coffee.png"), d / "coffee.png")  # a photograph
    for i, colour in enumerate([(120, 180, 240), (240, 200, 90), (90, 200, 140)]):
        im = Image.new("RGB", (320, 240), colour)  # a flat drawing: sky, ground, a box
        dr = ImageDraw.Draw(im)
        dr.rectangle([0, 170, 320, 240], fill=(80, 160, 70))
        dr.rectangle([100 + 10 * i, 100, 190, 170], fill=(200, 60, 50), outline=(0, 0, 0), width=3)
        im.save(d / f"drawing{i}.png")
    return d


def test_archive_scan_carries_classifier_signals_like_a_folder_scan(database_url, tmp_path):
    folder = make_folder(tmp_path)
    init(database_url)
    plain = runner.invoke(app, ["scan", str(folder), "--classifiers", "photoreal", "--no-banks", "--no-record",
                                "--jsonl", "--jobs", "1", "--no-progress"], catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    base = rows_of(plain.stdout)

    local = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "2", "--shard-size", "2",
                "--classifiers", "photoreal", "--no-banks", "--jsonl", "--no-progress")
    assert local.exit_code == 0, local.output
    got = rows_of(local.stdout)
    assert set(got) == {"coffee.png", "drawing0.png", "drawing1.png", "drawing2.png"}
    for name, row in got.items():
        c = classified(row)
        assert set(c) == {"photoreal"} and c["photoreal"]["status"] == "ok", name
        assert c["photoreal"]["model"] == "bastion-photoreal-heuristic"
        assert c == classified(base[name]), name  # the same decode, the same scores as a folder scan
        assert not row["errors"]
    assert classified(got["coffee.png"])["photoreal"]["scores"]["photoreal"] > 0.5
    assert all(classified(got[f"drawing{i}.png"])["photoreal"]["scores"]["photoreal"] < 0.5 for i in range(3))

    # the per-run results table holds the same signals
    from bastion.store.db import open_store
    from bastion.store.schema import ScanResultRow

    store = open_store(database_url)
    try:
        with store.session() as s:
            stored = {r.key.rsplit("/", 1)[-1]: json.loads(r.result) for r in s.scalars(select(ScanResultRow))}
    finally:
        store.close()
    assert {k: classified(v) for k, v in stored.items()} == {k: classified(v) for k, v in got.items()}

    # unclassified, the archive run is as before: no classifier signal, the same hashes
    again = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "2", "--no-banks", "--jsonl",
                "--no-progress")
    assert again.exit_code == 0, again.output
    unclassified = rows_of(again.stdout)
    assert {k: (v["sha256"], v["pdq"]) for k, v in unclassified.items()} == {k: (v["sha256"], v["pdq"]) for k, v in got.items()}
    assert not any(classified(v) for v in unclassified.values())


def test_dask_engine_classifies_the_same(tmp_path):
    folder = make_folder(tmp_path)
    db = f"sqlite:///{tmp_path / 'bastion.db'}"
    init(db)
    local = cli(db, "scan", str(folder), "--engine", "local", "--jobs", "1", "--classifiers", "photoreal",
                "--no-banks", "--jsonl", "--no-progress")
    dask = cli(db, "scan", str(folder), "--engine", "dask", "--jobs", "1", "--classifiers", "photoreal",
               "--no-banks", "--jsonl", "--no-progress")
    assert local.exit_code == dask.exit_code == 0, (local.output, dask.output)
    lr, dr = rows_of(local.stdout), rows_of(dask.stdout)
    assert len(dr) == 4 and all(classified(v).get("photoreal", {}).get("status") == "ok" for v in dr.values())
    assert {k: classified(v) for k, v in lr.items()} == {k: classified(v) for k, v in dr.items()}


def test_an_unknown_or_unloadable_classifier_stops_the_run_before_any_file(tmp_path, unavailable_classifier):
    folder = make_folder(tmp_path)
    db = f"sqlite:///{tmp_path / 'bastion.db'}"
    init(db)
    r = cli(db, "scan", str(folder), "--engine", "local", "--classifiers", "nope", "--no-banks", "--jsonl")
    assert r.exit_code == 2 and "unknown classifier 'nope'" in r.output and not rows_of(r.stdout)

    unavailable_classifier("missing", "missing: its model is not installed")
    for source in (str(folder), "s3://no-such-bucket/prefix"):  # the bucket is never listed
        r = cli(db, "scan", source, "--engine", "local", "--classifiers", "photoreal,missing", "--no-banks",
                "--jsonl", "--no-progress")
        assert r.exit_code == 2, r.output
        assert "classification is unavailable" in r.output and "not installed" in r.output
        assert not rows_of(r.stdout)
    # no run was started: nothing was listed, read or recorded
    from bastion.store.db import open_store
    from bastion.store.schema import ScanRunRow

    store = open_store(db)
    try:
        with store.session() as s:
            assert s.scalars(select(ScanRunRow)).all() == []
    finally:
        store.close()


def test_a_classifier_the_workers_cannot_load_is_never_clean(tmp_path):
    """Known to the client (registered in this process) but not to the spawned workers — as a Dask worker
    without the extra: every image gets an 'unavailable' classifier signal and an error, and the run exits 2."""
    folder = make_folder(tmp_path)
    db = f"sqlite:///{tmp_path / 'bastion.db'}"
    init(db)

    class HereOnly(clf.Classifier):
        name, model, version = "here-only", "test-here-only", "1"
        scores = ("here",)

        def classify(self, picture):
            return {"here": 0.5}

    clf.register("here-only", HereOnly)
    try:
        r = cli(db, "scan", str(folder / "drawing0.png"), "--engine", "local", "--jobs", "1",
                "--classifiers", "here-only", "--no-banks", "--jsonl", "--no-progress")
    finally:
        clf.unregister("here-only")
    assert r.exit_code == 2, r.output
    row = rows_of(r.stdout)["drawing0.png"]
    assert classified(row)["here-only"]["status"] == "unavailable"
    assert [e["code"] for e in row["errors"]] == ["classifier-unavailable"]


def test_resume_runs_the_classifiers_the_run_was_started_with(database_url, tmp_path):
    """--resume without --classify goes on with the run's own classifiers (recorded when it started), and
    naming other ones is refused (exit 2) rather than mixing two kinds of results in one run."""
    folder = make_folder(tmp_path)
    init(database_url)
    first = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--shard-size", "2",
                "--classifiers", "photoreal", "--no-banks", "--no-progress")
    assert first.exit_code == 0, first.output
    run_id = first.output.split("scan run ", 1)[1].split()[0]
    plain = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--shard-size", "2",
                "--no-banks", "--no-progress")
    assert plain.exit_code == 0, plain.output
    plain_id = plain.output.split("scan run ", 1)[1].split()[0]

    from sqlalchemy import delete

    from bastion.store.db import open_store
    from bastion.store.schema import ScanResultRow, ScanShardRow

    store = open_store(database_url)
    try:
        with store.session() as s, s.begin():  # as if both runs had stopped before any shard was done
            for rid in (run_id, plain_id):
                s.execute(delete(ScanShardRow).where(ScanShardRow.run_id == rid))
                s.execute(delete(ScanResultRow).where(ScanResultRow.run_id == rid))
    finally:
        store.engine.dispose()

    resumed = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--resume", run_id,
                  "--no-banks", "--jsonl", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming with the run's classifiers: photoreal" in resumed.output
    got = rows_of(resumed.stdout)
    assert set(got) == {"coffee.png", "drawing0.png", "drawing1.png", "drawing2.png"}
    assert all(set(classified(row)) == {"photoreal"} for row in got.values())

    # a run started without classifiers is not resumed with some
    other = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--resume", plain_id,
                "--classifiers", "photoreal", "--no-banks", "--no-progress")
    assert other.exit_code == 2 and "started with classifiers none" in other.output
    unclassified = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--resume", plain_id,
                       "--no-banks", "--jsonl", "--no-progress")
    assert unclassified.exit_code == 0, unclassified.output
    assert all(classified(row) == {} for row in rows_of(unclassified.stdout).values())


def test_a_run_that_recorded_no_choice_resumes_with_the_flags_given(database_url, tmp_path):
    """A run started before runs recorded their classifiers (scan_runs.classify NULL): --resume takes the flags."""
    folder = make_folder(tmp_path)
    init(database_url)
    first = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--no-banks", "--no-progress")
    assert first.exit_code == 0, first.output
    run_id = first.output.split("scan run ", 1)[1].split()[0]
    from sqlalchemy import delete, update

    from bastion.store.db import open_store
    from bastion.store.schema import ScanResultRow, ScanRunRow, ScanShardRow

    store = open_store(database_url)
    try:
        with store.session() as s, s.begin():
            s.execute(update(ScanRunRow).where(ScanRunRow.id == run_id).values(classify=None))
            s.execute(delete(ScanShardRow).where(ScanShardRow.run_id == run_id))
            s.execute(delete(ScanResultRow).where(ScanResultRow.run_id == run_id))
    finally:
        store.engine.dispose()
    resumed = cli(database_url, "scan", str(folder), "--engine", "local", "--jobs", "1", "--resume", run_id,
                  "--classifiers", "photoreal", "--no-banks", "--jsonl", "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert all(set(classified(row)) == {"photoreal"} for row in rows_of(resumed.stdout).values())
