"""`bastion audit ...`: verify the hash chain, list entries.

`audit verify` exits 0 when the chain is intact, 1 when it was tampered with (the first bad row's id is
printed), 2 on an error (no database, ...).
"""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from bastion.cli.app import app
from bastion.cli.common import EXIT_MATCH, err, fail, handle_errors, out, store_of
from bastion.effects import audit
from bastion.errors import BastionError

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@handle_errors
def verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Check every row's hash and link; report the first altered or deleted row (exit 1)."""
    try:
        store = store_of(ctx)
        try:
            with store.session() as s:
                result = audit.verify(s)
        finally:
            store.close()
    except BastionError:
        raise
    except Exception as exc:  # noqa: BLE001 - exit 1 means "tampered": any other failure must be 2, not a traceback
        fail(f"cannot verify the audit log: {type(exc).__name__}: {exc}".splitlines()[0])
    if as_json:
        print(json.dumps(result.to_dict()))
    elif result.ok:
        head = f", head {result.head_hash}" if result.head_hash else ""
        out.print(f"audit chain intact: {result.checked} rows{head}")
    else:
        err.print(f"[bold red]audit chain broken at row {result.first_bad_id}:[/] {result.problem} "
                  f"({result.checked} rows before it verified)", markup=True, highlight=False)
        print(f"first bad row: {result.first_bad_id}")
    if not result.ok:
        raise typer.Exit(EXIT_MATCH)


@audit_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(50, help="How many, newest first."),
    cursor: Optional[str] = typer.Option(None, help="Continue after a previous page (its next cursor)."),
    actor: Optional[str] = typer.Option(None),
    action: Optional[str] = typer.Option(None),
    target_type: Optional[str] = typer.Option(None, "--target-type"),
    target_id: Optional[str] = typer.Option(None, "--target-id"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Recent audit entries."""
    store = store_of(ctx)
    try:
        with store.session() as s:
            rows, nxt = audit.list_entries(s, limit=limit, cursor=cursor, actor=actor, action=action,
                                           target_type=target_type, target_id=target_id)
    finally:
        store.close()
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    if not rows:
        out.print("no audit entries")
        return
    t = Table(title="Audit log")
    for col in ("id", "at", "actor", "action", "target", "details"):
        t.add_column(col, overflow="fold")
    for r in rows:
        target = r["target_type"] + (f" {r['target_id']}" if r["target_id"] is not None else "")
        t.add_row(str(r["id"]), r["at"][:19].replace("T", " "), r["actor"], r["action"], target,
                  json.dumps(r["details"], ensure_ascii=False))
    out.print(t)
    if nxt:
        out.print(f"more: --cursor {nxt}")
