"""`bastion consume` against the real local NATS JetStream server: verdicts out with their correlation, a
redelivered item gets its stored verdict and is stored once, what is not an item goes to the dead-letter
subject with its reason (and the original is acknowledged), max-ack-pending bounds what is in flight, and a
consumer killed with SIGKILL loses nothing it acknowledged."""

from __future__ import annotations

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


def _broker(subjects, *, prefetch=16, ack_wait=1.0):
    from bastion.stream.nats_jetstream import NatsBroker

    return NatsBroker(subjects.url, queue=subjects.items, verdicts=subjects.verdicts, dead_letter=subjects.dead,
                      prefetch=prefetch, stream=subjects.stream, durable=subjects.durable, ack_wait=ack_wait)


def _run(subjects, database_url, home, *, prefetch=16, wrap=None, idle=1.5):
    from bastion.api.app import build_service
    from bastion.stream.consumer import Consumer
    from bastion.stream.settings import ConsumeSettings

    settings = ConsumeSettings(home=home, database_url=database_url, json_logs=False, examine_workers=1)
    service = build_service(settings)
    consumer = Consumer(wrap(service) if wrap else service, _broker(subjects, prefetch=prefetch),
                        max_bytes=settings.max_body_bytes, retry_seconds=0.05)
    try:
        return run_async(consumer.run(idle_exit=idle))
    finally:
        service.examiner.close()
        service.store.close()


def test_items_in_verdicts_out_and_a_redelivered_item_gets_its_stored_verdict(subjects, database_url, tmp_path):
    home = tmp_path / "home"
    subjects.publish([_item(1), {**_item(2), **REVIEWED}], correlation=True)
    stats = _run(subjects, database_url, home)
    assert stats.error is None and stats.verdicts == 2 and stats.dead_lettered == 0 and stats.redelivered == 0
    out = subjects.read(subjects.verdicts)
    by_id = {m.headers["Bastion-Item-Id"]: (m, json.loads(m.data)) for m in out}
    assert set(by_id) == {"item-1", "item-2"}
    assert {m.headers["Bastion-Correlation-Id"] for m, _ in by_id.values()} == {"corr-0", "corr-1"}
    assert by_id["item-1"][1]["verdict"]["action"] == "allow"
    assert by_id["item-2"][1]["verdict"]["action"] != "allow"  # the same policy as POST /v1/items
    first = by_id["item-2"][1]
    assert first["case_id"] is not None
    assert subjects.outstanding() == 0  # every message acknowledged

    # The same item again, taken by a consumer of the same durable that died without acknowledging it:
    # JetStream delivers it again once the ack wait (1 s here) has passed.
    subjects.publish([{**_item(2), **REVIEWED}])

    async def take_and_die():
        import nats

        nc = await nats.connect(subjects.url, allow_reconnect=False, max_reconnect_attempts=1)
        sub = await nc.jetstream().pull_subscribe_bind(subjects.durable, subjects.stream)
        [m] = await sub.fetch(1, timeout=5)
        assert m.metadata.num_delivered == 1
        await nc.close()  # no ack
    run_async(take_and_die())
    time.sleep(1.2)

    stats = _run(subjects, database_url, home)
    assert stats.redelivered == 1 and stats.verdicts == 1 and stats.error is None
    again = subjects.read(subjects.verdicts)[2:]
    assert [json.loads(m.data) for m in again] == [first]  # the stored verdict, case and all
    assert sorted(stored_ids(database_url)) == ["item-1", "item-2"]  # stored once
    assert subjects.outstanding() == 0


def test_what_is_not_an_item_goes_to_the_dead_letter_subject_and_is_acknowledged(subjects, database_url, tmp_path):
    home = tmp_path / "home"
    subjects.publish([_item(1)])
    _run(subjects, database_url, home)
    bad = [
        b"not json {",
        {"kind": "post", "body": "no id"},
        {"id": "item-x", "kind": "video"},
        {"id": "item-y", "media": [{"filename": "a.png", "data": "%%% not base64 %%%"}]},
        {**_item(1), "body": "a different body under a known id"},
    ]
    subjects.publish(bad + [_item(2)])
    stats = _run(subjects, database_url, home)
    assert stats.verdicts == 1 and stats.dead_lettered == 5 and stats.error is None
    dead = subjects.read(subjects.dead)
    sent = [b if isinstance(b, bytes) else json.dumps(b).encode() for b in bad]
    dead.sort(key=lambda m: sent.index(m.data) if m.data in sent else len(sent))  # in flight: any order
    assert [m.data for m in dead] == sent  # byte for byte
    reasons = [m.headers["x-bastion-reason"] for m in dead]
    assert reasons == ["invalid-json", "invalid-item", "invalid-item", "invalid-input", "conflict"], reasons
    details = [m.headers["x-bastion-detail"] for m in dead]
    assert "id" in details[1] and "kind" in details[2] and "media[0]" in details[3] and "item-1" in details[4]
    assert all(m.headers["x-bastion-source-queue"] == subjects.items for m in dead)
    verdict_ids = [m.headers["Bastion-Item-Id"] for m in subjects.read(subjects.verdicts)]
    assert verdict_ids == ["item-1", "item-2"]
    assert sorted(stored_ids(database_url)) == ["item-1", "item-2"]  # nothing from the dead letters
    assert subjects.outstanding() == 0  # the originals were acknowledged, not left to come back


