"""Kill a scan halfway — client, scheduler and workers together, or one Dask worker — and nothing is lost:
after --resume every file is recorded exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from bastion.cli import app
from bastion.demo import generated_pattern

runner = CliRunner()
N_FILES = 150


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    d = tmp_path_factory.mktemp("many")
    for i in range(N_FILES):
        sub = d / f"{i // 50}"
        sub.mkdir(exist_ok=True)
        generated_pattern(i + 1).resize((128, 96)).save(sub / f"f{i:03d}.png")
    return d


def _count(url: str, sql: str) -> int:
    from bastion.store.db import make_engine

    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql)).scalar() or 0
    except Exception:  # tables not created yet
        return 0
    finally:
        eng.dispose()


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_resume_after_killing_the_run_gives_every_file_once(engine, database_url, many, tmp_path):
    if engine == "dask" and database_url.startswith("postgresql"):
        pytest.skip("the dask variant runs on SQLite only, to keep the suite small (the store path is the same)")
    assert runner.invoke(app, ["--database-url", database_url, "bank", "create", "k"]).exit_code == 0
    cmd = [sys.executable, "-c", "from bastion.cli import main; main()", "--database-url", database_url, "scan", str(many), "--engine", engine,
           "--jobs", "1", "--shard-size", "10", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "BASTION_HOME": str(tmp_path / "home")})
    try:
        deadline = time.monotonic() + 300
        while _count(database_url, "SELECT count(*) FROM scan_shards") < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run recorded no shard"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its pool or LocalCluster (scheduler and workers): all at once
        proc.wait()
    shards_before = _count(database_url, "SELECT count(*) FROM scan_shards")
    assert shards_before < N_FILES // 10, "the run finished before it could be killed"
    assert _count(database_url, "SELECT count(*) FROM scan_runs WHERE status = 'running'") == 1
    run_id = proc.stderr.read().decode().split("scan run ", 1)[1].split()[0]

    r = runner.invoke(app, ["--database-url", database_url, "scan", str(many), "--engine", engine, "--jobs", "1",
                            "--resume", run_id, "--jsonl"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    resumed = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(resumed) <= N_FILES - 10 * shards_before  # finished shards were not scanned again
    assert _count(database_url, f"SELECT count(*) FROM scan_results WHERE run_id = '{run_id}'") == N_FILES
    assert _count(database_url, f"SELECT count(DISTINCT key) FROM scan_results WHERE run_id = '{run_id}'") == N_FILES
    assert _count(database_url, f"SELECT count(*) FROM scan_shards WHERE run_id = '{run_id}'") == N_FILES // 10
    assert _count(database_url, "SELECT count(*) FROM scan_runs WHERE status = 'finished'") == 1
    assert _count(database_url, "SELECT count(*) FROM media") == N_FILES  # the hashes of every file, once


def test_a_killed_dask_worker_loses_no_file(many):
    from bastion.engines import Task
    from bastion.engines.dask import DaskEngine
    from bastion.sources import FolderSource, plan_shards

    src = FolderSource(str(many))
    tasks = iter([Task(i, src, s.keys) for i, s in enumerate(plan_shards(src.keys(), 0, 5))])
    eng = DaskEngine(jobs=2, window=4)
    try:
        seen: list[str] = []
        killed = False
        for task, results in eng.run(tasks, provenance=False, watermark="off"):
            seen.extend(r.path for r in results)
            assert all(not r.errors for r in results)
            if not killed:
                pids = eng.client.run(os.getpid)
                os.kill(sorted(pids.values())[0], signal.SIGKILL)  # one worker dies with batches in flight
                killed = True
        assert killed
        assert sorted(seen) == sorted(src.keys())  # every file once: the lost batches ran again elsewhere
    finally:
        eng.close()


def test_a_killed_dask_scheduler_loses_no_file(many, tmp_path):
    """An existing cluster (a scheduler and a worker, as separate processes): the scheduler is killed halfway,
    the client stops with a clear error, and --resume on a new cluster records every file exactly once."""
    url = f"sqlite:///{tmp_path / 'b.db'}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home")}

    def cluster(n: int):
        sf = tmp_path / f"scheduler{n}.json"
        sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(sf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        deadline = time.monotonic() + 120
        while not sf.exists() or not sf.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        # as docs/archive.md starts them: workers that may start the examine processes (not daemonic)
        worker = subprocess.Popen([dask, "worker", "--scheduler-file", str(sf), "--nthreads", "1", "--nworkers", "1",
                                   "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**env, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}, start_new_session=True)
        import json as _json

        return sched, worker, _json.loads(sf.read_text())["address"]

    procs = []
    try:
        sched, worker, address = cluster(1)
        procs += [sched, worker]
        assert runner.invoke(app, ["--database-url", url, "bank", "create", "k"]).exit_code == 0
        cmd = [sys.executable, "-c", "from bastion.cli import main; main()", "--database-url", url, "scan", str(many),
               "--engine", "dask", "--scheduler", address, "--shard-size", "10", "--no-progress"]
        client = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
        procs.append(client)
        deadline = time.monotonic() + 300
        while _count(url, "SELECT count(*) FROM scan_shards") < 2:
            assert client.poll() is None, client.stderr.read().decode()
            assert time.monotonic() < deadline, "the run recorded no shard"
            time.sleep(0.02)
        os.killpg(sched.pid, signal.SIGKILL)
        sched.wait()
        assert client.wait(timeout=180) == 2  # a clear error, not a hang
        stderr = client.stderr.read().decode()
        assert "lost the Dask scheduler" in stderr, stderr
        assert _count(url, "SELECT count(*) FROM scan_shards") < N_FILES // 10
        run_id = stderr.split("scan run ", 1)[1].split()[0]

        sched2, worker2, address2 = cluster(2)
        procs += [sched2, worker2]
        r = runner.invoke(app, ["--database-url", url, "scan", str(many), "--engine", "dask", "--scheduler", address2,
                                "--resume", run_id], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert _count(url, f"SELECT count(*) FROM scan_results WHERE run_id = '{run_id}'") == N_FILES
        assert _count(url, f"SELECT count(DISTINCT key) FROM scan_results WHERE run_id = '{run_id}'") == N_FILES
        assert _count(url, f"SELECT count(*) FROM scan_shards WHERE run_id = '{run_id}'") == N_FILES // 10
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


class _CrashingSource:
    """A folder whose one poisoned file kills the process examining it (as a decoder crash would)."""

    def __init__(self, folder: str, poisoned: str):
        from bastion.sources import FolderSource

        self.inner = FolderSource(folder)
        self.spec = folder
        self.poisoned = poisoned

    def keys(self):
        return self.inner.keys()

    def examine(self, key, **kw):
        if key.endswith(self.poisoned):
            os._exit(1)
        return self.inner.examine(key, **kw)


def test_a_killed_local_worker_loses_no_file(many):
    from bastion.engines import Task
    from bastion.engines.local import LocalEngine
    from bastion.sources import plan_shards

    src = _CrashingSource(str(many), "f007.png")
    tasks = iter([Task(i, src, s.keys) for i, s in enumerate(plan_shards(src.keys(), 0, 10))][:3])
    eng = LocalEngine(jobs=2)
    got = {r.path: r for _, results in eng.run(tasks, provenance=False, watermark="off") for r in results}
    assert len(got) == 30  # every key of the three batches, once
    crashed = [p for p, r in got.items() if r.errors]
    assert [p.rsplit("/", 1)[1] for p in crashed] == ["f007.png"]
    assert got[crashed[0]].errors[0]["code"] == "worker-crashed"
    assert all(r.pdq for p, r in got.items() if p not in crashed)
