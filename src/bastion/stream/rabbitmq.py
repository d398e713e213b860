"""RabbitMQ (AMQP 0-9-1) through ``aio-pika`` and, for the per-message work, its protocol layer ``aiormq``.

Queues are durable and messages persistent. Items are read with a prefetch (``basic.qos``): RabbitMQ sends
no more unacknowledged messages than that, which is the consumer's back-pressure. A connection that drops
ends the consumer with an error rather than reconnecting behind its back: every unacknowledged message goes
back to the queue and a supervisor (systemd, Kubernetes) restarts it.

The per-message work goes straight to the channel's ``aiormq`` layer (aio-pika's own), which is where the
consumer's time went (py-spy, bench/RESULTS.md "Stream intake"):

* **Publishes** are written without waiting for the socket to drain and then wait for their own publisher
  confirm; many are outstanding at once (RabbitMQ confirms them in groups, ``multiple``). A publish RabbitMQ
  refuses (``basic.nack``) or cannot route (``basic.return``: the queue is gone) raises.
* **Acknowledgements** go out in groups: :meth:`RabbitBroker.ack` sends one ``basic.ack`` with ``multiple``
  up to the highest delivery tag *every* unsettled tag below which is in the group (the channel's tags rise
  in delivery order), and single acks for the rest of the group. A delivery still being worked on, or one
  waiting to be handed back, is therefore never acknowledged by a neighbour's ``multiple``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator, Sequence

from bastion.stream.broker import BrokerLost, Delivery

#: dead-letter headers (the original body is kept byte for byte, so a fixed message can be re-published)
REASON_HEADER = "x-bastion-reason"
DETAIL_HEADER = "x-bastion-detail"
SOURCE_HEADER = "x-bastion-source-queue"


class PublishRefused(ConnectionError):
    """RabbitMQ did not take a publish (nacked it, or returned it as unroutable)."""


class RabbitBroker:
    name = "rabbitmq"

    def __init__(self, url: str, *, queue: str, verdicts: str, dead_letter: str, prefetch: int):
        self.url, self.queue_name, self.verdicts, self.dead_letter_name = url, queue, verdicts, dead_letter
        self.prefetch = prefetch
        self._connection: Any = None
        self._channel: Any = None  # aio-pika's channel (declarations, qos, close callbacks)
        self._ch: Any = None  # its aiormq channel (consume, publish, ack)
        self._incoming: asyncio.Queue[Delivery | BrokerLost | None] = asyncio.Queue()
        self._tag: str | None = None
        self._closing = False
        #: delivery tags handed out and not yet settled, in delivery order (tags rise), and the same as a set
        self._order: deque[int] = deque()
        self._unsettled: set[int] = set()
        #: acknowledgement frames sent: cumulative (multiple) ones, single ones, and the deliveries they settled
        self.ack_frames = {"multiple": 0, "single": 0, "deliveries": 0}

    async def open(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(self.url)
        # on_return_raises: a mandatory publish RabbitMQ cannot route (the verdict queue was deleted) raises
        # instead of being handed back quietly
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        await self._channel.declare_queue(self.queue_name, durable=True)
        for name in (self.verdicts, self.dead_letter_name):
            await self._channel.declare_queue(name, durable=True)
        self._ch = await self._channel.get_underlay_channel()
        # a lost connection or channel ends receive() with an error: the consumer stops (exit status 2), the
        # broker requeues what it holds
        self._connection.close_callbacks.add(self._on_close)
        self._channel.close_callbacks.add(self._on_close)

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        if not self._closing:
            self._incoming.put_nowait(BrokerLost(f"the connection to RabbitMQ was lost: {exc or 'closed'}"))

    async def receive(self) -> AsyncIterator[Delivery]:
        ok = await self._ch.basic_consume(self.queue_name, self._on_message, no_ack=False)
        self._tag = ok.consumer_tag
        while True:
            d = await self._incoming.get()
            if d is None:
                return
            if isinstance(d, BrokerLost):
                raise d
            yield d

    def _on_message(self, message: Any) -> None:
        props = message.header.properties
        tag = message.delivery.delivery_tag
        if self._order and tag < self._order[-1]:  # tags rise on a channel; should one not, stay in tag order
            self._order = deque(sorted((*self._order, tag)))
        else:
            self._order.append(tag)
        self._unsettled.add(tag)
        self._incoming.put_nowait(Delivery(
            body=message.body, message_id=props.message_id, correlation_id=props.correlation_id,
            redelivered=bool(message.delivery.redelivered), headers=dict(props.headers or {}),
            native=(tag, props.content_type)))

    async def stop(self) -> None:
        if self._tag is not None and self._ch is not None and not self._ch.is_closed:
            await self._ch.basic_cancel(self._tag)
            self._tag = None
        self._incoming.put_nowait(None)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        group = {d.native[0] for d in deliveries}
        upto = None
        # the longest run of unsettled tags, from the oldest, that are all in the group: one multiple ack
        while self._order:
            tag = self._order[0]
            if tag not in self._unsettled:  # settled before (handed back, or acknowledged singly)
                self._order.popleft()
                continue
            if tag not in group:
                break
            self._order.popleft()
            self._unsettled.discard(tag)
            group.discard(tag)
            upto = tag
        if upto is not None:
            self.ack_frames["multiple"] += 1
            await self._ch.basic_ack(upto, multiple=True, wait=False)
        for tag in sorted(group):  # behind one not yet finished: each on its own
            self._unsettled.discard(tag)
            self.ack_frames["single"] += 1
            await self._ch.basic_ack(tag, wait=False)
        self.ack_frames["deliveries"] += len(deliveries)

    async def nack(self, delivery: Delivery) -> None:
        tag = delivery.native[0]
        # written before the tag counts as settled, so no later multiple ack can go out ahead of it
        await self._ch.basic_nack(tag, requeue=True)
        self._unsettled.discard(tag)

    async def publish(self, body: bytes, *, item_id: str, correlation_id: str | None) -> None:
        await self._publish(self.verdicts, body, message_id=item_id, correlation_id=correlation_id, headers=None)

    async def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        headers = {**delivery.headers, REASON_HEADER: reason, DETAIL_HEADER: detail[:2000], SOURCE_HEADER: self.queue_name}
        await self._publish(self.dead_letter_name, delivery.body, message_id=delivery.message_id,
                            correlation_id=delivery.correlation_id, headers=headers, content_type=delivery.native[1])

    async def _publish(self, queue: str, body: bytes, *, message_id: str | None, correlation_id: str | None,
                       headers: dict[str, Any] | None, content_type: str | None = "application/json") -> None:
        from aiormq import spec

        props = spec.Basic.Properties(content_type=content_type, delivery_mode=2, message_id=message_id,
                                      correlation_id=correlation_id, headers=headers)
        # wait=False: not waiting for the socket to drain (which held the channel's publish lock per message);
        # the confirm below is what says RabbitMQ has it
        result = await self._ch.basic_publish(body, routing_key=queue, properties=props, mandatory=True, wait=False)
        if not isinstance(result, spec.Basic.Ack):
            raise PublishRefused(f"RabbitMQ did not take the message for {queue!r}: {result!r}")

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
