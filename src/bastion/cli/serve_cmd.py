"""``bastion serve`` and the service's users and tokens: ``bastion user ...``, ``bastion token ...``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from bastion.cli.app import app
from bastion.cli.common import err, fail, handle_errors, out, settings_of, store_of

user_app = typer.Typer(help="Users of the service and the console (roles: admin, lead, reviewer, auditor, integration).",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens: shown once, stored hashed, revocable.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@app.command()
@handle_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="HTTP worker processes (PostgreSQL recommended above 1)."),
    policy: Optional[Path] = typer.Option(None, "--policy", exists=True, dir_okay=False,
                                          help="Policy YAML (default: BASTION_POLICY, else the shipped policy)."),
    background: Optional[bool] = typer.Option(None, "--background/--no-background",
                                              help="Run batch jobs, retro-matching, index sync and webhook delivery "
                                                   "here (default: on; BASTION_BACKGROUND=0 turns it off)."),
    examine_workers: Optional[int] = typer.Option(
        None, min=1, max=64,
        help="Processes examining uploaded media, per HTTP worker (default: BASTION_EXAMINE_WORKERS, else the cores "
             "shared among the HTTP workers, at most 4)."),
) -> None:
    """Run the HTTP service: items in, explained verdicts out (see the README for a curl example)."""
    import uvicorn

    from bastion.api.settings import ServeSettings
    from bastion.config import export_for_workers

    # The server's settings (defaults, environment, --database-url), then this command's flags.
    settings = settings_of(ctx, ServeSettings)
    if examine_workers is None and settings.examine_workers is None and workers > 1:
        import os

        examine_workers = max(1, min(4, (os.cpu_count() or 1) // workers))  # the cores are shared by every HTTP worker
    flags = {"policy_path": policy, "background": background, "examine_workers": examine_workers}
    settings = settings.model_copy(update={k: v for k, v in flags.items() if v is not None})
    if settings.policy_path is not None:
        from bastion.policy import load_policy

        load_policy(settings.policy_path)  # a bad policy is refused before the server starts, with every problem listed
    export_for_workers(settings)  # each worker process builds its app from them (uvicorn's factory mode)
    from bastion.store.db import open_store

    # Refuse a store that does not exist (a typo in BASTION_HOME must not serve an empty store); migrate once,
    # before the workers start.
    open_store(settings=settings, create=False).close()
    _check_port(host, port)
    err.print(f"bastion serve on http://{host}:{port}  store: {_masked(settings)}")
    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from any loopback peer; which proxies
    # are believed is BASTION_TRUSTED_PROXIES' to say (none by default), applied by the app itself.
    uvicorn.run("bastion.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", timeout_graceful_shutdown=10, proxy_headers=False)


def _check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be listened on (in use, not permitted, an address not of this machine) with one
    ``error:`` line and exit 2, before the banner: uvicorn would print its own ``ERROR:`` and exit 3. The
    check binds as uvicorn does (SO_REUSEADDR) and lets go at once; a race with another process in between
    remains uvicorn's to report."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server using it? "
                 "choose another with --port)")


def _masked(settings) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.resolved_database_url()).render_as_string(hide_password=True)
    except Exception:
        return "(invalid database URL)"


def _password(stdin: bool) -> str | None:
    if stdin:
        pw = sys.stdin.readline().rstrip("\n")
        if not pw:
            fail("no password on standard input")
        return pw
    if not sys.stdin.isatty():
        return None
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("create")
@handle_errors
def user_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, lead, reviewer, auditor or integration."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    no_password: bool = typer.Option(False, "--no-password", help="No password: the user works with API tokens only."),
) -> None:
    """Create a user. The password comes from a prompt or --password-stdin (never from the command line)."""
    from bastion.auth import service as auth

    password = None if no_password else _password(password_stdin)
    if password is None and not no_password:
        fail("give a password at the prompt, with --password-stdin, or choose --no-password")
    store = store_of(ctx, create=True)
    with store.session() as s, s.begin():
        u = auth.create_user(s, name, role, password, actor="cli")
    out.print(f"created user {u.name} ({u.role})", markup=False)


@user_app.command("list")
@handle_errors
def user_list(ctx: typer.Context) -> None:
    """List users and their roles."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s:
        for u in auth.list_users(s):
            out.print(f"{u.name}\t{u.role}\t{'disabled' if u.disabled else 'active'}", markup=False)


@user_app.command("set")
@handle_errors
def user_set(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    role: Optional[str] = typer.Option(None, "--role"),
    disabled: Optional[bool] = typer.Option(None, "--disabled/--enabled"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Set a new password read from standard input."),
) -> None:
    """Change a user's role, disable or enable them, or set a new password."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s, s.begin():
        if role is not None:
            auth.set_role(s, name, role, actor="cli")
        if disabled is not None:
            auth.set_disabled(s, name, disabled, actor="cli")
        if password_stdin:
            auth.set_password(s, name, _password(True), actor="cli")
        u = auth.get_user(s, name)
        out.print(f"{u.name}\t{u.role}\t{'disabled' if u.disabled else 'active'}", markup=False)


@user_app.command("unlock")
@handle_errors
def user_unlock(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="The user whose sign-in lock to lift."),
    address: Optional[str] = typer.Option(None, "--address", help="Also (or instead) lift this client address's lock."),
) -> None:
    """Lift a sign-in lock (set after repeated failed sign-ins) before it runs out."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s, s.begin():
        lifted = auth.unlock_sign_in(s, name, address, actor="cli")
    out.print(f"lifted {lifted} sign-in lock(s)" if lifted else "nothing was locked", markup=False)


@token_app.command("create")
@handle_errors
def token_create(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", help="The user the token acts as (it has that user's role)."),
    name: Optional[str] = typer.Option(None, "--name", help="A label, e.g. the integration that uses it."),
) -> None:
    """Create an API token and print it. It is shown this once and stored only as a hash."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s, s.begin():
        row, token = auth.create_token(s, user, name, actor="cli")
    err.print(f"token {row.id} for {user}: store it now, it is not shown again", markup=False)
    out.print(token, markup=False)


@token_app.command("list")
@handle_errors
def token_list(ctx: typer.Context, user: Optional[str] = typer.Option(None, "--user")) -> None:
    """List tokens (id, user, label, prefix, state) — never the tokens themselves."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s:
        for t, u in auth.list_tokens(s, user):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            used = f"last used {t.last_used_at.isoformat(timespec='seconds')}" if t.last_used_at else "never used"
            out.print(f"{t.id}\t{u}\t{t.name or ''}\t{t.prefix}…\t{state}\t{used}", markup=False)


@token_app.command("revoke")
@handle_errors
def token_revoke(ctx: typer.Context, token_id: int = typer.Argument(...)) -> None:
    """Revoke a token (in effect within seconds on every server)."""
    from bastion.auth import service as auth

    with store_of(ctx).session() as s, s.begin():
        auth.revoke_token(s, token_id, actor="cli")
    out.print(f"revoked token {token_id}", markup=False)
