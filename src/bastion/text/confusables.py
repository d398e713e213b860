"""Look-alike characters folded to the Latin letter they imitate, from the Unicode confusables data.

Why a table: a hand-written list of look-alikes (Cyrillic "а", small capital "ᴀ") covers what its author
thought of; the Unicode Consortium's confusables data (UTS #39, the data behind its "skeleton") lists every
character that renders like another. We read it from the ``confusable-homoglyphs`` package, which ships that
data as ``confusables.json`` (package: MIT licence; data: Unicode licence), so nothing is downloaded.

Only characters that imitate an ASCII *letter* are folded, and never:

* ASCII itself, digits or punctuation (prices, handles and ages are read from the folded text);
* characters of the scripts whose words the lists hold (Cyrillic letters of Russian, CJK, kana, hangul),
  which the table would otherwise turn into Latin look-alikes of themselves; the few Cyrillic letters that
  pass for Latin ones are folded by :data:`bastion.text.normalize._HOMOGLYPHS`, for texts and terms alike.

The table is built once per process, on the first character the folding has not seen before (the folding
remembers every character, so this costs nothing per text).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

__all__ = ["confusable_letter", "excluded", "table"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def excluded(ch: str) -> bool:
    """Characters the table never folds (see the module docstring)."""
    cp = ord(ch)
    return (
        cp < 0x80
        or 0x0400 <= cp <= 0x052F  # Cyrillic and its supplement (Russian and other languages' letters)
        or 0x2E80 <= cp <= 0x9FFF  # CJK radicals, kana, CJK ideographs
        or 0xAC00 <= cp <= 0xD7AF  # hangul syllables
        or 0x1100 <= cp <= 0x11FF  # hangul jamo
        or 0xF900 <= cp <= 0xFAFF  # CJK compatibility ideographs
        or ch.isdigit()
    )


@lru_cache(maxsize=1)
def table() -> dict[str, str]:
    """Character -> the lower-case ASCII letter it imitates (every confusable of a letter in the data)."""
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    out: dict[str, str] = {}
    # Lower-case letters first: a character that imitates both "l" and "I" reads as "l".
    for letter in _LETTERS:
        for alt in data.get(letter, ()):
            ch = alt.get("c", "")
            if len(ch) == 1 and not excluded(ch) and ch not in out:
                out[ch] = letter.lower()
    return out


def confusable_letter(ch: str) -> str | None:
    """The ASCII letter ``ch`` imitates, or None."""
    return table().get(ch)
