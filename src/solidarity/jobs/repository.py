"""Queries on the job table (the only module of the jobs domain that builds SQL).

Claiming is the delicate part. Several workers may poll at once, so a job must
move from ``queued`` to ``running`` in one statement that only one of them can
win: on PostgreSQL the candidate row is picked with ``FOR UPDATE SKIP LOCKED`` (a
worker never waits on, nor takes, a row another worker is claiming); on SQLite,
which lets one writer in at a time, the same ``UPDATE ... WHERE id = (SELECT ...)
AND status = 'queued'`` is enough, and the returned row says whether we won.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import Session

from solidarity.jobs.models import Job


class JobRepository:
    """Reads and state changes of jobs; the caller owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, job_id: int) -> Job | None:
        """The job with ``job_id``, if any."""
        return self.session.get(Job, job_id)

    def add(self, job: Job) -> Job:
        """Stage a new job and give it its id."""
        self.session.add(job)
        self.session.flush()
        return job

    def page(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
        created_by: str | None = None,
    ) -> tuple[Sequence[Job], int]:
        """A page of jobs, newest first, and how many match in all."""
        conditions = []
        if created_by is not None:
            conditions.append(Job.created_by == created_by)
        if status is not None:
            conditions.append(Job.status == status)
        if kind is not None:
            conditions.append(Job.kind == kind)
        query = select(Job).where(*conditions)
        total = self.session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
        rows = self.session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
        return rows, total

    def claim_next(
        self, worker_id: str, now: datetime, kinds: Sequence[str] | None = None
    ) -> int | None:
        """Move the oldest queued job to ``running`` for ``worker_id``.

        Returns:
            The id of the claimed job, or None when nothing is queued.
        """
        candidate = select(Job.id).where(Job.status == "queued")
        if kinds is not None:
            candidate = candidate.where(Job.kind.in_(list(kinds)))
        candidate = candidate.order_by(Job.created_at, Job.id).limit(1)
        if self.session.get_bind().dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        statement = (
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), Job.status == "queued")
            .values(
                status="running",
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
                finished_at=None,
                error=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(statement).scalar_one_or_none()

    def update_owned(self, job_id: int, owner: str, /, **values: Any) -> bool:
        """Change a running job only while the worker ``owner`` still holds it.

        Returns:
            False when the job was taken away (recovered as stale, or reassigned).
        """
        statement = (
            update(Job)
            .where(Job.id == job_id, Job.worker_id == owner, Job.status == "running")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def append_log(self, job_id: int, text: str) -> None:
        """Append ``text`` to the job's log without reading it first."""
        self.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(log=func.coalesce(Job.log, "") + text)
            .execution_options(synchronize_session=False)
        )

    def cancel_requested(self, job_id: int) -> bool:
        """Whether someone asked the job to stop."""
        return bool(self.session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def recover_stale(self, cutoff: datetime, now: datetime) -> tuple[list[int], list[int]]:
        """Take back running jobs whose worker went silent before ``cutoff``.

        A job with attempts left goes back to ``queued``; one that used them all
        becomes ``failed``.

        Returns:
            The ids re-queued and the ids failed.
        """
        silent = and_(
            Job.status == "running",
            or_(
                Job.heartbeat_at < cutoff,
                and_(Job.heartbeat_at.is_(None), Job.started_at < cutoff),
            ),
        )
        failed = self.session.execute(
            update(Job)
            .where(silent, Job.attempts >= Job.max_attempts)
            .values(
                status="failed",
                error="the worker stopped answering and no attempts are left",
                finished_at=now,
                updated_at=now,
                worker_id=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        failed_ids = list(failed.scalars())
        requeued = self.session.execute(
            update(Job)
            .where(silent, Job.attempts < Job.max_attempts)
            .values(status="queued", worker_id=None, updated_at=now)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return list(requeued.scalars()), failed_ids

    def lock_kind(self, kind: str) -> None:
        """Serialise schedulers of ``kind`` until the transaction ends.

        PostgreSQL: a transaction-level advisory lock keyed by the kind. SQLite lets
        one writer in at a time: a write that changes nothing takes that lock now,
        before anything is read, so the check that follows sees every commit.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"job:{kind}"}
            )
        else:
            self.session.execute(
                update(Job)
                .where(Job.id < 0)
                .values(kind=Job.kind)
                .execution_options(synchronize_session=False)
            )

    def scheduled_since(self, kind: str, actor: str, start: datetime) -> bool:
        """Whether ``actor`` created a job of ``kind`` at or after ``start``, or one is pending."""
        found = self.session.scalar(
            select(Job.id)
            .where(
                Job.kind == kind,
                or_(
                    and_(Job.created_by == actor, Job.created_at >= start),
                    Job.status.in_(("queued", "running")),
                ),
            )
            .limit(1)
        )
        return found is not None


class JobErasureRepository:
    """Jobs whose parameters, results or messages may hold an erased person's data."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def mentioning(self, needles: Sequence[str]) -> Sequence[Job]:
        """Jobs with one of ``needles`` in their params, result, message, log or error."""
        from solidarity.registry.scrub import contains_any

        columns = (Job.params, Job.result, Job.message, Job.log, Job.error)
        return self.session.scalars(
            select(Job).where(or_(*(contains_any(c, needles) for c in columns))).order_by(Job.id)
        ).all()
