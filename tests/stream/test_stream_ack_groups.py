"""Acknowledgements in groups, against the real local brokers: a delivery still being worked on is never
covered by a neighbour's acknowledgement (RabbitMQ's ``multiple``) — neither one held in flight when the
connection ends nor one handed back after a failure that may pass —, finished ones are acknowledged in few
frames, a verdict RabbitMQ cannot route stops the consumer without acknowledging its item, and SIGTERM on
NATS finishes what is in flight and leaves the rest with the stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from stream_loop import run_async
from stream_store import signal_once_stored, start_consume, stored_ids


def _item(i) -> dict:
    return {"id": f"item-{i}", "kind": "post", "title": "new watercolour", "body": "commissions open", "tags": ["art"]}


def _service(tmp_path, database_url):
    from bastion.api.app import build_service
    from bastion.stream.settings import ConsumeSettings

    settings = ConsumeSettings(home=tmp_path / "home", database_url=database_url, json_logs=False, examine_workers=1)
    return settings, build_service(settings)


class HoldOne:
    """The service, except that one item waits in its examination until ``release`` is set."""

    def __init__(self, svc, held_id: str):
        self.svc, self.matcher, self.lexicon = svc, svc.matcher, svc.lexicon
        self.held_id, self.release, self.holding = held_id, threading.Event(), threading.Event()

    def submit(self, item, *a, **kw):
        if item.id == self.held_id:
            self.holding.set()
            self.release.wait(60)
        return self.svc.submit(item, *a, **kw)


def _crash_with_one_in_flight(broker, service, settings, *, lost, outstanding):
    """Six items, the third held in its examination: once the other five are acknowledged, the consumer's
    connection ends (as in a crash). Returns (stats, what the broker still holds)."""
    from bastion.stream.consumer import Consumer

    held = HoldOne(service, "item-2")
    consumer = Consumer(held, broker, max_bytes=settings.max_body_bytes, retry_seconds=0.05)

    async def main():
        run = asyncio.create_task(consumer.run())
        deadline = time.monotonic() + 120
        while broker.ack_frames["deliveries"] < 5 and not run.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert broker.ack_frames["deliveries"] == 5 and held.holding.is_set() and not run.done(), broker.ack_frames
        frames = dict(broker.ack_frames)
        await lost()
        # the broker now holds only what was not acknowledged: the held item, handed out before four of the
        # five that finished
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(outstanding) != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        left = await asyncio.to_thread(outstanding)
        held.release.set()
        stats = await asyncio.wait_for(run, 60)
        return stats, frames, left

    return run_async(main())


def test_rabbitmq_never_acknowledges_past_a_delivery_in_flight(queues, tmp_path):
    from bastion.stream.rabbitmq import RabbitBroker

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    settings, service = _service(tmp_path, database_url)
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead,
                          prefetch=16)
    queues.publish([_item(i) for i in range(6)])
    try:
        stats, frames, left = _crash_with_one_in_flight(
            broker, service, settings, lost=lambda: broker._connection.close(),
            outstanding=lambda: queues.count(queues.items))
    finally:
        service.examiner.close()
        service.store.close()
    assert left == 1  # only the held one came back: the five finished stay acknowledged, it was not covered
    assert frames["single"] >= 1  # the ones after it were acknowledged on their own, not by a multiple
    assert stats.error and "broker" in stats.error  # its verdict could not go out: stopped, fail closed
    back = queues.drain(queues.items)
    assert [json.loads(m.body)["id"] for m in back] == ["item-2"]
    assert sorted(json.loads(m.body)["item_id"] for m in queues.drain(queues.verdicts)) == [
        "item-0", "item-1", "item-3", "item-4", "item-5"]
    assert sorted(stored_ids(database_url)) == [f"item-{i}" for i in range(6)]  # committed before the publish failed


def test_nats_never_acknowledges_a_delivery_in_flight(subjects, tmp_path):
    from bastion.stream.nats_jetstream import NatsBroker

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    settings, service = _service(tmp_path, database_url)
    broker = NatsBroker(subjects.url, queue=subjects.items, verdicts=subjects.verdicts, dead_letter=subjects.dead,
                        prefetch=16, stream=subjects.stream, durable=subjects.durable, ack_wait=30)
    subjects.publish([_item(i) for i in range(6)])

    async def lost():
        await broker._nc.close()

    try:
        stats, frames, left = _crash_with_one_in_flight(broker, service, settings, lost=lost,
                                                        outstanding=subjects.outstanding)
    finally:
        service.examiner.close()
        service.store.close()
    assert left == 1 and frames["deliveries"] == 5
    assert stats.error and "broker" in stats.error
    ids = sorted(m.headers["Bastion-Item-Id"] for m in subjects.read(subjects.verdicts))
    assert ids == ["item-0", "item-1", "item-3", "item-4", "item-5"]


def test_finished_deliveries_are_acknowledged_in_few_frames_and_none_is_left(queues, tmp_path):
    from bastion.stream.consumer import Consumer
    from bastion.stream.rabbitmq import RabbitBroker

    n = 200
    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    settings, service = _service(tmp_path, database_url)
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead,
                          prefetch=32)
    queues.publish([_item(i) for i in range(n)] + [b"not json"])
    try:
        stats = run_async(Consumer(service, broker, max_bytes=settings.max_body_bytes).run(idle_exit=1.5))
    finally:
        service.examiner.close()
        service.store.close()
    assert stats.verdicts == n and stats.dead_lettered == 1 and stats.error is None
    frames = broker.ack_frames
    assert frames["deliveries"] == n + 1
    assert frames["multiple"] + frames["single"] <= (n + 1) // 2, frames  # several deliveries per frame
    assert queues.count(queues.items) == 0  # every one acknowledged
    assert len(queues.drain(queues.verdicts)) == n and len(stored_ids(database_url)) == n


def test_a_verdict_rabbitmq_cannot_route_stops_the_consumer_and_its_item_stays_queued(queues, tmp_path):
    """Fail closed: the verdict queue deleted under a running consumer. RabbitMQ returns the verdict
    (mandatory); the consumer stops with an error and the item is not acknowledged."""
    from bastion.stream.consumer import Consumer
    from bastion.stream.rabbitmq import RabbitBroker

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    settings, service = _service(tmp_path, database_url)
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead,
                          prefetch=4)
    consumer = Consumer(service, broker, max_bytes=settings.max_body_bytes)

    async def main():
        import aio_pika

        run = asyncio.create_task(consumer.run())
        while broker._ch is None and not run.done():
            await asyncio.sleep(0.02)
        conn = await aio_pika.connect(queues.url)
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            await ch.queue_delete(queues.verdicts)
            await ch.default_exchange.publish(aio_pika.Message(json.dumps(_item(1)).encode()), routing_key=queues.items)
        return await asyncio.wait_for(run, 60)

    try:
        stats = run_async(main())
    finally:
        service.examiner.close()
        service.store.close()
    assert stats.verdicts == 0 and stats.error and "broker" in stats.error
    assert queues.count(queues.items) == 1  # back in the queue for the next consumer


def test_nats_sigterm_finishes_what_is_in_flight_and_leaves_the_rest_with_the_stream(subjects, tmp_path):
    n = 300
    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    subjects.publish([_item(i) for i in range(n)])
    proc = start_consume(subjects, tmp_path / "home", database_url, env=subjects.consume_env(ack_wait_seconds=30))
    _, stdout, stderr = signal_once_stored(proc, database_url)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    stored = stored_ids(database_url)
    assert summary["error"] is None and summary["verdicts"] == len(stored) < n  # every item started was finished
    assert summary["acknowledgements"]["deliveries"] == len(stored)
    assert len(subjects.read(subjects.verdicts)) == len(stored)
    # acknowledged before the connection closed: the rest (handed back, or never fetched) are all that is left,
    # at once, not after the 30 s ack wait
    assert subjects.outstanding() == n - len(stored)


class BusyOnceFor:
    """The service, except that one item's first examination fails with a failure that may pass."""

    def __init__(self, svc, failing_id: str):
        self.svc, self.matcher, self.lexicon, self.failing_id, self.failed = svc, svc.matcher, svc.lexicon, failing_id, 0

    def submit(self, item, *a, **kw):
        from bastion.store.writers import StoreBusy

        if item.id == self.failing_id and not self.failed:
            self.failed += 1
            raise StoreBusy("another writer held the store")
        return self.svc.submit(item, *a, **kw)


