"""Facts from an item in the service's submission shape, for ``bastion policy test``.

The service builds facts from a full scan (media included); this helper runs only the text analysis on
``title``, ``body`` and ``tags``, so a policy author can try rules on hand-written items without media or a
store. Media entries are counted (``media_count``) but not read.

Besides the service's account fields (``id``, ``handle``, ``created_at``) a test item's account may carry
the history the service would know (``prior_confirmed``, ``risk``, ``linked_flagged``, ``items``,
``age_days``), so rules over account history can be tried too.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Mapping

from bastion.policy.errors import InvalidFacts
from bastion.policy.facts import ITEM_KINDS, AccountFacts, Facts, PriceFacts
from bastion.clock import as_utc

__all__ = ["facts_from_item", "facts_from_line"]

_ITEM_KEYS = frozenset({"id", "kind", "account", "parent_id", "title", "body", "tags", "price", "created_at", "media"})
#: The text field an item's body is analysed as (the service does the same).
_BODY_FIELD = {"post": "body", "profile": "body", "comment": "comment", "message": "message"}
_ACCOUNT_KEYS = frozenset({"id", "handle", "created_at", "prior_confirmed", "risk", "linked_flagged", "items", "age_days"})


def facts_from_line(obj: Any, *, now: datetime | None = None) -> Facts:
    """A JSON object of an items file: a facts dict (it has ``item_id``, as ``Facts.to_dict()`` makes) or
    an item in the service's shape (it has ``id``)."""
    if not isinstance(obj, Mapping):
        raise InvalidFacts(f"expected a JSON object, got {type(obj).__name__}")
    if "item_id" in obj:
        return Facts.from_dict(obj)
    if "id" in obj:
        return facts_from_item(obj, now=now)
    raise InvalidFacts("expected a facts object (with 'item_id') or an item (with 'id')")


def facts_from_item(item: Mapping[str, Any], *, now: datetime | None = None) -> Facts:
    """Facts of a service-shaped item from its texts (see the module docstring). ``now`` (default: the
    item's ``created_at``, else the current time) is when the account's age is measured."""
    from bastion.text import analyze_item

    unknown = sorted(set(item) - _ITEM_KEYS)
    if unknown:
        raise InvalidFacts(f"item: unknown field(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(_ITEM_KEYS))}")
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise InvalidFacts("item.id: expected a non-empty string")
    kind = item.get("kind", "post")
    if kind not in ITEM_KINDS:
        raise InvalidFacts(f"item.kind: {kind!r} is not one of {', '.join(ITEM_KINDS)}")
    texts: list[tuple[str, str]] = []
    for key in ("title", "body"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidFacts(f"item.{key}: expected a string")
        if value:
            texts.append((key if key == "title" else _BODY_FIELD[kind], value))
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidFacts("item.tags: expected a list of strings")
    texts.extend(("tag", t) for t in tags if t)
    media = item.get("media") or []
    if not isinstance(media, list):
        raise InvalidFacts("item.media: expected a list")
    price = item.get("price")
    if price is not None:
        if not isinstance(price, Mapping):
            raise InvalidFacts("item.price: expected an object")
        price = PriceFacts.from_dict(price, "item.price")
    when = now or _timestamp(item.get("created_at"), "item.created_at") or datetime.now(timezone.utc)
    account = _account(item.get("account"), when)
    result = analyze_item(texts) if texts else None
    return Facts(
        item_id=item_id,
        kind=kind,
        signals=tuple(result.signals) if result else (),
        text_level=result.level if result else "none",
        text_score=result.score if result else 0.0,
        text_combinations=tuple(result.combinations) if result else (),
        price=price,
        media_count=len(media),
        account=account,
    )


def _account(raw: Any, now: datetime) -> AccountFacts | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidFacts("item.account: expected an object")
    unknown = sorted(set(raw) - _ACCOUNT_KEYS)
    if unknown:
        raise InvalidFacts(f"item.account: unknown field(s) {', '.join(map(repr, unknown))}")
    d = {k: raw[k] for k in ("id", "prior_confirmed", "risk", "linked_flagged", "items", "age_days") if k in raw}
    if "age_days" not in d:
        created = _timestamp(raw.get("created_at"), "item.account.created_at")
        if created is not None:
            d["age_days"] = max(0.0, (now - created).total_seconds() / 86400.0)
    if d.get("age_days") is not None and (not isinstance(d["age_days"], (int, float)) or not math.isfinite(d["age_days"])):
        raise InvalidFacts("item.account.age_days: expected a number")
    return AccountFacts.from_dict(d, "item.account")


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFacts(f"{where}: expected an ISO 8601 timestamp string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFacts(f"{where}: {value!r} is not an ISO 8601 timestamp") from None
    return as_utc(ts)
