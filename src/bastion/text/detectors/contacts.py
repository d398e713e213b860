"""Off-platform contact detector: messenger handles and invites, e-mails, file lockers, onion addresses.

Why: moving a conversation off the platform is the step that precedes most trades, so a contact next to
other indicators raises the score. A bare ``@name`` is usually an on-platform mention, so it is reported
as the weaker category ``mention`` and does not take part in the default combinations.

Runs over the folded text (case and look-alikes folded, digits and punctuation kept) after writing-out
of dots ("t[.]me", "t dot me") has been undone, keeping offsets into the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.text.detectors._needs import NeedsIndex, contains_any
from bastion.text.detectors._spans import SpanSet
from bastion.text._fast import frozen_builder
from bastion.text.normalize import FoldedText

__all__ = ["ContactHit", "find_contacts"]


@dataclass(frozen=True, slots=True)
class ContactHit:
    kind: str  # telegram, discord, session, messenger, email, file_locker, onion, mention
    category: str  # "contact" or "mention"
    value: str  # the normalised contact (what a moderator would look up)
    span: tuple[int, int]  # original offsets
    weight: float


# Built on every hit: see bastion.text._fast.
_new_contacthit = frozen_builder(ContactHit)


# "t[.]me", "t (dot) me", "t . me" -> "t.me". Applied only to the detector's copy of the text.
# Quantifiers are bounded ({0,3}): an unbounded "\s*" on both sides of an alternation backtracks
# polynomially on long runs of spaces (measured: 100 s on 5,000 spaces).
_DOT_RE = re.compile(
    r"[ \t]{0,3}(?:\[[ \t]{0,3}(?:\.|dot)[ \t]{0,3}\]|\([ \t]{0,3}(?:\.|dot)[ \t]{0,3}\)"
    r"|\{[ \t]{0,3}(?:\.|dot)[ \t]{0,3}\}|[ \t]dot[ \t])[ \t]{0,3}"
)
_AT_RE = re.compile(
    r"[ \t]{0,3}(?:\[[ \t]{0,3}(?:@|at)[ \t]{0,3}\]|\([ \t]{0,3}(?:@|at)[ \t]{0,3}\)"
    r"|\{[ \t]{0,3}(?:@|at)[ \t]{0,3}\})[ \t]{0,3}"
)

# Names that are also ordinary words ("line", "wire", "session") only count in "add me on ..." phrasing.
_MESSENGERS = r"(?:whatsapp|threema|wickr(?:\s*+me)?|kik|snapchat|snap|signal|telegram|tg|skype)"
_MESSENGERS_LOOSE = r"(?:whatsapp|threema|wickr|kik|snapchat|snap|session|signal|telegram|tg|wire|element|skype|line)"

_PATTERNS: list[tuple[str, str, float, re.Pattern[str]]] = [
    ("telegram", "contact", 0.9, re.compile(r"\b(?:t|telegram)\.(?:me|dog)/(?:joinchat/|\+)?[\w+-]{3,}")),
    ("discord", "contact", 0.9, re.compile(r"\b(?:discord(?:app)?\.(?:gg|com/invite|me)|dsc\.gg)/[\w-]{2,}")),
    ("whatsapp", "contact", 0.9, re.compile(r"\b(?:wa\.me|chat\.whatsapp\.com)/[\w+]{5,}")),
    # Session IDs: 66 hex characters starting with 05.
    ("session", "contact", 0.9, re.compile(r"\b05[0-9a-f]{64}\b")),
    ("onion", "contact", 0.9, re.compile(r"\b(?:[a-z2-7]{56}|[a-z2-7]{16})\.onion\b")),
    (
        "file_locker",
        "contact",
        0.8,
        re.compile(
            r"\b(?:mega\.(?:nz|co\.nz|io)|mediafire\.com|gofile\.io|pixeldrain\.com|files\.fm|anonfiles\.com"
            r"|krakenfiles\.com|workupload\.com|sendspace\.com|dropmefiles\.com|filechan\.org|bayfiles\.com"
            r"|zippyshare\.com|catbox\.moe|uploadhaven\.com|terabox\.com|rapidgator\.net|k2s\.cc)(?:/[^\s]*)?"
        ),
    ),
    ("email", "contact", 0.7, re.compile(r"\b[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b")),
    # "telegram: name", "wickr me - name", "session id: ..."
    # Possessive runs (``\s*+``): two plain ``\s*`` around an optional word split a run of n spaces n^2
    # ways before failing ("telegram" + 100,000 spaces took 66 s). tests/text/test_text_linear.py checks
    # every pattern for super-linear growth.
    (
        "messenger",
        "contact",
        0.8,
        re.compile(rf"\b{_MESSENGERS}\s*+(?:(?:id|me|user(?:name)?|handle)\s*+)?[:=\-]++\s*+@?[\w.\-]{{3,}}"),
    ),
    # "add me on kik", "hmu on telegram", "message me via signal"
    (
        "messenger",
        "contact",
        0.7,
        re.compile(
            rf"\b(?:add|message|msg|dm|text|contact|hmu|find|reach|write)\s+(?:me\s+)?(?:on|at|via|in)\s+{_MESSENGERS_LOOSE}\b"
        ),
    ),
    # Threema IDs are 8 characters; only count them next to the word.
    ("threema", "contact", 0.8, re.compile(r"\bthreema\b[^a-z0-9]{0,5}[a-z0-9*]{8}\b")),
    ("mention", "mention", 0.2, re.compile(r"(?<![\w@.])@[a-z_][a-z0-9_.]{3,31}\b")),
]
_NAMES = ("whatsapp", "threema", "wickr", "kik", "snap", "signal", "telegram", "tg", "skype")
# Substrings without which each pattern above cannot match: a cheap pre-check per pattern.
_NEEDS: list[tuple[str, ...]] = [
    ("/",), ("discord", "dsc.gg"), ("wa.me", "whatsapp.com"), ("05",), (".onion",),
    ("mega.", "mediafire", "gofile", "pixeldrain", "files.fm", "anonfiles", "krakenfiles", "workupload",
     "sendspace", "dropmefiles", "filechan", "bayfiles", "zippyshare", "catbox", "uploadhaven", "terabox",
     "rapidgator", "k2s.cc"),
    ("@",), _NAMES, _NAMES + ("session", "wire", "element", "line"), ("threema",), ("@",),
]
assert len(_NEEDS) == len(_PATTERNS)
# The same pre-checks, answered for every pattern by one automaton pass.
_NEEDS_INDEX = NeedsIndex(_NEEDS)
# Cheap guard: texts without any of these cannot hold a contact.
_HINT_RE = re.compile(r"[@/]|\.(?:me|gg|nz|io|com|onion|org|net|fm|moe|cc)|dot|whatsapp|threema|wickr|kik|snap|session|signal|telegram|\btg\b|wire|element|skype|line|[0-9a-f]{60}")
# _HINT_RE as substring tests and two small searches (see _hinted): the alternation starts with no common
# literal, so searching it costs an attempt per position of the text.
_HINT_WORDS = (
    "@", "/", ".me", ".gg", ".nz", ".io", ".com", ".onion", ".org", ".net", ".fm", ".moe", ".cc", "dot", "whatsapp",
    "threema", "wickr", "kik", "snap", "session", "signal", "telegram", "wire", "element", "skype", "line",
)
_TG_RE = re.compile(r"\btg\b")
_HEX_RUN_RE = re.compile(r"[0-9a-f]{60}")
# The e-mail pattern: a dot must follow the "@" (its domain has one).
_EMAIL = 6
assert _PATTERNS[_EMAIL][0] == "email"


def _hinted(text: str) -> bool:
    """``_HINT_RE.search(text) is not None``, cheaper (tests/text/test_text_fast_paths.py)."""
    return (
        contains_any(text, _HINT_WORDS)
        or ("tg" in text and _TG_RE.search(text) is not None)
        or (len(text) >= 60 and _HEX_RUN_RE.search(text) is not None)
    )


def _undo_written_dots(folded: FoldedText) -> tuple[str, list[int] | None]:
    """Return the folded text with written-out dots/ats replaced, plus a map to folded indices (``None``
    when nothing was written out: the map is then the identity, and most texts take that path)."""
    text = folded.text
    # Every written-out form has a bracket or the word "dot"; the patterns themselves start with an
    # optional run of spaces, so searching them costs an attempt at every position.
    bracket = "[" in text or "(" in text or "{" in text
    if not bracket and "dot" not in text:
        return text, None
    index = list(range(len(text)))
    for pattern, repl in ((_DOT_RE, "."), (_AT_RE, "@")):
        if not pattern.search(text):
            continue
        out: list[str] = []
        new_index: list[int] = []
        last = 0
        for m in pattern.finditer(text):
            out.append(text[last : m.start()])
            new_index.extend(index[last : m.start()])
            out.append(repl)
            new_index.append(index[m.start()])
            last = m.end()
        out.append(text[last:])
        new_index.extend(index[last:])
        text, index = "".join(out), new_index
    return text, (None if len(index) == len(folded.text) and text == folded.text else index)


def find_contacts(folded: FoldedText) -> list[ContactHit]:
    """All contacts in a folded text, with spans in the original. Overlaps keep the strongest kind."""
    if not _hinted(folded.text):
        return []
    text, index = _undo_written_dots(folded)
    hits: list[ContactHit] = []
    taken = SpanSet()
    possible = _NEEDS_INDEX.possible(text)
    for i, (kind, category, weight, pattern) in enumerate(_PATTERNS):
        if i not in possible or (i == _EMAIL and text.find(".", text.find("@") + 1) < 0):
            continue
        for m in pattern.finditer(text):
            s, e = m.start(), m.end()
            if not taken.add(s, e):
                continue  # e.g. the "@name" inside an e-mail already reported
            span = folded.span(s, e) if index is None else folded.span(index[s], index[e - 1] + 1)
            hits.append(_new_contacthit(kind, category, m.group(), span, weight))
    return hits
