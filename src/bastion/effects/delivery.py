"""Sending the webhook outbox: claim due rows, POST them signed, retry with backoff, dead-letter.

Several deliverers (threads or processes, on one or many machines) may run against one database. A
deliverer *claims* a batch of due rows by giving them its claim token and pushing their ``next_attempt_at``
to the end of a lease, in a short transaction of its own; on PostgreSQL the candidate rows are selected
``FOR UPDATE SKIP LOCKED`` so deliverers never wait on each other, on SQLite the claiming UPDATE re-checks
that the rows are still due under SQLite's single writer lock. Then it sends each row outside any
transaction and records the outcome only if it still holds the claim. A deliverer that dies mid-batch
loses its claim when the lease ends and the rows are sent by another one: delivery is at least once.

Outcomes: a 2xx answer marks the row ``delivered``; anything else (connection refused, timeout, 3xx, 4xx,
5xx) schedules another attempt after an exponential backoff with jitter — ``min(max_delay, base_delay *
2**(attempt-1))``, of which the second half is random — until ``max_attempts`` attempts have failed, when the
row becomes a dead letter (``webhooks.replay_dead_letters`` puts it back).

The clock, the random source and the HTTP sender are injected, so tests drive retries without sleeping.
"""

from __future__ import annotations

import http.client
import logging
import random as _random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bastion.effects.models import OutboxRow, WebhookSubscriptionRow, as_utc
from bastion.effects.webhooks import (
    ATTEMPT_HEADER,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

log = logging.getLogger("bastion.webhooks")
USER_AGENT = "Bastion-Webhooks/0.1"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    #: seconds before the 2nd attempt; doubles each time up to max_delay.
    base_delay: float = 30.0
    max_delay: float = 6 * 3600.0
    #: seconds per socket operation (connect, send, each read) of one POST.
    timeout: float = 10.0
    #: seconds a claimed batch stays hidden from other deliverers.
    lease: float = 120.0
    batch_size: int = 20
    #: seconds run_forever waits when nothing was due.
    idle_wait: float = 1.0
    #: networks (CIDR) a target may resolve into although not public: the operator's explicit choice (e.g. a
    #: receiver on the same private network). Empty by default: loopback, private, link-local and metadata
    #: targets are refused. Metadata addresses stay refused whatever this says.
    allow_networks: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> "DeliveryPolicy":
        """The defaults, with the networks ``settings.webhook_allow_networks`` allows
        (``BASTION_WEBHOOK_ALLOW_NETWORKS``)."""
        return cls(allow_networks=tuple(getattr(settings, "webhook_allow_networks", None) or ()))


def backoff_delay(attempt: int, policy: DeliveryPolicy, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): half fixed, half random."""
    cap = min(policy.max_delay, policy.base_delay * (2 ** max(0, attempt - 1)))
    return cap / 2 + rand() * cap / 2


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Sender = Callable[[str, dict, bytes, float], HttpResult]


def http_post(url: str, headers: dict, body: bytes, timeout: float, *, allow_networks: tuple[str, ...] = (),
              resolver: Any = None) -> HttpResult:
    """POST once, no redirects followed, network failures returned (not raised).

    The target gets the URL-media SSRF guard (:mod:`bastion.effects.fetch`): its name is resolved once, every
    address must be public (loopback, private, link-local, carrier-grade NAT, reserved and cloud metadata
    addresses are refused) unless it lies in ``allow_networks`` (an operator's explicit choice; metadata
    addresses never), and the connection goes to the address that was checked. The target's reply body is
    read (a little, to reuse nothing) but never recorded: only its status line is."""
    from bastion.effects.fetch import (
        PinnedHTTPConnection, PinnedHTTPSConnection, network_refusal, system_resolver, vet_addresses,
    )
    from bastion.errors import UrlFetchFailed, UrlRefused

    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        return HttpResult(None, f"invalid URL: {exc}")
    host = parts.hostname or ""
    try:
        ips = vet_addresses(host, port, network_refusal(allow_networks), resolver or system_resolver)
    except UrlRefused as exc:
        return HttpResult(None, f"refused: {exc} (allow a network with BASTION_WEBHOOK_ALLOW_NETWORKS)")
    except UrlFetchFailed as exc:
        return HttpResult(None, str(exc)[:500])
    try:
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = PinnedHTTPSConnection(host, port, ips[0], timeout)
        else:
            conn = PinnedHTTPConnection(host, port, ips[0], timeout)
    except (ValueError, http.client.HTTPException) as exc:
        return HttpResult(None, f"invalid URL: {exc}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(512)
        if 200 <= resp.status < 300:
            return HttpResult(resp.status, None)
        # The status line only: a target's reply body is the target's (it may echo our payload, or carry
        # whatever it likes into our dead-letter list and logs).
        reason = "".join(c for c in str(resp.reason)[:60] if c.isprintable())
        return HttpResult(resp.status, f"HTTP {resp.status} {reason}".strip())
    except (OSError, http.client.HTTPException) as exc:
        return HttpResult(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()


@dataclass(frozen=True)
class _Claimed:
    id: int
    subscription_id: int
    event: str
    delivery_id: str
    body: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True)
class DeliveryOutcome:
    id: int
    delivery_id: str
    subscription_id: int
    event: str
    attempt: int
    #: delivered | retry | dead | lost-claim
    result: str
    status: int | None
    error: str | None
    next_attempt_at: datetime | None = None


@dataclass
class DeliveryReport:
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    claimed: int = 0

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def delivered(self) -> int:
        return self.count("delivered")

    @property
    def retried(self) -> int:
        return self.count("retry")

    @property
    def dead(self) -> int:
        return self.count("dead")


class Deliverer:
    """Sends due outbox rows. ``sessions`` is a :class:`bastion.store.db.Store` or any callable returning a
    new Session; the deliverer opens and commits its own short transactions."""

    def __init__(self, sessions: Any, policy: DeliveryPolicy | None = None, *,
                 clock: Callable[[], datetime] = _utcnow, random: Callable[[], float] = _random.random,
                 post: Sender | None = None):
        self._new_session: Callable[[], Session] = sessions.session if hasattr(sessions, "session") else sessions
        self.policy = policy or DeliveryPolicy()
        self.clock = clock
        self.random = random
        if post is None:
            nets = self.policy.allow_networks

            def post(url: str, headers: dict, body: bytes, timeout: float) -> HttpResult:
                return http_post(url, headers, body, timeout, allow_networks=nets)
        self.post = post

    def _now(self) -> datetime:
        now = as_utc(self.clock())
        assert now is not None
        return now

    # --- claiming ----------------------------------------------------------------------------------

    def claim(self, now: datetime) -> tuple[str, list[_Claimed]]:
        p = self.policy
        token = uuid.uuid4().hex
        lease_until = now + timedelta(seconds=p.lease)
        with self._new_session() as s, s.begin():
            q = (select(OutboxRow.id).where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                 .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(p.batch_size))
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = s.scalars(q).all()
            if not ids:
                return token, []
            # Re-checked in the UPDATE: on SQLite another deliverer may have claimed them since the SELECT.
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                .values(claim=token, next_attempt_at=lease_until, attempts=OutboxRow.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            rows = s.execute(
                select(OutboxRow.id, OutboxRow.subscription_id, OutboxRow.event, OutboxRow.delivery_id,
                       OutboxRow.body, OutboxRow.attempts, WebhookSubscriptionRow.url, WebhookSubscriptionRow.secret)
                .join(WebhookSubscriptionRow, WebhookSubscriptionRow.id == OutboxRow.subscription_id)
                .where(OutboxRow.claim == token).order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            ).all()
        return token, [_Claimed(*r) for r in rows]

    def next_due_in(self, now: datetime | None = None) -> float | None:
        """Seconds until the earliest pending row falls due (a retry's backoff, a claim's lease running out);
        None when no row is pending. What an idle loop waits for when nothing wakes it sooner."""
        at = as_utc(now) if now is not None else self._now()
        with self._new_session() as s:
            first = s.scalar(select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == "pending"))
        if first is None:
            return None
        return max(0.0, (as_utc(first) - at).total_seconds())  # type: ignore[operator]

    def _release(self, token: str, ids: list[int], now: datetime) -> None:
        """Give back claimed rows not attempted (the lease would run out before they are sent)."""
        with self._new_session() as s, s.begin():
            s.execute(
                update(OutboxRow).where(OutboxRow.id.in_(ids), OutboxRow.claim == token)
                .values(claim=None, next_attempt_at=now, attempts=OutboxRow.attempts - 1)
                .execution_options(synchronize_session=False)
            )

    # --- sending -----------------------------------------------------------------------------------

    def _send(self, row: _Claimed, now: datetime) -> HttpResult:
        body = row.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: row.event,
            DELIVERY_HEADER: row.delivery_id,
            ATTEMPT_HEADER: str(row.attempts),
            SIGNATURE_HEADER: signature_header(row.secret, int(now.timestamp()), body),
        }
        try:
            return self.post(row.url, headers, body, self.policy.timeout)
        except Exception as exc:  # noqa: BLE001 - a sender bug must not kill the loop; it is recorded on the row
            return HttpResult(None, f"{type(exc).__name__}: {exc}"[:500])

    def _record(self, token: str, row: _Claimed, result: HttpResult, now: datetime) -> DeliveryOutcome:
        p = self.policy
        if result.ok:
            values: dict = dict(status="delivered", delivered_at=now, claim=None, last_status=result.status,
                                last_error=None)
            outcome, nxt = "delivered", None
        elif row.attempts >= p.max_attempts:
            values = dict(status="dead", dead_at=now, claim=None, last_status=result.status, last_error=result.error)
            outcome, nxt = "dead", None
        else:
            nxt = now + timedelta(seconds=backoff_delay(row.attempts, p, self.random))
            values = dict(next_attempt_at=nxt, claim=None, last_status=result.status, last_error=result.error)
            outcome = "retry"
        with self._new_session() as s, s.begin():
            n = s.execute(update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.claim == token).values(**values)
                          .execution_options(synchronize_session=False)).rowcount
        if not n:  # our lease ran out and another deliverer took the row over; its outcome counts
            outcome, nxt = "lost-claim", None
        if outcome in ("retry", "dead"):
            log.warning("webhook delivery %s to subscription %s failed (attempt %s): %s -> %s", row.delivery_id,
                        row.subscription_id, row.attempts, result.error, outcome)
        return DeliveryOutcome(row.id, row.delivery_id, row.subscription_id, row.event, row.attempts, outcome,
                               result.status, result.error, nxt)

    def deliver_due(self, now: datetime | None = None) -> DeliveryReport:
        """Claim one batch of due rows and try each once. Returns what happened to each."""
        start = as_utc(now) if now is not None else self._now()
        assert start is not None
        token, rows = self.claim(start)
        report = DeliveryReport(claimed=len(rows))
        lease_end = start + timedelta(seconds=self.policy.lease)
        for i, row in enumerate(rows):
            t = as_utc(now) if now is not None else self._now()
            assert t is not None
            if t + timedelta(seconds=3 * self.policy.timeout) > lease_end:
                self._release(token, [r.id for r in rows[i:]], t)
                break
            if row.attempts > self.policy.max_attempts:  # a deliverer died during the last attempt
                report.outcomes.append(self._record(token, row, HttpResult(None, "no answer recorded for the last "
                                                                            "attempt (deliverer stopped)"), t))
                continue
            result = self._send(row, t)
            done = as_utc(now) if now is not None else self._now()
            report.outcomes.append(self._record(token, row, result, done))  # type: ignore[arg-type]
        return report

    def run_forever(self, stop_event: threading.Event) -> None:
        """Deliver until ``stop_event`` is set: back to back while rows are due, otherwise waiting
        ``idle_wait`` seconds (on the event, so stopping is immediate). Database errors are logged and retried."""
        while not stop_event.is_set():
            try:
                report = self.deliver_due()
            except Exception:  # noqa: BLE001 - keep the loop alive across a database restart
                log.exception("webhook delivery pass failed")
                report = DeliveryReport()
            if report.claimed < self.policy.batch_size:
                stop_event.wait(self.policy.idle_wait)


def start_background(sessions: Any, policy: DeliveryPolicy | None = None, **kwargs) -> tuple[threading.Thread,
                                                                                           threading.Event]:
    """Start a daemon thread running :meth:`Deliverer.run_forever`; set the returned event to stop it."""
    stop = threading.Event()
    deliverer = Deliverer(sessions, policy, **kwargs)
    thread = threading.Thread(target=deliverer.run_forever, args=(stop,), name="bastion-webhooks", daemon=True)
    thread.start()
    return thread, stop


def deliver_due(store, now: datetime | None = None, *, policy: DeliveryPolicy | None = None) -> DeliveryReport:
    """One delivery pass over ``store`` with the default policy; returns the :class:`DeliveryReport`. For a
    long-running loop prefer :func:`start_background` or :meth:`Deliverer.run_forever`. (It lives here, not in
    :mod:`bastion.effects.webhooks`, which this module builds on: the two never import each other both ways.)"""
    return Deliverer(store, policy).deliver_due(now)
