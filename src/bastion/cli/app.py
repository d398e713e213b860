"""The Typer application every command module registers on (kept apart to avoid import cycles).

Its root group is :class:`bastion.cli.toplevel.BastionGroup`: the one error boundary, and the global
options (``--database-url``, ``--debug``) on every subcommand, for commands registered later too.
"""

from __future__ import annotations

from typing import Optional

import typer

from bastion.cli.toplevel import BastionGroup, _set_debug, set_database_url

app = typer.Typer(
    name="bastion",
    help="Bastion: scan uploads and texts for known abuse material, AI-generation provenance and text signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=BastionGroup,
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
        envvar="BASTION_DATABASE_URL",
        help="SQLAlchemy URL of the store (default: a SQLite file in BASTION_HOME).",
        show_envvar=True,
    ),
    debug: bool = typer.Option(
        # BASTION_DEBUG is read where an error is reported (bastion.cli.toplevel.debug_enabled), not here: a
        # value click does not read as a boolean must not turn every command into a usage error.
        False, "--debug", help="Print the full traceback of an unexpected error (default: one line; also BASTION_DEBUG=1).",
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, expose_value=False, callback=_version, help="Print the version and exit.",
    ),
) -> None:
    # Settings are built when a command first asks for them (bastion.cli.common.settings_of): a command that
    # needs no store does not pay for importing them.
    if database_url:
        set_database_url(ctx, database_url)
    _set_debug(ctx, None, debug)
