"""Settings of ``bastion consume``: the server's (store, policy, examine pool, URL media) and the broker's.

Built once with :meth:`ConsumeSettings.from_env` (defaults, the ``BASTION_*`` variables, flags) and passed
down; nothing below reads the environment (``docs/decisions/0009-configuration.md``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from bastion.api.settings import ServeSettings


class ConsumeSettings(ServeSettings):
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **ServeSettings.ENVIRONMENT,
        "broker_url": "BASTION_BROKER_URL",
        "consume_queue": "BASTION_CONSUME_QUEUE",
        "verdict_queue": "BASTION_VERDICT_QUEUE",
        "dead_letter_queue": "BASTION_DEAD_LETTER_QUEUE",
        "consume_prefetch": "BASTION_CONSUME_PREFETCH",
        "consume_retry_seconds": "BASTION_CONSUME_RETRY_SECONDS",
        "nats_stream": "BASTION_NATS_STREAM",
        "nats_durable": "BASTION_NATS_DURABLE",
        "nats_ack_wait_seconds": "BASTION_NATS_ACK_WAIT_SECONDS",
    }

    #: the broker to read items from; its scheme picks the adapter: ``amqp://user:password@host:5672/vhost``
    #: (or ``amqps://``) for RabbitMQ, ``nats://user:password@host:4222`` (or ``tls://``) for NATS JetStream
    broker_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    #: the queue items are read from (JSON, the shape of ``POST /v1/items``)
    consume_queue: str = Field("bastion.items", min_length=1, max_length=255)
    #: the queue verdicts are published to (the answer of ``POST /v1/items``)
    verdict_queue: str = Field("bastion.verdicts", min_length=1, max_length=255)
    #: the queue messages that are not valid items go to, with the reason in their headers
    dead_letter_queue: str = Field("bastion.items.dead", min_length=1, max_length=255)
    #: messages held unacknowledged at once (back-pressure: the broker keeps the rest)
    consume_prefetch: int = Field(64, ge=1, le=65535)
    #: first wait before an item that failed for a passing reason (store busy, database down) is handed back;
    #: doubles on each failure in a row, up to 60 s
    consume_retry_seconds: float = Field(1.0, gt=0)
    #: NATS JetStream: the stream holding the items, verdicts and dead-letter subjects (the three queue settings
    #: above are its subjects); created with those subjects when it does not exist
    nats_stream: str = Field("BASTION", min_length=1, max_length=255, pattern=r"^[^.*>\s]+$")
    #: NATS JetStream: the durable pull consumer of the items subject (consumers sharing it share the work)
    nats_durable: str = Field("bastion-consume", min_length=1, max_length=255, pattern=r"^[^.*>\s]+$")
    #: NATS JetStream: a message not acknowledged this long (a consumer that died or is stuck) is delivered again
    nats_ack_wait_seconds: float = Field(60.0, ge=1, le=86400)
