"""What the consumer needs of a message broker, and nothing more.

An adapter (RabbitMQ and NATS JetStream today; Kafka would be a third) implements :class:`Broker`. The
consumer relies on these promises, which is why the interface is this small:

* :meth:`Broker.receive` yields at most ``prefetch`` deliveries that are not yet settled (back-pressure: the
  broker holds the rest), in the order the broker handed them out;
* a delivery not settled when the process dies is delivered again (at-least-once);
* :meth:`Broker.publish` and :meth:`Broker.dead_letter` return only once the broker has taken the message
  (publisher confirms, or the platform's equivalent), and may be called by many tasks at once: the confirms
  are outstanding together, not one after the other;
* :meth:`Broker.ack` settles, for good, a group of deliveries the consumer has finished (each one's item
  committed and its verdict or dead letter confirmed). It may use the broker's cumulative acknowledgement
  (RabbitMQ's ``multiple``, a Kafka offset commit) only over deliveries that are **all** in the group or
  already settled: a delivery still being worked on is never covered by one. :meth:`Broker.nack` hands one
  delivery back for another try.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol, Sequence


class BrokerLost(ConnectionError):
    """The connection to the broker ended while receiving: what was not acknowledged goes back to the queue."""


@dataclass(eq=False)
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
    #: the adapter's own handle (a delivery tag, a JetStream message, a Kafka partition and offset...): only
    #: the adapter reads it
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

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Settle these for good: each one's item is committed and its verdict (or dead letter) confirmed.
        A cumulative acknowledgement may cover only deliveries in this group or already settled."""

    async def nack(self, delivery: Delivery) -> None:
        """Hand the delivery back to the broker for another try (a transient failure)."""

    async def publish(self, body: bytes, *, item_id: str, correlation_id: str | None) -> None:
        """Publish a verdict; returns once the broker confirmed it (raises if it refused it)."""

    async def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        """Publish the original message with why it was refused; returns once the broker confirmed it."""

    async def close(self) -> None:
        """Close the connection; unsettled deliveries return to the queue."""
