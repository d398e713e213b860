"""Durability: a real `bastion serve` process is killed with SIGKILL while items stream in; after a restart
every acknowledged item is stored exactly once, and retrying the unacknowledged ones stores each once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bastion.auth import service as auth
from bastion.cases.models import ItemRow
from bastion.store.db import open_store
from svc_helpers import free_port, serve_process


def _start(home: Path, url: str, port: int) -> subprocess.Popen:
    return serve_process(home, url, port, background=False, wait=60)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_item_and_stores_none_twice(database_url, tmp_path):
    store = open_store(database_url)
    with store.session() as s, s.begin():
        auth.create_user(s, "platform", "integration")
        _, token = auth.create_token(s, "platform")
    store.close()
    port = free_port()
    proc = _start(tmp_path / "home", database_url, port)
    acked: list[str] = []
    sent: list[str] = []
    stop = threading.Event()
    headers = {"Authorization": f"Bearer {token}"}

    def stream() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as c:
            for i in range(5000):  # bounded: the kill comes long before the end
                if stop.is_set():
                    return
                item_id = f"crash-{i}"
                sent.append(item_id)
                try:
                    r = c.post("/v1/items", json={"id": item_id, "title": f"placeholder {i}", "account": {"id": f"a{i % 7}"}})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    acked.append(item_id)

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop.set()
    t.join(10)
    assert len(acked) >= 40, "the server acknowledged too few items before the kill"

    proc = _start(tmp_path / "home", database_url, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as c:
            for item_id in acked:
                r = c.get(f"/v1/items/{item_id}")
                assert r.status_code == 200, item_id
            # the platform retries what it did not see acknowledged: each is stored once
            for item_id in sent:
                i = int(item_id.split("-")[1])
                r = c.post("/v1/items", json={"id": item_id, "title": f"placeholder {i}", "account": {"id": f"a{i % 7}"}})
                assert r.status_code == 200, r.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    store = open_store(database_url)
    with store.session() as s:
        rows = s.scalar(select(func.count()).select_from(ItemRow))
        distinct = s.scalar(select(func.count(func.distinct(ItemRow.external_id))))
    store.close()
    assert rows == distinct == len(sent)
