"""Periodic work run by the worker: each schedule enqueues a durable job once per period.

A schedule names a job kind and a period (``every``). Time is cut into slots
aligned on the Unix epoch (every 15 minutes: :00, :15, :30, :45); when a worker
polls, each schedule whose current slot has no job yet gets one, created by
``scheduler``. The job is an ordinary job: listed by ``/api/v1/jobs`` and
``solidarity jobs``, recovered when its worker dies, retried by hand when it fails.

Several workers may poll at once: the check and the insert run under a lock
taken first in the transaction (a PostgreSQL advisory lock per kind; on SQLite
the write lock), so the second worker sees the first one's job and adds none. A
job of the kind still queued or running also stops a new one, so a slow run is
never doubled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from solidarity.db.base import as_utc
from solidarity.jobs.repository import JobRepository
from solidarity.jobs.service import enqueue

#: The actor of scheduled jobs.
SCHEDULER = "scheduler"
#: Job kind of the escalation of grievances whose service standard is breached.
GRIEVANCE_ESCALATION = "grievances.escalate"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleSettings(BaseSettings):
    """Periods of the scheduled jobs, from ``SOLIDARITY_JOB_*`` variables (0 turns one off)."""

    model_config = SettingsConfigDict(env_prefix="SOLIDARITY_JOB_", extra="ignore")

    escalation_minutes: float = Field(
        default=60.0, ge=0, description="minutes between grievance escalation runs (0: never)"
    )


@dataclass(frozen=True)
class Schedule:
    """Run a job of ``kind`` with ``params`` once every ``every``."""

    kind: str
    every: timedelta
    params: Mapping[str, Any] = field(default_factory=dict)


def default_schedules(settings: ScheduleSettings | None = None) -> list[Schedule]:
    """The schedules of a deployment, from its settings."""
    settings = settings or ScheduleSettings()
    out = []
    if settings.escalation_minutes > 0:
        out.append(Schedule(GRIEVANCE_ESCALATION, timedelta(minutes=settings.escalation_minutes)))
    return out


def slot_start(now: datetime, every: timedelta) -> datetime:
    """The start of the period of length ``every`` that holds ``now`` (epoch-aligned)."""
    moment = as_utc(now)
    periods = (moment - EPOCH) // every
    return EPOCH + periods * every


def enqueue_due(session: Session, schedules: Sequence[Schedule], now: datetime) -> list[int]:
    """Enqueue the job of every schedule whose current slot has none yet.

    Returns:
        The ids of the jobs enqueued (none when another worker was first).
    """
    repo = JobRepository(session)
    enqueued = []
    for schedule in schedules:
        repo.lock_kind(schedule.kind)
        start = slot_start(now, schedule.every)
        if repo.scheduled_since(schedule.kind, SCHEDULER, start):
            continue
        job = enqueue(
            session,
            schedule.kind,
            {**schedule.params, "slot": start.isoformat()},
            actor=SCHEDULER,
            created_at=now,
        )
        enqueued.append(job.id)
    return enqueued
