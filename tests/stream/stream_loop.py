"""Run a coroutine to the end on an event loop of its own, in a thread of its own.

`asyncio.run` refuses to start where an event loop is already running in the calling thread, and earlier
tests of a whole-suite run leave one there (Playwright's sync API runs its loop in the main thread). The
stream tests' broker calls and consumers do not depend on the thread they run in, so each gets a fresh one.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run(coro)`` in a new thread; its value, or its exception raised here."""
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=main, name="stream-test-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
