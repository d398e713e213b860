"""The Typer application every command module registers on (kept apart to avoid import cycles)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="bastion",
    help="Bastion: scan uploads and texts for known abuse material, AI-generation provenance and text signals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
