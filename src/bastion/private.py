"""Files and folders only their owner may read: the store, the index cache, their folders.

They hold hash lists (a bank of known material is itself sensitive) and scan records, so they are created
0600/0700 whatever the process umask, instead of the 0644/0755 a default umask gives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["private_dir", "private_file", "open_private", "write_private_atomic"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) as 0700 folders; folders that already existed keep their mode
    (a user's own choice, or a shared parent such as ``~/.local/share``), except ``path`` itself when it
    was created by us."""
    p = Path(path).expanduser()
    missing = []
    q = p
    while not q.exists():
        missing.append(q)
        if q.parent == q:
            break
        q = q.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask; chmod is not
    return p


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty as 0600 if it does not exist (an existing file keeps its mode)."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return p
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return p


def open_private(path: str | os.PathLike[str], mode: str = "wb") -> IO:
    """``open(path, "wb")`` for a new or replaced file, created 0600 whatever the umask."""
    if mode not in ("wb", "w"):
        raise ValueError("open_private writes only ('wb' or 'w')")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode)


def write_private_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file in a 0700 folder, atomically: a temporary file in the same
    folder, fsync, rename. A crash never leaves half a file under the real name; a failure removes the
    temporary file."""
    final = Path(path)
    private_dir(final.parent)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        with open_private(tmp) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
