"""Commerce detector: prices, per-unit pricing, payment handles and cryptocurrency addresses.

Why: selling is what turns interest into a market. A price on its own is ordinary on an art platform
(commissions are priced), so prices are a weak category (``price``) that matters in combination;
per-unit phrasing ("per set", "per pack") is reported as ``trade``; payment handles and wallet addresses
as ``payment``. Wallet addresses are read from the *original* text because their case is part of the
checksum; everything else from the folded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.text.detectors._needs import contains_any, has_digit
from bastion.text.detectors._spans import SpanSet
from bastion.text._fast import frozen_builder
from bastion.text.detectors.crypto import eth_checksum_status, valid_btc_base58, valid_btc_bech32, valid_xmr
from bastion.text.normalize import FoldedText

__all__ = ["CommerceHit", "find_commerce"]


@dataclass(frozen=True, slots=True)
class CommerceHit:
    kind: str  # price, price_unit, paypal, cashapp, cashtag, venmo, creator_payment, btc, eth, xmr
    category: str  # price | trade | payment
    value: str
    span: tuple[int, int]  # original offsets
    weight: float
    evidence: dict[str, object]


# Built on every hit: see bastion.text._fast.
_new_commercehit = frozen_builder(CommerceHit)


# Thousands groups are bounded ({0,4}): unbounded, every number in a run like "121 121 121 ..." started a
# scan to the end of the run, quadratic in its length.
_NUM = r"\d{1,7}(?:[.,' ]\d{3}){0,4}(?:[.,]\d{1,2})?(?:\s?k(?![a-z]))?"
_CUR_BEFORE = r"(?:us\$|ca\$|au\$|a\$|c\$|r\$|[$€£¥₹₽₩₺]|usd|eur|gbp|jpy|cad|aud|chf|btc|eth|xmr|usdt)"
_CUR_AFTER = (
    r"(?:[$€£¥₹₽₩₺円元]|usd|eur|euros?|gbp|jpy|yen|cad|aud|chf|dollars?|bucks|pounds?|quid|rub|btc|eth|xmr|usdt"
    r"|ドル|ユーロ|pesos?|reais|zl|kr)"
)
_PRICE_RE = re.compile(
    rf"(?<![\w$€£¥])(?:{_CUR_BEFORE}\s?{_NUM}(?![\d])|{_NUM}\s?{_CUR_AFTER}(?![a-z]))"
)
_UNITS = r"(?:set|sets|pack|packs|vid|vids|video|videos|pic|pics|photo|photos|folder|folders|gb|link|links|paket|lot|lote|tier)"
_UNIT_RE = re.compile(
    rf"\b(?:per|each|pro|por|par|je|für|pour)\s?(?:/\s?)?{_UNITS}\b"
    r"|(?<=\d)\s?/\s?(?:set|pack|vid|video|pic|photo|folder|gb|link)\b"
    r"|(?:1|一)\s?(?:セット|パック|枚)"
)
# Every match of _UNIT_RE and _WEAK_UNIT_RE contains one of these (a unit word or a Japanese counter):
# one cheap search rules out both patterns, which are slow to scan because of their lookbehind branch.
_UNIT_WORD_RE = re.compile(r"set|pack|vid|pic|photo|folder|gb|link|paket|lot|tier|セット|パック|枚")
# "a pack", "le pack": only pricing when the text also states a price ("$10 a pack").
_WEAK_UNIT_RE = re.compile(rf"\b(?:a|an|le|la|el)\s{_UNITS}\b")
# (kind, weight, pattern, substring the pattern cannot match without: a cheap pre-check)
# Whitespace runs are possessive (``\s*+``): ``\s*[:=\-]?\s*`` splits a run of n spaces n^2 ways before
# failing, so one long run stalled a scan (tests/text/test_text_linear.py).
_PAYMENT_PATTERNS: list[tuple[str, float, re.Pattern[str], str]] = [
    ("paypal", 0.7, re.compile(r"\b(?:paypal\.me|paypal\.com/paypalme)/[\w.-]{2,}"), "paypal"),
    ("cashapp", 0.7, re.compile(r"\b(?:cash\.app/\$?[a-z][\w-]{0,19}|cash\s?app\s*+[:=\-]?\s*+\$[a-z][\w-]{0,19})"), "cash"),
    ("venmo", 0.6, re.compile(r"\b(?:venmo\.com/(?:u/)?[\w-]{2,}|venmo\s*+[:=\-]?\s*+@[\w-]{2,})"), "venmo"),
    # Creator-payment pages are ordinary for artists: weak on their own.
    ("creator_payment", 0.3, re.compile(r"\b(?:ko-fi\.com|buymeacoffee\.com|patreon\.com|gumroad\.com|fanbox\.cc|boosty\.to|subscribestar\.\w+)/[\w.-]{2,}"), "/"),
    # A bare $cashtag; weaker than an explicit Cash App mention. Must start with a letter ("$50" is a price).
    ("cashtag", 0.4, re.compile(r"(?<![\w$])\$[a-z][a-z0-9_-]{2,19}\b"), "$"),
]
_HINT_RE = re.compile(r"\d|\$|paypal|cash|venmo|ko-fi|coffee|patreon|gumroad|fanbox|boosty|subscribestar")
# The same test as substring tests and a digit test (``_HINT_RE`` starts with no common literal, so a
# search tries its alternatives at every position of the text): see ``_hinted``.
_HINT_WORDS = ("$", "paypal", "cash", "venmo", "ko-fi", "coffee", "patreon", "gumroad", "fanbox", "boosty", "subscribestar")
# Every match of _UNIT_RE holds one of these: a word before the unit (first branch), a slash after a number
# (second) or a one before a Japanese counter (third). A cheap pre-check for a pattern whose lookbehind
# branch is tried at every position.
_UNIT_NEEDS = ("/", "1", "一", "per", "each", "pro", "por", "par", "je", "für", "pour")

_WALLET_RE = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"(?P<btc>[13][1-9A-HJ-NP-Za-km-z]{25,34})"
    r"|(?P<bech>(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,87})"
    r"|(?P<eth>0x[0-9a-fA-F]{40})"
    r"|(?P<xmr>[48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?)"
    r")(?![0-9A-Za-z])"
)
_LONG_TOKEN_RE = re.compile(r"[0-9A-Za-z]{26,}")


def _wallets(original: str) -> list[CommerceHit]:
    if len(original) < 26 or not _LONG_TOKEN_RE.search(original):
        return []
    out: list[CommerceHit] = []
    for m in _WALLET_RE.finditer(original):
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "btc":
            ok = valid_btc_base58(value)
            status = "valid" if ok else "invalid"
        elif kind == "bech":
            kind = "btc"
            ok = valid_btc_bech32(value)
            status = "valid" if ok else "invalid"
        elif kind == "eth":
            status = eth_checksum_status(value)
            ok = status != "invalid"
        else:
            ok = valid_xmr(value)
            status = "valid" if ok else "invalid"
        if not ok:
            continue  # looks like an address but the checksum fails: most likely an ordinary token
        weight = 0.9 if status == "valid" else 0.6
        out.append(_new_commercehit(kind, "payment", value, m.span(), weight, {"checksum": status}))
    return out


def find_commerce(folded: FoldedText) -> list[CommerceHit]:
    """Prices, per-unit phrasing, payment handles and checksum-valid wallet addresses."""
    out = _wallets(folded.original)
    text = folded.text
    units = _UNIT_WORD_RE.search(text) is not None
    # A unit phrase is possible (see _UNIT_NEEDS); a price needs a digit (every price holds a number).
    unit_phrase = units and contains_any(text, _UNIT_NEEDS)
    digit = has_digit(text)
    # `digit or contains_any(...)` is `_HINT_RE.search(text)` (tests/text/test_text_fast_paths.py).
    if not (digit or contains_any(text, _HINT_WORDS)) and not (unit_phrase and _UNIT_RE.search(text)):
        return out
    taken = SpanSet([h.span for h in out])

    for kind, weight, pattern, needed in _PAYMENT_PATTERNS:
        if needed not in text:
            continue
        for m in pattern.finditer(text):
            span = folded.span(*m.span())
            if taken.add(*span):
                out.append(_new_commercehit(kind, "payment", m.group(), span, weight, {}))
    for m in _PRICE_RE.finditer(text) if digit else ():
        span = folded.span(*m.span())
        if taken.add(*span):
            out.append(_new_commercehit("price", "price", m.group().strip(), span, 0.6, {}))
    has_price = digit and any(h.kind == "price" for h in out)
    # Unit phrasing: _UNIT_RE where possible at all, the weak forms ("a pack") only beside a price.
    for pattern in ((_UNIT_RE,) if unit_phrase else ()) + ((_WEAK_UNIT_RE,) if has_price else ()) if units else ():
        for m in pattern.finditer(text):
            span = folded.span(*m.span())
            if taken.add(*span):
                out.append(_new_commercehit("price_unit", "trade", m.group().strip(), span, 0.6, {}))
    return out
