"""Fixtures of the stream-intake tests: the real local RabbitMQ (CI runs one), queues of a test's own.

When the broker cannot be reached the tests are skipped with a reason starting "RabbitMQ unavailable".
Each test gets queue names of its own (a uuid) and they are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass

import pytest

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
_checked: list[str | None] = []


def _problem() -> str | None:
    if not _checked:
        async def probe():
            import aio_pika

            conn = await aio_pika.connect(AMQP_URL, timeout=3)
            await conn.close()

        try:
            asyncio.run(probe())
            _checked.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            _checked.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    return _checked[0]


@dataclass
class Queues:
    url: str
    items: str
    verdicts: str
    dead: str

    def publish(self, bodies: list[bytes | dict], *, correlation: bool = False) -> None:
        async def go():
            import aio_pika

            conn = await aio_pika.connect(self.url)
            async with conn:
                ch = await conn.channel(publisher_confirms=True)
                await ch.declare_queue(self.items, durable=True)
                for i, b in enumerate(bodies):
                    body = json.dumps(b).encode() if isinstance(b, dict) else b
                    await ch.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                         correlation_id=f"corr-{i}" if correlation else None),
                        routing_key=self.items)
        asyncio.run(go())

    def drain(self, queue: str) -> list:
        """Every message now in ``queue`` (taken off it), as aio-pika messages (body, headers, ids)."""
        async def go():
            import aio_pika

            conn = await aio_pika.connect(self.url)
            got = []
            async with conn:
                ch = await conn.channel()
                q = await ch.declare_queue(queue, durable=True)
                while True:
                    m = await q.get(no_ack=True, fail=False)
                    if m is None:
                        return got
                    got.append(m)
        return asyncio.run(go())

    def count(self, queue: str) -> int:
        async def go():
            import aio_pika

            conn = await aio_pika.connect(self.url)
            async with conn:
                ch = await conn.channel()
                q = await ch.declare_queue(queue, durable=True)
                return q.declaration_result.message_count
        return asyncio.run(go())


@pytest.fixture
def queues():
    problem = _problem()
    if problem:
        pytest.skip(f"RabbitMQ unavailable at {AMQP_URL}: {problem}")
    tag = uuid.uuid4().hex[:12]
    q = Queues(AMQP_URL, f"test.items.{tag}", f"test.verdicts.{tag}", f"test.dead.{tag}")
    yield q

    async def delete():
        import aio_pika

        conn = await aio_pika.connect(AMQP_URL)
        async with conn:
            ch = await conn.channel()
            for name in (q.items, q.verdicts, q.dead):
                await ch.queue_delete(name)
    asyncio.run(delete())
