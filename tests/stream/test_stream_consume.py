"""`bastion consume` against the real local RabbitMQ: verdicts out, the store holds each item once, a
redelivered item gets its stored verdict, what is not an item goes to the dead letter with its reason, the
prefetch bounds what is in flight, and a consumer killed with SIGKILL loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from stream_loop import run_async
from stream_store import finish, signal_once_stored, start_consume, stored_ids


def _item(i, title="new watercolour", body="commissions open, prices in bio", tags=("art",)) -> dict:
    return {"id": f"item-{i}", "kind": "post", "title": title, "body": body, "tags": list(tags)}


#: minor + sexual indicator words (clinical, as the service tests use them): the policy sends it to review
REVIEWED = {"title": "teen nsfw", "body": "placeholder", "tags": ["tag"]}


def _run(queues, database_url, home, *, prefetch=16, wrap=None, idle=1.5):
    from bastion.api.app import build_service
    from bastion.stream.consumer import Consumer
    from bastion.stream.rabbitmq import RabbitBroker
    from bastion.stream.settings import ConsumeSettings

    settings = ConsumeSettings(home=home, database_url=database_url, json_logs=False, examine_workers=1)
    service = build_service(settings)
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead,
                          prefetch=prefetch)
    consumer = Consumer(wrap(service) if wrap else service, broker, max_bytes=settings.max_body_bytes,
                        retry_seconds=0.05)
    try:
        return run_async(consumer.run(idle_exit=idle))
    finally:
        service.examiner.close()
        service.store.close()


def test_items_in_verdicts_out_each_stored_once(queues, database_url, tmp_path):
    queues.publish([_item(1), {**_item(2), **REVIEWED}, _item(3)], correlation=True)
    stats = _run(queues, database_url, tmp_path / "home")
    assert stats.error is None and stats.verdicts == 3 and stats.dead_lettered == 0
    out = queues.drain(queues.verdicts)
    by_id = {m.message_id: (m, json.loads(m.body)) for m in out}
    assert set(by_id) == {"item-1", "item-2", "item-3"}
    assert {m.correlation_id for m, _ in by_id.values()} == {"corr-0", "corr-1", "corr-2"}
    assert by_id["item-1"][1]["verdict"]["action"] == "allow"
    assert by_id["item-2"][1]["verdict"]["action"] != "allow"  # the same policy as POST /v1/items
    assert by_id["item-2"][1]["case_id"] is not None
    assert sorted(stored_ids(database_url)) == ["item-1", "item-2", "item-3"]
    assert queues.count(queues.items) == 0  # every message acknowledged


def test_a_redelivered_item_gets_its_stored_verdict_and_is_stored_once(queues, database_url, tmp_path):
    home = tmp_path / "home"
    item = {**_item(7), **REVIEWED}
    queues.publish([item])
    _run(queues, database_url, home)
    first = json.loads(queues.drain(queues.verdicts)[0].body)

    # The same message again, taken once by a consumer that died without acknowledging it: RabbitMQ
    # delivers it again marked as redelivered.
    queues.publish([item])

    async def take_and_die():
        import aio_pika

        conn = await aio_pika.connect(queues.url)
        ch = await conn.channel()
        q = await ch.declare_queue(queues.items, durable=True)
        m = await q.get(no_ack=False)
        assert m.redelivered is False
        await conn.close()  # no ack: back to the queue
    run_async(take_and_die())

    stats = _run(queues, database_url, home)
    assert stats.redelivered == 1 and stats.verdicts == 1
    again = json.loads(queues.drain(queues.verdicts)[0].body)
    assert again == first  # the stored verdict, case and all
    assert stored_ids(database_url) == ["item-7"]


def test_what_is_not_an_item_goes_to_the_dead_letter_with_its_reason(queues, database_url, tmp_path):
    home = tmp_path / "home"
    queues.publish([_item(1)])
    _run(queues, database_url, home)
    queues.drain(queues.verdicts)
    bad = [
        b"not json {",
        {"kind": "post", "body": "no id"},
        {"id": "item-x", "kind": "video"},
        {"id": "item-y", "media": [{"filename": "a.png", "data": "%%% not base64 %%%"}]},
        {**_item(1), "body": "a different body under a known id"},
        b'{"id": "deep", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # once stopped the consumer
    ]
    queues.publish(bad + [_item(2)])
    stats = _run(queues, database_url, home)
    assert stats.verdicts == 1 and stats.dead_lettered == 6 and stats.error is None
    dead = queues.drain(queues.dead)
    sent = [b if isinstance(b, bytes) else json.dumps(b).encode() for b in bad]
    # items in flight finish in any order (a refusal before the store comes back sooner): in the order sent
    dead.sort(key=lambda m: sent.index(m.body) if m.body in sent else len(sent))
    assert [m.body for m in dead] == sent  # byte for byte
    reasons = [m.headers["x-bastion-reason"] for m in dead]
    assert reasons == ["invalid-json", "invalid-item", "invalid-item", "invalid-input", "conflict", "invalid-json"], reasons
    details = [m.headers["x-bastion-detail"] for m in dead]
    assert "id" in details[1] and "kind" in details[2] and "media[0]" in details[3] and "item-1" in details[4]
    assert all(m.headers["x-bastion-source-queue"] == queues.items for m in dead)
    assert [json.loads(m.body)["item_id"] for m in queues.drain(queues.verdicts)] == ["item-2"]
    assert sorted(stored_ids(database_url)) == ["item-1", "item-2"]  # nothing from the dead letters
    assert queues.count(queues.items) == 0


def test_the_prefetch_bounds_what_is_in_flight(queues, tmp_path):
    """Back-pressure: with a prefetch of 3, the broker hands out 3 messages and keeps the rest."""
    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    release = threading.Event()
    seen: list[int] = []
    lock = threading.Lock()
    state = {"now": 0}

    class Held:
        def __init__(self, svc):
            self.svc, self.matcher, self.lexicon = svc, svc.matcher, svc.lexicon

        def submit(self, *a, **kw):
            with lock:
                state["now"] += 1
                seen.append(state["now"])
            release.wait(30)
            try:
                return self.svc.submit(*a, **kw)
            finally:
                with lock:
                    state["now"] -= 1

    queues.publish([_item(i) for i in range(10)])
    waiting: list[int] = []

    def watch():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state["now"] < 3:
            time.sleep(0.05)
        time.sleep(0.5)  # would a fourth arrive?
        waiting.append(queues.count(queues.items))
        release.set()

    t = threading.Thread(target=watch)
    t.start()
    stats = _run(queues, database_url, tmp_path / "home", prefetch=3, wrap=Held)
    t.join()
    assert max(seen) == 3  # never more in flight than the prefetch, and it reached it
    assert waiting == [7]  # the broker kept the rest
    assert stats.verdicts == 10 and len(stored_ids(database_url)) == 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged_and_stores_each_item_once(queues, database_url, tmp_path):
    n = 400
    home = tmp_path / "home"
    queues.publish([{**_item(i), **(REVIEWED if i % 5 == 0 else {})} for i in range(n)])
    proc = start_consume(queues, home, database_url)
    # the consumer and its examine workers, mid-stream
    at_kill, _, _ = signal_once_stored(proc, database_url, signal.SIGKILL, at_least=40)
    assert 40 <= at_kill < n, f"the kill was not mid-way ({at_kill} of {n} stored)"
    verdicts_before = queues.count(queues.verdicts)

    again = start_consume(queues, home, database_url, "--idle-exit", "3")
    stdout, stderr = finish(again)
    assert again.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["redelivered"] >= 1  # what the killed consumer held came back
    assert summary["dead_lettered"] == 0 and summary["error"] is None

    stored = stored_ids(database_url)
    assert len(stored) == n and set(stored) == {f"item-{i}" for i in range(n)}  # each exactly once
    verdicts = queues.drain(queues.verdicts)
    ids = [json.loads(m.body)["item_id"] for m in verdicts]
    assert set(ids) == set(stored) and len(ids) >= n  # every message's verdict published at least once
    assert len(ids) >= verdicts_before
    assert queues.count(queues.items) == 0 and queues.count(queues.dead) == 0


def test_an_unreachable_broker_is_an_error_not_a_quiet_start(tmp_path):
    pytest.importorskip("aio_pika")
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home"),
           "BASTION_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{_free_port()}/"}
    bastion = Path(sys.executable).with_name("bastion")
    proc = subprocess.run([str(bastion), "consume", "--examine-workers", "1"], env=env, capture_output=True, timeout=120)
    assert proc.returncode != 0
    assert b"cannot reach the broker" in proc.stderr
    assert b"guest:guest" not in proc.stderr  # the URL's password is not printed


def test_consume_settings_come_from_the_environment_and_a_bad_one_is_refused(monkeypatch):
    from bastion.errors import ConfigError
    from bastion.stream.settings import ConsumeSettings

    monkeypatch.setenv("BASTION_CONSUME_QUEUE", "platform.posts")
    monkeypatch.setenv("BASTION_CONSUME_PREFETCH", "8")
    s = ConsumeSettings.from_env()
    assert s.consume_queue == "platform.posts" and s.consume_prefetch == 8 and s.verdict_queue == "bastion.verdicts"
    assert ConsumeSettings.from_env(consume_prefetch=2).consume_prefetch == 2  # a flag wins
    monkeypatch.setenv("BASTION_CONSUME_PREFETCH", "0")
    with pytest.raises(ConfigError, match="BASTION_CONSUME_PREFETCH"):
        ConsumeSettings.from_env()


def test_a_failure_that_may_pass_hands_the_message_back_and_it_is_stored_once(queues, tmp_path):
    from bastion.store.writers import StoreBusy

    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    calls = {"n": 0}

    class BusyOnce:
        def __init__(self, svc):
            self.svc, self.matcher, self.lexicon = svc, svc.matcher, svc.lexicon

        def submit(self, *a, **kw):
            calls["n"] += 1
            if calls["n"] == 1:
                raise StoreBusy("another writer held the store")
            return self.svc.submit(*a, **kw)

    queues.publish([_item(1)])
    stats = _run(queues, database_url, tmp_path / "home", wrap=BusyOnce)
    assert calls["n"] == 2 and stats.retried == 1 and stats.redelivered == 1  # handed back, delivered again
    assert stats.verdicts == 1 and stats.dead_lettered == 0
    assert [json.loads(m.body)["item_id"] for m in queues.drain(queues.verdicts)] == ["item-1"]
    assert stored_ids(database_url) == ["item-1"]
    assert queues.count(queues.items) == 0


def test_sigterm_finishes_what_is_in_flight_and_leaves_the_rest_queued(queues, tmp_path):
    n = 300
    database_url = f"sqlite:///{tmp_path / 'b.db'}"
    queues.publish([_item(i) for i in range(n)])
    proc = start_consume(queues, tmp_path / "home", database_url)
    _, stdout, stderr = signal_once_stored(proc, database_url)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    stored = stored_ids(database_url)
    assert summary["error"] is None and summary["verdicts"] == len(stored) < n  # every item started was finished
    assert len(queues.drain(queues.verdicts)) == len(stored)
    assert queues.count(queues.items) == n - len(stored)  # the rest wait in the queue, none lost


def test_a_lost_broker_connection_stops_the_consumer_with_an_error(queues, tmp_path):
    """Fail closed: a consumer whose connection ends is not a quiet one; what it held returns to the queue."""
    from bastion.api.app import build_service
    from bastion.stream.consumer import Consumer
    from bastion.stream.rabbitmq import RabbitBroker
    from bastion.stream.settings import ConsumeSettings

    settings = ConsumeSettings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'b.db'}", json_logs=False,
                               examine_workers=1)
    service = build_service(settings)
    broker = RabbitBroker(queues.url, queue=queues.items, verdicts=queues.verdicts, dead_letter=queues.dead, prefetch=4)
    consumer = Consumer(service, broker, max_bytes=settings.max_body_bytes)

    async def main():
        run = asyncio.create_task(consumer.run())
        while consumer.stats.received == 0 and not run.done():
            await asyncio.sleep(0.02)
        await broker._connection.close()  # as when RabbitMQ closes it (restart, network)
        return await asyncio.wait_for(run, 60)

    queues.publish([_item(i) for i in range(50)])
    try:
        stats = run_async(main())
    finally:
        service.examiner.close()
        service.store.close()
    assert stats.received >= 1 and stats.error and "broker" in stats.error
    assert queues.count(queues.items) >= 50 - stats.verdicts  # every message not answered is back in the queue
