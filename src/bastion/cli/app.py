"""The Typer application every command module registers on (kept apart to avoid import cycles)."""

from __future__ import annotations

from typing import Optional

import typer

from bastion.config import Settings

app = typer.Typer(
    name="bastion",
    help="Bastion: scan uploads and texts for known abuse material, AI-generation provenance and text signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
) -> None:
    settings = Settings.from_env()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    ctx.obj = settings
