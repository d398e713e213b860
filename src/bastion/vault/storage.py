"""Where sealed blobs live, behind a small interface so an S3-compatible bucket can replace the local folder
without touching callers. Storage only ever sees ciphertext."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, Protocol

from bastion.errors import UnknownBlob, VaultError
from bastion.private import write_private_atomic

_NAME = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class Storage(Protocol):
    """Put, get, delete and list opaque sealed blobs by name."""

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def delete(self, name: str) -> bool: ...

    def names(self) -> Iterator[str]: ...


class LocalFolderStorage:
    """A folder readable by its owner only (0700), one file a blob (0600), written atomically
    (temporary file, fsync, rename) so a crash never leaves half a blob under a blob's name."""

    suffix = ".blob"

    def __init__(self, folder: Path | str):
        self.folder = Path(folder).expanduser()

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):  # names come from the database; refuse anything that could leave the folder
            raise VaultError(f"invalid blob name {name!r}")
        return self.folder / f"{name}{self.suffix}"

    def put(self, name: str, data: bytes) -> None:
        write_private_atomic(self._path(name), data)

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise UnknownBlob(f"blob {name} is recorded but its file is missing from {self.folder}") from None

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
            return True
        except FileNotFoundError:
            return False

    def names(self) -> Iterator[str]:
        if not self.folder.is_dir():
            return
        for p in sorted(self.folder.glob(f"*{self.suffix}")):
            yield p.name[: -len(self.suffix)]
