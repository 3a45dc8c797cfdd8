"""The simulation pages: stored scenarios, runs and comparisons, the budget solver.

A scenario is stored from its YAML (as ``solidarity simulate run`` reads it); runs
and solves are durable jobs whose results the job page shows side by side, with
the charts of the brief (server-rendered SVG beside tables of the same figures)
and the PDF brief to download. A caller whose grant covers some areas simulates
over those areas only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, SolidarityError
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import FINISHED, JobOut
from solidarity.simulation import report, service
from solidarity.simulation.jobs import RUN, SOLVE
from solidarity.simulation.router import RUN as PERMISSION
from solidarity.simulation.schemas import SolveIn
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import is_htmx, locale_of, redirect, render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Analyst = Annotated[Principal, Depends(require(PERMISSION))]
JobId = Annotated[int, PathParam(ge=1)]


async def _form(request: Request) -> dict[str, list[str]]:
    """Every value of every field of a posted form (checkbox lists keep all their values)."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


FormData = Annotated[dict[str, list[str]], Depends(_form)]


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[-1].strip()


def _svg(draw: Any, *args: Any) -> Markup | None:
    try:
        return Markup(draw(*args))
    except (SolidarityError, ValueError, KeyError, TypeError):
        return None


def _problem(
    request: Request, principal: Principal, detail: str, errors: list[Any] | None = None
) -> Response:
    return render(
        request, "partials/alert.html", principal, status_code=422, detail=detail, errors=errors
    )


def _scope(principal: Principal) -> list[str] | None:
    return list(principal.area_paths) if principal.area_paths is not None else None


@router.get("/simulation", response_class=HTMLResponse)
def simulation_home(request: Request, session: SessionDep, analyst: Analyst) -> HTMLResponse:
    """Stored scenarios, the forms to store, run, compare and solve, and recent jobs."""
    latest: dict[str, Any] = {}
    versions: dict[str, int] = {}
    for row in service.list_scenarios(session):
        latest[row.name] = row
        versions[row.name] = versions.get(row.name, 0) + 1
    recent: list[Any] = []
    for kind in (RUN, SOLVE):
        found, _total = jobs.list_jobs(session, kind=kind, limit=10, owner=analyst.username)
        recent.extend(found)
    recent.sort(key=lambda j: j.id, reverse=True)
    return render(
        request,
        "simulation/index.html",
        analyst,
        scenarios=list(latest.values()),
        versions=versions,
        recent=recent[:10],
        today=date.today().isoformat(),
    )


@router.post("/simulation/scenarios", response_class=HTMLResponse)
def save_scenario(
    request: Request, session: SessionDep, analyst: Analyst, form: FormData
) -> Response:
    """Store a new version of a scenario from its YAML (checked against the rules in force)."""
    text = _one(form, "definition")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return _problem(
            request,
            analyst,
            locale_of(request).gettext("The YAML cannot be read: %(reason)s", reason=str(exc)),
        )
    try:
        row = service.save_scenario(session, service.parse_scenario(data), analyst.username)
    except SolidarityError as exc:
        session.rollback()
        return _problem(request, analyst, exc.detail, exc.extra.get("errors"))
    return redirect(request, f"/simulation?saved={row.name}")


@router.post("/simulation/runs", response_class=HTMLResponse)
def run_scenarios(
    request: Request, session: SessionDep, analyst: Analyst, form: FormData
) -> Response:
    """Queue a run of one stored scenario, or a comparison of several."""
    names = [n for n in form.get("names", []) if n]
    if not names:
        return _problem(
            request, analyst, locale_of(request).gettext("Choose at least one scenario.")
        )
    as_of = _one(form, "as_of")
    try:
        if as_of:
            date.fromisoformat(as_of)
        for name in names:
            service.stored_scenario(session, name)
    except ValueError:
        return _problem(request, analyst, locale_of(request).gettext("Give a date as YYYY-MM-DD."))
    except SolidarityError as exc:
        return _problem(request, analyst, exc.detail)
    params = {"names": names, "as_of": as_of or None, "scope_paths": _scope(analyst)}
    job = jobs.enqueue(session, RUN, params, actor=analyst.username, max_attempts=1)
    return redirect(request, f"/simulation/jobs/{job.id}")


