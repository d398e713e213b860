"""Detectors: off-platform contacts, prices and payment handles, wallet addresses, age mentions."""

from __future__ import annotations

import hashlib
import re

import pytest

from bastion.text import fold
from bastion.text.detectors import find_ages, find_commerce, find_contacts
from bastion.text.detectors.crypto import (
    _sha3_256,
    eth_checksum_status,
    keccak256,
    valid_btc_base58,
    valid_btc_bech32,
    valid_xmr,
)

# Public reference addresses: the Bitcoin genesis address, the BIP-173 P2WPKH example, a BIP-350 Taproot
# example, the first EIP-55 test vector, and the Monero project's donation address.
BTC_LEGACY = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
BTC_BECH32 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BTC_TAPROOT = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"


def _flip_last(s: str) -> str:
    return s[:-1] + ("b" if s[-1] != "b" else "c")


def contacts(text: str) -> list[tuple[str, str]]:
    return [(h.kind, text[h.span[0] : h.span[1]]) for h in find_contacts(fold(text))]


def commerce(text: str) -> list[tuple[str, str]]:
    return [(h.kind, text[h.span[0] : h.span[1]]) for h in find_commerce(fold(text))]


# --- contacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "matched"),
    [
        ("join t.me/placeholder_chan now", "telegram", "t.me/placeholder_chan"),
        ("join t[.]me/placeholder_chan", "telegram", "t[.]me/placeholder_chan"),
        ("join t dot me/placeholder", "telegram", "t dot me/placeholder"),
        ("ｔ．ｍｅ／ｐｌａｃｅｈｏｌｄｅｒ", "telegram", "ｔ．ｍｅ／ｐｌａｃｅｈｏｌｄｅｒ"),
        ("server: discord.gg/abc123x", "discord", "discord.gg/abc123x"),
        ("discord.com/invite/abc123x", "discord", "discord.com/invite/abc123x"),
        ("session " + "05" + "ab12" * 16, "session", "05" + "ab12" * 16),
        ("wa.me/5215550000000", "whatsapp", "wa.me/5215550000000"),
        ("mail: artist.fox@example.com", "email", "artist.fox@example.com"),
        ("files at mega.nz/folder/AbC123", "file_locker", "mega.nz/folder/AbC123"),
        ("abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion", "onion",
         "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"),
        ("add me on kik", "messenger", "add me on kik"),
        ("wickr me - someone_x", "messenger", "wickr me - someone_x"),
        ("telegram: @someone_x", "messenger", "telegram: @someone_x"),
        ("threema ABCD1234", "threema", "threema ABCD1234"),
    ],
)
def test_contacts_are_extracted_with_original_spans(text: str, kind: str, matched: str) -> None:
    assert (kind, matched) in contacts(text)


def test_bare_mention_is_weak_and_not_a_contact() -> None:
    hits = find_contacts(fold("thanks @inkfox for the feature"))
    assert [(h.kind, h.category) for h in hits] == [("mention", "mention")]


@pytest.mark.parametrize("text", ["line art study", "a session of sketching", "signal strength icon", "dot painting"])
def test_ordinary_words_naming_messengers_are_not_contacts(text: str) -> None:
    assert contacts(text) == []


def test_email_is_not_also_reported_as_a_mention() -> None:
    assert [k for k, _ in contacts("me@example.com")] == ["email"]


# --- commerce ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("$20", "$20"),
        ("20$", "20$"),
        ("US$ 15.50", "US$ 15.50"),
        ("€30", "€30"),
        ("30 €", "30 €"),
        ("30,00€", "30,00€"),
        ("£5", "£5"),
        ("1000円", "1000円"),
        ("¥1,000", "¥1,000"),
        ("usd 20", "usd 20"),
        ("20 bucks", "20 bucks"),
        ("5k€", "5k€"),
        ("25 euros", "25 euros"),
        ("０．０１ btc", "０．０１ btc"),
        ("＄２０", "＄２０"),
    ],
)
def test_prices_in_many_formats(text: str, matched: str) -> None:
    assert ("price", matched) in commerce(f"only {text} today")


@pytest.mark.parametrize("text", ["drawn in 2024", "size 12", "5 brushes", "top 10 tips"])
def test_numbers_without_currency_are_not_prices(text: str) -> None:
    assert [k for k, _ in commerce(text) if k == "price"] == []


@pytest.mark.parametrize(
    ("text", "unit"),
    [("$20 per set", "per set"), ("10€ le pack", "le pack"), ("$5/pack", "/pack"), ("$10 a pack", "a pack"),
     ("20 usd each video", "each video"), ("5 € pro Paket", "pro Paket")],
)
def test_per_unit_pricing_is_trade(text: str, unit: str) -> None:
    assert ("price_unit", unit) in commerce(text)


def test_article_unit_without_a_price_is_not_trade() -> None:
    assert commerce("copy the folder to a pack of files") == []


