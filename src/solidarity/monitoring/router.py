"""``/api/v1/monitoring``: indicators, values, snapshots, trends, data quality; ``/metrics``.

Reads need ``monitoring.read``, definitions and snapshots ``monitoring.manage``.
Values and data quality are computed over the caller's areas only.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from solidarity.governance.principal import Principal
from solidarity.monitoring import metrics, quality, report, service
from solidarity.monitoring import repository as repo
from solidarity.monitoring.models import IndicatorSnapshot, IndicatorVersion
from solidarity.monitoring.schemas import (
    IndicatorDefinition,
    IndicatorOut,
    IndicatorValue,
    SnapshotIn,
    SnapshotOut,
)
from solidarity.web.deps import get_session, require

READ = "monitoring.read"
MANAGE = "monitoring.manage"

router = APIRouter(tags=["monitoring"])
PREFIX = "/api/v1/monitoring"


def _indicator(row: IndicatorVersion) -> IndicatorOut:
    return IndicatorOut(
        code=row.code, version=row.version, name=row.name, definition=row.definition
    )


def _snapshot(row: IndicatorSnapshot) -> SnapshotOut:
    return SnapshotOut.model_validate(row, from_attributes=True)


@router.get(f"{PREFIX}/indicators")
def list_monitoring_indicators(
    session: Session = Depends(get_session), _p: Principal = Depends(require(READ))
) -> list[IndicatorOut]:
    """The newest version of every indicator."""
    return [_indicator(r) for r in service.indicators(session)]


@router.put(f"{PREFIX}/indicators")
def save_monitoring_indicator(
    body: IndicatorDefinition,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> IndicatorOut:
    """Store an indicator definition as a new version (checked against its unit's fields)."""
    return _indicator(service.save_indicator(session, body, principal.username))


@router.post(f"{PREFIX}/indicators/standard")
def load_standard_indicators(
    session: Session = Depends(get_session), principal: Principal = Depends(require(MANAGE))
) -> list[IndicatorOut]:
    """Store the standard library of indicators (idempotent)."""
    return [_indicator(r) for r in service.load_standard(session, principal.username)]


@router.get(f"{PREFIX}/values")
def compute_monitoring_values(
    as_of: date | None = Query(None, description="Date the indicators are computed as of."),
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> list[IndicatorValue]:
    """Every indicator computed now over the caller's areas (nothing stored)."""
    return service.compute_all(session, as_of or date.today(), principal.area_paths)


@router.post(f"{PREFIX}/snapshots", status_code=201)
def take_monitoring_snapshot(
    body: SnapshotIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> list[SnapshotOut]:
    """Compute every indicator for a period and store it with its versions (national)."""
    rows = service.snapshot(session, body.period, body.as_of, principal.username)
    return [_snapshot(r) for r in rows]


@router.get(f"{PREFIX}/snapshots")
def list_monitoring_snapshots(
    period: str | None = Query(None),
    session: Session = Depends(get_session),
    _p: Principal = Depends(require(READ)),
) -> list[SnapshotOut]:
    """Stored snapshot values (national figures)."""
    return [_snapshot(r) for r in repo.MonitoringRepository(session).snapshots(period)]


@router.get(f"{PREFIX}/trends")
def get_monitoring_trends(
    session: Session = Depends(get_session), _p: Principal = Depends(require(READ))
) -> list[dict[str, Any]]:
    """Each indicator's snapshots over time against its baseline and targets."""
    return service.trends(session)


@router.get(
    f"{PREFIX}/report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def get_monitoring_report(
    format: Literal["html", "pdf"] = Query("html"),
    session: Session = Depends(get_session),
    _p: Principal = Depends(require(READ)),
) -> Response:
    """The monitoring report with trend charts, as HTML or PDF."""
    trends = service.trends(session)
    if format == "pdf":
        return Response(report.render_pdf(trends), media_type="application/pdf")
    return Response(report.render_html(trends), media_type="text/html")


@router.get(f"{PREFIX}/data-quality")
def get_data_quality(
    as_of: date | None = Query(None),
    limit: int = Query(200, ge=0, le=10000, description="Failing records listed at most."),
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> dict[str, Any]:
    """Scores per dimension, field, area, source and enumerator; failing records."""
    return quality.assess(
        session, as_of or date.today(), scope=principal.area_paths, failing_limit=limit
    )


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics(
    request: Request,
    session: Session = Depends(get_session),
    _p: Principal = Depends(require(READ)),
) -> Response:
    """System KPIs in the Prometheus text format (requests by route, job durations)."""
    text = metrics.render(
        getattr(request.app.state, "request_metrics", None),
        repo.job_durations(session.connection()),
    )
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
