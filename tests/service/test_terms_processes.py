"""Two real `bastion serve` processes on one store: a term a lead adds through one is applied by the other
without a restart (its live lexicon follows the term change log), and a removal reaches it too. The term is a
neutral placeholder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from bastion.auth import service as auth
from bastion.store.db import open_store
from svc_helpers import free_port, serve_process


def _serve(home: Path, url: str, port: int) -> subprocess.Popen:
    return serve_process(home, url, port)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _flagged(c: httpx.Client, item_id: str) -> bool:
    r = c.post("/v1/items", json={"id": item_id, "title": "x", "tags": ["nimbrel"]})
    assert r.status_code in (200, 201), r.text
    return any(s.get("term") == "nimbrel" for s in r.json()["signals"])


def test_a_term_added_through_one_server_process_is_applied_by_another(database_url, tmp_path):
    store = open_store(database_url)
    with store.session() as s, s.begin():
        auth.create_user(s, "lead", "lead")
        auth.create_user(s, "platform", "integration")
        lead = auth.create_token(s, "lead")[1]
        platform = auth.create_token(s, "platform")[1]
    store.close()
    pa, pb = free_port(), free_port()
    a = _serve(tmp_path / "a", database_url, pa)
    try:
        b = _serve(tmp_path / "b", database_url, pb)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{pa}", headers={"Authorization": f"Bearer {lead}"}, timeout=10) as ca, \
                    httpx.Client(base_url=f"http://127.0.0.1:{pb}", headers={"Authorization": f"Bearer {platform}"}, timeout=10) as cb:
                assert not _flagged(cb, "before")
                r = ca.post("/v1/terms", json={"term": "nimbrel", "category": "coded", "weight": 0.9})
                assert r.status_code == 201, r.text
                t0 = time.monotonic()
                n = 0
                while not _flagged(cb, f"after-{n}"):
                    n += 1
                    assert time.monotonic() - t0 < 15, "the other process never applied the term"
                    time.sleep(0.1)
                # within a poll of the change log (1 s by default; generous bound for a loaded machine)
                assert time.monotonic() - t0 < 15
                assert ca.delete("/v1/terms/nimbrel").status_code == 200
                t0 = time.monotonic()
                while _flagged(cb, f"removed-{n}"):
                    n += 1
                    assert time.monotonic() - t0 < 15, "the other process never dropped the term"
                    time.sleep(0.1)
        finally:
            _stop(b)
    finally:
        _stop(a)
