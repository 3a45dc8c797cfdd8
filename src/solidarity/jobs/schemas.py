"""Pydantic views of jobs for the API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field, field_validator

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]

#: States a job never leaves on its own.
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class JobSummary(BaseModel):
    """A job in a list: what it is, where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: JobStatus
    progress: float
    message: str | None
    attempts: int
    max_attempts: int
    worker_id: str | None
    cancel_requested: bool
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    _aware_times = field_validator(
        "created_at", "started_at", "finished_at", "heartbeat_at", mode="after"
    )(_aware)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        """Where the job can be followed."""
        return f"/api/v1/jobs/{self.id}"


class JobOut(JobSummary):
    """One job in full: parameters, log, result and error."""

    params: dict[str, Any]
    log: str
    result: dict[str, Any] | None
    error: str | None


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobSummary]
    total: int
    limit: int
    offset: int


class JobAccepted(BaseModel):
    """The answer to a request that started a job (HTTP 202)."""

    id: int
    kind: str
    status: JobStatus
    url: str
