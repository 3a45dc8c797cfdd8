"""REST routes of jobs under /api/v1: follow, cancel and retry background work.

Accounts holding ``jobs.manage`` see and act on every job; others only on the
jobs they started (another's job answers 404, as if it did not exist).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from solidarity.governance.principal import Principal
from solidarity.jobs import service
from solidarity.jobs.schemas import JobOut, JobPage, JobStatus, JobSummary
from solidarity.web.deps import get_session, require

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

JobsReader = Annotated[Principal, Depends(require("jobs.read"))]


def _owner(principal: Principal) -> str | None:
    return None if principal.has("jobs.manage") else principal.username


@router.get("", response_model=JobPage)
def list_jobs(
    principal: JobsReader,
    status: JobStatus | None = Query(default=None, description="Only jobs in this state"),
    kind: str | None = Query(default=None, description="Only jobs of this kind"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
    session: Session = Depends(get_session),
) -> JobPage:
    """List jobs, newest first."""
    jobs, total = service.list_jobs(
        session, status=status, kind=kind, limit=limit, offset=offset, owner=_owner(principal)
    )
    return JobPage(
        items=[JobSummary.model_validate(job) for job in jobs],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: int, principal: JobsReader, session: Session = Depends(get_session)) -> JobOut:
    """Show one job: status, progress, log, result or error."""
    return JobOut.model_validate(service.get_job(session, job_id, _owner(principal)))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(
    job_id: int, principal: JobsReader, session: Session = Depends(get_session)
) -> JobOut:
    """Cancel a queued job, or ask a running one to stop at its next safe point."""
    service.get_job(session, job_id, _owner(principal))
    return JobOut.model_validate(service.cancel(session, job_id, actor=principal.username))


@router.post("/{job_id}/retry", response_model=JobOut)
def retry_job(
    job_id: int, principal: JobsReader, session: Session = Depends(get_session)
) -> JobOut:
    """Queue a failed or cancelled job again."""
    service.get_job(session, job_id, _owner(principal))
    return JobOut.model_validate(service.retry(session, job_id, actor=principal.username))
