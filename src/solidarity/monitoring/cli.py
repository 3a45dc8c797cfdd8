"""``solidarity monitoring``: indicators, snapshots, the report and data quality."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.monitoring import quality, report, service
from solidarity.monitoring.errors import IndicatorInvalid
from solidarity.simulation.report import cell

app = typer.Typer(help="Monitoring and evaluation: indicators, snapshots, data quality.")
indicators_app = typer.Typer(help="Indicator definitions (stored and versioned like rules).")
app.add_typer(indicators_app, name="indicators")
console = Console(width=160)


def _day(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()


@indicators_app.command("load-standard")
@command
def load_standard(actor: str = typer.Option("cli", "--actor")) -> None:
    """Store the standard library of indicators (SDG 1.3.1, ASPIRE, delivery, registry)."""
    with unit_of_work() as session:
        rows = service.load_standard(session, actor)
        console.print(f"{len(rows)} indicators: {', '.join(r.code for r in rows)}")


@indicators_app.command("add")
@command
def add(path: Path, actor: str = typer.Option("cli", "--actor")) -> None:
    """Store indicators from YAML (one mapping, or ``indicators: [...]``) as new versions."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IndicatorInvalid(f"cannot read {path}: {exc}") from exc
    items = data.get("indicators", [data]) if isinstance(data, dict) else []
    with unit_of_work() as session:
        for item in items:
            row = service.save_indicator(session, service.parse_definition(item), actor)
            console.print(f"{row.code} version {row.version}")


@indicators_app.command("list")
@command
def list_indicators() -> None:
    """The newest version of every indicator."""
    with unit_of_work() as session:
        table = Table("code", "version", "name", "unit", "results level")
        for row in service.indicators(session):
            d = row.definition
            table.add_row(
                row.code, str(row.version), row.name, d["unit_of_analysis"], d["results_level"]
            )
        console.print(table)


@app.command("compute")
@command
def compute(
    as_of: str | None = typer.Option(None, "--as-of"), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Compute every indicator now (nothing stored)."""
    with unit_of_work() as session:
        values = service.compute_all(session, _day(as_of))
    if as_json:
        console.print_json(json.dumps([v.model_dump(mode="json") for v in values]))
        return
    table = Table("code", "value", "numerator", "denominator", "target", "status / reason")
    for v in values:
        table.add_row(
            v.code,
            cell(v.value),
            cell(v.numerator),
            cell(v.denominator),
            cell(v.target),
            v.status if v.reason is None else f"{v.status}: {v.reason}",
        )
    console.print(table)


@app.command("snapshot")
@command
def snapshot(
    period: str = typer.Option(..., "--period", help="e.g. 2025-Q2 or 2025-06"),
    as_of: str | None = typer.Option(None, "--as-of"),
    actor: str = typer.Option("cli", "--actor"),
) -> None:
    """Compute all indicators for a period and store them with the rule and data versions."""
    with unit_of_work() as session:
        rows = service.snapshot(session, period, _day(as_of), actor)
        for r in rows:
            shown = cell(r.value) if r.status == "computed" else f"not computable: {r.reason}"
            console.print(f"{r.indicator_code} v{r.indicator_version}: {shown}")
        if rows:
            console.print(f"data version {rows[0].data_version}")


@app.command("report")
@command
def report_command(
    format: str = typer.Option("html", "--format", help="html or pdf"),
    out: Path = typer.Option(..., "--out"),
) -> None:
    """Trends of every indicator against its targets, with charts."""
    with unit_of_work() as session:
        trends = service.trends(session)
    if format == "pdf":
        out.write_bytes(report.render_pdf(trends))
    else:
        out.write_text(report.render_html(trends), encoding="utf-8")
    console.print(f"Written to {out}")


@app.command("quality")
@command
def data_quality(
    as_of: str | None = typer.Option(None, "--as-of"),
    by: str = typer.Option(
        "dimension", "--by", help="dimension, field, area, source or enumerator"
    ),
    failing: Path | None = typer.Option(None, "--failing", help="CSV of failing records."),
) -> None:
    """Data quality scores (completeness, validity, consistency, uniqueness, timeliness)."""
    import polars as pl

    with unit_of_work() as session:
        result = quality.assess(session, _day(as_of), failing_limit=10_000_000)
    console.print(f"Overall score: {cell(result['overall'])} ({result.get('failed', 0)} failures)")
    table = Table("dimension", by, "checked", "failed", "score")
    for s in result["scores"]:
        if s["by"] == by:
            table.add_row(
                s["dimension"], s["group"], str(s["checked"]), str(s["failed"]), cell(s["score"])
            )
    console.print(table)
    if failing is not None:
        pl.DataFrame(result["failing"]).write_csv(failing)
        console.print(f"{len(result['failing'])} failing records written to {failing}")
