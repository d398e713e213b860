"""What the service accepts and answers (pydantic). Unknown fields are refused: a typo in a field name must
not silently drop what a platform meant to send."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.model import DECISION_ACTIONS, DECISION_OUTCOMES

KINDS = ("post", "comment", "message", "profile")
MAX_MEDIA = 32
MAX_TAGS = 500
MAX_TEXT = 1_000_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class AccountIn(_In):
    id: str = Field(min_length=1, max_length=255)
    handle: str | None = Field(default=None, max_length=255)
    created_at: datetime | None = None


class PriceIn(_In):
    amount: float | None = Field(default=None, ge=0, le=1e12)
    currency: str | None = Field(default=None, max_length=16)
    tier: str | None = Field(default=None, max_length=255)


class MediaIn(_In):
    """One file: base64 bytes in JSON (``data``), or a URL the service fetches (off by default). Files sent as
    multipart parts do not appear here."""

    filename: str | None = Field(default=None, max_length=1024)
    data: str | None = None
    url: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _one_source(self) -> "MediaIn":
        if (self.data is None) == (self.url is None):
            raise ValueError("a media entry has exactly one of `data` (base64) or `url`")
        return self

    def decoded(self) -> bytes:
        try:
            return base64.b64decode(self.data or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"`data` of {self.filename or 'a media entry'} is not valid base64: {exc}") from None


class ItemIn(_In):
    id: str = Field(min_length=1, max_length=255)
    kind: Literal["post", "comment", "message", "profile"] = "post"
    account: AccountIn | None = None
    parent_id: str | None = Field(default=None, max_length=255)
    title: str | None = Field(default=None, max_length=MAX_TEXT)
    body: str | None = Field(default=None, max_length=MAX_TEXT)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    price: PriceIn | None = None
    created_at: datetime | None = None
    media: list[MediaIn] = Field(default_factory=list, max_length=MAX_MEDIA)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for t in v:
            if len(t) > 1000:
                raise ValueError("a tag has at most 1000 characters")
        return v


class VerdictOut(BaseModel):
    action: str
    actions: list[str]
    priority: int
    reasons: list[dict]


class ItemOut(BaseModel):
    item_id: str
    verdict: VerdictOut
    signals: list[dict]
    case_id: int | None


class DecisionIn(_In):
    outcome: Literal[DECISION_OUTCOMES]  # type: ignore[valid-type]  (one list: bastion.model)
    category: str | None = Field(default=None, max_length=64)
    actions: list[Literal[DECISION_ACTIONS]] = Field(default_factory=list)  # type: ignore[valid-type]
    note: str | None = Field(default=None, max_length=10_000)
    #: with ``suspend_account``: a ``temporary`` suspension (``suspension_days`` long) or ``permanent`` (default)
    suspension: Literal["temporary", "permanent"] | None = None
    suspension_days: int | None = Field(default=None, ge=1, le=3650)
