"""``bastion init``: create the store where the settings point (commands that read refuse a missing one)."""

from __future__ import annotations

import typer

from bastion.cli.app import app
from bastion.cli.common import err, handle_errors, out, settings_of


@app.command("init")
@handle_errors
def init(ctx: typer.Context) -> None:
    """Create the store (BASTION_HOME or --database-url) and bring it to the latest schema."""
    from bastion.errors import StoreMissing
    from bastion.store.db import make_engine, open_store, store_exists

    settings = settings_of(ctx)
    try:
        probe = make_engine(settings.resolved_database_url(), create=False)
        try:
            existed = store_exists(probe)
        finally:
            probe.dispose()
    except StoreMissing:
        existed = False
    store = open_store(settings=settings, create=True)
    try:
        where = store.url
    finally:
        store.close()
    if existed:
        out.print(f"store already exists at {where} (schema brought up to date)", markup=False, highlight=False)
    else:
        out.print(f"created the store at {where}", markup=False, highlight=False)
        err.print("next: `bastion bank create NAME --category csam` and `bastion bank import NAME FILE`, then "
                  "`bastion scan PATH`", markup=False, highlight=False)
