"""What the stream tests read back from a consumer's store, and how they stop a running `bastion consume`."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sqlalchemy import select

from bastion.cases.models import ItemRow
from bastion.store.db import open_store


def stored_ids(database_url: str) -> list[str]:
    """The external ids of the items the store holds."""
    store = open_store(database_url)
    try:
        with store.session() as s:
            return list(s.scalars(select(ItemRow.external_id)))
    finally:
        store.close()


def sigterm_once_stored(proc: subprocess.Popen, database_url: str, at_least: int = 20,
                        timeout: float = 120) -> tuple[bytes, bytes]:
    """Send SIGTERM to a running consumer once its store holds ``at_least`` items; its stdout and stderr once it
    has exited. The process group is killed if it is still running when this returns or fails."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"bastion consume exited early: {proc.stderr.read().decode()[-2000:]}")
            try:
                if len(stored_ids(database_url)) >= at_least:
                    break
            except Exception:  # noqa: BLE001 - the consumer has not created the tables yet
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