def test_max_ack_pending_bounds_what_is_in_flight(subjects, tmp_path):
    """Back-pressure: with a prefetch of 3, three messages are handed out and the stream keeps the rest."""
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

    subjects.publish([_item(i) for i in range(10)])
    waiting: list[int] = []

    def watch():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state["now"] < 3:
            time.sleep(0.05)
        time.sleep(0.5)  # would a fourth arrive?

        async def info():
            nc, js = await subjects._js()
            try:
                i = await js.consumer_info(subjects.stream, subjects.durable)
                return i.num_pending, i.num_ack_pending
            finally:
                await nc.close()
        waiting.append(run_async(info()))
        release.set()

    t = threading.Thread(target=watch)
    t.start()
    stats = _run(subjects, database_url, tmp_path / "home", prefetch=3, wrap=Held)
    t.join()
    assert max(seen) == 3  # never more in flight than the prefetch, and it reached it
    assert waiting == [(7, 3)]  # the server kept the rest
    assert stats.verdicts == 10 and len(stored_ids(database_url)) == 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _consume(subjects, home: Path, database_url: str, *extra: str) -> subprocess.Popen:
    return start_consume(subjects, home, database_url, *extra, env=subjects.consume_env(ack_wait_seconds=2))


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged_and_stores_each_item_once(subjects, database_url, tmp_path):
    n = 200
    home = tmp_path / "home"
    subjects.publish([{**_item(i), **(REVIEWED if i % 5 == 0 else {})} for i in range(n)])
    proc = _consume(subjects, home, database_url)
    # the consumer and its examine workers, mid-stream
    at_kill, _, _ = signal_once_stored(proc, database_url, signal.SIGKILL, at_least=20)
    assert 20 <= at_kill < n, f"the kill was not mid-way ({at_kill} of {n} stored)"
    verdicts_before = len(subjects.read(subjects.verdicts))

    again = _consume(subjects, home, database_url, "--idle-exit", "4")  # longer than the 2 s ack wait
    stdout, stderr = finish(again)
    assert again.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    # (not asserted: summary["redelivered"] >= 1 — in about 1 run of 6 the kill found nothing fetched and
    # unacknowledged; what matters is below: every item stored once, every verdict out, nothing outstanding)
    assert summary["dead_lettered"] == 0 and summary["error"] is None

    stored = stored_ids(database_url)
    assert len(stored) == n and set(stored) == {f"item-{i}" for i in range(n)}  # each exactly once
    ids = [m.headers["Bastion-Item-Id"] for m in subjects.read(subjects.verdicts)]
    assert set(ids) == set(stored) and len(ids) >= n >= verdicts_before  # every verdict published at least once
    assert subjects.outstanding() == 0 and subjects.read(subjects.dead) == []


def test_an_unreachable_nats_server_is_an_error_not_a_quiet_start(tmp_path):
    pytest.importorskip("nats")
    env = {**os.environ, "BASTION_HOME": str(tmp_path / "home"),
           "BASTION_BROKER_URL": f"nats://user:secret-word@127.0.0.1:{_free_port()}"}
    bastion = Path(sys.executable).with_name("bastion")
    proc = subprocess.run([str(bastion), "consume", "--examine-workers", "1"], env=env, capture_output=True, timeout=120)
    assert proc.returncode != 0
    assert b"cannot reach the broker" in proc.stderr, proc.stderr[-2000:]
    assert b"secret-word" not in proc.stderr  # the URL's password is not printed


def test_the_url_scheme_picks_the_adapter_and_an_unknown_one_is_refused():
    from bastion.errors import ConfigError
    from bastion.stream.adapters import broker_for
    from bastion.stream.settings import ConsumeSettings

    nats_broker = broker_for(ConsumeSettings(broker_url="nats://127.0.0.1:4222", nats_stream="S", nats_durable="d",
                                             consume_prefetch=5))
    assert nats_broker.name == "nats" and (nats_broker.stream, nats_broker.durable, nats_broker.prefetch) == ("S", "d", 5)
    assert broker_for(ConsumeSettings(broker_url="amqps://u:p@host/")).name == "rabbitmq"
    with pytest.raises(ConfigError, match="kafka"):
        broker_for(ConsumeSettings(broker_url="kafka://host:9092"))
    with pytest.raises(ConfigError, match="BASTION_NATS_STREAM"):
        ConsumeSettings.from_env({"BASTION_NATS_STREAM": "has.dots"})