@pytest.mark.parametrize(
    ("text", "kind", "matched"),
    [
        ("paypal.me/inkfox", "paypal", "paypal.me/inkfox"),
        ("cashapp $inkfox", "cashapp", "cashapp $inkfox"),
        ("cash.app/$inkfox", "cashapp", "cash.app/$inkfox"),
        ("venmo @ink-fox", "venmo", "venmo @ink-fox"),
        ("tips: $inkfox", "cashtag", "$inkfox"),
        ("ko-fi.com/inkfox", "creator_payment", "ko-fi.com/inkfox"),
    ],
)
def test_payment_handles(text: str, kind: str, matched: str) -> None:
    assert (kind, matched) in commerce(text)


# --- wallets -------------------------------------------------------------------------------------


def test_keccak_matches_reference_vectors() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    # Same permutation with SHA-3 padding must equal hashlib's SHA3-256, across several blocks.
    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert _sha3_256(data) == hashlib.sha3_256(data).digest()


def test_wallet_checksums() -> None:
    assert valid_btc_base58(BTC_LEGACY) and not valid_btc_base58(_flip_last(BTC_LEGACY))
    assert valid_btc_bech32(BTC_BECH32) and not valid_btc_bech32(BTC_BECH32[:-1] + "5")
    assert valid_btc_bech32(BTC_TAPROOT)
    assert eth_checksum_status(ETH) == "valid"
    assert eth_checksum_status(ETH[:-1] + "D") == "invalid"
    assert eth_checksum_status(ETH.lower()) == "unchecked"
    assert valid_xmr(XMR) and not valid_xmr(_flip_last(XMR))


@pytest.mark.parametrize("addr,kind", [(BTC_LEGACY, "btc"), (BTC_BECH32, "btc"), (ETH, "eth"), (XMR, "xmr")])
def test_valid_wallets_are_payment_signals_read_from_the_original_case(addr: str, kind: str) -> None:
    text = f"send to {addr} thanks"
    hits = find_commerce(fold(text))
    assert [(h.kind, text[h.span[0] : h.span[1]], h.evidence["checksum"]) for h in hits] == [(kind, addr, "valid")]


def test_address_lookalikes_with_bad_checksums_are_ignored() -> None:
    text = f"{_flip_last(BTC_LEGACY)} {_flip_last(XMR)} {ETH[:-1]}D"
    assert [h for h in find_commerce(fold(text)) if h.category == "payment"] == []


# --- ages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "age", "language"),
    [
        ("12yo", 12, "en"),
        ("12 y/o", 12, "en"),
        ("12 y.o.", 12, "en"),
        ("12-year-old", 12, "en"),
        ("13 yrs old", 13, "en"),
        ("aged 11", 11, "en"),
        ("twelve years old", 12, "en"),
        ("6th grade", 11, "en"),
        ("12 ans", 12, "fr"),
        ("âgée de 13 ans", 13, "fr"),
        ("tengo 12 años", 12, "es"),
        ("12 años", 12, "es"),
        ("12 Jahre alt", 12, "de"),
        ("zwölf Jahre alt", 12, "de"),
        ("Zwölfjährige", 12, "de"),
        ("5. Klasse", 10, "de"),
        ("12歳", 12, "ja"),
        ("１２歳", 12, "ja"),
        ("十二歳", 12, "ja"),
        ("中2年生", 14, "ja"),
    ],
)
def test_ages_under_18_in_each_language(text: str, age: int, language: str) -> None:
    hits = find_ages(fold(text))
    assert [(h.age, h.language) for h in hits] == [(age, language)]
    assert hits[0].span == (0, len(text))  # the whole mention, in original offsets


@pytest.mark.parametrize(
    "text",
    ["I am 30 years old", "18yo", "25 ans", "drawing for 12 years", "depuis 12 ans", "hace 12 años",
     "seit 12 Jahren", "12 years ago", "20歳", "12 ans d'expérience"],
)
def test_adult_ages_and_durations_are_not_age_mentions(text: str) -> None:
    assert find_ages(fold(text)) == []


# --- the speed guards never hide a detection -------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bastion.text import default_lexicon  # noqa: E402
from bastion.text.analyze import detector_hits  # noqa: E402
from bastion.text.normalize import plain_text_unsqueezed  # noqa: E402

