"""``solidarity db``: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from solidarity.db import migrate
from solidarity.db.engine import get_engine

app = typer.Typer(
    no_args_is_help=True, help="Database schema: upgrade, downgrade, current revision."
)
console = Console()


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    engine = get_engine()
    migrate.upgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'")) -> None:
    """Revert migrations down to REVISION."""
    engine = get_engine()
    migrate.downgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")


@app.command()
def current() -> None:
    """Show the database's revision and the newest one the code knows."""
    engine = get_engine()
    now, head = migrate.current_revision(engine), migrate.head_revision(engine)
    console.print(f"current: {now or 'none (not migrated)'}\nhead:    {head}")
    if now != head:
        console.print("[yellow]the database is not up to date: run `solidarity db upgrade`[/]")
