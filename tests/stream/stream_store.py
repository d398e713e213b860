"""What the stream tests read back from a consumer's store, and how they start and stop `bastion consume`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def start_consume(names, home: Path, database_url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`bastion consume` in a process group of its own, on the broker at ``names.url`` with the queues (or subjects)
    ``names.items``, ``names.verdicts`` and ``names.dead``; ``env``: more settings (a NATS stream, say)."""
    environ = {**os.environ, "BASTION_HOME": str(home), "BASTION_DATABASE_URL": database_url,
               "BASTION_BROKER_URL": names.url, **(env or {})}
    bastion = Path(sys.executable).with_name("bastion")
    return subprocess.Popen([str(bastion), "consume", "--queue", names.items, "--verdicts", names.verdicts,
                             "--dead-letter", names.dead, "--prefetch", "16", "--examine-workers", "1", *extra],
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[bytes, bytes]:
    """A consumer's stdout and stderr once it has exited; its process group is killed if it is still running
    when this returns or fails."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        _kill_if_running(proc)


def _kill_if_running(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def signal_once_stored(proc: subprocess.Popen, database_url: str, sig: int = signal.SIGTERM, at_least: int = 20,
                       timeout: float = 120) -> tuple[int, bytes, bytes]:
    """Send ``sig`` to a running consumer once its store holds ``at_least`` items (SIGKILL to its whole process
    group, the examine workers too; any other signal to the consumer alone). Returns the number of items stored
    when the signal went (fewer than ``at_least`` if ``timeout`` ran out first), and the consumer's stdout and
    stderr once it has exited."""
    count = 0
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"bastion consume exited early: {proc.stderr.read().decode()[-2000:]}")
            try:
                count = len(stored_ids(database_url))
            except Exception:  # noqa: BLE001 - the consumer has not created the tables yet
                count = 0
            if count >= at_least:
                break
            time.sleep(0.05)
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        _kill_if_running(proc)
    return count, stdout, stderr
