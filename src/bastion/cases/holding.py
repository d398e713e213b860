"""The restricted holding folder: the bytes of media a person must look at (items that opened a case) or
that the policy said to preserve. Everything else is hashed and forgotten — media is toxic waste.

Nothing here is ever in clear: every file is sealed with AES-256-GCM (:mod:`bastion.vault.crypto`, bound to
its SHA-256 name) before it touches the disk, and opened only in memory for the console's derived views
(blurred, grayscale) and for sealing into the evidence vault. The key is the vault's active key when the
caller passes the vault's keyring (``BASTION_VAULT_KEYS`` configured); without one, a key of this holding folder is made on first use
(``holding.key`` beside the folder, 0600) so a copied or backed-up holding folder alone reveals nothing —
configure vault keys (kept in a secret manager) in production. Files written in clear by an older Bastion are
sealed in place the first time they are read.

One small interface (put / get / delete / exists) so an object store can stand in later without touching
callers. Files are named by SHA-256, created 0600 in a 0700 folder, written to a temporary name and renamed,
so a crash never leaves half a file under a real name.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

from bastion.errors import NotFound
from bastion.private import write_private_atomic

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
LOCAL_KEY_ID = "holding-local"


class MediaHolding:
    def __init__(self, folder: str | os.PathLike[str], keyring=None):
        self.folder = Path(folder)
        self._keyring = keyring

    # --- keys -----------------------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        return self.folder.parent / f"{self.folder.name}.key"

    def _local_key(self, create: bool) -> bytes | None:
        path = self.key_path
        if path.is_file():
            return base64.b64decode(path.read_bytes().strip())
        if not create:
            return None
        write_private_atomic(path, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        return base64.b64decode(path.read_bytes().strip())

    def keyring(self, *, for_writing: bool = False):
        """The vault's keys (given, or from the environment) plus this folder's own key when it has one;
        the active key seals new files."""
        from bastion.vault.crypto import Keyring

        base = self._keyring if self._keyring is not None else Keyring.parse(None)
        keys = dict(base.keys)
        active = base.active
        local = self._local_key(create=for_writing and active is None)
        if local is not None:
            keys.setdefault(LOCAL_KEY_ID, local)
            active = active or LOCAL_KEY_ID
        return Keyring(keys=keys, active=active)

    # --- files ----------------------------------------------------------------------------------

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"no held media {sha256!r}")
        return self.folder / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        from bastion.vault.crypto import seal

        path = self._path(sha256)
        if not path.exists():
            _, sealed = seal(self.keyring(for_writing=True), sha256, data)
            write_private_atomic(path, sealed)

    def get(self, sha256: str) -> bytes:
        from bastion.vault.crypto import MAGIC, open_sealed, read_header

        path = self._path(sha256)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no held media {sha256}") from None
        if raw[:4] != MAGIC:  # written in clear by an older Bastion: seal it now
            import hashlib

            if hashlib.sha256(raw).hexdigest() == sha256:
                path.unlink()
                self.put(sha256, raw)
                return raw
        key_id, _ = read_header(raw)
        return open_sealed(self.keyring(), sha256, raw, key_id=key_id, sha256=sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self._path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False
