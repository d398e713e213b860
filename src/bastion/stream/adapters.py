"""Which broker adapter ``bastion consume`` uses: the scheme of ``BASTION_BROKER_URL`` picks it.

Adding a broker is an adapter implementing :class:`bastion.stream.broker.Broker` and one entry here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bastion.errors import ConfigError
from bastion.stream.broker import Broker
from bastion.stream.settings import ConsumeSettings

#: URL scheme -> adapter name
SCHEMES = {"amqp": "rabbitmq", "amqps": "rabbitmq", "nats": "nats", "tls": "nats"}


def broker_kind(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise ConfigError(f"BASTION_BROKER_URL: no broker adapter for the scheme {scheme or '(none)'!r}; "
                          f"known: {', '.join(sorted(SCHEMES))}") from None


def broker_for(settings: ConsumeSettings) -> Broker:
    """The adapter for ``settings.broker_url``, with the queue settings (not yet connected)."""
    url = settings.broker_url.get_secret_value()
    common = dict(queue=settings.consume_queue, verdicts=settings.verdict_queue,
                  dead_letter=settings.dead_letter_queue, prefetch=settings.consume_prefetch)
    if broker_kind(url) == "nats":
        from bastion.stream.nats_jetstream import NatsBroker

        return NatsBroker(url, stream=settings.nats_stream, durable=settings.nats_durable,
                          ack_wait=settings.nats_ack_wait_seconds, **common)
    from bastion.stream.rabbitmq import RabbitBroker

    return RabbitBroker(url, **common)
