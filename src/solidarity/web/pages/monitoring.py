"""The monitoring dashboard and the data-quality dashboard.

Monitoring: each indicator's latest snapshot value against its target (or why it
was not computable), its trend over the snapshots as a chart beside a table, its
disaggregations, a button taking a snapshot as a durable job, and the report.
Data quality: scores per dimension, the worst fields and areas, scores per source
and enumerator, failing records page by page (within the reader's areas), and the
data quality assurance plan as a document.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, SolidarityError
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import FINISHED, JobOut
from solidarity.monitoring import quality, report, service
from solidarity.monitoring.jobs import SNAPSHOT
from solidarity.monitoring.router import MANAGE, READ
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import form_fields, is_htmx, locale_of, redirect, render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Reader = Annotated[Principal, Depends(require(READ))]
Manager = Annotated[Principal, Depends(require(MANAGE))]
FormData = Annotated[dict[str, str], Depends(form_fields)]
PAGE_SIZE = 25


def _svg(draw: Any, *args: Any) -> Markup | None:
    """A chart's SVG, or nothing when the chart extra is missing or the data empty."""
    try:
        return Markup(draw(*args))
    except (SolidarityError, ValueError, KeyError, TypeError):
        return None


def _day(value: str | None) -> date:
    try:
        return date.fromisoformat(value) if value else date.today()
    except ValueError:
        return date.today()


def _quarter(on: date) -> str:
    return f"{on.year}-Q{(on.month - 1) // 3 + 1}"


# --- monitoring ---------------------------------------------------------------------------


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_dashboard(
    request: Request, session: SessionDep, reader: Reader, indicator: str = ""
) -> HTMLResponse:
    """Indicators with their latest snapshot, the chosen one's trend and disaggregations."""
    items = service.dashboard(session)
    chosen = next((i for i in items if i["code"] == indicator), None)
    if chosen is None:
        chosen = next((i for i in items if any(p["value"] is not None for p in i["points"])), None)
    if chosen is None and items:
        chosen = items[0]
    chart = None
    if chosen is not None and any(p["value"] is not None for p in chosen["points"]):
        chart = _svg(report.trend_chart, chosen)
    today = date.today()
    return render(
        request,
        "monitoring/dashboard.html",
        reader,
        items=items,
        chosen=chosen,
        chart=chart,
        can_manage=reader.has(MANAGE),
        period=_quarter(today),
        today=today.isoformat(),
    )


@router.post("/monitoring/indicators/standard", response_class=HTMLResponse)
def load_standard_indicators(request: Request, session: SessionDep, manager: Manager) -> Response:
    """Store the standard library of indicators (idempotent) and show the dashboard."""
    service.load_standard(session, manager.username)
    return redirect(request, "/monitoring")


@router.post("/monitoring/snapshots", response_class=HTMLResponse)
def take_snapshot(
    request: Request, session: SessionDep, manager: Manager, form: FormData
) -> Response:
    """Queue the job computing and storing every indicator for a period."""
    period = (form.get("period") or "").strip()
    as_of = form.get("as_of") or date.today().isoformat()
    problem = None
    if not 4 <= len(period) <= 16:
        problem = locale_of(request).gettext("Give a period of 4 to 16 characters, e.g. 2025-Q2.")
    else:
        try:
            date.fromisoformat(as_of)
        except ValueError:
            problem = locale_of(request).gettext("Give a date as YYYY-MM-DD.")
    if problem is not None:
        return render(request, "partials/alert.html", manager, status_code=422, detail=problem)
    params = {"period": period, "as_of": as_of, "actor": manager.username}
    job = jobs.enqueue(session, SNAPSHOT, params, actor=manager.username, max_attempts=1)
    return redirect(request, f"/monitoring/jobs/{job.id}")


@router.get("/monitoring/jobs/{job_id}", response_class=HTMLResponse)
def monitoring_job(
    request: Request,
    session: SessionDep,
    reader: Reader,
    job_id: Annotated[int, PathParam(ge=1)],
) -> HTMLResponse:
    """Progress and outcome of a snapshot job."""
    owner = None if reader.has("jobs.manage") else reader.username
    job = JobOut.model_validate(jobs.get_job(session, job_id, owner))
    if job.kind != SNAPSHOT:
        raise NotFoundError(f"job {job_id} is not a snapshot job")
    template = "monitoring/_job.html" if is_htmx(request) else "monitoring/job.html"
    return render(request, template, reader, job=job, finished=job.status in FINISHED)


# --- data quality -------------------------------------------------------------------------


@router.get("/data-quality", response_class=HTMLResponse)
def quality_dashboard(
    request: Request,
    session: SessionDep,
    reader: Reader,
    as_of: str = "",
    dimension: str = "",
    check: str = "",
    area: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Scores, the worst fields and areas, sources, enumerators and failing records."""
    on = _day(as_of)
    where = {"dimension": dimension, "check": check, "area": area}
    result = quality.assess(
        session,
        on,
        scope=reader.area_paths,
        failing_limit=PAGE_SIZE,
        failing_offset=(page - 1) * PAGE_SIZE,
        failing_where=where,
    )
    dimensions = sorted(
        (s for s in result["scores"] if s["by"] == "dimension"),
        key=lambda s: quality.DIMENSIONS.index(s["group"]),
    )
    matching = int(result.get("failing_matching", 0))
    pages = max((matching + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    filters = {"as_of": on.isoformat(), **where}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    context: dict[str, Any] = {
        "result": result,
        "filters": filters,
        "page": page,
        "pages": pages,
        "page_url": f"/data-quality?{query}&" if query else "/data-quality?",
        "can_open_households": reader.has("registry.read"),
    }
    if is_htmx(request) and request.headers.get("hx-target") == "failing":
        return render(request, "monitoring/_failing.html", reader, **context)
    return render(
        request,
        "monitoring/quality.html",
        reader,
        dimensions=dimensions,
        chart=_svg(report.quality_chart, dimensions) if dimensions else None,
        worst_fields=quality.worst(result, "field", 10),
        worst_areas=quality.worst(result, "area", 10),
        sources=quality.worst(result, "source"),
        enumerators=quality.worst(result, "enumerator", 20),
        checks=[c.name for c in quality.CHECKS],
        all_dimensions=quality.DIMENSIONS,
        **context,
    )


@router.get("/data-quality/plan")
def quality_plan(reader: Reader, format: str = "html") -> Response:
    """The data quality assurance plan as HTML, PDF or CSV."""
    rows = quality.plan()
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="dqa-plan.csv"'},
        )
    if format == "pdf":
        from solidarity.coherence.report import render_pdf

        return Response(
            render_pdf(quality.plan_html(rows)),
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="dqa-plan.pdf"'},
        )
    return Response(quality.plan_html(rows), media_type="text/html; charset=utf-8")
