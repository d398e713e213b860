"""Allocator tuning for image workers (glibc only; a no-op elsewhere).

Decoding allocates and frees multi-megabyte pixel buffers for every file. With glibc's defaults each
buffer above the dynamic mmap threshold is mmap'ed and unmapped again, and freed heap memory is trimmed
back to the kernel, so a worker spends a large share of its time in page faults: measured here ~28 % of
CPU in the kernel, and 145 → 214 images/s single-process after raising both thresholds (MEASURED.md).
Call :func:`tune_allocator` once at worker start-up; it changes only this process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass

__all__ = ["AllocatorTuning", "tune_allocator", "M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD"]

# mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

DEFAULT_MMAP_THRESHOLD = 64 * 1024 * 1024
DEFAULT_TRIM_THRESHOLD = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AllocatorTuning:
    """What :func:`tune_allocator` did, so a caller can log it (``applied`` is False off glibc)."""

    applied: bool
    libc: str | None
    mmap_threshold: int | None = None
    trim_threshold: int | None = None
    reason: str = ""


def _glibc() -> tuple[ctypes.CDLL, str] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        get_version = libc.gnu_get_libc_version
    except (OSError, AttributeError):  # musl and others have no gnu_get_libc_version
        return None
    get_version.restype = ctypes.c_char_p
    return libc, get_version().decode("ascii", "replace")


def tune_allocator(
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD, trim_threshold: int = DEFAULT_TRIM_THRESHOLD
) -> AllocatorTuning:
    """Raise glibc's mmap and trim thresholds for this process; a no-op returning ``applied=False`` off glibc.

    Trade-off: a worker keeps up to ``trim_threshold`` of freed memory instead of returning it, which is
    the point (the next image reuses it) but counts against the worker's resident size.
    """
    found = _glibc()
    if found is None:
        return AllocatorTuning(applied=False, libc=None, reason="not glibc")
    libc, version = found
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok_trim = mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    if not (ok_mmap and ok_trim):
        return AllocatorTuning(
            applied=ok_mmap or ok_trim,
            libc=f"glibc {version}",
            mmap_threshold=mmap_threshold if ok_mmap else None,
            trim_threshold=trim_threshold if ok_trim else None,
            reason="glibc refused " + " and ".join(
                n for n, ok in (("M_MMAP_THRESHOLD", ok_mmap), ("M_TRIM_THRESHOLD", ok_trim)) if not ok
            ),
        )
    return AllocatorTuning(
        applied=True, libc=f"glibc {version}", mmap_threshold=mmap_threshold, trim_threshold=trim_threshold
    )
