"""Faults around background jobs: a killed worker, a full disk, a graceful shutdown.

The worker runs as a real ``solidarity worker`` process. To kill it at a chosen
point, the child process wraps one function of the handler (``insert_frame``,
which writes the rows of a bulk step, or the repository method that enrols
inside the database) so that, once the rows are written but before the
transaction commits, it drops a marker file and sleeps; the test then sends the
signal. Everything else is the shipped code path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text

from solidarity.db.engine import make_engine, unit_of_work
from solidarity.jobs import service as jobs
from solidarity.jobs.handlers import REGISTRY_IMPORT
from solidarity.jobs.worker import Worker
from solidarity.programs import payments
from solidarity.programs import service as programmes
from solidarity.programs.jobs import ENROL, ENTITLEMENTS
from solidarity.programs.models import Enrolment, Entitlement, JourneyEvent
from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Household, Identifier, Person
from tests.registry_files import load_test_areas, registry_files

AS_OF = date(2025, 6, 30)
HOUSEHOLDS = 150

CHILD_WORKER = """
import sys, time
from pathlib import Path

module_name, function, table, marker = sys.argv[1:5]
owner_name, _, name = function.rpartition(".")
owner = __import__(module_name, fromlist=["_"])
if owner_name:
    owner = getattr(owner, owner_name)
original = getattr(owner, name)


def write_then_wait(*args, **kw):
    out = original(*args, **kw)
    if table == "*":  # a whole step done by the database, e.g. enrolment: its counts
        written = out["enrolled"] + out["waitlisted"]
    else:
        target, model, rows = args[:3]
        if getattr(model, "__tablename__", getattr(model, "name", None)) != table:
            return out
        if hasattr(target, "flush"):
            target.flush()
        written = rows.height
    Path(marker).write_text(str(written))  # written, not committed
    time.sleep(float(sys.argv[5]))
    return out


setattr(owner, name, write_then_wait)
from solidarity.cli.main import app

