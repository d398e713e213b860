"""Webhooks: subscriptions, the transactional outbox, signatures, dead letters.

A change and the webhooks it causes commit together: :func:`enqueue` adds one outbox row per active
subscription to the event *in the caller's transaction* and never commits. A
:class:`bastion.effects.delivery.Deliverer` sends due rows afterwards, so a crash can delay a webhook but
never lose or invent one. Delivery is at least once: receivers drop duplicates by ``Bastion-Delivery``.

Every request is signed (see docs/webhooks.md)::

    Bastion-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    Bastion-Event: verdict | case.opened | case.decided | retro_match | retro_text
    Bastion-Delivery: <delivery id, the same on every retry>
    Bastion-Attempt: <1, 2, ...>

All functions here take the caller's Session and do not commit; subscription changes and replays write an
audit row in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from bastion.effects import audit
from bastion.store.wake import announce
from bastion.effects.models import OutboxRow, WebhookSubscriptionRow, as_utc
from bastion.errors import (
    BastionError,
    InvalidCursor,
    InvalidSignature,
    InvalidWebhook,
    UnknownWebhookEvent,
    WebhookNotFound,
)

EVENTS = ("verdict", "case.opened", "case.decided", "retro_match", "retro_text")
SIGNATURE_HEADER = "Bastion-Signature"
EVENT_HEADER = "Bastion-Event"
DELIVERY_HEADER = "Bastion-Delivery"
ATTEMPT_HEADER = "Bastion-Attempt"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE = 300
MIN_SECRET_LENGTH = 16


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- signing -------------------------------------------------------------------------------------


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 with the secret's UTF-8 bytes as key, over ``b"<timestamp>." + body``."""
    return hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},{SIGNATURE_SCHEME}={compute_signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str | None, body: bytes, tolerance: float = DEFAULT_TOLERANCE,
                     now: float | None = None) -> int:
    """Check a ``Bastion-Signature`` header against the raw request body. Returns the signed timestamp;
    raises :class:`InvalidSignature` when the header is malformed, no ``v1`` signature matches, or the
    timestamp is more than ``tolerance`` seconds away from ``now`` (replay protection)."""
    if not header:
        raise InvalidSignature("missing signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature("malformed signature header")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("malformed timestamp in signature header") from None
        elif key == SIGNATURE_SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("signature header needs t= and v1=")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature("signature does not match")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"timestamp {timestamp} is outside the {tolerance:g}-second tolerance")
    return timestamp


# --- subscriptions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    description: str
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict:
        return {"id": self.id, "url": self.url, "events": list(self.events), "active": self.active,
                "description": self.description, "created_at": audit.format_time(self.created_at),
                "created_by": self.created_by}


