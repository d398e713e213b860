"""Encryption of evidence at rest: AES-256-GCM with keys from configuration.

Several keys may be configured so keys can rotate: new blobs are sealed with the *active* key, older blobs
keep opening with the key they name. Each sealed blob carries the id of its key in a small header.

The associated data binds a ciphertext to its blob id, its key id and the SHA-256 of its plaintext, so a blob
file copied over another one, edited, or opened with another key fails authentication and raises
:class:`~bastion.errors.VaultIntegrityError` — the vault never hands out bytes it cannot vouch for.

Layout of a sealed blob::

    b"BVLT" | version (1 byte) | key id length (1 byte) | key id (ASCII) | nonce (12 bytes) | ciphertext+tag
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.errors import VaultIntegrityError, VaultKeyError

if TYPE_CHECKING:
    from bastion.config import Settings

MAGIC = b"BVLT"
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_key_text(key_id: str) -> str:
    """A fresh random key in the ``id:base64`` form that ``BASTION_VAULT_KEYS`` takes."""
    _check_key_id(key_id)
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def _check_key_id(key_id: str) -> None:
    if not _KEY_ID.match(key_id):
        raise VaultKeyError(f"invalid vault key id {key_id!r}: 1-64 characters of letters, digits, '.', '_', '-'")


def associated_data(blob_id: str, key_id: str, sha256: str) -> bytes:
    return f"bastion-vault/v{VERSION}\x00{blob_id}\x00{key_id}\x00{sha256}".encode()


@dataclass(frozen=True)
class Keyring:
    """The configured keys (id -> 32 raw bytes) and the id of the one that seals new blobs."""

    keys: dict[str, bytes] = field(default_factory=dict)
    active: str | None = None

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise VaultKeyError(f"vault key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if self.active is not None and self.active not in self.keys:
            raise VaultKeyError(
                f"the active vault key {self.active!r} is not among the configured keys ({', '.join(self.keys) or 'none'})"
            )

    @classmethod
    def parse(cls, keys_text: str | None, active: str | None = None) -> "Keyring":
        """Read ``"id1:base64key,id2:base64key"``. With one key it is the active one; with several the
        active id must be given (a silent choice would seal evidence under a key someone meant to retire)."""
        keys: dict[str, bytes] = {}
        for n, part in enumerate((keys_text or "").split(","), 1):
            part = part.strip()
            if not part:
                continue
            key_id, sep, b64 = part.partition(":")
            key_id = key_id.strip()
            if not sep:
                raise VaultKeyError(f"vault key #{n} is not in the form id:base64key")
            _check_key_id(key_id)
            if key_id in keys:
                raise VaultKeyError(f"vault key id {key_id!r} is configured twice")
            try:
                raw = base64.b64decode(b64.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise VaultKeyError(f"vault key {key_id!r} is not valid base64") from None
            keys[key_id] = raw
        active = (active or "").strip() or None
        if active is None and len(keys) == 1:
            active = next(iter(keys))
        if active is None and len(keys) > 1:
            raise VaultKeyError("several vault keys are configured: BASTION_VAULT_ACTIVE_KEY must name the one that seals new blobs")
        return cls(keys=keys, active=active)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Keyring":
        """The keys of ``settings.vault_keys`` (``BASTION_VAULT_KEYS``), ``vault_active_key`` sealing."""
        keys = settings.vault_keys.get_secret_value() if settings.vault_keys is not None else None
        return cls.parse(keys, settings.vault_active_key)

    def active_key_id(self) -> str:
        if self.active is None:
            raise VaultKeyError("no vault key is configured (set BASTION_VAULT_KEYS; `bastion vault new-key` makes one)")
        return self.active

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise VaultKeyError(
                f"vault key {key_id!r} is not configured (configured: {', '.join(self.keys) or 'none'}); "
                "a retired key must stay configured until every blob sealed with it is re-sealed or purged"
            ) from None


def seal(keyring: Keyring, blob_id: str, plaintext: bytes, *, key_id: str | None = None) -> tuple[str, bytes]:
    """Encrypt ``plaintext`` for ``blob_id``; returns ``(key_id, sealed bytes)``."""
    key_id = key_id or keyring.active_key_id()
    key = keyring.key(key_id)
    sha256 = hashlib.sha256(plaintext).hexdigest()
    nonce = secrets.token_bytes(NONCE_BYTES)
    ct = AESGCM(key).encrypt(nonce, plaintext, associated_data(blob_id, key_id, sha256))
    kid = key_id.encode("ascii")
    return key_id, MAGIC + bytes([VERSION, len(kid)]) + kid + nonce + ct


def read_header(sealed: bytes) -> tuple[str, int]:
    """The key id a sealed blob names and where its nonce starts."""
    if len(sealed) < 6 or sealed[:4] != MAGIC:
        raise VaultIntegrityError("not a sealed vault blob (bad header)")
    if sealed[4] != VERSION:
        raise VaultIntegrityError(f"sealed blob version {sealed[4]} is not supported")
    n = sealed[5]
    if len(sealed) < 6 + n + NONCE_BYTES + 16:
        raise VaultIntegrityError("sealed blob is truncated")
    try:
        key_id = sealed[6 : 6 + n].decode("ascii")
    except UnicodeDecodeError:
        raise VaultIntegrityError("sealed blob has a corrupt key id") from None
    return key_id, 6 + n


def open_sealed(keyring: Keyring, blob_id: str, sealed: bytes, *, key_id: str, sha256: str) -> bytes:
    """Decrypt and authenticate a blob against what the database recorded (its key id and SHA-256).

    Raises :class:`VaultIntegrityError` when anything does not match; :class:`VaultKeyError` when the key it
    was sealed with is not configured.
    """
    header_key, at = read_header(sealed)
    if header_key != key_id:
        raise VaultIntegrityError(f"blob {blob_id} names key {header_key!r} but was recorded under key {key_id!r}")
    key = keyring.key(key_id)
    nonce, ct = sealed[at : at + NONCE_BYTES], sealed[at + NONCE_BYTES :]
    try:
        plaintext = AESGCM(key).decrypt(nonce, ct, associated_data(blob_id, key_id, sha256))
    except InvalidTag:
        raise VaultIntegrityError(
            f"blob {blob_id} failed authentication: tampered, swapped with another blob, or the key {key_id!r} is not the one it was sealed with"
        ) from None
    if hashlib.sha256(plaintext).hexdigest() != sha256:  # cannot happen unless AES-GCM is broken; checked anyway
        raise VaultIntegrityError(f"blob {blob_id} decrypted to bytes whose SHA-256 differs from the record")
    return plaintext
