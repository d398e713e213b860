"""The ``bastion`` command. Each command group lives in its own module and registers on :data:`app`.

Command modules are imported on demand (see :mod:`bastion.cli.registry`): ``bastion text "…"`` never imports
the store, the media stack or the service. Code that needs every command registered at once (to walk the
whole tree) calls :func:`load_all_commands` first.

Exit statuses: 0 nothing matched / success, 1 something matched, 2 usage or fatal error.
"""

from __future__ import annotations

from bastion.cli.app import app
from bastion.cli.registry import COMMANDS, load_all_commands

__all__ = ["COMMANDS", "app", "load_all_commands", "main"]


def main() -> None:
    """The ``bastion`` command. Reads the command line's own switches from the environment (everything else is
    a setting: :meth:`bastion.config.Settings.from_env`, built when a command first needs it)."""
    import os

    from bastion.cli import toplevel

    toplevel.RUNNING_AS_COMMAND = True
    toplevel.DEBUG_FROM_ENVIRONMENT = os.environ.get("BASTION_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    toplevel.FAST_EXIT = not os.environ.get("BASTION_NO_FAST_EXIT")
    app()
