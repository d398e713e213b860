"""Several processes opening one new store at the same moment: each gets a migrated store, none fails."""

import subprocess
import sys
import time

SCRIPT = """
import sys, time
from bastion.store.db import open_store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
store = open_store(sys.argv[1])
store.close()
print("ok")
"""


def test_processes_opening_a_new_store_at_once_all_succeed(database_url, tmp_path):
    start = time.time() + 4.0  # all of them have imported Bastion by then, then they race for the migration
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, database_url, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=180) for p in procs]
    failures = [err[-1500:] for p, (out, err) in zip(procs, results) if p.returncode != 0 or out.strip() != "ok"]
    assert not failures, failures

    from sqlalchemy import inspect

    from bastion.store.db import current_revision, head_revision, open_store

    store = open_store(database_url, create=False)
    try:
        assert current_revision(store.engine) == head_revision()
        assert inspect(store.engine).has_table("banks")
    finally:
        store.close()
