"""``bastion serve``'s processes move start-up's objects out of the collector's way (api/app.py
``settle_heap``): the app factory uvicorn calls leaves them in the permanent generation, with the item path's
lazily built parts (the text lexicon) built first. Run in a child process: freezing this test process's heap
would keep every later test's garbage."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import gc, json
from bastion.api.app import app_from_env
from bastion.text import default_lexicon
app = app_from_env()
frozen = gc.get_freeze_count()
# nothing the warm-up built is left for the collector: building the lexicon again adds no new object
before = len(gc.get_objects())
default_lexicon()
print(json.dumps({"frozen": frozen, "young_after": len(gc.get_objects()) - before, "left": before}))
"""


def test_the_server_factory_freezes_start_up_objects(tmp_path):
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home"), "BASTION_BACKGROUND": "0"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    # tens of thousands of objects (the app, the policy, the lexicon) are frozen; what a collection still
    # walks is a small fraction of them
    assert res["frozen"] > 50_000
    assert res["left"] < res["frozen"] / 10
    assert res["young_after"] < 100
