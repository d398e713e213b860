"""NATS JetStream through ``nats-py``: the second broker adapter.

The items, verdicts and dead-letter "queues" are subjects of one JetStream stream (``BASTION_NATS_STREAM``),
created with those three subjects when it does not exist (an existing stream is used as it is). Items are
read by a durable pull consumer (``BASTION_NATS_DURABLE``) filtered on the items subject, with explicit
acknowledgement and ``max_ack_pending`` set to the prefetch: the server hands out no more unacknowledged
messages than that, and the adapter fetches as many as there are free slots in one request (back-pressure).
Publishes wait for JetStream's acknowledgement (``PubAck``: the stream stored the message), many outstanding at
once. Acknowledgements of finished items go out in groups: a plain ack each (JetStream's acks are per message
with ``AckExplicit``) and one PING/PONG flush per group. A message not acknowledged within
``BASTION_NATS_ACK_WAIT_SECONDS`` (a consumer that died, or is stuck) is delivered again.

As for RabbitMQ, a lost connection ends the consumer with an error rather than reconnecting behind its back
(the client's automatic reconnection is switched off); a supervisor restarts it, and what it held is
delivered again once the ack wait has passed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Sequence

from bastion.stream.broker import BrokerLost, Delivery

log = logging.getLogger("bastion.consume")

#: dead-letter headers (the original body is kept byte for byte, so a fixed message can be re-published)
REASON_HEADER = "x-bastion-reason"
DETAIL_HEADER = "x-bastion-detail"
SOURCE_HEADER = "x-bastion-source-queue"
#: NATS has no message properties: the ids travel in headers
MESSAGE_ID_HEADER = "Nats-Msg-Id"  # JetStream's own (it also de-duplicates publishes within the stream's window)
CORRELATION_HEADER = "Bastion-Correlation-Id"
ITEM_ID_HEADER = "Bastion-Item-Id"


def _num_delivered(m: Any) -> int:
    """How many times JetStream delivered ``m``: a field of its ack subject,
    ``$JS.ACK.<stream>.<consumer>.<delivered>.…`` (9 tokens) or, with a domain,
    ``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.…`` (12 or more). Read directly:
    the client's ``Msg.metadata`` also builds a timezone-aware timestamp per message, which was 11 % of the
    consumer's time (py-spy, bench/RESULTS.md)."""
    tokens = (m.reply or "").split(".")
    try:
        if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
            return int(tokens[4])
        if len(tokens) >= 12 and tokens[0] == "$JS" and tokens[1] == "ACK":
            return int(tokens[6])
    except ValueError:
        pass
    return m.metadata.num_delivered  # anything else: the client's parser (which raises on a non-JetStream reply)


