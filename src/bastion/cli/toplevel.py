"""The one place where an error becomes a message and an exit status, for every command.

The root command group (:class:`BastionGroup`) wraps the whole invocation, so a command registered by any
module — today's or one added later — gets the same treatment without doing anything:

* Bastion's own errors (:class:`~bastion.errors.BastionError`) print one line, ``error: ...``, exit 2;
* anything unexpected prints one line naming what failed and what to do, exit 2; the traceback only with
  ``--debug`` or ``BASTION_DEBUG=1``;
* Ctrl-C exits 130 (commands that have partial results print them first, then re-raise);
* credentials in database URLs are never printed; user data is never read as console markup;
* ``--database-url`` and ``--debug`` are accepted after the subcommand too (``bastion scan X --debug``).

Exit statuses are documented in README.md ("Exit statuses"). Scripts rely on them: for ``scan``, 1 means
"something matched", so a failure must never exit 1.
"""

from __future__ import annotations

import os
import sys
import traceback
from difflib import get_close_matches
from typing import Any


import typer
import typer.main
from rich.console import Console
from rich.markup import escape
from typer import core as typer_core

from bastion.masking import mask_secrets

_click = typer_core._click  # the click that Typer ships and uses (not the separate click package)

EXIT_OK, EXIT_MATCH, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

def unwrapped(console: Console) -> Console:
    """``console`` as wide as its output needs when it is not a terminal (a pipe, a file, a CI log): rich's
    default of 80 columns there wrapped tables' cells mid-word."""
    if not console.is_terminal:
        console.width = 10_000
    return console


#: Standard error for messages: never wrapped (a log line stays one line), never highlighted.
err = unwrapped(Console(stderr=True, highlight=False, soft_wrap=True))

def print_error(message: str, *, prefix: str = "error") -> None:
    """One message on standard error: user data in ``message`` is escaped, credentials are masked."""
    err.print(f"[bold red]{prefix}:[/] {escape(mask_secrets(str(message)))}", markup=True, highlight=False)


def print_warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(mask_secrets(str(message)))}", markup=True, highlight=False)


def debug_enabled(ctx: Any = None) -> bool:
    if ctx is not None:
        try:
            if ctx.find_root().meta.get("bastion.debug"):
                return True
        except Exception:  # noqa: BLE001 - a broken context must not hide the error being reported
            pass
    return DEBUG_FROM_ENVIRONMENT


#: Set by the console entry point (``bastion.cli.main``): this process is the ``bastion`` command itself, not a
#: library caller or a test runner, so a command that has finished may end it at once (:func:`exit_now`).
RUNNING_AS_COMMAND = False
#: The command line's own switches, read from the environment by the entry point (``bastion.cli.main``):
#: ``BASTION_DEBUG`` (tracebacks, like ``--debug``) and ``BASTION_NO_FAST_EXIT``.
DEBUG_FROM_ENVIRONMENT = False
FAST_EXIT = True


def exit_now(code: int, *, close: Any = None) -> None:
    """End the process with ``code`` right away, skipping the interpreter's teardown (freeing every module and
    object of a process that imported SQLAlchemy, numpy and the banks' index takes ~0.15 s: a tenth of a
    small scan). Only when this process is the ``bastion`` command (not a caller of :data:`app`, not a test),
    ``BASTION_NO_FAST_EXIT`` is unset, no other non-daemon thread is alive and the output streams flush; else it
    returns and the caller exits normally. ``close``: a store whose connections are closed first. The command
    must have committed and closed what it wrote (the scan has: its recorder flushed, its output file closed).
    """
    import threading

    if not RUNNING_AS_COMMAND or not FAST_EXIT:
        return
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    try:
        if close is not None:
            close.close()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a stream that cannot flush (a closed pipe): the normal exit reports it
        return
    os._exit(code)


_DATABASE_URL_KEY = "bastion.database_url"


def set_database_url(ctx: Any, value: str) -> None:
    """Record ``--database-url`` for the whole invocation (given before or after the subcommand)."""
    root = ctx.find_root()
    root.meta[_DATABASE_URL_KEY] = value
    if hasattr(root.obj, "model_copy"):  # settings already built: keep them in step
        root.obj = root.obj.model_copy(update={"database_url": value})


def settings_of(ctx: Any, kind: Any = None) -> Any:
    """The invocation's :class:`bastion.config.Settings` (or the subclass ``kind``, such as the server's):
    defaults, the environment, then ``--database-url``; built once, on first use, and kept on the root context
    (``ctx.obj``) for every command to pass down."""
    from bastion.config import Settings

    kind = kind or Settings
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, kind):
        return root.obj
    override = root.meta.get(_DATABASE_URL_KEY) if root is not None else None
    settings = kind.from_env(database_url=override or None)  # defaults < BASTION_* < --database-url
    if root is not None:
        root.obj = settings
    return settings


