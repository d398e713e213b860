"""What every command shares: consoles, the store from the global options, one mapping of errors to exits."""

from __future__ import annotations

import functools
import sys
from typing import Callable, NoReturn, TypeVar

import typer
from rich.console import Console

from bastion.config import Settings
from bastion.errors import BastionError
from bastion.store.db import Store, open_store

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_MATCH, EXIT_ERROR = 0, 1, 2

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Report Bastion's own errors as one clear message and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BastionError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings.from_env()


def store_of(ctx: typer.Context) -> Store:
    return open_store(settings=settings_of(ctx))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
