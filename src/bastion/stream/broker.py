"""What the consumer needs of a message broker, and nothing more.

An adapter (RabbitMQ and NATS JetStream today; Kafka the same way) implements :class:`Broker`. The consumer
relies on four promises, which is why the interface is this small:

* :meth:`Broker.receive` yields at most ``prefetch`` deliveries that are not yet settled (back-pressure: the
  broker holds the rest);
* a delivery not settled when the process dies is delivered again (at-least-once);
* :meth:`Broker.publish` and :meth:`Broker.dead_letter` return only once the broker has taken the message
  (publisher confirms, or the platform's equivalent), so an ``ack`` after them never loses an answer;
* :meth:`Broker.ack` settles a delivery for good; :meth:`Broker.nack` hands it back for another try.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol


class BrokerLost(ConnectionError):
    """The connection to the broker ended while receiving: what was not acknowledged goes back to the queue."""


@dataclass
class Delivery:
    """One message as the consumer sees it, whatever the broker."""

    body: bytes
    #: the broker's message id, if the producer set one (Bastion keys idempotency on the item's own id)
    message_id: str | None = None
    #: where the producer wants its answer correlated (copied to the verdict)
    correlation_id: str | None = None
    #: True when the broker says it delivered this message before (a consumer died, or it was handed back)
    redelivered: bool = False
    headers: dict[str, Any] = field(default_factory=dict)
    #: the adapter's own handle (an aio-pika message, a Kafka offset...): only the adapter reads it
    native: Any = None


class Broker(Protocol):
    """A source of item messages and a sink for verdicts and dead letters."""

    #: a short name for logs and docs (``rabbitmq``)
    name: str

    async def open(self) -> None:
        """Connect and make sure the queues exist. Raises when the broker cannot be reached."""

    def receive(self) -> AsyncIterator[Delivery]:
        """Deliveries from the items queue, at most ``prefetch`` unsettled at a time, until :meth:`stop`.
        Raises :class:`BrokerLost` when the connection ends otherwise."""

    async def stop(self) -> None:
        """Stop receiving; deliveries already handed out can still be settled."""

    async def ack(self, delivery: Delivery) -> None:
        """Settle for good: the item is committed and its verdict (or dead letter) published."""

    async def nack(self, delivery: Delivery) -> None:
        """Hand the delivery back to the broker for another try (a transient failure)."""

    async def publish(self, body: bytes, *, item_id: str, correlation_id: str | None) -> None:
        """Publish a verdict; returns once the broker confirmed it."""

    async def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        """Publish the original message with why it was refused; returns once the broker confirmed it."""

    async def close(self) -> None:
        """Close the connection; unsettled deliveries return to the queue."""
