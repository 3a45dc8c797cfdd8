"""The worker: claims queued jobs, runs their handlers and records the outcome.

Run it with ``solidarity worker``. Several workers may share a PostgreSQL
database (claims use ``FOR UPDATE SKIP LOCKED``); on SQLite run one.

A job's life: ``queued`` -> ``running`` (claimed; ``attempts`` counts the
claims) -> ``succeeded`` | ``failed`` | ``cancelled``. While a handler runs, a
heartbeat thread stamps ``heartbeat_at``. A ``running`` job whose heartbeat is
older than ``SOLIDARITY_JOB_STALE_SECONDS`` (default 60) lost its worker (a crash,
a killed container): the next worker to poll puts it back to ``queued``, or marks
it ``failed`` once ``attempts`` reached ``max_attempts``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import traceback
import uuid
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from solidarity.db.base import utcnow
from solidarity.db.engine import unit_of_work
from solidarity.db.storage_full import STORAGE_FULL_MESSAGE, is_storage_full
from solidarity.jobs.repository import JobRepository
from solidarity.jobs.schedule import Schedule, enqueue_due
from solidarity.jobs.service import Clock, JobCancelled, JobContext, handler_for
from solidarity.observability.logs import REQUEST_ID

logger = logging.getLogger(__name__)


class WorkerSettings(BaseSettings):
    """Worker settings, read from ``SOLIDARITY_JOB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SOLIDARITY_JOB_", extra="ignore")

    stale_seconds: float = Field(
        default=60.0, gt=0, description="heartbeat age after which a running job is recovered"
    )


