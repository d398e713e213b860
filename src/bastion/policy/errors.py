"""Typed errors of the policy room (kept here, like ``bastion.text.errors``, because ``bastion/errors.py``
belongs to the lead; they derive from the shared families so callers can catch those)."""

from __future__ import annotations

from bastion.errors import BastionError, ConfigError, ProblemList


class InvalidPolicy(ProblemList, ConfigError):
    """A policy file with problems: ``(file, line, message)`` for each, all of them in one go."""

    code = "invalid-policy"
    title = "invalid policy"
    shown = 50


class InvalidFacts(BastionError):
    """A facts object (``Facts.from_dict``) or a test item that does not have the expected shape."""

    code = "invalid-facts"


class PolicyUnreadable(ConfigError):
    """The policy file could not be read at all (missing, a directory, not UTF-8)."""

    code = "policy-unreadable"
