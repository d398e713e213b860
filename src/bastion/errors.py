"""Errors are types, mapped once to CLI exit codes (and later to HTTP problem+json statuses).

Every error Bastion raises on purpose derives from :class:`BastionError`, so a caller can catch the
family without swallowing programming errors.
"""

from __future__ import annotations


class BastionError(Exception):
    """Base of every error Bastion raises deliberately."""

    #: short machine-readable code used in JSON output and (later) problem+json ``type``.
    code = "bastion-error"


# --- media ---------------------------------------------------------------------------------------


class MediaError(BastionError):
    """A file could not be read as media. One bad file never stops a scan: the scanner records it."""

    code = "media-error"


class UnsupportedMedia(MediaError):
    """Unknown or unsupported format, or an empty (zero-byte) file."""

    code = "unsupported-media"


class TruncatedMedia(MediaError):
    """The file ends before its image data does, or its structure is corrupt."""

    code = "truncated-media"


class DecompressionBomb(MediaError):
    """The image declares more pixels than the configured limit; it is refused before decoding."""

    code = "decompression-bomb"


# --- banks ---------------------------------------------------------------------------------------


class UnknownBank(BastionError):
    code = "unknown-bank"


class BankExists(BastionError):
    code = "bank-exists"


class InvalidHash(BastionError):
    """A hash value that is not valid for its type (wrong length, not hex, unknown type)."""

    code = "invalid-hash"


class InvalidHashList(BastionError):
    """A hash-list file with invalid lines. Carries every problem, each with its file and line number."""

    code = "invalid-hash-list"

    def __init__(self, problems: list[tuple[str, int, str]]):
        self.problems = problems
        lines = [f"{path}:{line}: {msg}" for path, line, msg in problems[:20]]
        more = len(problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__("invalid hash list:\n" + "\n".join(lines))


class ConfigError(BastionError):
    code = "config-error"
