"""Bounded excerpts of text an uploader controls (prompts and metadata embedded in media).

A compressed PNG text chunk lets a 200 KB file carry megabytes of "prompt"; stored whole, what Bastion keeps
would be a large multiple of what was sent. Text is still *analysed* whole (by the text detectors); what is
*kept* (JSON lines, the service's stored results) is bounded here: each string to :data:`FIELD_LIMIT` bytes
of UTF-8, everything together to :data:`TOTAL_LIMIT`. For each string that was cut the full text's SHA-256
(of its UTF-8 bytes) and length are kept beside it, so a reviewer can still tell two texts apart and check a
copy against the original; containers beyond the budget are cut and say how many entries were left out.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: At most this many bytes (UTF-8) of one string are kept.
FIELD_LIMIT = 64 * 1024
#: At most this many bytes of strings (keys and values) are kept for one file's embedded metadata.
TOTAL_LIMIT = 256 * 1024
#: What a number, a boolean or null counts against the budget (roughly its JSON size).
_SCALAR_COST = 8


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def text_digest(text: str) -> dict[str, Any]:
    """The full text's SHA-256 (of its UTF-8 bytes), its length in characters and in bytes."""
    raw = _utf8(text)
    return {"sha256": hashlib.sha256(raw).hexdigest(), "length": len(text), "bytes": len(raw)}


def excerpt(text: str, limit: int = FIELD_LIMIT) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes (never half a character)."""
    raw = _utf8(text)
    if len(raw) <= limit:
        return text
    return raw[:max(limit, 0)].decode("utf-8", "ignore")


class _Budget:
    def __init__(self, field_limit: int, total_limit: int) -> None:
        self.field_limit = field_limit
        self.left = total_limit
        self.cut: dict[str, dict[str, Any]] = {}

    def text(self, value: str, where: str) -> str:
        size = len(_utf8(value))
        keep = min(self.field_limit, max(self.left, 0))
        if size <= keep:
            self.left -= size
            return value
        short = excerpt(value, keep)
        self.left -= len(_utf8(short))
        self.cut[where] = {**text_digest(value), "kept_bytes": len(_utf8(short))}
        return short

    def walk(self, obj: Any, where: str) -> Any:
        if isinstance(obj, str):
            return self.text(obj, where)
        if isinstance(obj, dict):
            out: dict[Any, Any] = {}
            items = list(obj.items())
            for n, (k, v) in enumerate(items):
                if self.left <= 0:
                    self.cut[f"{where}{{…}}" if where else "{…}"] = {"entries_left_out": len(items) - n}
                    break
                key = self.text(k, f"{where}.<key {n}>") if isinstance(k, str) else k
                out[key] = self.walk(v, f"{where}.{k}" if where else str(k))
            return out
        if isinstance(obj, (list, tuple)):
            seq: list[Any] = []
            for n, v in enumerate(obj):
                if self.left <= 0:
                    self.cut[f"{where}[…]"] = {"entries_left_out": len(obj) - n}
                    break
                seq.append(self.walk(v, f"{where}[{n}]"))
            return seq
        self.left -= _SCALAR_COST
        return obj


def bound_texts(obj: Any, *, field_limit: int = FIELD_LIMIT, total_limit: int = TOTAL_LIMIT) -> tuple[Any, dict[str, dict[str, Any]]]:
    """``obj`` (JSON-like: dicts, lists, strings, scalars) with every string cut to ``field_limit`` bytes and
    everything to about ``total_limit``, and what was cut: ``{path: {sha256, length, bytes, kept_bytes}}`` for a
    cut string, ``{path: {entries_left_out}}`` for a cut container. An ``obj`` within the limits comes back
    equal, with an empty dict."""
    budget = _Budget(field_limit, total_limit)
    return budget.walk(obj, ""), budget.cut
