"""Stream intake: items read from a message broker, verdicts published to another queue (``bastion consume``).

* :mod:`bastion.stream.broker` — the small interface a broker adapter implements (receive, ack, nack,
  publish, dead-letter) and the :class:`~bastion.stream.broker.Delivery` it hands out.
* :mod:`bastion.stream.rabbitmq` — RabbitMQ (AMQP 0-9-1) with ``aio-pika``.
* :mod:`bastion.stream.nats_jetstream` — NATS JetStream with ``nats-py`` (a durable pull consumer).
* :mod:`bastion.stream.adapters` — which adapter: the scheme of ``BASTION_BROKER_URL``.
* :mod:`bastion.stream.consumer` — the loop: decode, validate as ``POST /v1/items`` does, the service's own
  intake (:meth:`bastion.cases.ingest.Service.submit`), publish the verdict, then acknowledge.
* :mod:`bastion.stream.settings` — :class:`ConsumeSettings`, the server's settings and the broker's.

``docs/consume.md`` describes queues, settings and delivery guarantees.
"""
