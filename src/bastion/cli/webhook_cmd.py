"""`bastion webhook ...`: add, list, enable, disable, remove, dead, replay, deliver."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer
from rich.table import Table

from bastion.cli.app import app
from bastion.cli.common import cli_actor, fail, handle_errors, out, settings_of, store_of, store_session
from bastion.effects import webhooks
from bastion.effects.webhooks import EVENTS

webhook_app = typer.Typer(help="Webhook subscriptions, their dead letters and delivery.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="Where to POST (http or https)."),
    event: List[str] = typer.Option(..., "--event", "-e", help=f"Event to send, repeatable: {', '.join(EVENTS)}."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the signing secret from standard input "
                                      "instead of generating one."),
    description: str = typer.Option("", help="What this subscription is for."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Subscribe URL to events. A generated secret is printed once: store it in the receiver."""
    secret = None
    if secret_stdin:
        secret = sys.stdin.read().strip("\r\n")
        if not secret:
            fail("--secret-stdin: standard input is empty")
    with store_session(ctx, write=True) as s:
        sub, used = webhooks.create_subscription(s, url, event, secret=secret, description=description,
                                                 actor=cli_actor(),
                                                 allow_networks=settings_of(ctx).webhook_allow_networks)
    if as_json:
        print(json.dumps({**sub.to_dict(), **({} if secret_stdin else {"secret": used})}))
        return
    out.print(f"created webhook {sub.id}: {sub.url} ({', '.join(sub.events)})")
    if not secret_stdin:
        out.print(f"secret (shown only now): {used}")


@webhook_app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """List subscriptions (never their secrets)."""
    with store_session(ctx) as s:
        subs = webhooks.list_subscriptions(s)
    if as_json:
        for sub in subs:
            print(json.dumps(sub.to_dict()))
        return
    if not subs:
        out.print("no webhooks yet — add one with `bastion webhook add URL --event verdict`")
        return
    t = Table(title="Webhook subscriptions")
    for col in ("id", "url", "events", "active", "created", "by", "description"):
        t.add_column(col, overflow="fold")
    for sub in subs:
        d = sub.to_dict()
        t.add_row(str(sub.id), sub.url, ", ".join(sub.events), "yes" if sub.active else "no", d["created_at"][:19],
                  sub.created_by, sub.description)
    out.print(t)


def _set_active(ctx: typer.Context, subscription_id: int, active: bool) -> None:
    with store_session(ctx, write=True) as s:
        sub = webhooks.set_active(s, subscription_id, active, actor=cli_actor())
    out.print(f"webhook {sub.id} {'enabled' if sub.active else 'disabled'}")


@webhook_app.command("enable")
@handle_errors
def enable(ctx: typer.Context, subscription_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Resume sending events to a subscription."""
    _set_active(ctx, subscription_id, True)


@webhook_app.command("disable")
@handle_errors
def disable(ctx: typer.Context, subscription_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Stop queueing new events for a subscription (already queued ones are still sent)."""
    _set_active(ctx, subscription_id, False)


@webhook_app.command("remove")
@handle_errors
def remove(ctx: typer.Context, subscription_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Delete a subscription with its undelivered and dead deliveries."""
    with store_session(ctx, write=True) as s:
        webhooks.delete_subscription(s, subscription_id, actor=cli_actor())
    out.print(f"removed webhook {subscription_id}")


@webhook_app.command("dead")
@handle_errors
def dead(
    ctx: typer.Context,
    limit: int = typer.Option(50, help="How many, newest first."),
    cursor: Optional[str] = typer.Option(None, help="Continue after a previous page (its next cursor)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Dead letters: deliveries that failed every attempt."""
    with store_session(ctx) as s:
        rows, nxt = webhooks.list_dead_letters(s, limit=limit, cursor=cursor)
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    if not rows:
        out.print("no dead letters")
        return
    t = Table(title="Dead letters")
    for col in ("id", "webhook", "event", "delivery", "attempts", "dead since", "last error"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(str(r["id"]), str(r["subscription_id"]), r["event"], r["delivery_id"], str(r["attempts"]),
                  (r["dead_at"] or "")[:19], r["last_error"] or "")
    out.print(t)
    if nxt:
        out.print(f"more: --cursor {nxt}")


@webhook_app.command("replay")
@handle_errors
def replay(
    ctx: typer.Context,
    ids: Optional[List[int]] = typer.Argument(None, metavar="[ID]...", help="Dead letters to send again."),
    all_: bool = typer.Option(False, "--all", help="Replay every dead letter."),
) -> None:
    """Queue dead letters again (attempts reset, same delivery ids)."""
    if bool(ids) == all_:
        fail("give dead-letter ids or --all (not both)")
    with store_session(ctx, write=True) as s:
        n = webhooks.replay_dead_letters(s, None if all_ else ids, actor=cli_actor())
    out.print(f"queued {n} dead letter{'s' if n != 1 else ''} again")


@webhook_app.command("deliver")
@handle_errors
def deliver(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Send what is due now, once (bastion serve does this continuously)."""
    from bastion.effects.delivery import Deliverer, DeliveryPolicy

    store = store_of(ctx)
    try:
        report = Deliverer(store, DeliveryPolicy.from_settings(settings_of(ctx))).deliver_due()
    finally:
        store.close()
    summary = {"claimed": report.claimed, "delivered": report.delivered, "retry": report.retried,
               "dead": report.dead}
    if as_json:
        print(json.dumps(summary))
    else:
        out.print(", ".join(f"{k} {v}" for k, v in summary.items()))
