"""Durable jobs: queueing, claiming, progress, outcomes, cancel, retry and recovery."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.errors import ConflictError, NotFoundError
from solidarity.jobs import service
from solidarity.jobs.service import JobContext, register_handler
from solidarity.jobs.worker import Worker


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _enqueue(engine: Engine, kind: str, params: dict[str, Any] | None = None, **kw: Any) -> int:
    with unit_of_work(engine) as session:
        return service.enqueue(session, kind, params or {}, actor="tester", **kw).id


def _job(engine: Engine, job_id: int) -> Any:
    with unit_of_work(engine) as session:
        return service.get_job(session, job_id)


def test_a_job_runs_and_its_progress_is_visible_while_it_runs(engine: Engine) -> None:
    seen: dict[str, Any] = {}

    def count(ctx: JobContext) -> dict[str, Any]:
        ctx.log("starting")
        ctx.progress(5, 10, "half way")
        seen["during"] = _job(engine, ctx.job_id)  # another session, another transaction
        return {"counted": ctx.params["up_to"]}

    register_handler("test.count", count)
    job_id = _enqueue(engine, "test.count", {"up_to": 10})
    assert _job(engine, job_id).status == "queued"

    assert Worker(engine, "w1").run_once() is True

    during = seen["during"]
    assert (during.status, during.progress, during.message) == ("running", 0.5, "half way")
    assert during.worker_id == "w1"
    job = _job(engine, job_id)
    assert job.status == "succeeded"
    assert job.result == {"counted": 10}
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.finished_at is not None
    assert "starting" in job.log
    assert Worker(engine, "w1").run_once() is False  # nothing left


def test_a_failing_handler_fails_the_job_and_retry_runs_it_again(engine: Engine) -> None:
    calls: list[int] = []

    def flaky(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.job_id)
        if len(calls) == 1:
            raise RuntimeError("the partner system did not answer")
        return {"ok": True}

    register_handler("test.flaky", flaky)
    job_id = _enqueue(engine, "test.flaky")
    Worker(engine, "w1").run_once()
    job = _job(engine, job_id)
    assert job.status == "failed"
    assert job.error == "RuntimeError: the partner system did not answer"
    assert "Traceback" in job.log

    with unit_of_work(engine) as session:
        retried = service.retry(session, job_id, actor="steward")
        assert (retried.status, retried.attempts, retried.error) == ("queued", 0, None)
    Worker(engine, "w1").run_once()
    job = _job(engine, job_id)
    assert (job.status, job.result) == ("succeeded", {"ok": True})

    with unit_of_work(engine) as session, pytest.raises(ConflictError):
        service.retry(session, job_id)


def test_a_job_of_an_unknown_kind_fails_with_a_clear_error(engine: Engine) -> None:
    job_id = _enqueue(engine, "test.nobody-handles-this")
    Worker(engine, "w1").run_once()
    job = _job(engine, job_id)
    assert job.status == "failed"
    assert "no handler" in (job.error or "")


def test_cancelling_a_queued_job_stops_it_from_running(engine: Engine) -> None:
    ran: list[int] = []
    register_handler("test.never", lambda ctx: ran.append(ctx.job_id) or {})
    job_id = _enqueue(engine, "test.never")
    with unit_of_work(engine) as session:
        assert service.cancel(session, job_id, actor="officer").status == "cancelled"
    assert Worker(engine, "w1").run_once() is False
    assert ran == []
    with unit_of_work(engine) as session, pytest.raises(ConflictError):
        service.cancel(session, job_id)
    with unit_of_work(engine) as session, pytest.raises(NotFoundError):
        service.cancel(session, 999_999)


def test_a_running_job_stops_at_its_next_safe_point_when_cancelled(engine: Engine) -> None:
    batches: list[int] = []

    def bulk(ctx: JobContext) -> dict[str, Any]:
        for batch in range(5):
            batches.append(batch)
            if batch == 1:  # someone cancels from the API while batch 1 runs
                with unit_of_work(engine) as session:
                    service.cancel(session, ctx.job_id, actor="officer")
            ctx.progress(batch + 1, 5, "batch done")
            ctx.raise_if_cancelled()
        return {}

    register_handler("test.bulk", bulk)
    job_id = _enqueue(engine, "test.bulk")
    Worker(engine, "w1").run_once()
    job = _job(engine, job_id)
    assert batches == [0, 1]
    assert job.status == "cancelled"
    assert job.progress == pytest.approx(0.4)
    with unit_of_work(engine) as session:
        assert service.retry(session, job_id).status == "queued"


def test_a_worker_shutting_down_puts_its_job_back_in_the_queue(engine: Engine) -> None:
    worker = Worker(engine, "w1")

    def long(ctx: JobContext) -> dict[str, Any]:
        worker.stop()  # SIGTERM arrives while the first batch runs
        ctx.progress(1, 3, "batch 1 committed")
        ctx.raise_if_cancelled()
        return {}

    register_handler("test.long", long)
    job_id = _enqueue(engine, "test.long")
    worker.run_once()
    job = _job(engine, job_id)
    assert (job.status, job.attempts, job.worker_id) == ("queued", 0, None)
    assert "queued again" in (job.message or "")


def test_a_job_whose_worker_went_silent_is_queued_again_then_failed(engine: Engine) -> None:
    clock = FakeClock()
    register_handler("test.stale", lambda ctx: {"done": True})
    job_id = _enqueue(engine, "test.stale", max_attempts=2)

    crashed = Worker(engine, "crashed", clock=clock, stale_after=60)
    assert crashed.claim() == job_id  # claimed, then the process died
    other = Worker(engine, "other", clock=clock, stale_after=60)

    clock.advance(59)
    assert other.recover_stale() == ([], [])  # heartbeat still fresh enough
    clock.advance(2)
    assert other.recover_stale() == ([job_id], [])
    job = _job(engine, job_id)
    assert (job.status, job.worker_id, job.attempts) == ("queued", None, 1)

    assert crashed.claim() == job_id  # second attempt, and it dies again
    clock.advance(61)
    assert other.recover_stale() == ([], [job_id])
    job = _job(engine, job_id)
    assert job.status == "failed"
    assert "no attempts are left" in (job.error or "")


def test_a_recovered_job_is_not_finished_by_the_worker_that_lost_it(engine: Engine) -> None:
    clock = FakeClock()
    slow_worker = Worker(engine, "slow", clock=clock, stale_after=60)

    def slow(ctx: JobContext) -> dict[str, Any]:
        clock.advance(120)  # the worker stalls past the stale limit
        Worker(engine, "rescuer", clock=clock, stale_after=60).recover_stale()
        ctx.progress(1, 2)
        assert ctx.cancelled()  # the lost job tells its handler to stop
        return {"late": True}

    register_handler("test.slow", slow)
    job_id = _enqueue(engine, "test.slow")
    slow_worker.run_once()
    job = _job(engine, job_id)
    assert (job.status, job.result) == ("queued", None)


def test_two_workers_never_claim_the_same_job(engine: Engine) -> None:
    job_ids = {_enqueue(engine, "test.race") for _ in range(30)}
    claimed: dict[str, list[int]] = {}

    def claim_all(name: str) -> None:
        worker = Worker(engine, name)
        mine = claimed.setdefault(name, [])
        while (job_id := worker.claim()) is not None:
            mine.append(job_id)

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for ids in claimed.values() for job_id in ids]
    assert sorted(every) == sorted(job_ids)  # each job exactly once
    with unit_of_work(engine) as session:
        jobs, total = service.list_jobs(session, status="running", limit=100)
        assert total == 30
        owners = {job.id: job.worker_id for job in jobs}
    for name, ids in claimed.items():
        assert all(owners[job_id] == name for job_id in ids)


def test_run_forever_returns_after_stop(engine: Engine) -> None:
    done = threading.Event()
    register_handler("test.signal", lambda ctx: done.set() or {})
    _enqueue(engine, "test.signal")
    worker = Worker(engine, "w1")
    thread = threading.Thread(target=worker.run_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    assert done.wait(10)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_jobs_list_newest_first_and_filter(engine: Engine) -> None:
    first = _enqueue(engine, "test.a")
    second = _enqueue(engine, "test.b")
    with unit_of_work(engine) as session:
        jobs, total = service.list_jobs(session)
        assert [j.id for j in jobs] == [second, first] and total == 2
        jobs, total = service.list_jobs(session, kind="test.a")
        assert [j.id for j in jobs] == [first] and total == 1


def test_sigterm_stops_the_worker_after_the_batch_and_requeues_the_job(engine: Engine) -> None:
    batches: list[int] = []

    def bulk(ctx: JobContext) -> dict[str, Any]:
        for batch in range(3):
            batches.append(batch)
            if batch == 0:
                os.kill(os.getpid(), signal.SIGTERM)  # the container is being stopped
            ctx.progress(batch + 1, 3, "batch committed")
            ctx.raise_if_cancelled()
        return {}

    register_handler("test.sigterm", bulk)
    job_id = _enqueue(engine, "test.sigterm")
    before = signal.getsignal(signal.SIGTERM)
    Worker(engine, "w1").run_forever(poll_interval=0.05)  # returns: it was told to stop

    assert batches == [0]
    job = _job(engine, job_id)
    assert (job.status, job.attempts) == ("queued", 0)
    assert job.progress == pytest.approx(1 / 3)  # the committed batch is remembered
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_heartbeat_keeps_a_long_quiet_job_from_being_recovered(engine: Engine) -> None:
    clock = FakeClock()
    worker = Worker(engine, "busy", clock=clock, stale_after=60, heartbeat_interval=0.05)

    def quiet(ctx: JobContext) -> dict[str, Any]:
        clock.advance(300)  # five minutes without a progress call
        time.sleep(0.5)  # meanwhile the heartbeat thread stamps the job
        rescued = Worker(engine, "rescuer", clock=clock, stale_after=60).recover_stale()
        return {"rescued": rescued[0] + rescued[1]}

    register_handler("test.quiet", quiet)
    job_id = _enqueue(engine, "test.quiet")
    worker.run_once()
    job = _job(engine, job_id)
    assert (job.status, job.result) == ("succeeded", {"rescued": []})