def _hand_back_in_the_middle(broker, tmp_path, database_url):
    from bastion.stream.consumer import Consumer

    settings, service = _service(tmp_path, database_url)
    busy = BusyOnceFor(service, "item-3")
    try:
        stats = run_async(Consumer(busy, broker, max_bytes=settings.max_body_bytes, retry_seconds=0.3).run(idle_exit=1.5))
    finally:
        service.examiner.close()
        service.store.close()
    # handed back while the others finished around it, then delivered again and answered; no acknowledgement
    # covered it before its hand-back (RabbitMQ would have closed the channel on the nack of an acknowledged tag)
    assert busy.failed == 1 and stats.retried == 1 and stats.redelivered == 1 and stats.error is None
    assert stats.verdicts == 8 and broker.ack_frames["deliveries"] == 8
    assert sorted(stored_ids(database_url)) == sorted(f"item-{i}" for i in range(8))


def test_rabbitmq_a_delivery_handed_back_in_the_middle_of_a_group_comes_back_and_is_answered(queues, tmp_path):
    from bastion.stream.rabbitmq import RabbitBroker

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    queues.publish([_item(i) for i in range(8)])
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead,
                          prefetch=16)
    _hand_back_in_the_middle(broker, tmp_path, database_url)
    assert queues.count(queues.items) == 0
    assert sorted(json.loads(m.body)["item_id"] for m in queues.drain(queues.verdicts)) == sorted(
        f"item-{i}" for i in range(8))


def test_nats_a_delivery_handed_back_in_the_middle_of_a_group_comes_back_and_is_answered(subjects, tmp_path):
    from bastion.stream.nats_jetstream import NatsBroker

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    subjects.publish([_item(i) for i in range(8)])
    broker = NatsBroker(subjects.url, queue=subjects.items, verdicts=subjects.verdicts, dead_letter=subjects.dead,
                        prefetch=16, stream=subjects.stream, durable=subjects.durable, ack_wait=30)
    _hand_back_in_the_middle(broker, tmp_path, database_url)
    assert subjects.outstanding() == 0
    assert sorted(m.headers["Bastion-Item-Id"] for m in subjects.read(subjects.verdicts)) == sorted(
        f"item-{i}" for i in range(8))
