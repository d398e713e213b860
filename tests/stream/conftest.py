"""Fixtures of the stream-intake tests: the real local RabbitMQ (CI runs one), queues of a test's own.

When the broker cannot be reached the tests are skipped with a reason starting "RabbitMQ unavailable" —
unless BASTION_TEST_RABBITMQ_URL names the broker (CI sets it): then a broker that cannot be reached fails
them, as a PostgreSQL that is expected and missing would. Each test gets queue names of its own (a uuid) and
they are deleted afterwards. Every coroutine runs on a loop of its own (stream_loop.run_async): a whole-suite
run leaves an event loop running in the main thread, where asyncio.run refuses to start.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from dataclasses import dataclass

import pytest
from stream_loop import run_async

EXPECTED = os.environ.get("BASTION_TEST_RABBITMQ_URL") or None
AMQP_URL = EXPECTED or "amqp://guest:guest@127.0.0.1:5672/"


def _probe(probe) -> str | None:
    """None when the coroutine function ``probe`` runs to its end, else the first line of what it raised."""
    try:
        run_async(probe())
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@functools.cache
def _problem() -> str | None:
    async def probe():
        import aio_pika

        conn = await aio_pika.connect(AMQP_URL, timeout=3)
        await conn.close()

    return _probe(probe)


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
        run_async(go())

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
        return run_async(go())

    def count(self, queue: str) -> int:
        async def go():
            import aio_pika

            conn = await aio_pika.connect(self.url)
            async with conn:
                ch = await conn.channel()
                q = await ch.declare_queue(queue, durable=True)
                return q.declaration_result.message_count
        return run_async(go())


@pytest.fixture
def queues():
    problem = _problem()
    if problem and EXPECTED:
        pytest.fail(f"RabbitMQ expected at {AMQP_URL} (BASTION_TEST_RABBITMQ_URL) but unreachable: {problem}")
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
    run_async(delete())


# --- NATS JetStream (127.0.0.1:4222; CI runs one) -------------------------------------------------------
# As for RabbitMQ: skipped with a reason starting "NATS unavailable" unless BASTION_TEST_NATS_URL names the
# server (then an unreachable one fails). Each test gets a stream, subjects and durable of its own (a uuid),
# and the stream is deleted afterwards.

NATS_EXPECTED = os.environ.get("BASTION_TEST_NATS_URL") or None
NATS_URL = NATS_EXPECTED or "nats://127.0.0.1:4222"


@functools.cache
def _nats_problem() -> str | None:
    async def probe():
        import nats

        nc = await nats.connect(NATS_URL, allow_reconnect=False, connect_timeout=3,
                                max_reconnect_attempts=1, reconnect_time_wait=0.5)  # 0 would retry forever
        try:
            await nc.jetstream().account_info()  # JetStream switched on, not only core NATS
        finally:
            await nc.close()

    return _probe(probe)


@dataclass
class Subjects:
    url: str
    stream: str
    durable: str
    items: str
    verdicts: str
    dead: str

    def consume_env(self, ack_wait_seconds: int) -> dict[str, str]:
        """The settings `bastion consume` needs for this stream beside its broker URL and subjects."""
        return {"BASTION_NATS_STREAM": self.stream, "BASTION_NATS_DURABLE": self.durable,
                "BASTION_NATS_ACK_WAIT_SECONDS": str(ack_wait_seconds)}

    async def _js(self):
        import nats

        nc = await nats.connect(self.url, allow_reconnect=False, max_reconnect_attempts=1)
        return nc, nc.jetstream()

    def create(self) -> None:
        async def go():
            nc, js = await self._js()
            try:
                await js.add_stream(name=self.stream, subjects=[self.items, self.verdicts, self.dead])
            finally:
                await nc.close()
        run_async(go())

    def publish(self, bodies: list[bytes | dict], *, correlation: bool = False) -> None:
        async def go():
            nc, js = await self._js()
            try:
                for i, b in enumerate(bodies):
                    body = json.dumps(b).encode() if isinstance(b, dict) else b
                    headers = {"Bastion-Correlation-Id": f"corr-{i}"} if correlation else None
                    await js.publish(self.items, body, headers=headers)
            finally:
                await nc.close()
        run_async(go())

    def read(self, subject: str) -> list:
        """Every message now stored under ``subject``, in order (each has .data and .headers)."""
        async def go():
            from nats.js.errors import NotFoundError

            nc, js = await self._js()
            try:
                state = (await js.stream_info(self.stream)).state
                got = []
                for seq in range(state.first_seq, state.last_seq + 1):
                    try:
                        m = await js.get_msg(self.stream, seq)
                    except NotFoundError:
                        continue
                    if m.subject == subject:
                        got.append(m)
                return got
            finally:
                await nc.close()
        return run_async(go())

    def outstanding(self) -> int:
        """Items messages the durable consumer has not acknowledged (waiting, or handed out and unsettled)."""
        async def go():
            nc, js = await self._js()
            try:
                info = await js.consumer_info(self.stream, self.durable)
                return info.num_pending + info.num_ack_pending
            finally:
                await nc.close()
        return run_async(go())


@pytest.fixture
def subjects():
    problem = _nats_problem()
    if problem and NATS_EXPECTED:
        pytest.fail(f"NATS expected at {NATS_URL} (BASTION_TEST_NATS_URL) but unreachable: {problem}")
    if problem:
        pytest.skip(f"NATS unavailable at {NATS_URL}: {problem}")
    tag = uuid.uuid4().hex[:12]
    s = Subjects(NATS_URL, f"TEST_{tag}", f"consume-{tag}", f"test.items.{tag}", f"test.verdicts.{tag}",
                 f"test.dead.{tag}")
    s.create()
    yield s

    async def delete():
        nc, js = await s._js()
        try:
            await js.delete_stream(s.stream)
        finally:
            await nc.close()
    run_async(delete())
