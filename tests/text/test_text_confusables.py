"""Look-alike characters folded as a table (issue 22 item 5), tested block by block: every letter-like
character of each block folds to the ASCII letter its Unicode name says, and the scripts of the supported
languages are left alone."""

from __future__ import annotations

import string
import unicodedata

import pytest

from bastion.text import analyze
from bastion.text.confusables import excluded, table
from bastion.text.normalize import fold_char


def _letter_of(name: str) -> str | None:
    """'MATHEMATICAL BOLD SMALL A' -> 'a'; None when the name does not end in one Latin letter."""
    parts = name.split()
    if len(parts) >= 2 and parts[-2] in ("SMALL", "CAPITAL", "LETTER") and len(parts[-1]) == 1 and parts[-1].isalpha():
        return parts[-1].lower()
    return None


BLOCKS = {
    "fullwidth": (0xFF21, 0xFF5A),
    "mathematical alphanumerics": (0x1D400, 0x1D6A3),
    "circled": (0x24B6, 0x24E9),
    "parenthesized": (0x249C, 0x24B5),
    "squared and negative": (0x1F130, 0x1F189),
    "small capitals": (0x1D00, 0x1D22),
    "regional indicators": (0x1F1E6, 0x1F1FF),
}


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_every_letter_of_a_block_folds_to_its_latin_letter(block: str) -> None:
    lo, hi = BLOCKS[block]
    checked = 0
    for cp in range(lo, hi + 1):
        ch = chr(cp)
        name = unicodedata.name(ch, "")
        if block == "regional indicators":
            expected = name.split()[-1].lower()
        elif block == "parenthesized":
            expected = name.split()[-1][0].lower() if name.startswith("PARENTHESIZED LATIN") else None
        else:
            expected = _letter_of(name)
        if expected is None:
            continue
        assert fold_char(ch) == expected, (hex(cp), name, fold_char(ch))
        checked += 1
    assert checked >= (12 if block == "small capitals" else 20), block


def test_the_confusables_table_folds_other_scripts_look_alikes() -> None:
    t = table()
    assert len(t) > 1000
    assert set(t.values()) <= set(string.ascii_lowercase)
    # Cherokee, Lisu, Armenian, Greek and Latin-extended look-alikes come from the data, not a hand list.
    for ch, letter in {"Ꭺ": "a", "ꓮ": "a", "օ": "o", "ɑ": "a", "Ꮯ": "c", "ꓚ": "c"}.items():
        assert fold_char(ch) == letter, ch


def test_the_table_leaves_the_supported_scripts_digits_and_ascii_alone() -> None:
    t = table()
    for ch in t:
        assert not excluded(ch)
        cp = ord(ch)
        assert cp >= 0x80 and not (0x0400 <= cp <= 0x052F) and not (0x3040 <= cp <= 0x9FFF) and not (0xAC00 <= cp <= 0xD7AF)
        assert not ch.isdigit()
    for word in ("детское", "児童ポルノ", "아동", "儿童", "niña", "mädchen", "12345"):
        assert "".join(fold_char(c) for c in word) == "".join(fold_char(c) for c in word.lower())


def test_a_word_in_look_alikes_is_found_with_its_original_span() -> None:
    text = "Ꮯꓧild ⓟⓞⓡⓝ"
    r = analyze(text)
    assert r.level in ("high", "critical")
    (m,) = [s for s in r.signals if s.category == "material"]
    assert text[m.span[0] : m.span[1]] == text
