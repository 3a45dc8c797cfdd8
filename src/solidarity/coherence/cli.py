"""``solidarity coherence``: diagnostics, institutional map, framework, scorecard, plan, report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console

from solidarity.cli.errors import command
from solidarity.coherence import institutions, plan
from solidarity.coherence import service as diagnostics
from solidarity.db.engine import unit_of_work

app = typer.Typer(help="Coherence diagnostics, results framework, scorecard and action plan.")
actions_app = typer.Typer(help="The coherence action plan.")
app.add_typer(actions_app, name="actions")
console = Console()

AS_OF = typer.Option(None, "--as-of", help="Date the figures are computed as of (today).")
AREA = typer.Option(None, "--area", help="Area code: only households of this subtree.")
LEVEL = typer.Option(0, "--area-level", help="Area level of the breakdowns (0 = top).")
BY = typer.Option(
    None, "--by", help="area, urban_rural, head_sex, head_age_band, disability, quintile"
)


def _day(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()


def _print(result: BaseModel | list[Any]) -> None:
    if isinstance(result, list):
        data: Any = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
    else:
        data = result.model_dump(mode="json")
    console.print_json(json.dumps(data, default=str))


def _diagnostic(name: str, as_of: str | None, area: str | None, level: int, by: str | None) -> None:
    with unit_of_work() as session:
        ctx = diagnostics.Context(session, _day(as_of), area, level)
        if name == "policy-map":
            _print(diagnostics.policy_map_of(ctx))
        elif name == "overlaps":
            _print(diagnostics.overlaps_of(ctx))
        elif name == "targeting":
            _print(diagnostics.targeting_of(ctx, by))
        elif name == "fiscal":
            _print(diagnostics.fiscal_of(ctx))
        elif name == "journey":
            _print(diagnostics.journey_of(ctx, by))
        elif name == "rules":
            _print(diagnostics.rules_of(ctx))
        elif name == "consistency":
            from solidarity.coherence.consistency import consistency_of

            _print(consistency_of(ctx))


@app.command("policy-map")
@command
def policy_map(as_of: str = AS_OF, area: str = AREA, area_level: int = LEVEL) -> None:
    """Programmes on the life-cycle x risk x instrument grid, with empty and crowded cells."""
    _diagnostic("policy-map", as_of, area, area_level, None)


@app.command("overlaps")
@command
def overlaps(as_of: str = AS_OF, area: str = AREA, area_level: int = LEVEL) -> None:
    """Pairwise overlaps, Jaccard, multiplicity, combinations, mutual-exclusion violations."""
    _diagnostic("overlaps", as_of, area, area_level, None)


@app.command("targeting")
@command
def targeting(as_of: str = AS_OF, area: str = AREA, area_level: int = LEVEL, by: str = BY) -> None:
    """Coverage, exclusion and inclusion errors; uncovered vulnerable households; worst areas."""
    _diagnostic("targeting", as_of, area, area_level, by)


@app.command("fiscal")
@command
def fiscal(as_of: str = AS_OF, area: str = AREA, area_level: int = LEVEL) -> None:
    """Budget, spending, unit costs and benefit incidence."""
    _diagnostic("fiscal", as_of, area, area_level, None)


@app.command("journey")
@command
def journey(as_of: str = AS_OF, area: str = AREA, area_level: int = LEVEL, by: str = BY) -> None:
    """Funnel, days per stage, drop-off and repeated steps."""
    _diagnostic("journey", as_of, area, area_level, by)


@app.command("rules")
@command
def rules(as_of: str = AS_OF, area: str = AREA) -> None:
    """Age bands, hand-over gaps, contradictions and eligibility for exclusive programmes."""
    _diagnostic("rules", as_of, area, 0, None)


@app.command("consistency")
@command
def consistency(as_of: str = AS_OF, area: str = AREA) -> None:
    """Definitions compared across programmes, and missing-data rates."""
    _diagnostic("consistency", as_of, area, 0, None)


@app.command("institutions")
@command
def institutional_map(as_of: str = AS_OF) -> None:
    """Agencies, functions, bodies, agreements, focal persons and the flags on them."""
    with unit_of_work() as session:
        _print(institutions.institutional_map(session, _day(as_of)))


@app.command("import")
@command
def import_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    actor: str = typer.Option("system", "--actor"),
) -> None:
    """Create or update the institutions, declarations, indicators and actions of a YAML file."""
    with unit_of_work() as session:
        summary = institutions.import_file(session, path, actor=actor)
    console.print(f"created {summary.created}, updated {summary.updated}")


@app.command("indicators")
@command
def indicators(
    compute: bool = typer.Option(False, "--compute", help="Compute and store formula values."),
    as_of: str = AS_OF,
    area: str = AREA,
    actor: str = typer.Option("system", "--actor"),
) -> None:
    """The results framework with progress (``--compute`` stores computed values first)."""
    with unit_of_work() as session:
        if compute:
            plan.compute_values(
                session, diagnostics.Context(session, _day(as_of), area), actor=actor
            )
        _print(plan.list_indicators(session))


@app.command("assess")
@command
def assess(
    as_of: str = AS_OF,
    area: str = AREA,
    title: str = typer.Option("Coherence scorecard", "--title"),
    score: list[str] = typer.Option([], "--score", help="dimension=1..4[:comment], repeatable"),
    actor: str = typer.Option("system", "--actor"),
) -> None:
    """Record a scorecard: scores suggested from the data, overridden by ``--score``."""
    from solidarity.coherence.schemas import AssessmentIn, ScoreIn

    scores: dict[str, ScoreIn] = {}
    for item in score:
        dimension, _, rest = item.partition("=")
        value, _, comment = rest.partition(":")
        scores[dimension] = ScoreIn(score=int(value) if value else None, comment=comment)
    day = _day(as_of)
    with unit_of_work() as session:
        body = AssessmentIn(title=title, as_of=day, area_code=area, scores=scores)
        _print(plan.assess(session, diagnostics.Context(session, day, area), body, actor=actor))


@actions_app.command("list")
@command
def list_actions(as_of: str = AS_OF, overdue: bool = typer.Option(False, "--overdue")) -> None:
    """The action plan (``--overdue``: overdue actions only)."""
    with unit_of_work() as session:
        _print(plan.list_actions(session, _day(as_of), overdue_only=overdue))


@actions_app.command("note")
@command
def note(
    code: str,
    text: str = typer.Argument(...),
    progress: int = typer.Option(None, "--progress", min=0, max=100),
    status: str = typer.Option(None, "--status", help="planned, in_progress, done, cancelled"),
    actor: str = typer.Option("system", "--actor"),
) -> None:
    """Add a progress note to an action (and optionally change its status)."""
    from solidarity.coherence.schemas import ActionUpdate, NoteIn

    today = date.today()
    with unit_of_work() as session:
        if status:
            row = plan.require_action(session, code)
            plan.update_action(
                session,
                code,
                ActionUpdate.model_validate({"version": row.version, "status": status}),
                actor=actor,
                as_of=today,
            )
        _print(
            plan.add_note(
                session,
                code,
                NoteIn(noted_on=today, note=text, progress=progress),
                actor=actor,
                as_of=today,
            )
        )


@app.command("report")
@command
def report(
    out: Path = typer.Option(..., "--out", help="File to write."),
    file_format: str = typer.Option("html", "--format", help="html or pdf"),
    as_of: str = AS_OF,
    area: str = AREA,
    area_level: int = LEVEL,
) -> None:
    """Write the complete coherence report (HTML, or PDF through WeasyPrint)."""
    from solidarity.coherence.report import render_html, render_pdf

    if file_format not in ("html", "pdf"):
        raise typer.BadParameter("use html or pdf", param_hint="--format")
    with (
        console.status("Computing the diagnostics and drawing the charts..."),
        unit_of_work() as session,
    ):
        html = render_html(diagnostics.Context(session, _day(as_of), area, area_level))
    if file_format == "pdf":
        with console.status("Rendering the PDF..."):
            out.write_bytes(render_pdf(html))
    else:
        out.write_text(html, encoding="utf-8")
    console.print(f"report written to {out}")
