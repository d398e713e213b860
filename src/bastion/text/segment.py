"""Dictionary segmentation of Chinese text, for single-character terms (issue 22 item 3).

Why: Chinese is written without spaces, so terms match as substrings, and a one-character term such as
裸 ("naked") is also a part of many ordinary words -- 裸露 (exposed), 裸机 (a bare handset), 裸辞 (quitting a
job). A benign list can name the common ones; a dictionary segmenter knows them all. A hit on a term marked
``segment: true`` counts only when the segmenter does not put it inside a longer word (a longer word that
is itself a listed term, such as 裸照, is found by that term's own entry).

The segmenter is ``jieba`` with its bundled dictionary (nothing is downloaded). It is imported and its
dictionary loaded on the first text that needs it -- only texts with a hit on such a term, never the common
path -- and each process keeps it. Japanese text (any kana) is left to its lists: a Chinese dictionary does
not segment Japanese.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Iterable

__all__ = ["containing_words", "segmenter"]

_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_LOCK = threading.Lock()
_TOKENIZER: Any = None


def segmenter() -> Any:
    """The jieba tokenizer, initialised once per process (its bundled dictionary; a cache file in the
    temporary directory makes later processes start faster, as jieba does by default)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        with _LOCK:
            if _TOKENIZER is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                _TOKENIZER = tok
    return _TOKENIZER


def containing_words(text: str, spans: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """For each span (original offsets) that lies inside a longer word of the segmented text, that word.
    Spans that are words of their own, or any span of a text with kana, are not in the result."""
    spans = list(spans)
    if not spans or _KANA_RE.search(text):
        return {}
    out: dict[tuple[int, int], str] = {}
    tokens = list(segmenter().tokenize(text))
    for span in spans:
        s, e = span
        for word, a, b in tokens:
            if a <= s and e <= b:
                if (a, b) != (s, e) and len(word.strip()) > e - s:
                    out[span] = word
                break
    return out