app(["worker", "--poll", "0.1"])
"""

#: Where an enrolment writes its rows: inside the database, in one statement pair.
ENROLMENT_WRITE: dict[str, Any] = {
    "module": "solidarity.programs.repository",
    "function": "ProgrammeRepository.enrol_in_database",
    "table": "*",
}


def _wait_for(
    condition: Any, what: str, seconds: float = 120, child: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        exited = child is not None and child.poll() is not None
        if exited or time.monotonic() > deadline:
            said = _said(child) if child is not None else ""
            why = f"the worker exited ({child.returncode})" if exited else "timed out"  # type: ignore[union-attr]
            raise AssertionError(f"{why} waiting for {what}; the worker said:\n{said}")
        time.sleep(0.05)


def _said(child: subprocess.Popen[bytes]) -> str:
    """The last lines the worker wrote to stderr (see :func:`_start_worker`)."""
    log = _log_of(Path(child.args[-2]))  # type: ignore[index, arg-type]
    return "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else ""


def _log_of(marker: Path) -> Path:
    return marker.with_name(marker.name + ".log")


def _start_worker(
    database_url: str,
    tmp_path: Path,
    *,
    module: str = "solidarity.programs.eligibility",
    function: str = "insert_frame",
    table: str = "-",
    pause: float = 600,
    stale_seconds: float = 60,
) -> tuple[subprocess.Popen[bytes], Path]:
    marker = tmp_path / f"marker-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "SOLIDARITY_DATABASE_URL": database_url,
        "SOLIDARITY_JOB_STALE_SECONDS": str(stale_seconds),
    }
    with _log_of(marker).open("wb") as log:  # the child keeps its own descriptor
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_WORKER, module, function, table, str(marker), str(pause)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return child, marker


def _job(engine: Engine, job_id: int) -> Any:
    with unit_of_work(engine) as session:
        return jobs.get_job(session, job_id)


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _seed(engine: Engine, tmp_path: Path, n: int = HOUSEHOLDS) -> None:
    """``n`` households of three persons, dated back, and a programme every one qualifies for."""
    load_test_areas(engine)
    outcome = import_files(engine, list(registry_files(tmp_path, n)), today=date(2025, 1, 1))
    assert outcome.households_imported == n
    with engine.begin() as conn:
        for table in ("household", "person"):
            conn.execute(text(f"UPDATE {table} SET valid_from = '2020-01-01 00:00:00+00:00'"))
    with unit_of_work(engine) as session:
        programmes.create_programme(
            session, ProgrammeIn(code="UG", name="Universal grant"), "designer"
        )
        for kind, expression in (("eligibility", "size >= 1"), ("benefit", "10 * size")):
            programmes.add_rule_version(
                session,
                "UG",
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2024, 1, 1)),
                "designer",
            )


def _enqueue(engine: Engine, kind: str, params: dict[str, Any]) -> int:
    with unit_of_work(engine) as session:
        return jobs.enqueue(session, kind, params, actor="manager").id


def _stop(child: subprocess.Popen[bytes]) -> int:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    return child.wait(timeout=120)


def _assert_exact_enrolments(engine: Engine, n: int) -> None:
    with unit_of_work(engine) as session:
        rows = session.execute(select(Enrolment.household_id, Enrolment.status)).all()
        events = session.scalars(
            select(JourneyEvent.household_id).where(JourneyEvent.event == "enrolled")
        ).all()
    households = [household for household, _ in rows]
    assert len(rows) == n
    assert len(set(households)) == n  # no household enrolled twice
    assert {status for _, status in rows} == {"active"}
    assert sorted(events) == sorted(households)  # one "enrolled" event each, no more


@pytest.fixture
def worker_children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:  # never leave a worker behind a failed assertion
        if child.poll() is None:
            child.kill()
            child.wait()


def test_worker_killed_mid_enrolment_restarts_to_exactly_one_enrolment_each(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    worker_children: list[subprocess.Popen[bytes]],
) -> None:
    _seed(engine, tmp_path)
    job_id = _enqueue(engine, ENROL, {"programme": "UG", "as_of": AS_OF.isoformat()})
    child, marker = _start_worker(database_url, tmp_path, **ENROLMENT_WRITE)
    worker_children.append(child)
    _wait_for(marker.exists, "the enrolment rows to be written", child=child)
    assert int(marker.read_text()) == HOUSEHOLDS
    child.send_signal(signal.SIGKILL)
    child.wait()

    # The enrolment is one transaction: nothing of it survived the kill.
    assert _count(engine, Enrolment) == 0
    assert _count(engine, JourneyEvent) == 0
    assert _job(engine, job_id).status == "running"  # until a worker sees it went silent

    again, _ = _start_worker(database_url, tmp_path, stale_seconds=1)
    worker_children.append(again)
    _wait_for(
        lambda: _job(engine, job_id).status == "succeeded", "the job to be resumed", child=again
    )
    assert _stop(again) == 0
    job = _job(engine, job_id)
    assert job.attempts == 2
    assert job.result["enrolled"] == HOUSEHOLDS
    _assert_exact_enrolments(engine, HOUSEHOLDS)

    # Running the same enrolment again changes nothing.
    rerun = _enqueue(engine, ENROL, {"programme": "UG", "as_of": AS_OF.isoformat()})
    Worker(engine, "w-rerun").run_once()
    assert _job(engine, rerun).result["already_enrolled"] == HOUSEHOLDS
    _assert_exact_enrolments(engine, HOUSEHOLDS)


def _cycle(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        programme = programmes.get_programme(session, "UG")
        from solidarity.programs import eligibility

        eligibility.enrol_eligible(session, programme, AS_OF, "officer")
        cycle = payments.create_cycle(
            session, programme, "2025-07", date(2025, 7, 1), date(2025, 7, 31), "officer"
        )
        return cycle.id


def _entitlements(engine: Engine, cycle_id: int) -> list[tuple[int, str, float]]:
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Entitlement.household_id, Entitlement.payment_reference, Entitlement.amount)
            .where(Entitlement.cycle_id == cycle_id)
            .order_by(Entitlement.household_id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize("recompute", [False, True], ids=["first-run", "recompute"])
def test_worker_killed_mid_payroll_restarts_to_exactly_one_payment_line_each(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    worker_children: list[subprocess.Popen[bytes]],
    recompute: bool,
) -> None:
    _seed(engine, tmp_path)
    cycle_id = _cycle(engine)
    before: list[tuple[int, str, float]] = []
    if recompute:  # entitlements already computed once; the recomputation is killed
        with unit_of_work(engine) as session:
            payments.compute_entitlements(session, payments.get_cycle(session, cycle_id), "o")
        before = _entitlements(engine, cycle_id)
        assert len(before) == HOUSEHOLDS
    job_id = _enqueue(engine, ENTITLEMENTS, {"cycle_id": cycle_id, "actor": "officer"})
    child, marker = _start_worker(
        database_url, tmp_path, module="solidarity.programs.payments", table="entitlement"
    )
    worker_children.append(child)
    _wait_for(marker.exists, "the entitlement rows to be written", child=child)
    child.send_signal(signal.SIGKILL)
    child.wait()

    # Killed between the write and the commit: exactly what was there before.
    assert _entitlements(engine, cycle_id) == before
    with unit_of_work(engine) as session:
        cycle = payments.get_cycle(session, cycle_id)
        assert (cycle.status, cycle.entitlement_count) == (
            ("computed", HOUSEHOLDS) if recompute else ("draft", 0)
        )

    again, _ = _start_worker(database_url, tmp_path, stale_seconds=1)
    worker_children.append(again)
    _wait_for(
        lambda: _job(engine, job_id).status == "succeeded", "the job to be resumed", child=again
    )
    assert _stop(again) == 0
    after = _entitlements(engine, cycle_id)
    households = [household for household, _, _ in after]
    references = [reference for _, reference, _ in after]
    assert len(after) == HOUSEHOLDS
    assert len(set(households)) == HOUSEHOLDS  # one payment line per household
    assert len(set(references)) == HOUSEHOLDS
    assert sum(amount for _, _, amount in after) == 10 * 3 * HOUSEHOLDS  # 10 per member

    # The payroll written from them has exactly one line per entitlement.
    with unit_of_work(engine) as session:
        cycle = payments.get_cycle(session, cycle_id)
        assert (cycle.status, cycle.entitlement_count) == ("computed", HOUSEHOLDS)
        payments.approve_cycle(session, cycle, "supervisor")
        payroll = payments.generate_payroll(session, cycle, tmp_path / "payroll", "officer")
    lines = Path(payroll.csv_path).read_text().splitlines()[1:]
    assert payroll.transactions == HOUSEHOLDS == len(lines)
    assert sorted(line.split(",")[0] for line in lines) == sorted(references)


# --- disk full (SQLite: the database file may not grow past max_page_count) ----------------


def _page_count(engine: Engine) -> int:
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM")  # freed pages would absorb the writes otherwise
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())


def _capped(engine: Engine, pages: int) -> Engine:
    """Another engine on the same SQLite file whose connections may not grow it past ``pages``."""
    capped = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(capped, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    return capped


def _registry_counts(engine: Engine) -> tuple[int, int, int]:
    return (_count(engine, Household), _count(engine, Person), _count(engine, Identifier))


@pytest.fixture
def sqlite(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A database file of its own: filling it must not spoil the run's shared one."""
    if engine.dialect.name != "sqlite":
        pytest.skip("max_page_count is SQLite's; PostgreSQL reports disk_full the same way")
    from solidarity.db import migrate

    own = make_engine(f"sqlite:///{tmp_path / 'full-disk.db'}")
    migrate.upgrade(own)
    yield own
    own.dispose()


