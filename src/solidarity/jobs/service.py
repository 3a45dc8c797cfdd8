"""Rules of the jobs domain: enqueue, cancel, retry, and the handler registry.

A handler is ``fn(ctx: JobContext) -> dict``; its dict becomes the job's result.
Handlers own their transactions: the job runner does not wrap them in one, so a
bulk handler commits per batch (a crash or a cancel keeps what was committed and
a re-run resumes where it stopped) and short handlers use one
``unit_of_work(ctx.engine)``. Progress, log lines and the cancel check each use
their own short transaction, so they are visible while the handler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.db.engine import unit_of_work
from solidarity.errors import ConflictError, NotFoundError, SolidarityError
from solidarity.jobs.models import Job
from solidarity.jobs.repository import JobRepository
from solidarity.jobs.schemas import FINISHED
from solidarity.observability.logs import current_request_id

Clock = Callable[[], datetime]
Handler = Callable[["JobContext"], dict[str, Any]]

_handlers: dict[str, Handler] = {}


class JobCancelled(SolidarityError):
    """Raised inside a handler to stop at a safe point after a cancel or a shutdown."""

    status_code = 409
    title = "Job cancelled"
    exit_code = 5


def register_handler(kind: str, fn: Handler) -> None:
    """Make ``fn`` the handler of jobs of ``kind`` (a later call replaces it)."""
    _handlers[kind] = fn


def handler_for(kind: str) -> Handler | None:
    """The handler registered for ``kind``, if any."""
    return _handlers.get(kind)


@dataclass
class JobContext:
    """What a running handler may use: its parameters and ways to report back.

    Attributes:
        engine: The database; the handler opens its own units of work on it.
        job_id: The running job.
        params: The parameters the job was enqueued with.
        worker_id: The worker running it.
        clock: The time source (tests replace it).
    """

    engine: Engine
    job_id: int
    params: dict[str, Any]
    worker_id: str = "inline"
    clock: Clock = utcnow
    stopping: Callable[[], bool] = field(default=lambda: False)
    lost: bool = False

    def progress(self, done: int, total: int, message: str | None = None) -> None:
        """Record ``done`` of ``total`` (and a heartbeat) in its own transaction."""
        fraction = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        now = self.clock()
        with unit_of_work(self.engine) as session:
            values: dict[str, Any] = {"progress": fraction, "heartbeat_at": now}
            if message is not None:
                values["message"] = message
            if not JobRepository(session).update_owned(self.job_id, self.worker_id, **values):
                self.lost = True

    def log(self, line: str) -> None:
        """Append a timestamped line to the job's log, visible at once."""
        stamp = self.clock().strftime("%Y-%m-%d %H:%M:%S")
        with unit_of_work(self.engine) as session:
            JobRepository(session).append_log(self.job_id, f"{stamp} {line.rstrip()}\n")

    def cancelled(self) -> bool:
        """Whether the handler should stop at its next safe point.

        True after a user asked to cancel, while the worker shuts down, or when
        the job was taken away from this worker (recovered as stale).
        """
        if self.lost or self.stopping():
            return True
        with unit_of_work(self.engine) as session:
            return JobRepository(session).cancel_requested(self.job_id)

    def raise_if_cancelled(self) -> None:
        """Raise ``JobCancelled`` when :meth:`cancelled` is true."""
        if self.cancelled():
            raise JobCancelled(f"job {self.job_id} stopped before it finished")


def _with_request_id(params: Mapping[str, Any] | None) -> dict[str, Any]:
    # The request that queued a job is named in its params, and so in its log lines.
    out = dict(params or {})
    request_id = current_request_id()
    if request_id and "request_id" not in out:
        out["request_id"] = request_id
    return out


def enqueue(
    session: Session,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    actor: str = "system",
    max_attempts: int = 3,
    created_at: datetime | None = None,
) -> Job:
    """Queue a job of ``kind``; a worker picks it up once the caller commits.

    ``created_at`` defaults to now (a scheduler passes its own clock's time).
    """
    job = Job(
        kind=kind,
        status="queued",
        params=_with_request_id(params),
        progress=0.0,
        log="",
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        created_by=actor,
        updated_by=actor,
    )
    if created_at is not None:
        job.created_at = created_at
        job.updated_at = created_at
    return JobRepository(session).add(job)


def get_job(session: Session, job_id: int, owner: str | None = None) -> Job:
    """The job with ``job_id`` (when ``owner`` is given, only if that account created it).

    Raises:
        NotFoundError: there is no such job, or ``owner`` did not create it.
    """
    job = JobRepository(session).get(job_id)
    if job is None or (owner is not None and job.created_by != owner):
        raise NotFoundError(f"job {job_id} does not exist")
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
    owner: str | None = None,
) -> tuple[Sequence[Job], int]:
    """A page of jobs, newest first, and the number matching (only ``owner``'s if given)."""
    return JobRepository(session).page(
        status=status, kind=kind, limit=limit, offset=offset, created_by=owner
    )


def cancel(session: Session, job_id: int, *, actor: str = "system") -> Job:
    """Cancel a queued job now, or ask a running one to stop at its next safe point.

    Raises:
        NotFoundError: there is no such job.
        ConflictError: the job has already finished.
    """
    job = get_job(session, job_id)
    if job.status in FINISHED:
        raise ConflictError(f"job {job_id} is already {job.status}", job_status=job.status)
    job.cancel_requested = True
    job.updated_by = actor
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
        job.message = f"cancelled by {actor}"
    session.flush()
    return job


def retry(session: Session, job_id: int, *, actor: str = "system") -> Job:
    """Queue a failed or cancelled job again, with a fresh budget of attempts.

    Raises:
        NotFoundError: there is no such job.
        ConflictError: the job is queued, running or succeeded.
    """
    job = get_job(session, job_id)
    if job.status not in {"failed", "cancelled"}:
        raise ConflictError(
            f"job {job_id} is {job.status}: only failed or cancelled jobs can be retried",
            job_status=job.status,
        )
    job.status = "queued"
    job.attempts = 0
    job.cancel_requested = False
    job.error = None
    job.result = None
    job.progress = 0.0
    job.message = f"retried by {actor}"
    job.worker_id = None
    job.finished_at = None
    job.updated_by = actor
    session.flush()
    return job
