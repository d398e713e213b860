"""`bastion consume` sets its process up as each `bastion serve` process does (api/app.py, store/checkpoint.py):
SQLite's WAL checkpoints run in a thread of their own instead of inside the writer's commits, and start-up's
objects are frozen out of the garbage collector's way. Run in a child interpreter (freezing this test
process's heap would keep every later test's garbage), against the real local RabbitMQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import gc, json, sys
import bastion.store.checkpoint as checkpoint
started = []
real = checkpoint.start_checkpointer
def watch(store):
    cp = real(store)
    started.append(cp is not None and cp._thread is not None and cp._thread.is_alive())
    return cp
checkpoint.start_checkpointer = watch
from bastion.cli import app, load_all_commands
load_all_commands()
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "checkpointer": started, "frozen": gc.get_freeze_count()}))
"""


def test_consume_runs_the_checkpointer_and_freezes_start_up_objects(queues, tmp_path):
    queues.publish([{"id": "item-1", "kind": "post", "title": "new watercolour", "body": "placeholder", "tags": ["art"]}])
    database_url = f"sqlite:///{tmp_path / 'c.db'}"
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home"), "BASTION_DATABASE_URL": database_url,
           "BASTION_BROKER_URL": queues.url}
    out = subprocess.run([sys.executable, "-c", CHILD, "consume", "--queue", queues.items, "--verdicts", queues.verdicts,
                          "--dead-letter", queues.dead, "--examine-workers", "1", "--idle-exit", "1"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.strip().splitlines() if line.startswith("{")]
    summary, child = lines[-2], lines[-1]
    assert summary["verdicts"] == 1 and summary["error"] is None
    assert child["code"] == 0
    assert child["checkpointer"] == [True]  # a SQLite file store: the checkpointer thread ran
    assert child["frozen"] > 50_000  # the app's policy, lexicon and examine path, built once and frozen
