"""File names as users upload them: any bytes, printed and stored without losing or obeying them.

Two problems, one module (issue 12, item 4):

* **Not UTF-8.** POSIX names are bytes; Python carries the undecodable ones as lone surrogates
  (``surrogateescape``), which no UTF-8 writer accepts, so one such name aborted a whole scan when its path
  was written. :func:`path_text` spells those bytes as ``\\xNN`` (valid text for JSON, the store and a
  terminal) and :func:`path_bytes_hex` gives the raw bytes back, so nothing is lost.
* **Control characters.** A name can hold ANSI escape sequences that clear a screen or rewrite what a
  moderator sees, or bidirectional overrides that reverse a displayed extension. :func:`printable`
  escapes every control, format and separator character for human-readable output.
"""

from __future__ import annotations

import os
import unicodedata

__all__ = ["path_text", "path_bytes_hex", "printable", "display_path"]


def _raw(path: str) -> bytes:
    return os.fsencode(path)


def is_lossless_text(path: str) -> bool:
    """True when ``path`` is plain text (no byte that is not UTF-8 hides in it)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_text(path: str) -> str:
    """``path`` as valid text: undecodable bytes written as ``\\xNN``. Unchanged for ordinary names."""
    if is_lossless_text(path):
        return path
    return _raw(path).decode("utf-8", "backslashreplace")


def path_bytes_hex(path: str) -> str | None:
    """The raw bytes of ``path`` in hex when its text form had to escape some (``None`` otherwise)."""
    if is_lossless_text(path):
        return None
    return _raw(path).hex()


_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control, format (bidi overrides), surrogate and line/paragraph
    separator characters are written as ``\\xNN``/``\\uNNNN`` escapes; everything else is kept."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (ch == " "):
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in _ESCAPED_CATEGORIES or not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def display_path(path: str) -> str:
    """A path for human-readable output: undecodable bytes and control characters escaped."""
    return printable(path_text(path))