def _subscription(r: WebhookSubscriptionRow) -> Subscription:
    return Subscription(r.id, r.url, tuple(e for e in r.events.split(",") if e), r.active, r.description,
                        as_utc(r.created_at), r.created_by)  # type: ignore[arg-type]


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    chosen = sorted({e.strip() for e in events if e and e.strip()})
    if not chosen:
        raise InvalidWebhook(f"a subscription needs at least one event ({', '.join(EVENTS)})")
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise UnknownWebhookEvent(f"unknown webhook event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    return tuple(chosen)


def check_url(url: str, allow_networks: Iterable[str] = ()) -> str:
    url = (url or "").strip()
    if len(url) > 2000:
        raise InvalidWebhook("webhook URL longer than 2000 characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidWebhook(f"invalid webhook URL {url!r}: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidWebhook(f"webhook URL must be http(s)://host/...: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhook("webhook URLs with user-info are refused (they would be stored and logged)")
    if parts.fragment:
        raise InvalidWebhook("webhook URL must not have a #fragment")
    _check_literal_host(parts.hostname, allow_networks)
    return url


def _check_literal_host(host: str, allow_networks: Iterable[str] = ()) -> None:
    """A target given as an address (or ``localhost``) is checked now, against the same guard delivery applies
    (a name is checked when it is resolved, at each delivery)."""
    import ipaddress

    from bastion.effects.fetch import network_refusal

    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        name = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return
    reason = network_refusal(allow_networks)(ip)
    if reason is not None:
        raise InvalidWebhook(f"webhook target {host} is a {reason} address: refused (an operator can allow a "
                             "network with BASTION_WEBHOOK_ALLOW_NETWORKS; metadata addresses never)")


def create_subscription(session: Session, url: str, events: Iterable[str], *, secret: str | None = None,
                        description: str = "", actor: Any = None, active: bool = True,
                        allow_networks: Iterable[str] = ()) -> tuple[Subscription, str]:
    """Create a subscription; returns it and its secret (generated unless given) — show the secret once.
    ``allow_networks``: the internal networks the operator allows targets in (``webhook_allow_networks``)."""
    url = check_url(url, allow_networks)
    chosen = check_events(events)
    given = secret is not None
    if secret is None:
        secret = generate_secret()
    elif len(secret) < MIN_SECRET_LENGTH or len(secret) > 200 or secret != secret.strip():
        raise InvalidWebhook(f"a webhook secret needs {MIN_SECRET_LENGTH} to 200 characters, no surrounding spaces")
    row = WebhookSubscriptionRow(url=url, events=",".join(chosen), secret=secret, description=description or "",
                                 active=active, created_at=_utcnow(), created_by=audit.actor_name(actor))
    session.add(row)
    session.flush()
    forget_cached_subscriptions()
    audit.append(session, actor, "webhook.create", "webhook", row.id,
                 {"url": url, "events": list(chosen), "active": active, "secret_given": given})
    return _subscription(row), secret


def list_subscriptions(session: Session) -> list[Subscription]:
    rows = session.execute(select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id)).scalars().all()
    return [_subscription(r) for r in rows]


def _get_row(session: Session, subscription_id: int) -> WebhookSubscriptionRow:
    row = session.get(WebhookSubscriptionRow, int(subscription_id)) if 0 < int(subscription_id) < 2**63 else None
    if row is None:
        raise WebhookNotFound(f"no webhook subscription {subscription_id}")
    return row


def get_subscription(session: Session, subscription_id: int) -> Subscription:
    return _subscription(_get_row(session, subscription_id))


def set_active(session: Session, subscription_id: int, active: bool, *, actor: Any = None) -> Subscription:
    row = _get_row(session, subscription_id)
    if row.active != active:
        row.active = active
        session.flush()
        forget_cached_subscriptions()
        audit.append(session, actor, "webhook.enable" if active else "webhook.disable", "webhook", row.id,
                     {"url": row.url})
    return _subscription(row)


def delete_subscription(session: Session, subscription_id: int, *, actor: Any = None) -> None:
    """Remove a subscription and its undelivered and dead deliveries."""
    row = _get_row(session, subscription_id)
    counts = dict(session.execute(
        select(OutboxRow.status, func.count()).where(OutboxRow.subscription_id == row.id).group_by(OutboxRow.status)
    ).all())
    info = {"url": row.url, "events": row.events.split(","), "dropped_pending": counts.get("pending", 0),
            "dropped_dead": counts.get("dead", 0)}
    session.execute(OutboxRow.__table__.delete().where(OutboxRow.subscription_id == row.id))
    session.delete(row)
    session.flush()
    forget_cached_subscriptions()
    audit.append(session, actor, "webhook.delete", "webhook", subscription_id, info)


# --- the outbox ----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return audit.format_time(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


#: How long "no active subscription wants this event" is remembered per database and event. enqueue runs for
#: every item, and most installations have no subscription for most events: remembering the empty answer makes
#: those calls free. A change made in this process clears it at once; one made by another process is seen
#: within this many seconds (an event committed in between is not sent to the new subscription).
NO_SUBSCRIBER_CACHE_SECONDS = 1.0
_no_subscriber_until: "weakref.WeakKeyDictionary[Any, dict[str, float]]" = weakref.WeakKeyDictionary()
_monotonic = time.monotonic


def forget_cached_subscriptions() -> None:
    _no_subscriber_until.clear()


def enqueue(session: Session, event: str, payload: dict, *, now: datetime | None = None) -> int:
    """Add one outbox row per active subscription to ``event``, in the caller's transaction (no commit).
    Returns how many. When no subscription wants the event this costs nothing most of the time (see
    NO_SUBSCRIBER_CACHE_SECONDS) and one small read otherwise."""
    if event not in EVENTS:
        raise UnknownWebhookEvent(f"unknown webhook event {event!r}; known: {', '.join(EVENTS)}")
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    cached = _no_subscriber_until.get(engine)
    if cached is not None and cached.get(event, 0.0) > _monotonic():
        return 0
    with session.no_autoflush:
        subs = session.execute(
            select(WebhookSubscriptionRow.id, WebhookSubscriptionRow.events).where(WebhookSubscriptionRow.active)
        ).all()
    targets = [sid for sid, events in subs if event in events.split(",")]
    if not targets:
        try:
            _no_subscriber_until.setdefault(engine, {})[event] = _monotonic() + NO_SUBSCRIBER_CACHE_SECONDS
        except TypeError:  # not weak-referenceable: no caching
            pass
        return 0
    at = as_utc(now) if now is not None else _utcnow()
    try:
        data = json.dumps(payload, default=_json_default, allow_nan=False, ensure_ascii=False,
                          separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BastionError(f"webhook payload for {event!r} is not JSON-serialisable: {exc}") from None
    rows = []
    for sid in targets:
        delivery = uuid.uuid4().hex
        # The payload is embedded as already-serialised text: serialised once, not once per subscription.
        body = (f'{{"id":"{delivery}","event":"{event}","created_at":"{audit.format_time(at)}","data":{data}}}')
        rows.append({"subscription_id": sid, "event": event, "delivery_id": delivery, "body": body,
                     "status": "pending", "attempts": 0, "next_attempt_at": at, "created_at": at})
    session.execute(insert(OutboxRow), rows)
    announce(session, "outbox")
    return len(rows)


def _delivery_dict(r) -> dict:
    return {
        "id": r.id, "subscription_id": r.subscription_id, "event": r.event, "delivery_id": r.delivery_id,
        "status": r.status, "attempts": r.attempts, "next_attempt_at": _fmt(r.next_attempt_at),
        "created_at": _fmt(r.created_at), "delivered_at": _fmt(r.delivered_at), "dead_at": _fmt(r.dead_at),
        "last_status": r.last_status, "last_error": r.last_error,
    }


def _fmt(value: datetime | None) -> str | None:
    return None if value is None else audit.format_time(value)


_LIST_COLUMNS = tuple(c for c in OutboxRow.__table__.c if c.name not in ("body", "claim"))


def list_deliveries(session: Session, *, status: str | None = None, subscription_id: int | None = None,
                    limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """Outbox rows, newest first (``status``: pending, delivered or dead)."""
    limit = max(1, min(int(limit), 1000))
    q = select(*_LIST_COLUMNS).order_by(OutboxRow.id.desc()).limit(limit + 1)
    if status is not None:
        q = q.where(OutboxRow.status == status)
    if subscription_id is not None:
        q = q.where(OutboxRow.subscription_id == int(subscription_id))
    if cursor is not None:
        try:
            q = q.where(OutboxRow.id < int(cursor))
        except (TypeError, ValueError):
            raise InvalidCursor(f"invalid cursor {cursor!r}") from None
    rows = session.execute(q).all()
    page = rows[:limit]
    return [_delivery_dict(r) for r in page], (str(page[-1].id) if len(rows) > limit else None)


def list_dead_letters(session: Session, *, subscription_id: int | None = None, limit: int = 50,
                      cursor: str | None = None) -> tuple[list[dict], str | None]:
    return list_deliveries(session, status="dead", subscription_id=subscription_id, limit=limit, cursor=cursor)


def replay_dead_letters(session: Session, ids: Sequence[int] | None = None, *, actor: Any = None,
                        subscription_id: int | None = None, now: datetime | None = None) -> int:
    """Put dead deliveries back in the queue, due now, with their attempt count reset (``ids=None``: all of
    them, or all of one subscription). Same delivery ids, so receivers still recognise duplicates. Returns how
    many; asking for an id that is not a dead letter raises :class:`WebhookNotFound` and replays nothing."""
    at = as_utc(now) if now is not None else _utcnow()
    q = select(OutboxRow.id).where(OutboxRow.status == "dead")
    if subscription_id is not None:
        q = q.where(OutboxRow.subscription_id == int(subscription_id))
    if ids is not None:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return 0
        q = q.where(OutboxRow.id.in_(wanted))
    found = sorted(session.scalars(q).all())
    if ids is not None and found != wanted:
        missing = sorted(set(wanted) - set(found))
        raise WebhookNotFound(f"not dead letters: {', '.join(map(str, missing))}")
    if not found:
        return 0
    session.execute(
        update(OutboxRow).where(OutboxRow.id.in_(found), OutboxRow.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=at, dead_at=None, claim=None)
        .execution_options(synchronize_session=False)
    )
    announce(session, "outbox")
    audit.append(session, actor, "webhook.replay", "webhook_delivery", None if len(found) > 1 else found[0],
                 {"ids": found[:1000], "count": len(found)}, now=at)
    return len(found)


def prune_delivered(session: Session, older_than: datetime) -> int:
    """Delete delivered rows older than ``older_than`` (the outbox is a queue, not an archive)."""
    res = session.execute(OutboxRow.__table__.delete().where(OutboxRow.status == "delivered",
                                                            OutboxRow.delivered_at < as_utc(older_than)))
    return res.rowcount or 0