_PIECES = st.sampled_from(
    ["12", "7", "0", "05" + "ab" * 32, "yo", " y/o", "-year-old", " years old", "aged ", "grade ", ". Klasse", "ans",
     " años", " Jahre alt", "jährige", "歳", "十二", "小", "中", "年生", "twelve", "$", "€", "¥", "円", "usd", "eur", "gbp", "btc", "k", " bucks", " euros", " yen", " pounds", " zl",
     "kr", " pesos", "usdt", "ドル",
     "per set", "a pack", "/pack", "paypal.me/x_y", "cashapp $abc", "venmo @ab", "ko-fi.com/ab", "t.me/abc_d",
     "discord.gg/ab", "@user_x", "mail@ex.com", "mega.nz", "add me on kik", "telegram: abc", "threema ABCD1234",
     ".onion", "abcdefghijklmnop", " ", ".", ",", "-", "x", "the", "Ｔ．ｍｅ／ａｂｃ", "１２歳", BTC_LEGACY, ETH]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_guards_never_hide_a_detector_hit(text: str) -> None:
    folded = fold(text)
    _, hints, _, _ = default_lexicon().quick_scan(plain_text_unsqueezed(folded))
    ages, contacts_, commerce_ = detector_hits(folded, hints)
    assert ages == find_ages(folded)
    assert contacts_ == find_contacts(folded)
    assert commerce_ == find_commerce(folded)


# --- long and repetitive inputs --------------------------------------------------------------------

from bastion.text import analyze  # noqa: E402
from bastion.text.detectors._spans import SpanSet  # noqa: E402


def test_span_set_rejects_overlaps_only() -> None:
    taken = SpanSet([(10, 20)])
    assert taken.overlaps(15, 25) and taken.overlaps(0, 11) and taken.overlaps(12, 13)
    assert not taken.overlaps(20, 30) and not taken.overlaps(0, 10)
    assert taken.add(20, 30) and taken.add(0, 10) and not taken.add(5, 12)


@pytest.mark.parametrize(
    ("text", "category", "span"),
    [
        # These shapes once made regular expressions backtrack for minutes (runs of spaces before a
        # written-out dot) or made overlap checks quadratic; they must simply complete, correctly.
        (" " * 20000 + "@inkfox", "mention", (20000, 20007)),
        ("a." * 10000 + " t dot me/abc_chan", "contact", (20001, 20018)),
        ("1 000 " * 4000 + "12yo", "minor", (24000, 24004)),
        ("\u200b" * 20000 + "nsfw", "sexual", (20000, 20004)),
    ],
)
def test_long_adversarial_inputs_complete_with_correct_spans(text: str, category: str, span: tuple[int, int]) -> None:
    res = analyze(text)
    assert span in [s.span for s in res.signals if s.category == category]


def test_thousands_of_hits_are_all_reported() -> None:
    text = "12yo nsfw t.me/abc_chan $20 " * 2000
    res = analyze(text)
    assert res.level == "critical"
    counts = {c: sum(s.category == c for s in res.signals) for c in ("minor", "sexual", "contact", "price")}
    assert counts == {"minor": 2000, "sexual": 2000, "contact": 2000, "price": 2000}


# The digit-context guard before issue 14's compiled pass (string methods around each run of digits),
# kept as the reference: the regex guards that replaced it must be at least as loose.
def _reference_digit_context(ft: str) -> tuple[bool, bool]:
    age = money = False
    after_age = ("y", "a", "j", "歳", "才", "さ", ".k", ". k")
    before_age = ("age", "grade", "klasse", "小", "中")
    codes_before = ("usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "btc", "eth", "xmr", "usdt")
    money_after = ("k", "usd", "eur", "gbp", "jpy", "yen", "cad", "aud", "chf", "dollar", "buck", "pound", "quid",
                   "rub", "btc", "eth", "xmr", "usdt", "peso", "reais", "zl", "kr", "ドル", "ユーロ")
    for m in re.finditer(r"\d+", ft):
        after = ft[m.end() : m.end() + 8].lstrip()
        before = ft[max(0, m.start() - 9) : m.start()].rstrip(" :\t\n\r")
        a = after.lstrip("-").lstrip()
        age = age or a.startswith(after_age) or after.startswith(after_age) or before.endswith(before_age)
        money = money or after.startswith(money_after) or before.rstrip().endswith(codes_before)
    return age, money


_CONTEXT_PIECES = st.sampled_from(
    ["1", "12", "٣", "１２", " ", "  ", "\t", "\u2003", ":", "-", "--", "y", "a", "j", "歳", "才", "さ", ".k", ". k", ".",
     "age", "grade", "klasse", "小", "中", "k", "usd", "eur", "yen", "dollar", "buck", "kr", "ドル", "btc", "usdt",
     "x", "the", "pack", "/"]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_CONTEXT_PIECES, max_size=10).map("".join))
def test_digit_context_guards_are_at_least_as_loose_as_the_reference(text: str) -> None:
    from bastion.text.analyze import _age_near, _money_near

    folded = fold(text)
    ft = folded.text
    _, hints, _, _ = default_lexicon().quick_scan(plain_text_unsqueezed(folded))
    age, money = _reference_digit_context(ft)
    assert not age or _age_near(ft)
    assert not money or _money_near(ft, hints)  # with the scan's hints, as detector_hits calls it
