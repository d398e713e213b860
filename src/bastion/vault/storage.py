"""Where sealed blobs live, behind a small interface so an S3-compatible bucket can replace the local folder
without touching callers. Storage only ever sees ciphertext."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator, Protocol

from bastion.errors import UnknownBlob, VaultError

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

    def _ensure(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):  # names come from the database; refuse anything that could leave the folder
            raise VaultError(f"invalid blob name {name!r}")
        return self.folder / f"{name}{self.suffix}"

    def put(self, name: str, data: bytes) -> None:
        self._ensure()
        final = self._path(name)
        tmp = final.with_name(f".{final.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

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
