"""The review console: server-rendered pages where trust-and-safety staff work the queue, safely and fast.

``bastion.console.mount(app, ctx)`` adds the console under ``/console`` to the service's FastAPI app. ``ctx``
carries ``store`` (``ctx.store.session()``), ``settings`` and ``holding`` (the media holding folder); an
optional ``clock`` (a callable returning an aware UTC datetime) lets tests move time without sleeping.

Every decision, claim and change goes through the same service functions as the HTTP API
(``bastion.auth.service``, ``bastion.cases.service``, ``bastion.effects``), so the audit log and webhooks see
console work exactly as they see API work. The console adds only what people need: sign-in sessions, CSRF
tokens, safe media derivatives, per-user media preferences and the exposure budget (``bastion.console.models``).
"""

from __future__ import annotations

from typing import Any

PREFIX = "/console"


def mount(app: Any, ctx: Any, *, path: str = PREFIX) -> Any:
    """Mount the console on ``app`` at ``path``; returns the console's own ASGI app."""
    from bastion.console.app import build_console

    console = build_console(ctx, root_path=path)
    app.mount(path, console)
    return console


__all__ = ["mount", "PREFIX"]
