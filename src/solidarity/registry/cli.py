"""``solidarity registry``: areas, households, change requests, import and export."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.console import Console

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.registry import service

app = typer.Typer(no_args_is_help=True, help="The social registry.")
areas_app = typer.Typer(no_args_is_help=True, help="Administrative areas.")
app.add_typer(areas_app, name="areas")
console = Console()


@areas_app.command("load")
@command
def areas_load(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Load areas from a CSV of code, name, level, level_name, parent_code."""
    with file.open(newline="", encoding="utf-8-sig") as handle, unit_of_work() as session:
        created = service.load_areas(session, csv.DictReader(handle), actor="cli")
    console.print(f"{created} area(s) created")


# --- bulk intake and export -------------------------------------------------------------


@app.command("import")
@command
def import_(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="One combined file, or households and persons files"
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", "-m", exists=True, dir_okay=False, help="Column mapping YAML"
    ),
    source: str = typer.Option("default", help="Name of the sending system (for idempotency)"),
    accept_valid: bool = typer.Option(
        False, "--accept-valid", help="Import valid households; write rejected rows to a file"
    ),
    report_dir: Path = typer.Option(Path("."), help="Where the error report and rejects go"),
    actor: str = typer.Option("cli", help="Who is importing"),
) -> None:
    """Validate and import households and persons (CSV, XLSX or Parquet).

    Exit code 0 when everything was imported, 2 when rows were refused.
    """
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from solidarity.db.engine import get_engine
    from solidarity.registry.intake.service import import_files

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))  # type: ignore[arg-type]

        outcome = import_files(
            get_engine(),
            files,
            mapping_file=mapping,
            source=source,
            accept_valid=accept_valid,
            actor=actor,
            report_dir=report_dir,
            progress=progress,
        )
    _print_outcome(outcome)
    if outcome.status != "succeeded":
        raise typer.Exit(2)


def _print_outcome(outcome: object) -> None:
    from rich.table import Table

    from solidarity.registry.intake.schemas import ImportOutcome

    assert isinstance(outcome, ImportOutcome)
    colour = {"succeeded": "green", "partial": "yellow", "refused": "red"}[outcome.status]
    console.print(
        f"[bold {colour}]{outcome.status}[/]: {outcome.households_imported} household(s) and "
        f"{outcome.persons_imported} person(s) imported, {outcome.households_skipped} already "
        f"imported, {outcome.households_rejected} refused; {outcome.error_count} error(s)"
    )
    if outcome.ignored_columns:
        console.print(f"ignored columns: {', '.join(outcome.ignored_columns)}")
    if outcome.errors:
        table = Table("file", "row", "column", "value", "rule", "message", title="Errors")
        for error in outcome.errors[:30]:
            table.add_row(
                error.file,
                str(error.row or ""),
                error.column or "",
                error.value or "",
                error.rule,
                error.message,
            )
        console.print(table)
        if outcome.error_count > 30:
            console.print(f"... and {outcome.error_count - 30} more")
    if outcome.report_path:
        console.print(f"error report: {outcome.report_path} (and .json)")
    for path in outcome.rejects_paths:
        console.print(f"rejected rows to correct and re-import: {path}")
    if outcome.status == "refused":
        console.print("nothing was imported; fix the errors or use --accept-valid")


@app.command("export")
@command
def export(
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Directory to write to"),
    file_format: str = typer.Option("csv", "--format", help="csv, xlsx or parquet"),
    area: str | None = typer.Option(None, help="Only this area and its descendants"),
    as_of: str | None = typer.Option(None, "--as-of", help="State on this date (YYYY-MM-DD)"),
) -> None:
    """Write households and persons in the import format."""
    from datetime import date

    from solidarity.db.engine import get_engine
    from solidarity.registry.export import export_registry

    moment = date.fromisoformat(as_of) if as_of else None
    written = export_registry(
        get_engine(), out, file_format=file_format, area_code=area, as_of=moment
    )
    for path, rows in written.items():
        console.print(f"{path}: {rows} row(s)")
