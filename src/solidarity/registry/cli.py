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
