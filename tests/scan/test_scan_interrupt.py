"""Ctrl-C during a scan with worker processes: the signal is only noted by a handler, and the pool's loop
raises KeyboardInterrupt itself between executor calls (never inside them), then stops its workers. The
command-level behaviour (exit 130, what was found printed and written) is in tests/cli/test_cli_errors.py."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from bastion.demo import generated_pattern
from bastion.scan import Scanner, iter_files


def _pics(tmp_path, n):
    pics = tmp_path / "pics"
    pics.mkdir()
    generated_pattern(1, (96, 64)).save(pics / "0000.png")
    for i in range(1, n):
        os.link(pics / "0000.png", pics / f"{i:04}.png")
    return pics


def test_sigint_in_a_pool_scan_stops_it_between_files_and_restores_the_handler(tmp_path):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen: list[str] = []
    handler_during: list[object] = []

    def on_result(res) -> None:
        seen.append(res.path)
        if len(seen) == 3:
            handler_during.append(signal.getsignal(signal.SIGINT))
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would: delivered to this (main) thread

    # Processes another test left running in this interpreter (a server's examine pool) are not this scan's.
    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        Scanner(None, None, jobs=2, provenance=False).run(iter_files([_pics(tmp_path, 2000)]), on_result)
    # The handler that only notes the signal was in place, and the default one is back.
    assert handler_during and handler_during[0] is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert 3 <= len(seen) < 2000 and len(set(seen)) == len(seen)
    left = [p for p in multiprocessing.active_children() if p not in before]
    assert left == []  # the scan's workers were stopped, none left behind


def test_a_callers_own_sigint_handler_is_left_alone(tmp_path):
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        seen: list[str] = []

        def on_result(res) -> None:
            seen.append(res.path)
            if len(seen) == 2:
                os.kill(os.getpid(), signal.SIGINT)

        summary = Scanner(None, None, jobs=2, provenance=False).run(iter_files([_pics(tmp_path, 40)]), on_result)
        assert calls == [signal.SIGINT] and len(seen) == 40 and summary.files == 40
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_one_process_scan_leaves_ctrl_c_working_in_the_caller(tmp_path):
    """jobs=1 examines files in the caller's process: Ctrl-C must still interrupt it (it used to be ignored
    there from the first file on, so `bastion scan -j 1` ran to the end)."""
    seen: list[str] = []

    def on_result(res) -> None:
        seen.append(res.path)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        Scanner(None, None, jobs=1, provenance=False).run(iter_files([_pics(tmp_path, 200)]), on_result)
    assert len(seen) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