@router.post("/simulation/solve", response_class=HTMLResponse)
def solve(request: Request, session: SessionDep, analyst: Analyst, form: FormData) -> Response:
    """Queue the budget solver on a stored scenario."""
    try:
        row = service.stored_scenario(session, _one(form, "scenario"))
        target = _one(form, "target_kind") or "budget"
        value = _one(form, "target")
        request_body = SolveIn(
            scenario=service.parse_scenario(row.definition),
            programme=_one(form, "programme"),
            rule=_one(form, "rule") or "eligibility",  # type: ignore[arg-type]
            parameter=_one(form, "parameter"),
            low=float(_one(form, "low") or "nan"),
            high=float(_one(form, "high") or "nan"),
            budget=float(value) if target == "budget" and value else None,
            coverage_of_poor=float(value) if target == "coverage" and value else None,
            curve_points=int(_one(form, "points") or 8),
        )
    except SolidarityError as exc:
        return _problem(request, analyst, exc.detail)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return _problem(
            request,
            analyst,
            locale_of(request).gettext("The solver's request is not valid"),
            errors,
        )
    except ValueError:
        return _problem(
            request,
            analyst,
            locale_of(request).gettext("Give numbers for the range and the target."),
        )
    if request_body.low != request_body.low or request_body.high != request_body.high:
        return _problem(
            request,
            analyst,
            locale_of(request).gettext("Give numbers for the range and the target."),
        )
    params = {"request": request_body.model_dump(mode="json"), "scope_paths": _scope(analyst)}
    job = jobs.enqueue(session, SOLVE, params, actor=analyst.username, max_attempts=1)
    return redirect(request, f"/simulation/jobs/{job.id}")


def _job(session: Session, analyst: Principal, job_id: int) -> JobOut:
    owner = None if analyst.has("jobs.manage") else analyst.username
    job = JobOut.model_validate(jobs.get_job(session, job_id, owner))
    if job.kind not in (RUN, SOLVE):
        raise NotFoundError(f"job {job_id} is not a simulation job")
    return job


def _charts(job: JobOut) -> dict[str, Any]:
    result = job.result or {}
    if job.status != "succeeded":
        return {}
    if job.kind == SOLVE:
        return {
            "curve": _svg(report.curve_chart, result.get("curve", []), result.get("parameter", ""))
        }
    results = result.get("results", [])
    charts: dict[str, Any] = {
        "costs": [_svg(report.cost_chart, r["programme_changes"]) for r in results]
    }
    if len(results) > 1:
        charts["compare"] = _svg(report.compare_chart, result.get("table", []))
    return charts


@router.get("/simulation/jobs/{job_id}", response_class=HTMLResponse)
def simulation_job(
    request: Request, session: SessionDep, analyst: Analyst, job_id: JobId
) -> HTMLResponse:
    """Progress of a run or solve, then its report side by side."""
    job = _job(session, analyst, job_id)
    finished = job.status in FINISHED
    template = "simulation/_job.html" if is_htmx(request) else "simulation/job.html"
    return render(
        request,
        template,
        analyst,
        job=job,
        finished=finished,
        charts=_charts(job) if finished else {},
        RUN=RUN,
        SOLVE=SOLVE,
    )


@router.get("/simulation/jobs/{job_id}/brief.pdf")
def simulation_brief(session: SessionDep, analyst: Analyst, job_id: JobId) -> Response:
    """The PDF brief of a finished run: scenarios side by side, explanations, charts."""
    job = _job(session, analyst, job_id)
    results = (job.result or {}).get("results") if job.kind == RUN else None
    if job.status != "succeeded" or not results:
        raise NotFoundError(f"job {job_id} has no finished run to brief")
    return Response(
        report.brief_pdf(results),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="simulation-brief-{job_id}.pdf"'},
    )
