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


class VideoLimitExceeded(MediaError):
    """A video is over one of its decode limits (bytes, duration, frame count, frame size); refused or stopped
    before it could exhaust a worker. The file's MD5/SHA are still recorded."""

    code = "video-limit"


class VideoTooLarge(VideoLimitExceeded):
    code = "video-too-large"


class VideoTooLong(VideoLimitExceeded):
    code = "video-too-long"


class VideoTooManyFrames(VideoLimitExceeded):
    code = "video-too-many-frames"


class VideoResolutionTooLarge(VideoLimitExceeded):
    code = "video-resolution-too-large"


# --- banks ---------------------------------------------------------------------------------------


class UnknownBank(BastionError):
    code = "unknown-bank"


class BankExists(BastionError):
    code = "bank-exists"


class InvalidHash(BastionError):
    """A hash value that is not valid for its type (wrong length, not hex, unknown type)."""

    code = "invalid-hash"


class ProblemList(BastionError):
    """Base of errors that carry every problem found in some input, each with its file and place (line
    number, key path), so a user fixes all of them in one go instead of one per run."""

    title = "invalid input"
    shown = 20

    def __init__(self, problems: list[tuple]):
        self.problems = problems
        lines = [f"{path}:{where}: {msg}" for path, where, msg in problems[: self.shown]]
        more = len(problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        super().__init__(f"{self.title}:\n" + "\n".join(lines))


class InvalidHashList(ProblemList):
    """A hash-list file with invalid lines: ``(file, line number, message)`` for each."""

    code = "invalid-hash-list"
    title = "invalid hash list"


class ConfigError(BastionError):
    code = "config-error"


class StoreMissing(ConfigError):
    """The configured store does not exist. Commands that read refuse it instead of creating an empty one: a
    mistyped ``BASTION_HOME`` must not look like a store with nothing in it."""

    code = "store-missing"


class NoBanks(ConfigError):
    """A scan would match against no enabled bank (allow-lists aside): it could not say "clean"."""

    code = "no-banks"


# --- service -------------------------------------------------------------------------------------


class InvalidInput(BastionError):
    """A request or a file that does not have the required shape (mapped to HTTP 422)."""

    code = "invalid-input"


class NotFound(BastionError):
    code = "not-found"


class Conflict(BastionError):
    """The request contradicts what is stored (mapped to HTTP 409), e.g. a retry with another body."""

    code = "conflict"


class Forbidden(BastionError):
    code = "forbidden"


# --- evidence vault and reports ------------------------------------------------------------------


class VaultError(BastionError):
    code = "vault-error"


class VaultKeyError(ConfigError):
    """A vault key is missing, malformed, or the active key is not among the configured keys."""

    code = "vault-key"


class VaultIntegrityError(VaultError):
    """A blob failed authentication: tampered, swapped with another blob, or encrypted under another key.
    Never answered with bytes."""

    code = "vault-integrity"


class UnknownBlob(VaultError, NotFound):
    code = "unknown-blob"


class VaultAccessDenied(VaultError, Forbidden):
    """The user's role may not read evidence (the permission table's ``vault.read``: ``lead`` and ``admin``)."""

    code = "vault-access-denied"


class ReportError(BastionError):
    code = "report-error"


class NcmecError(ReportError):
    """NCMEC's API (or a server speaking its protocol) answered with an error or could not be reached."""

    code = "ncmec-error"

    def __init__(self, message: str, *, response_code: int | None = None, status: int | None = None,
                 request_id: str | None = None, description: str | None = None):
        self.response_code = response_code
        self.status = status
        #: NCMEC's ``Request-ID`` header of the answer, kept with every error so NCMEC can find the call
        self.request_id = request_id
        self.description = description
        if request_id and "Request-ID" not in message:
            message = f"{message} [Request-ID {request_id}]"
        super().__init__(message)


class ReportStateError(ReportError):
    """A report is not in a state that allows the step asked for (e.g. a submission whose outcome is
    unknown after a crash: a person must check before anything is sent again)."""

    code = "report-state"


class InvalidStatement(ProblemList):
    """A DSA statement of reasons that breaks the Transparency Database's rules: ``(puid, field, message)``."""

    code = "invalid-statement"
    title = "invalid statement of reasons"


class DsaSubmitError(ReportError):
    code = "dsa-submit-error"


# --- effects: URL media, webhooks, audit ---------------------------------------------------------


class UrlRefused(InvalidInput):
    """A media URL that policy forbids fetching: fetching disabled, scheme, host not on the allow-list, an
    address that is not public (loopback, private, link-local, metadata...), a redirect to such a place, a
    content type or size over the limits. ``reason`` is a short machine-readable word."""

    code = "url-refused"

    def __init__(self, message: str, reason: str = "refused"):
        super().__init__(message)
        self.reason = reason


class UrlFetchFailed(BastionError):
    """An allowed URL could not be fetched: connection refused, timeout, TLS failure, HTTP error status."""

    code = "url-fetch-failed"


class UnknownWebhookEvent(InvalidInput):
    code = "unknown-webhook-event"


class InvalidWebhook(InvalidInput):
    """A subscription that cannot be created as asked (bad URL, no events, bad secret)."""

    code = "invalid-webhook"


class WebhookNotFound(NotFound):
    code = "webhook-not-found"


class InvalidSignature(BastionError):
    """A webhook signature header that does not verify (malformed, wrong signature, too old)."""

    code = "invalid-signature"


class AuditError(BastionError):
    """The audit chain cannot be appended to (its head record is missing while rows exist)."""

    code = "audit-error"


class InvalidCursor(InvalidInput):
    """A pagination cursor that this list did not hand out."""

    code = "invalid-cursor"