def test_import_job_on_a_full_disk_fails_cleanly_and_runs_once_there_is_room(
    sqlite: Engine, tmp_path: Path
) -> None:
    load_test_areas(sqlite)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    import_files(sqlite, list(registry_files(tmp_path / "first", 20)))
    before = _registry_counts(sqlite)
    assert before == (20, 60, 60)
    # The same country, grown: the first 20 households are skipped, 380 are new.
    h, p = registry_files(tmp_path / "second", 400)
    params = {"directory": str(tmp_path / "job"), "files": [str(h), str(p)], "actor": "officer"}
    job_id = _enqueue(sqlite, REGISTRY_IMPORT, params)
    capped = _capped(sqlite, _page_count(sqlite) + 8)
    try:
        Worker(capped, "w-full").run_once()
    finally:
        capped.dispose()

    job = _job(sqlite, job_id)
    assert job.status == "failed"
    assert job.error.startswith("the database or its disk is full")
    assert "retry the job" in job.error
    assert "database or disk is full" in job.log  # the driver's own words, for the operator
    assert _registry_counts(sqlite) == before  # nothing half-written

    with unit_of_work(sqlite) as session:
        jobs.retry(session, job_id, actor="operator")
    Worker(sqlite, "w-room").run_once()
    assert _job(sqlite, job_id).status == "succeeded"
    assert _registry_counts(sqlite) == (400, 1200, 1200)


