"""Typed errors of the text room.

They derive from :mod:`bastion.errors` classes so callers can catch the shared families; they live
here because ``bastion/errors.py`` belongs to the lead (to be moved there if the lead prefers).
"""

from __future__ import annotations

from bastion.errors import BastionError, ConfigError


class InvalidLexicon(ConfigError):
    """A lexicon or scoring file with problems. Carries every problem with its file and location."""

    code = "invalid-lexicon"

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{path}:{where}: {msg}" for path, where, msg in problems[:30]]
        more = len(problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__("invalid lexicon:\n" + "\n".join(lines))


class UnknownField(BastionError):
    """A text was submitted with a field name Bastion does not know (see ``bastion.text.FIELDS``)."""

    code = "unknown-field"


class InvalidText(BastionError):
    """A text argument that is not a string (e.g. bytes that were never decoded)."""

    code = "invalid-text"


class InvalidCorpus(BastionError):
    """An evaluation corpus line that is not valid JSON or lacks a required key."""

    code = "invalid-corpus"
