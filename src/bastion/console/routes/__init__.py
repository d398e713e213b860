"""One module per console page (or group of forms on one page), each with a ``router``.

Handlers are plain ``def``: FastAPI runs them in its thread pool, so their database, password-hashing and
image work never holds the event loop. Each handler reads the session, checks one permission, calls the
service (through ``bastion.console.backend``) and renders.
"""

from __future__ import annotations

from bastion.console.routes import (
    admin_users,
    audit,
    banks,
    case,
    media,
    policy,
    preferences,
    queue,
    reports,
    signin,
    terms,
    webhooks,
    wellness,
)

ROUTERS = (signin.router, queue.router, case.router, reports.router, media.router, preferences.router, banks.router,
           policy.router, terms.router, admin_users.router, audit.router, webhooks.router, wellness.router)

__all__ = ["ROUTERS"]
