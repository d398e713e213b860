"""Dictionary segmentation of Chinese and Japanese text, for single-character terms (issue 22 item 3).

Why: Chinese and Japanese are written without spaces, so terms match as substrings, and a one-character
term such as 裸 ("naked") is also a part of many ordinary words -- Chinese 裸露 (exposed), 裸机 (a bare
handset); Japanese 裸子植物 (gymnosperms), 裸祭り (a naked festival), 赤裸々 (frank). A benign list can name the
common ones; a dictionary segmenter knows them all. A hit on a term marked ``segment: true`` counts only when
the segmenter does not put it inside a longer word (a longer word that is itself a listed term, such as
裸照 or 全裸, is found by that term's own entry).

Two segmenters, each with its dictionary inside its package (nothing is downloaded):

* Chinese: ``jieba`` and its bundled dictionary.
* Japanese (any text with kana): ``fugashi`` (MeCab) with ``unidic-lite`` (UniDic's short units). Chosen over
  ``sudachipy`` + ``sudachidict_core`` on this machine: 0.04 s to load against 0.23 s, about 8 MB of
  resident memory against 84 MB (the dictionary is memory-mapped), 5 us a text against 8 us; both put 裸 inside
  裸子 / 裸足 / 赤裸々 and leave it alone in 裸の写真 or 裸画像 (docs/text.md, "Morphology").

Each is imported and its dictionary loaded on the first text that needs it -- only texts with a hit on such
a term, never the common path -- and each process keeps it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Iterable

__all__ = ["containing_words", "japanese_tokens", "segmenter"]

_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_LOCK = threading.Lock()
_TOKENIZER: Any = None
_JA_TAGGER: Any = None


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


def japanese_tagger() -> Any:
    """The MeCab tagger of ``fugashi`` over the ``unidic-lite`` dictionary, initialised once per process."""
    global _JA_TAGGER
    if _JA_TAGGER is None:
        with _LOCK:
            if _JA_TAGGER is None:
                import fugashi
                import unidic_lite

                dicdir = unidic_lite.DICDIR
                _JA_TAGGER = fugashi.Tagger(f'-d "{dicdir}" -r "{os.path.join(dicdir, "mecabrc")}"')
    return _JA_TAGGER


def japanese_tokens(text: str) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` of each word of a Japanese text, in original offsets (MeCab skips white space:
    each node says how much it skipped before it)."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    for node in japanese_tagger()(text):
        surface = node.surface
        start = pos + len(node.white_space)
        if text.startswith(surface, start):
            pos = start + len(surface)
        else:  # not expected; find it rather than mis-place it
            found = text.find(surface, pos)
            if found < 0:
                continue
            start, pos = found, found + len(surface)
        out.append((surface, start, pos))
    return out


def containing_words(text: str, spans: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """For each span (original offsets) that lies inside a longer word of the segmented text, that word.
    Spans that are words of their own are not in the result. A text with kana is Japanese (fugashi +
    unidic-lite), any other one Chinese (jieba)."""
    spans = list(spans)
    if not spans:
        return {}
    out: dict[tuple[int, int], str] = {}
    if _KANA_RE.search(text):
        tokens = japanese_tokens(text)
    else:
        tokens = list(segmenter().tokenize(text))
    for span in spans:
        s, e = span
        for word, a, b in tokens:
            if a <= s and e <= b:
                if (a, b) != (s, e) and len(word.strip()) > e - s:
                    out[span] = word
                break
    return out
