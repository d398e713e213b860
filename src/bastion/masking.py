"""Credentials never printed: the one masker for database URLs and connection strings.

Every message, log line and traceback that may hold a database URL goes through :func:`mask_secrets`
(the CLI's error printer, the store's errors, ``bastion serve``'s start line). It hides

* the password of a URL, ``scheme://user:secret@host`` -> ``scheme://user:***@host``;
* the value of ``password=``, ``passwd=`` or ``pwd=`` in key-value strings (libpq and ODBC spellings),
  quoted (``password='a b'``) or not.

Kept free of heavy imports: the command line loads it for every error it prints.
"""

from __future__ import annotations

import re

__all__ = ["mask_secrets"]

_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<secret>[^\s@'\"]*)(?P<at>@)")
_KV_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^\s,;&'\"]+)",
                          re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with the passwords of URLs and of key=value strings replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['at']}", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}***", text)