def default_worker_id() -> str:
    """A worker id naming the host and process, unique per worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _json_safe(value: Any) -> dict[str, Any]:
    loaded = json.loads(json.dumps(value if value is not None else {}, default=str))
    return loaded if isinstance(loaded, dict) else {"value": loaded}


class Worker:
    """Runs queued jobs one at a time.

    Args:
        engine: The database holding the job table.
        worker_id: This worker's name in ``job.worker_id`` (default: host, pid, random).
        stale_after: Seconds without heartbeat before a running job is recovered.
        clock: The time source (tests pass a controllable one).
        kinds: Only claim jobs of these kinds (default: every kind).
        heartbeat_interval: Seconds between heartbeats while a handler runs.
        schedules: Periodic jobs this worker enqueues when their slot comes
            (:func:`solidarity.jobs.schedule.default_schedules`; none by default).
    """

    def __init__(
        self,
        engine: Engine,
        worker_id: str | None = None,
        *,
        stale_after: float | None = None,
        clock: Clock = utcnow,
        kinds: Sequence[str] | None = None,
        heartbeat_interval: float | None = None,
        schedules: Sequence[Schedule] = (),
    ) -> None:
        from solidarity.jobs.handlers import register_all

        register_all()
        self.engine = engine
        self.worker_id = worker_id or default_worker_id()
        self.stale_after = stale_after or WorkerSettings().stale_seconds
        self.clock = clock
        self.kinds = kinds
        self.heartbeat_interval = heartbeat_interval or max(self.stale_after / 4, 0.5)
        self.schedules = tuple(schedules)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the worker to stop: the running handler stops at its next safe point."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def recover_stale(self) -> tuple[list[int], list[int]]:
        """Re-queue (or fail) running jobs whose worker went silent.

        Returns:
            The ids put back to ``queued`` and the ids marked ``failed``.
        """
        now = self.clock()
        with unit_of_work(self.engine) as session:
            requeued, failed = JobRepository(session).recover_stale(
                now - timedelta(seconds=self.stale_after), now
            )
        for job_id in requeued:
            logger.warning("job %s lost its worker: queued again", job_id)
        for job_id in failed:
            logger.warning("job %s lost its worker and has no attempts left: failed", job_id)
        return requeued, failed

    def enqueue_scheduled(self) -> list[int]:
        """Enqueue the scheduled jobs whose slot has come (once, whatever the workers).

        Returns:
            The ids of the jobs this worker enqueued.
        """
        if not self.schedules:
            return []
        with unit_of_work(self.engine) as session:
            enqueued = enqueue_due(session, self.schedules, self.clock())
        for job_id in enqueued:
            logger.info("scheduled job %s enqueued by %s", job_id, self.worker_id)
        return enqueued

    def claim(self) -> int | None:
        """Claim the oldest queued job, committed at once; None when there is none."""
        with unit_of_work(self.engine) as session:
            return JobRepository(session).claim_next(self.worker_id, self.clock(), self.kinds)

    def run_once(self) -> bool:
        """Enqueue due scheduled jobs, recover stale jobs, then claim and run one job.

        Returns:
            True if a job was run, False if none was queued.
        """
        self.enqueue_scheduled()
        self.recover_stale()
        job_id = self.claim()
        if job_id is None:
            return False
        self.run_job(job_id)
        return True

    def run_forever(self, poll_interval: float = 1.0, *, handle_signals: bool = True) -> None:
        """Run jobs until :meth:`stop` (or SIGTERM/SIGINT) is received.

        On the first signal the running handler is asked to stop at its next
        safe point (a bulk handler finishes its batch) and the job goes back to
        ``queued`` so the next worker resumes it; a second signal exits at once
        and leaves the job to stale-job recovery.
        """
        previous: dict[signal.Signals, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():

            def _on_signal(signum: int, _frame: FrameType | None) -> None:
                if self.stopping:
                    raise KeyboardInterrupt
                logger.warning("signal %s: stopping after the current batch", signum)
                self.stop()

            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, _on_signal)
        try:
            while not self.stopping:
                try:
                    ran = self.run_once()
                except Exception:  # the database may be briefly unreachable
                    logger.exception("worker %s: polling failed", self.worker_id)
                    ran = False
                if not ran:
                    self._stop.wait(poll_interval)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def run_job(self, job_id: int) -> None:
        """Run the handler of a job this worker has claimed and record the outcome."""
        with unit_of_work(self.engine) as session:
            job = JobRepository(session).get(job_id)
            if job is None:  # pragma: no cover - deleted under our feet
                return
            kind, params = job.kind, dict(job.params or {})
        ctx = JobContext(
            engine=self.engine,
            job_id=job_id,
            params=params,
            worker_id=self.worker_id,
            clock=self.clock,
            stopping=self._stop.is_set,
        )
        handler = handler_for(kind)
        if handler is None:
            self._finish(ctx, status="failed", error=f"no handler is registered for {kind!r}")
            return
        # The job's log lines carry the id of the request that queued it.
        request_token = REQUEST_ID.set(params.get("request_id"))
        logger.info("job %s (%s) started by %s", job_id, kind, self.worker_id)
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ctx, beat_stop), daemon=True)
        beat.start()
        try:
            result = handler(ctx)
        except JobCancelled as exc:
            self._stopped(ctx, str(exc))
        except Exception as exc:
            self._failed(ctx, exc)
        else:
            self._finish(
                ctx, status="succeeded", result=_json_safe(result), progress=1.0, message="done"
            )
        finally:
            beat_stop.set()
            beat.join()
            REQUEST_ID.reset(request_token)

    def _failed(self, ctx: JobContext, exc: Exception) -> None:
        # A full disk gets a message an operator can act on; the details go to the log.
        full = is_storage_full(exc)
        error = STORAGE_FULL_MESSAGE if full else f"{type(exc).__name__}: {exc}"
        try:
            ctx.log("".join(traceback.format_exception(exc)))
        except Exception:  # the log may not fit where the failure did not
            logger.exception("could not write the log of job %s", ctx.job_id)
        try:
            extra = {"message": "failed: the database or its disk is full"} if full else {}
            self._finish(ctx, status="failed", error=error, **extra)
        except Exception:  # the database refuses even that: stale-job recovery retries it
            logger.exception("could not record the failure of job %s: %s", ctx.job_id, error)

    def _stopped(self, ctx: JobContext, reason: str) -> None:
        with unit_of_work(self.engine) as session:
            cancel_requested = JobRepository(session).cancel_requested(ctx.job_id)
        if cancel_requested:
            self._finish(ctx, status="cancelled", message="cancelled")
        elif self.stopping:
            # A shutdown, not the job's fault: give the attempt back and queue it.
            with unit_of_work(self.engine) as session:
                repo = JobRepository(session)
                job = repo.get(ctx.job_id)
                attempts = max((job.attempts if job else 1) - 1, 0)
                repo.update_owned(
                    ctx.job_id,
                    self.worker_id,
                    status="queued",
                    worker_id=None,
                    attempts=attempts,
                    message="worker stopped: queued again",
                    updated_at=self.clock(),
                )
        else:
            logger.warning(
                "job %s was taken from worker %s: %s", ctx.job_id, self.worker_id, reason
            )

    def _finish(self, ctx: JobContext, *, status: str, **values: Any) -> None:
        now = self.clock()
        with unit_of_work(self.engine) as session:
            kept = JobRepository(session).update_owned(
                ctx.job_id,
                self.worker_id,
                status=status,
                finished_at=now,
                heartbeat_at=now,
                updated_at=now,
                **values,
            )
        if kept:
            logger.info("job %s %s", ctx.job_id, status)
        else:
            logger.warning(
                "job %s was taken from worker %s before it finished", ctx.job_id, self.worker_id
            )

    def _heartbeat(self, ctx: JobContext, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_interval):
            try:
                with unit_of_work(self.engine) as session:
                    if not JobRepository(session).update_owned(
                        ctx.job_id, self.worker_id, heartbeat_at=self.clock()
                    ):
                        ctx.lost = True
                        return
            except Exception:  # a busy database: try again at the next beat
                logger.exception("heartbeat of job %s failed", ctx.job_id)
