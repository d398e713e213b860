"""Webhooks on SQLite and PostgreSQL: subscriptions, the transactional outbox, signatures, and delivery to a
real HTTP receiver on 127.0.0.1 that checks signatures with the snippet from docs/webhooks.md — including the
receiver being down, answering 500 and hanging. The clock and jitter are injected: nothing sleeps for a
backoff."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bastion.effects import audit, webhooks
from bastion.effects.delivery import Deliverer, DeliveryPolicy, HttpResult, backoff_delay, http_post, start_background
from bastion.effects.models import OutboxRow
from bastion.errors import InvalidSignature, InvalidWebhook, UnknownWebhookEvent, WebhookNotFound

from .conftest import reply, start_server, stop_server

T0 = datetime(2026, 1, 2, 12, 0, 0, tzinfo=timezone.utc)
SECRET = "test-secret-0123456789abcdef"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def docs_verifier():
    """The verification snippet exactly as the documentation shows it."""
    text = DOCS.read_text()
    block = re.search(r"```python\n(import hashlib.*?)```", text, re.S).group(1)
    ns: dict = {}
    exec(compile(block, str(DOCS), "exec"), ns)  # noqa: S102 - our own documentation
    return ns["verify_bastion_signature"]


class Receiver:
    """A real HTTP receiver: verifies each request with the documented snippet, answers what it is told."""

    def __init__(self, secret: str = SECRET):
        self.server = start_server()
        self.secret = secret
        self.verify = docs_verifier()
        self.answers: list[int] = []  # statuses to answer in turn; 200 afterwards
        self.got: list[dict] = []
        self.verified: list[bool] = []
        self.arrived = threading.Event()
        self.server.routes["/hook"] = self._hook

    def _hook(self, h, body: bytes) -> None:
        ok = self.verify(self.secret, h.headers.get("Bastion-Signature", ""), body)
        self.verified.append(ok)
        self.got.append({"headers": {k.lower(): v for k, v in h.headers.items()}, "body": json.loads(body)})
        status = self.answers.pop(0) if self.answers else 200
        reply(status, b"ok" if status == 200 else b"receiver says no")(h, body)
        self.arrived.set()

    @property
    def url(self) -> str:
        return self.server.url("/hook")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    stop_server(r.server)


class Clock:
    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


#: The receivers of these tests listen on loopback, which webhook delivery refuses unless an operator allows it
#: (BASTION_WEBHOOK_ALLOW_NETWORKS): they opt in explicitly. The guard itself: test_webhook_ssrf.py.
LOOPBACK = ("127.0.0.0/8",)


def subscribe(store, url: str, events=("verdict",), secret: str = SECRET) -> int:
    with store.session() as s, s.begin():
        sub, _ = webhooks.create_subscription(s, url, events, secret=secret, actor="tester", allow_networks=LOOPBACK)
    return sub.id


def enqueue(store, event: str = "verdict", payload: dict | None = None, now: datetime = T0) -> int:
    with store.session() as s, s.begin():
        return webhooks.enqueue(s, event, payload or {"item_id": "p-1", "action": "review"}, now=now)


def outbox(store) -> list[OutboxRow]:
    with store.session() as s:
        return s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()


POLICY = DeliveryPolicy(max_attempts=4, base_delay=10, max_delay=60, timeout=2, lease=300, allow_networks=LOOPBACK)


# --- signatures ----------------------------------------------------------------------------------


def test_signature_round_trip_and_failures():
    body = b'{"id":"x","event":"verdict","data":{}}'
    header = webhooks.signature_header(SECRET, 1_764_676_800, body)
    assert re.fullmatch(r"t=1764676800,v1=[0-9a-f]{64}", header)
    assert webhooks.verify_signature(SECRET, header, body, now=1_764_676_800 + 10) == 1_764_676_800
    for bad_body, secret, now in [(body + b" ", SECRET, 1_764_676_800), (body, "another-secret-000000", 1_764_676_800),
                                  (body, SECRET, 1_764_676_800 + 301)]:
        with pytest.raises(InvalidSignature):
            webhooks.verify_signature(secret, header, bad_body, now=now)
    for malformed in ["", "garbage", "t=abc,v1=00", "v1=00", "t=1764676800"]:
        with pytest.raises(InvalidSignature):
            webhooks.verify_signature(SECRET, malformed, body, now=1_764_676_800)
    # secret rotation: several v1 values, one matching
    rotated = f"t=1764676800,v1={'0' * 64},{header.split(',')[1]}"
    assert webhooks.verify_signature(SECRET, rotated, body, now=1_764_676_800)


def test_docs_snippet_agrees_with_the_library():
    verify = docs_verifier()
    body = b'{"a":1}'
    import time

    now = int(time.time())
    good = webhooks.signature_header(SECRET, now, body)
    assert verify(SECRET, good, body) is True
    assert verify(SECRET, good, body + b"x") is False
    assert verify("wrong-secret-0000000", good, body) is False
    assert verify(SECRET, webhooks.signature_header(SECRET, now - 3600, body), body) is False
    assert verify(SECRET, "nonsense", body) is False


# --- subscriptions -------------------------------------------------------------------------------


def test_create_list_disable_delete_with_audit(store):
    with store.session() as s, s.begin():
        sub, secret = webhooks.create_subscription(s, "https://hooks.example.org/b", ["case.opened", "verdict"],
                                                   actor="alice", description="ops")
    assert secret.startswith("whsec_") and len(secret) > 40
    assert sub.events == ("case.opened", "verdict") and sub.active
    with store.session() as s, s.begin():
        assert [x.to_dict()["url"] for x in webhooks.list_subscriptions(s)] == ["https://hooks.example.org/b"]
        assert "secret" not in webhooks.list_subscriptions(s)[0].to_dict()
        webhooks.set_active(s, sub.id, False, actor="alice")
        assert webhooks.enqueue(s, "verdict", {}) == 0
        webhooks.delete_subscription(s, sub.id, actor="bob")
    with store.session() as s:
        assert webhooks.list_subscriptions(s) == []
        rows, _ = audit.list_entries(s)
        assert [(r["action"], r["actor"]) for r in rows] == [("webhook.delete", "bob"), ("webhook.disable", "alice"),
                                                             ("webhook.create", "alice")]
        assert rows[2]["details"]["secret_given"] is False and SECRET not in json.dumps(rows)
        assert audit.verify(s).ok
        with pytest.raises(WebhookNotFound):
            webhooks.delete_subscription(s, sub.id)


@pytest.mark.parametrize(
    "url, events, secret, error",
    [
        ("ftp://x.example/h", ["verdict"], None, InvalidWebhook),
        ("https://user:pw@x.example/h", ["verdict"], None, InvalidWebhook),
        ("not a url", ["verdict"], None, InvalidWebhook),
        ("https://x.example/h", [], None, InvalidWebhook),
        ("https://x.example/h", ["verdict", "item.deleted"], None, UnknownWebhookEvent),
        ("https://x.example/h", ["verdict"], "short", InvalidWebhook),
    ],
)
def test_bad_subscriptions_are_refused_and_nothing_is_written(store, url, events, secret, error):
    with store.session() as s, s.begin(), pytest.raises(error):
        webhooks.create_subscription(s, url, events, secret=secret)
    with store.session() as s:
        assert webhooks.list_subscriptions(s) == [] and audit.list_entries(s)[0] == []


# --- the outbox ----------------------------------------------------------------------------------


def test_enqueue_adds_one_row_per_matching_active_subscription(store):
    assert enqueue(store) == 0  # no subscriptions: nothing written
    subscribe(store, "http://127.0.0.1:9/a", ["verdict", "case.opened"])
    subscribe(store, "http://127.0.0.1:9/b", ["verdict"])
    subscribe(store, "http://127.0.0.1:9/c", ["case.decided"])
    assert enqueue(store, "verdict", {"item_id": "p-1", "at": T0, "tags": ("a", "b")}) == 2
    assert enqueue(store, "case.opened", {"case_id": 1}) == 1
    assert enqueue(store, "retro_match", {"x": 1}) == 0
    rows = outbox(store)
    assert [(r.subscription_id, r.event, r.status, r.attempts) for r in rows] == [
        (1, "verdict", "pending", 0), (2, "verdict", "pending", 0), (1, "case.opened", "pending", 0)]
    body = json.loads(rows[0].body)
    assert body == {"id": rows[0].delivery_id, "event": "verdict", "created_at": "2026-01-02T12:00:00.000000Z",
                    "data": {"item_id": "p-1", "at": "2026-01-02T12:00:00.000000Z", "tags": ["a", "b"]}}
    assert rows[0].delivery_id != rows[1].delivery_id
    with store.session() as s, s.begin(), pytest.raises(UnknownWebhookEvent):
        webhooks.enqueue(s, "nope", {})


def test_enqueue_commits_or_rolls_back_with_the_caller(store):
    subscribe(store, "http://127.0.0.1:9/a")
    with store.session() as s:
        s.begin()
        webhooks.enqueue(s, "verdict", {"item_id": "p-1"})
        s.rollback()
    assert outbox(store) == []
    enqueue(store)
    assert len(outbox(store)) == 1


# --- delivery ------------------------------------------------------------------------------------


def test_delivery_to_a_real_receiver_with_verified_signature(store, receiver):
    subscribe(store, receiver.url, ["verdict", "case.opened"])
    enqueue(store, "verdict", {"item_id": "p-7", "action": "remove"})
    clock = Clock(datetime.now(timezone.utc))
    report = Deliverer(store, POLICY, clock=clock).deliver_due()
    assert (report.claimed, report.delivered) == (1, 1)
    assert receiver.verified == [True]
    got = receiver.got[0]
    row = outbox(store)[0]
    assert got["headers"]["bastion-event"] == "verdict"
    assert got["headers"]["bastion-delivery"] == row.delivery_id == got["body"]["id"]
    assert got["headers"]["bastion-attempt"] == "1"
    assert got["headers"]["content-type"] == "application/json"
    assert got["body"]["data"] == {"item_id": "p-7", "action": "remove"}
    assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 200)
    assert Deliverer(store, POLICY, clock=clock).deliver_due().claimed == 0  # nothing sent twice


def test_receiver_down_retries_with_backoff_then_dead_letter_then_replay(store, receiver):
    # a port nobody listens on: reserve one and close it
    down = start_server()
    down_url = down.url("/hook")
    stop_server(down)
    sid = subscribe(store, down_url)
    enqueue(store)
    clock = Clock()
    d = Deliverer(store, POLICY, clock=clock, random=lambda: 0.5)

    expected_delays = [backoff_delay(n, POLICY, lambda: 0.5) for n in (1, 2, 3)]
    assert expected_delays == [7.5, 15.0, 30.0]
    for attempt, delay in enumerate(expected_delays, start=1):
        r = d.deliver_due()
        assert (r.claimed, r.retried) == (1, 1)
        row = outbox(store)[0]
        assert row.attempts == attempt and row.status == "pending" and row.last_status is None
        assert "Connection" in row.last_error or "refused" in row.last_error
        # not due a moment before the backoff ends, due right at it
        clock.advance(delay - 0.01)
        assert d.deliver_due().claimed == 0
        clock.advance(0.01)
    r = d.deliver_due()
    assert r.dead == 1
    row = outbox(store)[0]
    assert (row.status, row.attempts) == ("dead", 4) and row.dead_at is not None
    clock.advance(10_000)
    assert d.deliver_due().claimed == 0  # dead letters are not retried on their own

    with store.session() as s:
        dead, cursor = webhooks.list_dead_letters(s)
    assert [x["id"] for x in dead] == [row.id] and cursor is None and dead[0]["last_error"]

    # the receiver comes back (the subscription is pointed at it), a replay delivers the same delivery id
    with store.session() as s, s.begin():
        from bastion.effects.models import WebhookSubscriptionRow

        s.get(WebhookSubscriptionRow, sid).url = receiver.url
        assert webhooks.replay_dead_letters(s, [row.id], actor="alice", now=clock()) == 1
    clock.now = datetime.now(timezone.utc)
    assert d.deliver_due().delivered == 1
    assert receiver.verified == [True]
    assert receiver.got[0]["body"]["id"] == row.delivery_id
    assert receiver.got[0]["headers"]["bastion-attempt"] == "1"
    with store.session() as s:
        assert webhooks.list_dead_letters(s)[0] == []
        assert audit.list_entries(s, action="webhook.replay")[0][0]["details"] == {"ids": [row.id], "count": 1}


def test_500_then_success_keeps_the_delivery_id(store, receiver):
    receiver.answers = [500, 503]
    subscribe(store, receiver.url)
    enqueue(store)
    clock = Clock(datetime.now(timezone.utc))
    d = Deliverer(store, POLICY, clock=clock, random=lambda: 1.0)
    assert d.deliver_due().retried == 1
    row = outbox(store)[0]
    assert row.last_status == 500 and row.last_error.startswith("HTTP 500")
    assert "receiver says no" not in row.last_error  # the status line only: never the target's reply body
    clock.advance(10)
    assert d.deliver_due().retried == 1
    assert outbox(store)[0].last_status == 503
    clock.advance(20)
    assert d.deliver_due().delivered == 1
    ids = {g["headers"]["bastion-delivery"] for g in receiver.got}
    assert len(receiver.got) == 3 and len(ids) == 1
    assert [g["headers"]["bastion-attempt"] for g in receiver.got] == ["1", "2", "3"]
    assert receiver.verified == [True, True, True]


def test_redirects_and_4xx_are_failures(store, receiver):
    receiver.server.routes["/moved"] = reply(302, b"", {"Location": "/hook"})
    subscribe(store, receiver.server.url("/moved"))
    enqueue(store)
    r = Deliverer(store, POLICY, clock=Clock(datetime.now(timezone.utc))).deliver_due()
    assert r.retried == 1 and receiver.got == []
    assert outbox(store)[0].last_status == 302


def test_a_hanging_receiver_times_out(store, receiver):
    receiver.server.routes["/slow"] = lambda h, _: receiver.server.release.wait(10)
    subscribe(store, receiver.server.url("/slow"))
    enqueue(store)
    r = Deliverer(store, DeliveryPolicy(timeout=0.3, max_attempts=3, allow_networks=LOOPBACK), clock=Clock()).deliver_due()
    assert r.retried == 1
    assert "timed out" in outbox(store)[0].last_error.lower()


def test_backoff_schedule():
    p = DeliveryPolicy(base_delay=10, max_delay=100)
    assert [backoff_delay(n, p, lambda: 0.0) for n in range(1, 7)] == [5, 10, 20, 40, 50, 50]
    assert [backoff_delay(n, p, lambda: 1.0) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_a_dead_deliverer_loses_its_claim_when_the_lease_ends(store, receiver):
    subscribe(store, receiver.url)
    enqueue(store)
    enqueue(store)
    clock = Clock(datetime.now(timezone.utc))
    crashed = Deliverer(store, POLICY, clock=clock)
    token, claimed = crashed.claim(clock())  # ... and never sends or records
    assert len(claimed) == 2
    other = Deliverer(store, POLICY, clock=clock)
    assert other.deliver_due().claimed == 0  # hidden while the lease runs
    clock.advance(POLICY.lease + 1)
    assert other.deliver_due().delivered == 2
    assert [r.attempts for r in outbox(store)] == [2, 2]
    # the crashed one's late answer is not recorded over the new outcome
    late = crashed._record(token, claimed[0], HttpResult(500, "late"), clock())
    assert late.result == "lost-claim" and outbox(store)[0].status == "delivered"


def test_several_deliverers_share_the_outbox_without_double_sends(store, receiver):
    subscribe(store, receiver.url)
    n = 30
    with store.session() as s, s.begin():
        for i in range(n):
            webhooks.enqueue(s, "verdict", {"i": i})
    policy = DeliveryPolicy(batch_size=4, timeout=5, lease=600, allow_networks=LOOPBACK)
    errors: list[BaseException] = []

    def work() -> None:
        d = Deliverer(store, policy)
        try:
            for _ in range(100):
                if d.deliver_due().claimed == 0:
                    with store.session() as s:
                        if not s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")):
                            return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ids = [g["body"]["id"] for g in receiver.got]
    assert len(ids) == n and len(set(ids)) == n
    assert all(r.status == "delivered" and r.attempts == 1 for r in outbox(store))


def test_background_loop_delivers_and_stops(store, receiver):
    subscribe(store, receiver.url)
    thread, stop = start_background(store, DeliveryPolicy(idle_wait=0.05, allow_networks=LOOPBACK))
    try:
        enqueue(store, now=datetime.now(timezone.utc))
        assert receiver.arrived.wait(20)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert receiver.verified == [True]


def test_removing_a_subscription_drops_its_queue(store):
    sid = subscribe(store, "http://127.0.0.1:9/a")
    enqueue(store)
    with store.session() as s, s.begin():
        webhooks.delete_subscription(s, sid, actor="alice")
        entry = audit.list_entries(s, action="webhook.delete")[0][0]
    assert outbox(store) == [] and entry["details"]["dropped_pending"] == 1


def test_replay_of_unknown_ids_changes_nothing(store):
    subscribe(store, "http://127.0.0.1:9/a")
    enqueue(store)
    row = outbox(store)[0]
    with store.session() as s, s.begin(), pytest.raises(WebhookNotFound):
        webhooks.replay_dead_letters(s, [row.id])  # pending, not dead
    with store.session() as s, s.begin():
        assert webhooks.replay_dead_letters(s, None) == 0


def test_prune_delivered(store, receiver):
    subscribe(store, receiver.url)
    enqueue(store)
    clock = Clock(datetime.now(timezone.utc))
    Deliverer(store, POLICY, clock=clock).deliver_due()
    with store.session() as s, s.begin():
        assert webhooks.prune_delivered(s, clock.now - timedelta(days=1)) == 0
        assert webhooks.prune_delivered(s, clock.now + timedelta(seconds=1)) == 1
    assert outbox(store) == []


def test_http_post_reports_bad_urls_without_raising():
    assert http_post("http://127.0.0.1:notaport/x", {}, b"", 1).error


def test_module_level_deliver_due(store, receiver):
    subscribe(store, receiver.url)
    enqueue(store, now=datetime.now(timezone.utc))
    from bastion.effects.delivery import deliver_due

    assert deliver_due(store, policy=POLICY).delivered == 1
    assert receiver.verified == [True]


def test_no_subscriber_answer_is_remembered_briefly_across_processes(store, monkeypatch, database_url):
    from bastion.store.db import open_store

    ticks = [1000.0]
    monkeypatch.setattr(webhooks, "_monotonic", lambda: ticks[0])
    assert enqueue(store) == 0  # remembered: nobody wants "verdict" on this database
    other = open_store(database_url)  # another process, as far as this one can tell
    try:
        with other.session() as s, s.begin():
            s.add(__import__("bastion.effects.models", fromlist=["x"]).WebhookSubscriptionRow(
                url="http://127.0.0.1:9/a", events="verdict", secret=SECRET, active=True))
        ticks[0] += webhooks.NO_SUBSCRIBER_CACHE_SECONDS / 2
        assert enqueue(store) == 0  # not seen yet: within the cache window
        ticks[0] += webhooks.NO_SUBSCRIBER_CACHE_SECONDS
        assert enqueue(store) == 1  # seen once the window has passed
        assert enqueue(store) == 1  # a positive answer is never cached
    finally:
        other.close()
    # a change made in this process is seen at once
    with store.session() as s, s.begin():
        webhooks.set_active(s, 1, False)
    assert enqueue(store) == 0
    with store.session() as s, s.begin():
        webhooks.set_active(s, 1, True)
    assert enqueue(store) == 1


def test_the_documented_retry_window_is_what_the_defaults_produce():
    """docs/webhooks.md gave "roughly 1 to 2 hours" where the defaults give 32 to 64 minutes."""
    import re
    from pathlib import Path

    p = DeliveryPolicy()
    waits = range(1, p.max_attempts)  # a wait follows every failed attempt but the last
    shortest = sum(backoff_delay(a, p, lambda: 0.0) for a in waits) / 60
    longest = sum(backoff_delay(a, p, lambda: 1.0) for a in waits) / 60
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text().split())
    m = re.search(r"add up to (\d+) to (\d+) minutes", doc)
    assert m and (int(m[1]), int(m[2])) == (round(shortest), round(longest)), (shortest, longest)
