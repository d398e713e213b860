"""The one permission table: which role may do which action. Handlers, the console and the CLI ask
:func:`allowed`; nothing else in the code compares role names.

* ``admin`` — everything, and alone manages users, tokens, webhooks and the policy.
* ``lead`` — reviews and second looks, banks and the platform's terms, reads the policy, reports (reads and
  sends), evidence (reads the vault), statistics, the audit log.
* ``reviewer`` — works the queue: reads and decides cases, reveals media within an exposure budget; reads
  banks, the policy, terms and statistics.
* ``auditor`` — reads what is not media or evidence (cases, reports, the audit log, metrics), changes nothing.
* ``integration`` — a platform's service account: submits and reads items, reads banks and metrics.

The table is the whole truth (``tests/service/test_auth.py`` checks it is total); this list only summarises.
"""

from __future__ import annotations

ROLES = ("admin", "lead", "reviewer", "auditor", "integration")

_ALL = frozenset(ROLES)
_STAFF = frozenset({"admin", "lead", "reviewer", "auditor"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "items.submit": frozenset({"admin", "integration"}),
    "items.read": frozenset({"admin", "lead", "reviewer", "auditor", "integration"}),
    "cases.read": _STAFF,
    "cases.claim": frozenset({"admin", "lead", "reviewer"}),
    "cases.decide": frozenset({"admin", "lead", "reviewer"}),
    "cases.second_look": frozenset({"admin", "lead"}),
    "accounts.read": _STAFF,
    "banks.read": _ALL,
    "banks.write": frozenset({"admin", "lead"}),
    #: downloading a whole hash list: a bank of known material is itself sensitive, so not every reader may
    "banks.export": frozenset({"admin", "lead"}),
    "policy.read": _STAFF,
    "policy.write": frozenset({"admin"}),
    "terms.read": _STAFF,
    "terms.write": frozenset({"admin", "lead"}),
    "users.manage": frozenset({"admin"}),
    #: lifting a sign-in lock (bastion.auth.throttle) before it runs out
    "sign_in.unlock": frozenset({"admin", "lead"}),
    "tokens.manage": frozenset({"admin"}),
    "webhooks.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin", "auditor", "lead"}),
    "media.reveal": frozenset({"admin", "lead", "reviewer"}),
    "vault.read": frozenset({"admin", "lead"}),
    "reports.read": frozenset({"admin", "lead", "auditor"}),
    "reports.submit": frozenset({"admin", "lead"}),
    "stats.read": _STAFF,
    "metrics.read": frozenset({"admin", "auditor", "integration"}),
}

ACTIONS = tuple(PERMISSIONS)


def allowed(role: str | None, action: str) -> bool:
    """True when ``role`` may perform ``action``. An unknown action is a programming error."""
    try:
        roles = PERMISSIONS[action]
    except KeyError:
        raise KeyError(f"unknown action {action!r}; add it to bastion.auth.permissions.PERMISSIONS") from None
    return role in roles
