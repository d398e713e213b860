"""RabbitMQ (AMQP 0-9-1) through ``aio-pika``: the first broker adapter.

Queues are durable and messages persistent; publishes wait for the broker's confirm. Items are read with a
prefetch (``basic.qos``): RabbitMQ sends no more unacknowledged messages than that, which is the consumer's
back-pressure. A connection that drops ends the consumer with an error rather than reconnecting behind its
back: every unacknowledged message goes back to the queue and a supervisor (systemd, Kubernetes) restarts it.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from bastion.stream.broker import BrokerLost, Delivery

#: dead-letter headers (the original body is kept byte for byte, so a fixed message can be re-published)
REASON_HEADER = "x-bastion-reason"
DETAIL_HEADER = "x-bastion-detail"
SOURCE_HEADER = "x-bastion-source-queue"


class RabbitBroker:
    name = "rabbitmq"

    def __init__(self, url: str, *, queue: str, verdicts: str, dead_letter: str, prefetch: int):
        self.url, self.queue_name, self.verdicts, self.dead_letter_name = url, queue, verdicts, dead_letter
        self.prefetch = prefetch
        self._connection: Any = None
        self._channel: Any = None
        self._queue: Any = None
        self._incoming: asyncio.Queue[Delivery | BrokerLost | None] = asyncio.Queue()
        self._tag: str | None = None
        self._closing = False

    async def open(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(self.url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await self._channel.declare_queue(self.queue_name, durable=True)
        for name in (self.verdicts, self.dead_letter_name):
            await self._channel.declare_queue(name, durable=True)
        # a lost connection or channel ends receive() with an error: the consumer stops (exit status 2), the
        # broker requeues what it holds
        self._connection.close_callbacks.add(self._on_close)
        self._channel.close_callbacks.add(self._on_close)

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        if not self._closing:
            self._incoming.put_nowait(BrokerLost(f"the connection to RabbitMQ was lost: {exc or 'closed'}"))

    async def receive(self) -> AsyncIterator[Delivery]:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)
        while True:
            d = await self._incoming.get()
            if d is None:
                return
            if isinstance(d, BrokerLost):
                raise d
            yield d

    async def _on_message(self, message: Any) -> None:
        self._incoming.put_nowait(Delivery(
            body=message.body, message_id=message.message_id, correlation_id=message.correlation_id,
            redelivered=bool(message.redelivered), headers=dict(message.headers or {}), native=message))

    async def stop(self) -> None:
        if self._tag is not None and self._queue is not None and not self._channel.is_closed:
            await self._queue.cancel(self._tag)
            self._tag = None
        self._incoming.put_nowait(None)

    async def ack(self, delivery: Delivery) -> None:
        await delivery.native.ack()

    async def nack(self, delivery: Delivery) -> None:
        await delivery.native.nack(requeue=True)

    async def publish(self, body: bytes, *, item_id: str, correlation_id: str | None) -> None:
        await self._publish(self.verdicts, body, message_id=item_id, correlation_id=correlation_id, headers=None)

    async def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        headers = {**delivery.headers, REASON_HEADER: reason, DETAIL_HEADER: detail[:2000], SOURCE_HEADER: self.queue_name}
        await self._publish(self.dead_letter_name, delivery.body, message_id=delivery.message_id,
                            correlation_id=delivery.correlation_id, headers=headers,
                            content_type=getattr(delivery.native, "content_type", None))

    async def _publish(self, queue: str, body: bytes, *, message_id: str | None, correlation_id: str | None,
                       headers: dict[str, Any] | None, content_type: str | None = "application/json") -> None:
        import aio_pika

        message = aio_pika.Message(body, content_type=content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                   message_id=message_id, correlation_id=correlation_id, headers=headers)
        # publisher confirms are on: this returns once RabbitMQ has the message (and raises if it refused it)
        await self._channel.default_exchange.publish(message, routing_key=queue, mandatory=True)

    async def close(self) -> None:
        self._closing = True
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
