"""``solidarity backup``: create, restore and verify backups."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from solidarity.backup import service
from solidarity.cli.errors import command
from solidarity.config import get_settings
from solidarity.db.engine import get_engine

app = typer.Typer(no_args_is_help=True, help="Backups with a manifest; restore; verify.")
console = Console()


@app.command()
@command
def create(directory: Path = typer.Argument(..., help="A new or empty directory")) -> None:
    """Back up the configured database into DIRECTORY (with manifest.json)."""
    manifest = service.create_backup(get_engine(), directory)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    console.print(
        f"backup of {manifest['database']} at revision {manifest['schema_revision']}: "
        f"{len(manifest['tables'])} tables, {rows:,} rows -> {directory}"
    )


@app.command()
@command
def restore(directory: Path = typer.Argument(..., exists=True, file_okay=False)) -> None:
    """Restore DIRECTORY into the configured database, which must be empty."""
    manifest = service.restore_backup(get_engine(), directory)
    console.print(f"restored revision {manifest['schema_revision']} from {directory}")


@app.command()
@command
def verify(
    directory: Path = typer.Argument(..., exists=True, file_okay=False),
    scratch_url: str | None = typer.Option(
        None, help="PostgreSQL server to restore into (default: the configured database's)"
    ),
) -> None:
    """Restore DIRECTORY into a scratch database and compare counts and checksums."""
    url = scratch_url or get_settings().database_url
    problems = service.verify_backup(directory, None if url.startswith("sqlite") else url)
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/]")
        raise typer.Exit(10)
    console.print(f"[green]backup {directory} verified: every table matches its manifest[/]")
