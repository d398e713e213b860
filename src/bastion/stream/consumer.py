"""The consume loop: a message in, the verdict out, then the acknowledgement.

For each delivery (up to the broker's prefetch at once, each item in a thread as ``POST /v1/items`` runs it):

1. Decode and validate it exactly as ``POST /v1/items`` validates a JSON body (:class:`ItemIn`); a message
   that is not an item is **dead-lettered** with the reason and acknowledged — it is never retried forever,
   and never silently dropped.
2. Hand it to the service's own intake, :meth:`bastion.cases.ingest.Service.submit`: the item id is the
   idempotency key, so a redelivered message gets the stored verdict and stores nothing twice. Errors the
   HTTP API answers with 4xx (invalid media, a different body under a known id) are dead-lettered too.
3. Publish the verdict (the body ``POST /v1/items`` answers with) and wait for the broker's confirm. The
   items in flight publish concurrently: their confirms are outstanding together.
4. Only then is the delivery finished, and finished deliveries are acknowledged in groups by one task (all
   that finished since its last round, :meth:`Broker.ack`; RabbitMQ covers a run of them with one
   ``multiple`` ack, never a delivery still in flight). A crash anywhere before the acknowledgement leaves
   the message unacknowledged: the broker delivers it again and step 2 answers it from the store
   (at-least-once delivery of verdicts, exactly-once storage of items).

A failure that may pass (store busy, database down) hands the message back after a wait that doubles with
each failure in a row; a configuration error or a lost broker connection stops the consumer with an error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from bastion.cases.schemas import ItemIn
from bastion.errors import BastionError, ConfigError, Conflict, InvalidHash, InvalidInput, MediaError, ProblemList
from bastion.stream.broker import Broker, Delivery

log = logging.getLogger("bastion.consume")

#: errors about the item itself (the HTTP API answers them with 4xx): retrying cannot help, so dead letter
ITEM_ERRORS: tuple[type[BaseException], ...] = (InvalidInput, MediaError, Conflict, ProblemList, InvalidHash)
MAX_RETRY_WAIT = 60.0


@dataclass
class ConsumeStats:
    received: int = 0
    verdicts: int = 0
    dead_lettered: int = 0
    retried: int = 0
    redelivered: int = 0
    #: why the consumer stopped on its own (None: asked to stop, or idle)
    error: str | None = None
    by_reason: dict[str, int] = field(default_factory=dict)


class Consumer:
    def __init__(self, service: Any, broker: Broker, *, max_bytes: int, retry_seconds: float = 1.0,
                 refresh_seconds: float = 1.0, threads: int = 32):
        self.service, self.broker = service, broker
        #: items examined at once (each waits in the service's group commit); the broker's prefetch bounds it too
        self.threads = threads
        self.max_bytes, self.retry_seconds, self.refresh_seconds = max_bytes, retry_seconds, refresh_seconds
        self.stats = ConsumeStats()
        self._failures = 0  # transient failures in a row (the back-off)
        self._tasks: set[asyncio.Task] = set()
        self._last_activity = time.monotonic()
        self._stopping = False
        #: deliveries finished (verdict or dead letter confirmed) and not yet acknowledged, and the acker's bell
        self._finished: list[Delivery] = []
        self._ack_bell = asyncio.Event()
        self._acks_closed = False

    async def run(self, *, idle_exit: float | None = None, stop: asyncio.Event | None = None) -> ConsumeStats:
        """Consume until ``stop`` is set, the queue has been idle ``idle_exit`` seconds with nothing in flight,
        or a fatal error. Messages in flight are finished (or handed back) before it returns."""
        await self.broker.open()
        executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="bastion-consume")
        self._executor = executor
        watchers = [asyncio.create_task(self._refresh_loop())]
        self._finished, self._acks_closed, self._ack_bell = [], False, asyncio.Event()
        acker = asyncio.create_task(self._ack_loop())
        if stop is not None:
            watchers.append(asyncio.create_task(self._stop_on(stop)))
        if idle_exit:
            watchers.append(asyncio.create_task(self._idle_watch(idle_exit)))
        try:
            try:
                async for delivery in self.broker.receive():
                    self._last_activity = time.monotonic()
                    if self._stopping:  # received after the stop: never started, so handed straight back
                        await self._settle(self.broker.nack, delivery)
                        continue
                    task = asyncio.create_task(self._handle(delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except ConnectionError as exc:  # the broker went away: stop with an error, it requeues what we held
                log.error("%s; stopping", exc)
                self._stopping = True
                self.stats.error = self.stats.error or f"broker error: {exc}"
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            # what finished is acknowledged before the connection closes (on a lost one it cannot be, and
            # comes back: answered from the store)
            self._acks_closed = True
            self._ack_bell.set()
            await asyncio.gather(acker, return_exceptions=True)
            for w in watchers:
                w.cancel()
            await self.broker.close()
            executor.shutdown(wait=False)
        return self.stats

    async def stop(self, error: str | None = None) -> None:
        if error and self.stats.error is None:
            self.stats.error = error
        if not self._stopping:
            self._stopping = True
            await self.broker.stop()

    # --- one delivery -------------------------------------------------------------------------------

    async def _handle(self, d: Delivery) -> None:
        self.stats.received += 1
        self.stats.redelivered += d.redelivered
        try:
            item = self._item(d)
            if isinstance(item, tuple):
                await self._dead_letter(d, *item)
                return
            try:
                if hasattr(self.service, "submit_async"):  # the writer's lane: no thread waits per item
                    answer = await self.service.submit_async(item, [], None)
                else:
                    answer = await asyncio.get_running_loop().run_in_executor(
                        self._executor, functools.partial(self.service.submit, item, [], None))
            except ITEM_ERRORS as exc:
                await self._dead_letter(d, getattr(exc, "code", "invalid-input"), str(exc))
                return
            except ConfigError as exc:
                await self._settle(self.broker.nack, d)
                await self.stop(f"configuration error: {exc}")
                return
            except Exception as exc:  # may pass (store busy, database restarting): hand it back after a wait
                await self._retry_later(d, exc)
                return
            self._failures = 0
            await self.broker.publish(orjson.dumps(answer),  # the body POST /v1/items answers with, byte for byte
                                      item_id=item.id, correlation_id=d.correlation_id or d.message_id)
            self.stats.verdicts += 1
            self._finish(d)
        except Exception as exc:  # the broker failed us (publish refused, connection lost): stop, it requeues
            log.exception("broker error; stopping (unacknowledged messages return to the queue)")
            await self.stop(f"broker error: {type(exc).__name__}: {exc}")
        finally:
            self._last_activity = time.monotonic()

    def _item(self, d: Delivery) -> ItemIn | tuple[str, str]:
        """The item, or (reason, detail) for the dead letter."""
        if len(d.body) > self.max_bytes:
            return "too-large", f"the message is {len(d.body)} bytes; at most {self.max_bytes} (BASTION_MAX_BODY_BYTES)"
        try:  # parsed and validated in one pass, as the HTTP API's lean path does
            return ItemIn.model_validate_json(d.body)
        except ValidationError:
            pass  # refused: the two steps below say why, as before
        try:
            # orjson refuses nesting past 1,024 levels with a JSONDecodeError; the standard library's parser
            # raised RecursionError there, which stopped the consumer (and the message came back to stop the
            # next one)
            payload = orjson.loads(d.body)
        except (ValueError, UnicodeDecodeError) as exc:
            return "invalid-json", f"the message is not JSON: {exc}"
        try:
            return ItemIn.model_validate(payload)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(x) for x in e.get('loc', ())) or '(item)'}: {e.get('msg', '')}" for e in exc.errors()[:20]]
            return "invalid-item", "; ".join(problems)

    async def _dead_letter(self, d: Delivery, reason: str, detail: str) -> None:
        log.warning("dead letter (%s): %s", reason, detail[:300])
        await self.broker.dead_letter(d, reason, detail)
        self.stats.dead_lettered += 1
        self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        self._finish(d)

    # --- acknowledgements, in groups --------------------------------------------------------------------

    def _finish(self, d: Delivery) -> None:
        """``d``'s item is committed and its verdict (or dead letter) confirmed: acknowledge it soon."""
        self._finished.append(d)
        self._ack_bell.set()

    async def _ack_loop(self) -> None:
        """One task acknowledges everything that finished since its last round, in one call: the items
        of a group commit finish together, and so do their publisher confirms."""
        while True:
            await self._ack_bell.wait()
            self._ack_bell.clear()
            await asyncio.sleep(0)  # the rest of this round's finishers
            group, self._finished = self._finished, []
            if group:
                try:
                    await self.broker.ack(group)
                except Exception as exc:  # the connection is going: these come back, answered from the store
                    if not self._acks_closed:
                        log.error("acknowledging %d deliveries failed: %s; stopping", len(group), exc)
                        await self.stop(f"broker error: {type(exc).__name__}: {exc}")
            if self._acks_closed and not self._finished:
                return

    async def _retry_later(self, d: Delivery, exc: Exception) -> None:
        self._failures += 1
        wait = min(MAX_RETRY_WAIT, self.retry_seconds * 2 ** (self._failures - 1))
        log.warning("item failed (%s: %s); handing it back in %.1f s", type(exc).__name__,
                    str(exc)[:300], wait, exc_info=not isinstance(exc, BastionError))
        self.stats.retried += 1
        await asyncio.sleep(wait)
        await self.broker.nack(d)

    async def _settle(self, how, d: Delivery) -> None:
        try:
            await how(d)
        except Exception:  # the connection is going: the broker requeues it anyway
            log.debug("could not settle a delivery", exc_info=True)

    # --- around the loop ----------------------------------------------------------------------------

    async def _stop_on(self, event: asyncio.Event) -> None:
        await event.wait()
        await self.stop()

    async def _idle_watch(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(min(0.2, seconds))
            if not self._tasks and not self._finished and time.monotonic() - self._last_activity >= seconds:
                await self.stop()
                return

    async def _refresh_loop(self) -> None:
        """New bank hashes and platform terms reach this process as they reach a server's (the index-sync and
        lexicon-sync loops of ``bastion serve``)."""
        parts = [p for p in (getattr(self.service, "matcher", None), getattr(self.service, "lexicon", None))
                 if p is not None and hasattr(p, "refresh")]
        while parts:
            await asyncio.sleep(self.refresh_seconds)
            for p in parts:
                try:
                    await asyncio.to_thread(p.refresh)
                except Exception:
                    log.warning("refresh of %s failed", type(p).__name__, exc_info=True)