def _database_url(ctx: Any) -> str | None:
    try:
        return settings_of(ctx).resolved_database_url()
    except Exception:  # noqa: BLE001
        return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def describe(exc: BaseException, ctx: Any = None) -> str:
    """What failed and what to do, in one line (credentials are masked by the printer)."""
    from bastion.errors import BastionError

    if isinstance(exc, BastionError):
        return str(exc)
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        url = _database_url(ctx) or "the configured database"
        detail = _first_line(getattr(exc, "orig", None) or exc)
        hint = ("is the server running, does the database exist, and may this user connect?"
                if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) else
                "the store may be from another version of Bastion or changed by hand")
        return f"database error at {url}: {detail} ({hint})"
    if isinstance(exc, sa_exc.SQLAlchemyError):
        url = _database_url(ctx) or "the configured database"
        return f"database error at {url}: {_first_line(exc)}"
    if isinstance(exc, ImportError):
        name = getattr(exc, "name", None) or _first_line(exc)
        if name and name.split(".")[0] in ("psycopg", "psycopg2", "psycopg_binary"):
            return "PostgreSQL support is not installed: pip install 'bastion[postgres]'"
        return f"a required package is missing ({name}); reinstall Bastion with its dependencies"
    if isinstance(exc, BrokenPipeError):
        return "the output was closed before everything was written (broken pipe)"
    if isinstance(exc, OSError):
        what = exc.strerror or _first_line(exc) or type(exc).__name__
        where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        if exc.filename2 is not None:
            where += f" -> {os.fsdecode(exc.filename2)}"
        return f"{what}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory (try fewer --jobs or smaller inputs)"
    return (f"unexpected {type(exc).__name__}: {_first_line(exc) or '(no message)'} — this is a bug in Bastion; "
            "run again with --debug and report the traceback")


def report(exc: BaseException, ctx: Any = None) -> int:
    """Print ``exc`` the way a user should see it; returns the exit status to use."""
    if debug_enabled(ctx):
        tb = "".join(traceback.format_exception(exc))
        err.print(escape(mask_secrets(tb)), markup=True, highlight=False, end="")
    message = describe(exc, ctx)
    if not debug_enabled(ctx) and not _is_expected(exc):
        message += "" if "--debug" in message else " (--debug for the detail)"
    print_error(message)
    return EXIT_ERROR


def _is_expected(exc: BaseException) -> bool:
    from bastion.errors import BastionError

    return isinstance(exc, BastionError)


def _quiet_stdout_after_broken_pipe() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush does not print a second
    error. Only for a real file descriptor (not under a test runner's captured output)."""
    try:
        fd = sys.stdout.fileno()
    except Exception:  # noqa: BLE001
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


# --- options every command accepts --------------------------------------------------------------------


def _set_database_url(ctx: typer.Context, _param: Any, value: str | None) -> None:
    if value is None or ctx.resilient_parsing:
        return
    set_database_url(ctx, value)


def set_debug(ctx: Any, value: bool) -> None:
    """Record ``--debug`` for the whole invocation (given before or after the subcommand)."""
    if value:
        ctx.find_root().meta["bastion.debug"] = True


def _set_debug(ctx: typer.Context, _param: Any, value: bool) -> None:
    set_debug(ctx, value)


def _global_options() -> list:
    """Fresh ``--database-url`` and ``--debug`` parameters, built by Typer itself from a prototype."""
    proto = typer.Typer(add_completion=False)

    @proto.command()
    def _prototype(
        database_url: str = typer.Option(
            None, "--database-url", metavar="URL", expose_value=False, callback=_set_database_url,
            help="SQLAlchemy URL of the store (also accepted before the command).",
        ),
        debug: bool = typer.Option(
            False, "--debug", expose_value=False, callback=_set_debug,
            help="Print the full traceback of an unexpected error.",
        ),
    ) -> None:  # pragma: no cover - never run, only its parameters are used
        pass

    return list(typer.main.get_command(proto).params)


def _add_global_options(command: Any, options: list) -> None:
    names = {p.name for p in getattr(command, "params", [])}
    opts = {o for p in getattr(command, "params", []) for o in getattr(p, "opts", [])}
    for opt in options:
        if opt.name not in names and not set(opt.opts) & opts:
            command.params.append(opt)
    for sub in getattr(command, "commands", {}).values():
        _add_global_options(sub, options)


class BastionGroup(typer_core.TyperGroup):
    """The root ``bastion`` group: global options on every subcommand and one error boundary for all.
    (:class:`bastion.cli.app.OnDemandGroup` adds commands whose modules are imported only when used.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._global_options = _global_options()
        for sub in self.commands.values():
            _add_global_options(sub, self._global_options)

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        _add_global_options(cmd, self._global_options)
        super().add_command(cmd, name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return self._click_resolve_command(ctx, args)
        except _click.exceptions.UsageError as exc:
            if getattr(self, "suggest_commands", True) and args:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = exc.message.rstrip(".") + ". Did you mean " + ", ".join(repr(m) for m in matches) + "?"
            raise

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer_core._click.exceptions.ClickException):
            raise
        except typer.Abort:
            # a declined or interrupted confirmation prompt
            print_error("aborted: nothing was changed")
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError as exc:
            _quiet_stdout_after_broken_pipe()
            raise typer.Exit(report(exc, ctx)) from None
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing unexpected reaches the user raw
            raise typer.Exit(report(exc, ctx)) from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # A file name from another system may hold bytes that are not UTF-8 (Python carries them as lone
        # surrogates); printing one must show it escaped, never fail the write mid-report.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - not a TextIOWrapper: leave it as it is
                pass
        # Usage errors as plain lines (no boxed panel) when standard error is not a terminal: log lines.
        if not _isatty(sys.stderr):
            saved, self.rich_markup_mode = self.rich_markup_mode, None
            try:
                return super().main(*args, **kwargs)
            finally:
                self.rich_markup_mode = saved
        return super().main(*args, **kwargs)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # noqa: BLE001
        return False
