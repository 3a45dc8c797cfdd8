"""Enrolment evaluated inside the database gives exactly the enrolments of the Polars path."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from solidarity.db.engine import unit_of_work
from solidarity.programs import eligibility, service
from solidarity.programs.models import Enrolment, JourneyEvent, Programme
from solidarity.programs.repository import ProgrammeRepository
from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Area
from tests.registry_files import load_test_areas, registry_files

TODAY = date.today()
RULES = {
    "eligibility": "children >= 1 || count(members, m.age >= 60) >= 1",
    "benefit": "min(children, 3) * 40 + 10 * size + coalesce(per_capita_income, 0) / 20",
    "priority": "coalesce(per_capita_income, 0) - 5 * children",
}


def _varied(people: list[dict[str, str]]) -> list[dict[str, str]]:
    """Incomes, children and elders that differ from household to household."""
    kept = []
    for row in people:
        i = int(row["household_key"][1:])
        if row["person_key"].endswith("a"):
            row["income"] = str((i * 37) % 500)
            if i % 5 == 0:
                row["birth_date"] = "1950-01-01"
        if row["person_key"].endswith("c") and i % 4 == 0:
            continue  # no child here
        kept.append(row)
    return kept


def _import(engine: Engine, tmp_path: Path, first: int, n: int) -> None:
    def renumber(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in rows:
            row["household_key"] = f"H{int(row['household_key'][1:]) + first}"
            if "person_key" in row:
                row["person_key"] = (
                    f"P{int(row['person_key'][1:-1]) + first}{row['person_key'][-1]}"
                )
            for key in ("id_national_id", "id_birth_certificate"):
                if row.get(key):
                    row[key] = f"{row[key]}-{first}"
        return rows

    directory = tmp_path / f"batch{first}"
    directory.mkdir()
    files = registry_files(
        directory, n, households=renumber, persons=lambda rows: _varied(renumber(rows))
    )
    assert import_files(engine, list(files)).status != "refused"


def _programme(engine: Engine, code: str, budget_cap: float | None) -> None:
    with unit_of_work(engine) as session:
        service.create_programme(
            session, ProgrammeIn(code=code, name=code, budget_cap=budget_cap), "designer"
        )
        for kind, expression in RULES.items():
            service.add_rule_version(
                session,
                code,
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2024, 1, 1)),
                "designer",
            )


def _enrol(engine: Engine, code: str, in_database: bool, **kw: Any) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, code)
        result = eligibility.enrol_eligible(
            session, programme, TODAY, "officer", in_database=in_database, **kw
        )
    return result.model_dump(exclude={"programme", "rule_version_id"})


def _enrolments(engine: Engine, code: str) -> list[tuple[Any, ...]]:
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, code)
        rows = session.execute(
            select(
                Enrolment.household_id,
                Enrolment.status,
                Enrolment.benefit_amount,
                Enrolment.priority,
                Enrolment.waitlist_rank,
                Enrolment.enrolled_on,
                Enrolment.as_of,
                Enrolment.rule_version_id.is_not(None),
                Enrolment.created_by,
                Enrolment.version,
            )
            .where(Enrolment.programme_id == programme.id)
            .order_by(Enrolment.household_id)
        ).all()
        events = session.execute(
            select(JourneyEvent.household_id, JourneyEvent.event, JourneyEvent.reason)
            .where(JourneyEvent.programme_id == programme.id)
            .order_by(JourneyEvent.household_id)
        ).all()
    return [
        (h, s, round(b, 6), None if p is None else round(p, 6), *rest) for h, s, b, p, *rest in rows
    ] + [tuple(e) for e in events]


def test_enrolment_in_the_database_matches_polars_wave_after_wave(
    engine: Engine, tmp_path: Path
) -> None:
    load_test_areas(engine)
    _import(engine, tmp_path, 0, 40)
    for code in ("PY", "DB"):
        _programme(engine, code, budget_cap=12 * 1500)
    polars, database = _enrol(engine, "PY", False), _enrol(engine, "DB", True)
    assert database == polars
    assert polars["enrolled"] > 0 and polars["waitlisted"] > 0  # the cap bites
    assert _enrolments(engine, "DB") == _enrolments(engine, "PY")

    # A second wave: new households rank after the waitlist already given.
    _import(engine, tmp_path, 100, 12)
    polars, database = _enrol(engine, "PY", False), _enrol(engine, "DB", True)
    assert database == polars
    assert polars["already_enrolled"] > 0 and polars["waitlisted"] > 0
    assert _enrolments(engine, "DB") == _enrolments(engine, "PY")
    with unit_of_work(engine) as session:
        ranks = session.scalars(
            select(Enrolment.waitlist_rank)
            .join(Programme, Programme.id == Enrolment.programme_id)
            .where(Programme.code == "DB", Enrolment.status == "waitlisted")
            .order_by(Enrolment.waitlist_rank)
        ).all()
    assert list(ranks) == list(range(1, len(ranks) + 1))

    # Running it again changes nothing on either path.
    assert _enrol(engine, "DB", True)["enrolled"] == 0
    assert _enrol(engine, "DB", True)["already_enrolled"] == polars["eligible"]


def test_enrolment_without_a_budget_cap_matches_polars_wave_after_wave(
    engine: Engine, tmp_path: Path
) -> None:
    # No cap: no one waits and no rank is computed; the first wave looks up no
    # earlier enrolment, the second must find them.
    load_test_areas(engine)
    _import(engine, tmp_path, 0, 30)
    for code in ("PY", "DB"):
        _programme(engine, code, budget_cap=None)
    polars, database = _enrol(engine, "PY", False), _enrol(engine, "DB", True)
    assert database == polars and polars["enrolled"] > 0 and polars["waitlisted"] == 0
    assert _enrolments(engine, "DB") == _enrolments(engine, "PY")
    _import(engine, tmp_path, 100, 10)
    polars, database = _enrol(engine, "PY", False), _enrol(engine, "DB", True)
    assert database == polars and polars["already_enrolled"] > 0
    assert _enrolments(engine, "DB") == _enrolments(engine, "PY")
    assert _enrol(engine, "DB", True)["enrolled"] == 0


def test_enrolment_in_the_database_keeps_to_the_scope(engine: Engine, tmp_path: Path) -> None:
    load_test_areas(engine)
    _import(engine, tmp_path, 0, 30)
    for code in ("PY", "DB"):
        _programme(engine, code, budget_cap=10**9)
    with unit_of_work(engine) as session:
        north = [session.scalars(select(Area.path).where(Area.code == "R1")).one()]
    polars = _enrol(engine, "PY", False, scope_paths=north)
    database = _enrol(engine, "DB", True, scope_paths=north)
    assert database == polars and 0 < polars["enrolled"] < polars["eligible"] + 30
    assert _enrolments(engine, "DB") == _enrolments(engine, "PY")


def test_enrolment_leaves_the_database_when_it_cannot_see_the_date_there(
    engine: Engine, tmp_path: Path
) -> None:
    load_test_areas(engine)
    _import(engine, tmp_path, 0, 5)
    _programme(engine, "DB", budget_cap=10**9)
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "DB")
        repo = ProgrammeRepository(session)
        today = eligibility.rules_on(session, programme, TODAY)
        assert eligibility._in_database(repo, today)
        # Yesterday's registry is not today's tables: the households were made today.
        yesterday = eligibility.rules_on(session, programme, TODAY - timedelta(days=1))
        assert not eligibility._in_database(repo, yesterday)
    with engine.begin() as conn:
        for table in ("household", "person"):
            conn.execute(text(f"UPDATE {table} SET valid_from = '2020-01-01 00:00:00+00:00'"))
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "DB")
        repo = ProgrammeRepository(session)
        assert eligibility._in_database(
            repo, eligibility.rules_on(session, programme, TODAY - timedelta(days=1))
        )
        # A rule reading the programme's own unmet conditions is evaluated in Polars.
        service.create_programme(session, ProgrammeIn(code="UN", name="Conditional"), "designer")
        for kind, expression in (
            ("eligibility", "size >= 1"),
            ("benefit", "40 - unmet_conditions"),
        ):
            service.add_rule_version(
                session,
                "UN",
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2024, 1, 1)),
                "designer",
            )
        conditional = service.get_programme(session, "UN")
        assert not eligibility._in_database(repo, eligibility.rules_on(session, conditional, TODAY))
