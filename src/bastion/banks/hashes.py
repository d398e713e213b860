"""Hash types a bank can hold, and validation of hash values.

A value is stored as lowercase hex. Types are recognised by name; when a file gives no type, the length
says it — except that 64 hex digits are both SHA-256 and PDQ, so those need the type to be given.
"""

from __future__ import annotations

import string

from bastion.errors import InvalidHash

HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
#: vPDQ (video): python-threatexchange's ``vpdq`` signal, a JSON list of "hash,quality,seconds" strings.
#: Stored under the SHA-256 of its canonical form, the frames beside it (see :func:`storage_form`).
VPDQ = "vpdq"
HASH_TYPES = (*HEX_LENGTH, VPDQ)
EXACT_TYPES = ("md5", "sha1", "sha256")

#: Other spellings accepted on import (python-threatexchange names photo/video MD5s this way).
ALIASES = {"sha-1": "sha1", "sha-256": "sha256", "sha_256": "sha256", "video_md5": "md5", "photo_md5": "md5"}

_HEX = frozenset(string.hexdigits)


def canonical_type(name: str) -> str:
    t = name.strip().lower()
    t = ALIASES.get(t, t)
    if t not in HEX_LENGTH and t != VPDQ:
        raise InvalidHash(f"unknown hash type {name!r} (known: {', '.join(HASH_TYPES)})")
    return t


def infer_type(value: str) -> str:
    v = value.strip()
    if v.startswith("["):
        return VPDQ
    by_length = [t for t, n in HEX_LENGTH.items() if n == len(v)]
    if not by_length:
        raise InvalidHash(f"cannot tell the hash type of a {len(v)}-character value; give the type")
    if len(by_length) > 1:
        raise InvalidHash(
            f"a {len(v)}-hex-digit value can be {' or '.join(by_length)}; give the type (e.g. --type pdq)"
        )
    return by_length[0]


def normalize_hash(hash_type: str, value: str) -> tuple[str, str]:
    """Return ``(type, lowercase hex)`` or raise :class:`InvalidHash` saying what is wrong."""
    t = canonical_type(hash_type)
    if t == VPDQ:
        from bastion.media.video import parse_signal, to_signal

        return t, to_signal(parse_signal(value))
    v = value.strip().lower()
    if not v or not set(v) <= _HEX:
        raise InvalidHash(f"{t} value {value!r} is not hexadecimal")
    if len(v) != HEX_LENGTH[t]:
        raise InvalidHash(f"{t} value has {len(v)} hex digits, expected {HEX_LENGTH[t]}")
    return t, v


def storage_form(hash_type: str, value: str) -> tuple[str, str | None]:
    """``(value column, payload)`` of a normalised entry. A vPDQ signal is longer than any index allows, so
    its row holds the SHA-256 of the canonical signal (unique per bank like any hash) and the signal itself
    in ``payload``; every other type is stored as is."""
    if hash_type == VPDQ:
        import hashlib

        return hashlib.sha256(value.encode("utf-8")).hexdigest(), value
    return value, None