def test_enrolment_job_on_a_full_disk_fails_cleanly_and_nothing_is_enrolled(
    sqlite: Engine, tmp_path: Path
) -> None:
    _seed(sqlite, tmp_path, n=400)
    job_id = _enqueue(sqlite, ENROL, {"programme": "UG", "as_of": AS_OF.isoformat()})
    capped = _capped(sqlite, _page_count(sqlite) + 4)
    try:
        Worker(capped, "w-full").run_once()
    finally:
        capped.dispose()
    job = _job(sqlite, job_id)
    assert (job.status, job.message) == ("failed", "failed: the database or its disk is full")
    assert job.error.startswith("the database or its disk is full")
    assert _count(sqlite, Enrolment) == 0
    assert _count(sqlite, JourneyEvent) == 0

    with unit_of_work(sqlite) as session:
        jobs.retry(session, job_id, actor="operator")
    Worker(sqlite, "w-room").run_once()
    assert _job(sqlite, job_id).status == "succeeded"
    _assert_exact_enrolments(sqlite, 400)


# --- graceful shutdown ---------------------------------------------------------------------


def test_sigterm_mid_import_requeues_the_job_after_its_batch_and_a_new_worker_finishes_it(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    worker_children: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLIDARITY_IMPORT_BATCH_HOUSEHOLDS", "100")
    load_test_areas(engine)
    h, p = registry_files(tmp_path, 500)
    params = {"directory": str(tmp_path / "job"), "files": [str(h), str(p)], "actor": "officer"}
    job_id = _enqueue(engine, REGISTRY_IMPORT, params)
    # The household rows of the first batch are written: SIGTERM arrives then.
    child, marker = _start_worker(
        database_url,
        tmp_path,
        module="solidarity.registry.intake.writer",
        function="bulk_insert",
        table="household",
        pause=1.0,
    )
    worker_children.append(child)
    _wait_for(marker.exists, "the first batch to be written", child=child)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=120) == 0  # a clean exit, not a kill

    job = _job(engine, job_id)
    assert (job.status, job.attempts, job.worker_id) == ("queued", 0, None)
    assert job.message == "worker stopped: queued again"
    households, persons, _ = _registry_counts(engine)
    assert households % 100 == 0 and 0 < households < 500  # whole batches only
    assert persons == 3 * households

    Worker(engine, "w-next").run_once()
    assert _job(engine, job_id).status == "succeeded"
    assert _registry_counts(engine) == (500, 1500, 1500)


def test_sigterm_mid_enrolment_lets_the_transaction_finish_then_exits(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    worker_children: list[subprocess.Popen[bytes]],
) -> None:
    _seed(engine, tmp_path)
    job_id = _enqueue(engine, ENROL, {"programme": "UG", "as_of": AS_OF.isoformat()})
    child, marker = _start_worker(database_url, tmp_path, **ENROLMENT_WRITE, pause=1.0)
    worker_children.append(child)
    _wait_for(marker.exists, "the enrolment rows to be written", child=child)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=120) == 0
    assert _job(engine, job_id).status == "succeeded"
    _assert_exact_enrolments(engine, HOUSEHOLDS)
