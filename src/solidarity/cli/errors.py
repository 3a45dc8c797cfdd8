"""How the command line reports typed errors: a message and the error's exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from solidarity.errors import SolidarityError, ValidationFailed

err_console = Console(stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a ``SolidarityError`` into a printed message and a non-zero exit."""
    try:
        yield
    except SolidarityError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.detail}")
        if isinstance(exc, ValidationFailed):
            for error in exc.errors[:50]:
                where = ", ".join(f"{k} {error[k]}" for k in ("row", "field") if k in error)
                err_console.print(f"  {where}: {error.get('message', '')}")
        raise typer.Exit(exc.exit_code) from exc


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a CLI command so typed errors become messages and exit codes."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reported_errors():
            return func(*args, **kwargs)

    return wrapper
