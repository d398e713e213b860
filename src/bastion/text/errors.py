"""Typed errors of the text room.

They derive from :mod:`bastion.errors` classes so callers can catch the shared families; they live
here because ``bastion/errors.py`` belongs to the lead (to be moved there if the lead prefers).
"""

from __future__ import annotations

from bastion.errors import BastionError, ConfigError, ProblemList


class InvalidLexicon(ProblemList, ConfigError):
    """A lexicon or scoring file with problems: ``(file, place, message)`` for each."""

    code = "invalid-lexicon"
    title = "invalid lexicon"
    shown = 30


class UnknownField(BastionError):
    """A text was submitted with a field name Bastion does not know (see ``bastion.text.FIELDS``)."""

    code = "unknown-field"


class InvalidText(BastionError):
    """A text argument that is not a string (e.g. bytes that were never decoded)."""

    code = "invalid-text"


class InvalidCorpus(BastionError):
    """An evaluation corpus line that is not valid JSON or lacks a required key."""

    code = "invalid-corpus"
