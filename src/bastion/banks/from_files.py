"""Bank entries made straight from files: ``bastion bank add NAME --file F``.

An image gives its MD5, SHA-256 and PDQ; a video (MP4, MOV, WebM, MKV) its MD5, SHA-256 and vPDQ. The hashes
are computed exactly as a scan computes them (:func:`bastion.scan.examine_file`), so a file added to a bank
matches itself and its near copies when it is scanned. A file that cannot be decoded still gives its exact
hashes; what went wrong is reported with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bastion.errors import BastionError
from bastion.model import HashEntry


@dataclass
class FileEntries:
    path: str
    entries: list[HashEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def entries_from_file(path: str | Path, label: str | None = None) -> FileEntries:
    from bastion.scan import examine_file

    res = examine_file(str(path), provenance=False)
    out = FileEntries(str(path))
    if res.sha256 is None:
        msg = "; ".join(f"{e['code']}: {e['message']}" for e in res.errors) or "cannot be read"
        raise BastionError(f"{path}: {msg}")
    ref = Path(path).name
    out.entries.append(HashEntry("md5", res.md5, label, ref))
    out.entries.append(HashEntry("sha256", res.sha256, label, ref))
    if res.video and res.video.get("vpdq"):
        from bastion.media.video import parse_signal, to_signal

        out.entries.append(HashEntry("vpdq", to_signal(parse_signal(res.video["vpdq"])), label, ref))
    elif res.pdq:
        out.entries.append(HashEntry("pdq", res.pdq, label, ref))
        if res.quality is not None and res.quality < 50:
            out.problems.append(f"PDQ quality {res.quality} is below 50: scans of low quality will not match it")
    out.problems.extend(f"{e['code']}: {e['message']}" for e in res.errors)
    return out
