"""``solidarity synth``: write a synthetic country into a directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.synthetic.generator import FileFormat, generate

app = typer.Typer(help="Generate a reproducible synthetic country for demos, tests and benchmarks.")
console = Console()


@app.callback(invoke_without_command=True)
@command
def synth(
    households: int = typer.Option(10_000, "--households", "-n", min=1, help="Households."),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed (same seed, same files)."),
    out: Path = typer.Option(Path("synthetic"), "--out", "-o", help="Output directory."),
    file_format: str = typer.Option("csv", "--format", help="csv or parquet."),
    registry_duplicate_rate: float = typer.Option(
        0.0, "--registry-duplicate-rate", help="Share of households registered twice."
    ),
) -> None:
    """Write areas, households, persons, programmes, beneficiary lists and ground truth."""
    fmt: FileFormat = "parquet" if file_format == "parquet" else "csv"
    if file_format not in ("csv", "parquet"):
        raise typer.BadParameter("use csv or parquet", param_hint="--format")
    with console.status("Generating the synthetic country...") as status:
        result = generate(
            out,
            households=households,
            seed=seed,
            file_format=fmt,
            registry_duplicate_rate=registry_duplicate_rate,
            progress=lambda stage: status.update(f"Generating: {stage}..."),
        )
    table = Table(title=f"Synthetic country in {result.out_dir}", show_header=False)
    table.add_row("files written", str(len(result.files)))
    table.add_row("households", f"{result.households:,}")
    table.add_row("persons", f"{result.persons:,}")
    table.add_row("poverty line", f"{result.poverty_line:,.0f} per person per month")
    table.add_row("poverty rate", f"{result.poverty_rate:.1%} of persons")
    table.add_row("programmes", ", ".join(result.programmes))
    table.add_row("seed", str(result.seed))
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table)
