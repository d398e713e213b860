"""The Typer application every command module registers on, and the root group that imports a command's
module only when that command is used.

Its root group, :class:`OnDemandGroup`, is a :class:`bastion.cli.toplevel.BastionGroup` (the one error
boundary, and the global options ``--database-url`` and ``--debug`` on every subcommand, for commands
registered later too) that lists commands from :mod:`bastion.cli.registry` and imports their modules on
demand. Imports point one way: command modules -> this module -> ``toplevel``/``registry``.
"""

from __future__ import annotations

from typing import Any, Optional

import typer
import typer.main
from typer import core as typer_core

from bastion.cli.toplevel import BastionGroup, set_database_url, set_debug


class _Listed(typer_core.TyperCommand):
    """How ``bastion --help`` shows a command whose module is not imported (name and short help only)."""


class OnDemandGroup(BastionGroup):
    """The root ``bastion`` group: :class:`BastionGroup`, plus commands whose modules are imported only when
    they are used (:mod:`bastion.cli.registry`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        from bastion.cli.registry import COMMANDS

        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        from bastion.cli.registry import COMMANDS

        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, short_help = COMMANDS[cmd_name]
            if self._listing:  # the root help lists it: its module need not be imported for one line
                return _Listed(cmd_name, help=short_help)
            self._load(module)
        return self.commands.get(cmd_name)

    def _load(self, module: str) -> None:
        """Import the module that registers a command and adopt what it registered on :data:`app`."""
        import importlib

        importlib.import_module(module)
        for name, cmd in typer.main.get_command(app).commands.items():
            if name not in self.commands:
                self.add_command(cmd, name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="bastion",
    help="Bastion: scan uploads and texts for known abuse material, AI-generation provenance and text signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OnDemandGroup,
)


def _version(value: bool) -> None:
    if value:
        from bastion import __version__

        typer.echo(f"bastion {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    database_url: Optional[str] = typer.Option(
        None,
        "--database-url",
        help="SQLAlchemy URL of the store (default: BASTION_DATABASE_URL, else a SQLite file in BASTION_HOME).",
    ),
    debug: bool = typer.Option(
        # BASTION_DEBUG is read by the entry point (bastion.cli.main) as a loose boolean, not here: a
        # value click does not read as a boolean must not turn every command into a usage error.
        False, "--debug", help="Print the full traceback of an unexpected error (default: one line; also BASTION_DEBUG=1).",
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, expose_value=False, callback=_version, help="Print the version and exit.",
    ),
) -> None:
    # Settings are built when a command first asks for them (bastion.cli.common.settings_of): defaults, the
    # BASTION_* variables, then --database-url. A command that needs no store does not pay for importing them.
    if database_url:
        set_database_url(ctx, database_url)
    set_debug(ctx, debug)
