"""``solidarity simulate``: run, solve and compare reform scenarios."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.simulation import report, service, solver
from solidarity.simulation.schemas import Result, SolveIn

app = typer.Typer(help="Policy simulation: reform scenarios against the baseline.")
console = Console(width=160)

AS_OF = typer.Option(None, "--as-of", help="Registry date (default: the scenario's baseline date).")
OUT = typer.Option(None, "--out", help="Directory for CSV, Parquet, XLSX and the PDF brief.")


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _consumption(path: Path | None) -> pl.DataFrame | None:
    if path is None:
        return None
    return pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)


def _headline(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Scenarios side by side")
    for key in rows[0]:
        table.add_column(key.replace("_", " "))
    for row in rows:
        table.add_row(*[report.cell(v) for v in row.values()])
    console.print(table)


def _write(out: Path | None, results: list[Result], curve: Result | None = None) -> None:
    if out is None:
        return
    for r in results:
        report.export(r, out / r["scenario"])
    try:
        (out / "brief.pdf").write_bytes(report.brief_pdf(results, curve))
    except report.ReportDependencyMissing as exc:  # pragma: no cover - depends on the install
        console.print(f"[yellow]No PDF brief:[/] {exc.detail}")
    (out / "result.json").write_text(
        json.dumps(results if curve is None else curve, indent=2, default=str), encoding="utf-8"
    )
    console.print(f"Written to {out}")


@app.command("run")
@command
def run(
    scenario_file: Path = typer.Argument(..., help="Scenario YAML."),
    as_of: str | None = AS_OF,
    out: Path | None = OUT,
    consumption: Path | None = typer.Option(
        None,
        "--consumption",
        help="Survey consumption: CSV/Parquet of household_id, consumption_per_capita.",
    ),
    save: bool = typer.Option(False, "--save", help="Store the scenario as a new version."),
    actor: str = typer.Option("cli", "--actor"),
) -> None:
    """Evaluate baseline and scenario over the registry and report them side by side."""
    scenario = service.load_scenario_file(scenario_file)
    with unit_of_work() as session:
        if save:
            row = service.save_scenario(session, scenario, actor)
            console.print(f"Stored {row.name} version {row.version}")
        result = service.run(
            session,
            scenario,
            _day(as_of),
            consumption=_consumption(consumption),
            with_households=out is not None,
        )
    _headline(service.compare([result]))
    for sentence in result["explanations"]:
        console.print(f"• {sentence}")
    wl = result["winners_and_losers"]
    console.print(
        f"Winners: {wl['winners']:,} households (+{wl['total_gain']:,.0f}); "
        f"losers: {wl['losers']:,} (-{wl['total_loss']:,.0f})"
    )
    _write(out, [result])


@app.command("solve")
@command
def solve(
    scenario_file: Path = typer.Argument(..., help="Scenario YAML (the starting point)."),
    programme: str = typer.Option(..., "--programme"),
    parameter: str = typer.Option(..., "--parameter"),
    low: float = typer.Option(..., "--low"),
    high: float = typer.Option(..., "--high"),
    rule: str = typer.Option("eligibility", "--rule", help="eligibility, benefit or priority"),
    budget: float | None = typer.Option(None, "--budget", help="Annual budget of the programme."),
    coverage: float | None = typer.Option(None, "--coverage", help="Coverage of the poor, 0-1."),
    points: int = typer.Option(8, "--points", help="Points of the trade-off curve."),
    as_of: str | None = AS_OF,
    out: Path | None = OUT,
) -> None:
    """Find the value of one parameter that spends a budget or reaches a coverage target."""
    request = SolveIn.model_validate(
        {
            "scenario": service.load_scenario_file(scenario_file),
            "programme": programme,
            "rule": rule,
            "parameter": parameter,
            "low": low,
            "high": high,
            "budget": budget,
            "coverage_of_poor": coverage,
            "curve_points": points,
            "as_of": _day(as_of),
        }
    )
    with unit_of_work() as session:
        result = solver.solve(session, request)
    s = result["solution"]
    console.print(
        f"{programme}.{parameter} = {result['value']:g} ({result['evaluations']} evaluations): "
        f"{s['programme_households']:,} households, cost {s['programme_cost']:,.2f}, "
        f"coverage of the poor {s['coverage_of_poor']}"
    )
    table = Table(title="Trade-off curve")
    for key in result["curve"][0]:
        table.add_column(key.replace("_", " "))
    for p in result["curve"]:
        table.add_row(*[report.cell(v) for v in p.values()])
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(result["curve"]).write_csv(out / "curve.csv")
        try:
            (out / "curve.svg").write_text(report.curve_chart(result["curve"], parameter))
        except report.ReportDependencyMissing as exc:  # pragma: no cover
            console.print(f"[yellow]No chart:[/] {exc.detail}")
        (out / "solve.json").write_text(json.dumps(result, indent=2, default=str))
        console.print(f"Written to {out}")


@app.command("compare")
@command
def compare(
    scenarios: list[str] = typer.Argument(
        ..., help="Scenario YAML files or stored scenario names."
    ),
    as_of: str | None = AS_OF,
    out: Path | None = OUT,
) -> None:
    """Several scenarios in one table (and one chart in the brief)."""
    results = []
    with unit_of_work() as session:
        for name in scenarios:
            path = Path(name)
            if path.exists():
                results.append(service.run(session, service.load_scenario_file(path), _day(as_of)))
            else:
                results.append(service.run_stored(session, name, None, _day(as_of)))
    _headline(service.compare(results))
    _write(out, results)
