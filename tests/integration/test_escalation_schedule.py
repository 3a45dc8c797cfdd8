"""Escalation on breach runs on the worker's schedule as a durable job, once per slot,
however many workers poll, at the worker's (controlled) clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from solidarity.db.engine import unit_of_work
from solidarity.governance import service as governance
from solidarity.grievances import service as grievances
from solidarity.grievances.schemas import GrievanceIn
from solidarity.jobs import service as jobs
from solidarity.jobs.schedule import (
    GRIEVANCE_ESCALATION,
    Schedule,
    ScheduleSettings,
    default_schedules,
    enqueue_due,
    slot_start,
)
from solidarity.jobs.worker import Worker
from tests.integration.test_registry_builders import build_registry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)
SCHEDULE = [Schedule(GRIEVANCE_ESCALATION, EVERY)]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _lodge(engine: Engine, make_account: Callable[..., str]) -> int:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
    make_account("officer", "registration_officer", "R01-D01")
    with unit_of_work(engine) as session:
        officer = governance.cli_principal(session, "officer").scoped_to("grievances.manage")
        body = GrievanceIn(category="payment", description="not paid", household_id=reg.okello)
        return grievances.lodge(session, officer, body, now=T0).id  # 2 days to acknowledge


def _escalation_jobs(engine: Engine) -> list[object]:
    with unit_of_work(engine) as session:
        rows, _total = jobs.list_jobs(session, kind=GRIEVANCE_ESCALATION)
        return list(rows)


def test_the_worker_escalates_on_schedule_once_per_slot(
    engine: Engine, make_account: Callable[..., str]
) -> None:
    grievance_id = _lodge(engine, make_account)
    clock = Clock(T0 + timedelta(days=1))
    first = Worker(engine, "w1", clock=clock, schedules=SCHEDULE)
    second = Worker(engine, "w2", clock=clock, schedules=SCHEDULE)

    assert first.run_once() is True  # enqueued and ran the escalation: nothing breached yet
    assert second.run_once() is False  # same slot: no second job
    [job] = _escalation_jobs(engine)
    assert job.status == "succeeded" and job.created_by == "scheduler"  # type: ignore[attr-defined]
    assert job.result == {"escalated": [], "at": clock.now.isoformat()}  # type: ignore[attr-defined]

    clock.now = T0 + timedelta(days=2, minutes=1)  # acknowledgement due at T0 + 2 days
    assert second.run_once() is True
    assert first.run_once() is False
    newest = _escalation_jobs(engine)[0]
    assert newest.result["escalated"] == [grievance_id]  # type: ignore[attr-defined]
    with unit_of_work(engine) as session:
        officer = governance.cli_principal(session, "officer").scoped_to("grievances.read")
        seen = grievances.get_grievance(session, officer, grievance_id)
        assert seen.escalation_level == "region" and seen.escalations == 1

    clock.now += EVERY  # the next slot: a new run, and the breach is not escalated twice
    assert first.run_once() is True
    assert _escalation_jobs(engine)[0].result["escalated"] == []  # type: ignore[attr-defined]
    assert len(_escalation_jobs(engine)) == 3


def test_a_pending_run_blocks_the_next_slot_and_concurrent_schedulers_add_one_job(
    engine: Engine,
) -> None:
    now = T0
    with unit_of_work(engine) as session:
        assert len(enqueue_due(session, SCHEDULE, now)) == 1
    with unit_of_work(engine) as session:  # still queued in the next slot: not doubled
        assert enqueue_due(session, SCHEDULE, now + EVERY) == []
    with unit_of_work(engine) as session:
        [job] = _escalation_jobs(engine)
        jobs.cancel(session, job.id)  # type: ignore[attr-defined]

    barrier = threading.Barrier(4)
    made: list[int] = []

    def schedule() -> None:
        barrier.wait()
        with unit_of_work(engine) as session:
            made.extend(enqueue_due(session, SCHEDULE, now + 2 * EVERY))

    threads = [threading.Thread(target=schedule) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert len(_escalation_jobs(engine)) == 2


def test_slots_and_settings() -> None:
    assert slot_start(datetime(2026, 3, 2, 9, 44, tzinfo=UTC), EVERY) == datetime(
        2026, 3, 2, 9, 30, tzinfo=UTC
    )
    assert slot_start(datetime(2026, 3, 2, 9, 45), EVERY) == datetime(2026, 3, 2, 9, 45, tzinfo=UTC)
    assert default_schedules(ScheduleSettings(escalation_minutes=0)) == []
    [escalation] = default_schedules(ScheduleSettings(escalation_minutes=5))
    assert escalation.kind == GRIEVANCE_ESCALATION and escalation.every == timedelta(minutes=5)
