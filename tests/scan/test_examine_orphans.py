"""A Bastion process killed with SIGKILL while an examine worker is busy takes that worker with it."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from bastion.examine import WorkerPool

    pool = WorkerPool(1)
    pool.start()
    def hold():
        try:
            pool.run(time.sleep, 3600, deadline=3600)
        except Exception:
            pass
    threading.Thread(target=hold, daemon=True).start()
    time.sleep(0.5)
    w = next(iter(pool._busy))
    print(w.proc.pid, flush=True)
    time.sleep(3600)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_busy_worker_dies_with_a_killed_parent():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"the script printed no worker pid: {line!r}"
        worker = int(line)
        assert _alive(worker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        end = time.monotonic() + 20
        while _alive(worker) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _alive(worker), "the busy examine worker outlived the killed Bastion process"
    finally:
        if proc.poll() is None:
            proc.kill()