class NatsBroker:
    name = "nats"

    def __init__(self, url: str, *, queue: str, verdicts: str, dead_letter: str, prefetch: int,
                 stream: str = "BASTION", durable: str = "bastion-consume", ack_wait: float = 60.0):
        self.url, self.queue_name, self.verdicts, self.dead_letter_name = url, queue, verdicts, dead_letter
        self.prefetch, self.stream, self.durable, self.ack_wait = prefetch, stream, durable, ack_wait
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._stopping = False
        self._closing = False
        self._lost: str | None = None
        self._unsettled = 0
        self._slots: asyncio.Condition | None = None
        #: acknowledgements sent and the flushes (round trips) that confirmed them
        self.ack_frames = {"flushes": 0, "deliveries": 0}

    async def open(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        self._slots = asyncio.Condition()
        try:
            self._nc = await nats.connect(
                self.url, allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=1, reconnect_time_wait=0.5,
                error_cb=self._on_error, disconnected_cb=self._on_disconnect, closed_cb=self._on_disconnect)
        except OSError:
            raise
        except Exception as exc:  # NoServersError and the like: the CLI reports "cannot reach the broker"
            raise ConnectionRefusedError(f"{type(exc).__name__}: {exc or 'no server answered'}") from exc
        self._lost = None
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(name=self.stream, subjects=[self.queue_name, self.verdicts, self.dead_letter_name])
        await self._js.add_consumer(self.stream, ConsumerConfig(
            durable_name=self.durable, filter_subject=self.queue_name, ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, max_ack_pending=self.prefetch, ack_wait=self.ack_wait))
        self._sub = await self._js.pull_subscribe_bind(self.durable, self.stream)

    async def _on_error(self, exc: Exception) -> None:
        # logged only: a lost connection is seen by the disconnected/closed callbacks and by fetch
        log.warning("NATS: %s: %s", type(exc).__name__, exc)

    async def _on_disconnect(self) -> None:
        if not self._closing and self._lost is None:
            self._lost = "disconnected"

    def _check(self) -> None:
        if self._closing:
            return
        if self._lost is not None or self._nc is None or self._nc.is_closed:
            raise BrokerLost(f"the connection to NATS was lost: {self._lost or 'closed'}")

    async def receive(self) -> AsyncIterator[Delivery]:
        from nats.errors import TimeoutError as NatsTimeout

        assert self._slots is not None
        while not self._stopping:
            self._check()
            async with self._slots:  # back-pressure: fetch only into free slots
                await self._slots.wait_for(lambda: self._stopping or self._unsettled < self.prefetch)
                free = self.prefetch - self._unsettled
            if self._stopping:
                return
            try:
                msgs = await self._sub.fetch(batch=free, timeout=0.5)
            except (NatsTimeout, asyncio.TimeoutError):
                continue
            except Exception as exc:
                if self._stopping or self._closing:
                    return
                raise BrokerLost(f"the connection to NATS was lost: {type(exc).__name__}: {exc}") from exc
            for m in msgs:
                self._unsettled += 1
                headers = dict(m.headers or {})
                yield Delivery(body=m.data, message_id=headers.get(MESSAGE_ID_HEADER),
                               correlation_id=headers.get(CORRELATION_HEADER),
                               redelivered=_num_delivered(m) > 1, headers=headers, native=m)

    async def stop(self) -> None:
        self._stopping = True
        if self._slots is not None:
            async with self._slots:
                self._slots.notify_all()

    async def _settled(self, n: int = 1) -> None:
        assert self._slots is not None
        async with self._slots:
            self._unsettled -= n
            self._slots.notify_all()

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        # JetStream's explicit acks are per message (its AckAll policy would settle a message still being
        # worked on below an acknowledged one): each goes out as a plain ack, then one PING/PONG round trip
        # (flush) for the group says the server has read them all. (An ack lost with the server would only
        # mean a redelivery, which the item id answers from the store.)
        try:
            for d in deliveries:
                await d.native.ack()
            await self._nc.flush(timeout=10)
            self.ack_frames["flushes"] += 1
            self.ack_frames["deliveries"] += len(deliveries)
        finally:
            await self._settled(len(deliveries))

    async def nack(self, delivery: Delivery) -> None:
        try:
            await delivery.native.nak()
        finally:
            await self._settled()

    async def publish(self, body: bytes, *, item_id: str, correlation_id: str | None) -> None:
        headers = {ITEM_ID_HEADER: item_id}
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        # returns once JetStream stored it (PubAck); raises when no stream takes the subject or the server refused
        await self._js.publish(self.verdicts, body, timeout=10, headers=headers)

    async def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        headers = {k: v for k, v in delivery.headers.items() if k != MESSAGE_ID_HEADER}  # no de-duplication
        # NATS headers are single lines
        headers.update({REASON_HEADER: reason, DETAIL_HEADER: " ".join(detail[:2000].split()),
                        SOURCE_HEADER: self.queue_name})
        await self._js.publish(self.dead_letter_name, delivery.body, timeout=10, headers=headers)

    async def close(self) -> None:
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.close()
            except Exception:  # already going
                pass
