"""The restricted holding folder: the bytes of media a person must look at (items that opened a case) or
that the policy said to preserve. Everything else is hashed and forgotten — media is toxic waste.

One small interface (put / get / delete / exists) so the encrypted evidence vault or an object store can
stand in later without touching callers. Files are named by SHA-256, created 0600 in a 0700 folder, written
to a temporary name and renamed, so a crash never leaves half a file under a real name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bastion.errors import NotFound
from bastion.private import write_private_atomic

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MediaHolding:
    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"no held media {sha256!r}")
        return self.folder / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if not path.exists():
            write_private_atomic(path, data)

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no held media {sha256}") from None

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self._path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False
