"""The local archive engine runs its batches on the examine worker pool under a hard deadline (issue 19):
a file stuck where no signal reaches (inside a C decoder) costs one worker its deadline, is reported as
`time-budget`, and every other file of its batch is still examined. Benign generated images only."""

from __future__ import annotations

import time

from bastion.demo import generated_pattern


class _StuckSource:
    """A folder whose one named file never finishes: SIGALRM blocked, then a long sleep (as a decoder stuck in
    C code would be). Imported by name in the engine's worker processes."""

    def __init__(self, folder: str, stuck: str):
        from bastion.sources import FolderSource

        self.inner = FolderSource(folder)
        self.spec = folder
        self.stuck = stuck

    def keys(self):
        return self.inner.keys()

    def examine(self, key, **kw):
        if key.endswith(self.stuck):
            import signal

            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(3600)
        return self.inner.examine(key, **kw)


def test_a_stuck_file_is_stopped_and_pinned_and_its_batch_still_examined(tmp_path):
    from bastion.engines import Task
    from bastion.engines.local import LocalEngine
    from bastion.sources import plan_shards

    for i in range(12):
        generated_pattern(i + 1).resize((96, 72)).save(tmp_path / f"f{i:02d}.png")
    src = _StuckSource(str(tmp_path), "f05.png")
    tasks = iter([Task(i, src, s.keys) for i, s in enumerate(plan_shards(src.keys(), 0, 4))])
    eng = LocalEngine(jobs=2, key_seconds=3.0)
    t0 = time.monotonic()
    got = {r.path.rsplit("/", 1)[1]: r for _, results in eng.run(tasks, provenance=False, watermark="off") for r in results}
    seconds = time.monotonic() - t0
    assert sorted(got) == [f"f{i:02d}.png" for i in range(12)]  # every key once, none lost
    assert [e["code"] for e in got["f05.png"].errors] == ["time-budget"]
    assert all(r.pdq and not r.errors for name, r in got.items() if name != "f05.png")
    # the batch's deadline (4 keys x 3 s) and the stuck key alone (3 s), not the hour it asked for
    assert seconds < 60


def test_on_dask_a_stuck_file_costs_its_deadline_and_the_dask_worker_goes_on(tmp_path):
    """One Dask worker with one thread: the other batches can only be examined if the stuck file let go of it.
    The Dask worker process is the same before and after (its examine process was killed, not the worker)."""
    import os

    from bastion.engines import Task
    from bastion.engines.dask import DaskEngine
    from bastion.sources import plan_shards

    for i in range(8):
        generated_pattern(i + 1).resize((96, 72)).save(tmp_path / f"f{i:02d}.png")
    src = _StuckSource(str(tmp_path), "f02.png")
    tasks = iter([Task(i, src, s.keys) for i, s in enumerate(plan_shards(src.keys(), 0, 4))])
    eng = DaskEngine(jobs=1, key_seconds=3.0)
    try:
        before = set(eng.client.run(os.getpid).values())
        t0 = time.monotonic()
        got = {r.path.rsplit("/", 1)[1]: r for _, results in eng.run(tasks, provenance=False, watermark="off")
               for r in results}
        seconds = time.monotonic() - t0
        after = set(eng.client.run(os.getpid).values())
    finally:
        eng.close()
    assert sorted(got) == [f"f{i:02d}.png" for i in range(8)]
    assert [e["code"] for e in got["f02.png"].errors] == ["time-budget"]
    assert all(r.pdq and not r.errors for name, r in got.items() if name != "f02.png")
    assert before == after and len(before) == 1
    assert seconds < 60  # the batch's deadline (4 x 3 s) and the stuck key alone (3 s), not the hour it asked for


def test_a_daemonic_dask_worker_is_refused_rather_than_run_without_the_hard_deadline():
    """A Dask worker started daemonic (the default of `dask worker` with a nanny) may not start processes:
    the engine is told why and how to start the workers, instead of scanning without a hard deadline."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    answers = ctx.Queue()
    child = ctx.Process(target=_report_start, args=(answers,), daemon=True)
    child.start()
    problem = answers.get(timeout=60)
    child.join(10)
    assert problem and "DASK_DISTRIBUTED__WORKER__DAEMON=False" in problem


def _report_start(answers) -> None:
    from bastion.engines.tasks import start_dask_pool

    answers.put(start_dask_pool())
