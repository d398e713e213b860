"""What every command shares: consoles, the store from the global options, one mapping of errors to exits.

Errors nobody anticipated are caught once for every command by the root group
(:mod:`bastion.cli.toplevel`); :func:`handle_errors` remains for commands that want Bastion's own errors
reported before their ``finally`` blocks run, and is safe to stack with it.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn, TypeVar

import typer
from rich.console import Console

from bastion.cli.toplevel import settings_of as _settings_of
from bastion.cli.toplevel import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_MATCH, EXIT_OK, err, print_error, print_warning, unwrapped
from bastion.errors import BastionError

if TYPE_CHECKING:  # imported where used: a command without a store does not pay for SQLAlchemy
    from sqlalchemy.orm import Session

    from bastion.config import Settings
    from bastion.store.db import Store

#: Standard output for people: never wrapped (soft wrap), never highlighted; user data must be escaped
#: (``rich.markup.escape``) before it is printed with markup.
out = unwrapped(Console(highlight=False, soft_wrap=True))

__all__ = [
    "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_MATCH", "EXIT_OK", "cli_actor", "err", "fail", "handle_errors", "out",
    "json_line", "print_error", "print_warning", "settings_of", "shown", "stdout_is_terminal", "store_of",
    "store_session",
]

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: message`` (escaped: user data is never console markup; credentials masked), exit."""
    print_error(message)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Report Bastion's own errors as one clear message and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BastionError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def settings_of(ctx: typer.Context, kind: type[Settings] | None = None) -> Settings:
    """The settings of this invocation, built once (:func:`bastion.cli.toplevel.settings_of`)."""
    return _settings_of(ctx, kind)


def store_of(ctx: typer.Context, *, create: bool = False) -> Store:
    """The invocation's store. A store that does not exist is refused (``error: no Bastion store at …``, exit
    2) unless ``create``: only the commands that make a store (``init``, ``bank create``, ``user create``)
    create one, so a mistyped location is never read as an empty store."""
    from bastion.store.db import open_store

    return open_store(settings=settings_of(ctx), create=create)


@contextmanager
def store_session(ctx: typer.Context, write: bool = False) -> Iterator[Session]:
    """A session on the invocation's store, closed (with the store) afterwards; ``write``: in a transaction
    that commits when the block ends."""
    store = store_of(ctx)
    try:
        with store.session() as s:
            if write:
                with s.begin():
                    yield s
            else:
                yield s
    finally:
        store.close()


def cli_actor() -> str:
    """Who the audit log names for a change made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def shown(path: object) -> str:
    """A path as text that can always be printed: bytes that are not UTF-8 (file names from other systems)
    appear as ``\\xNN`` escapes instead of failing the write. Escape it (``rich.markup.escape``) before
    printing it with markup."""
    try:
        raw = os.fsencode(path)  # type: ignore[arg-type]
    except TypeError:
        return str(path)
    return raw.decode("utf-8", "backslashreplace")


def json_line(d: dict) -> str:
    """One JSON line. Text that is not valid UTF-8 (a file name's undecodable bytes, surrogate-escaped by
    Python) is written with ``\\u`` escapes rather than failing the write."""
    try:
        line = json.dumps(d, ensure_ascii=False)
        line.encode("utf-8")
        return line
    except UnicodeEncodeError:
        return json.dumps(d, ensure_ascii=True)
