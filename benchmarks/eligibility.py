"""Eligibility benchmark: a means-tested child benefit over a synthetic population.

Rule: per-capita income below a threshold and at least one child under 18; the
amount is ``min(children, 3) * amount``. Measured (seconds, JSON on stdout):

(a) our rule compiled to Polars; (b) the same rule hand-written in Polars;
(c) the same rule in OpenFisca (tax-benefit system build, simulation set-up and
compute reported separately); (d) end-to-end preview from SQLite and PostgreSQL
against merely reading the needed columns, bulk enrolment against a raw bulk insert
of the same rows, and entitlements + payroll against a raw bulk insert.

    python benchmarks/eligibility.py --households 1000000 --db-households 1000000 \
        --payroll-programme [--databases sqlite,postgresql] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

AS_OF = date(2025, 6, 30)
THRESHOLD = 1500.0
AMOUNT = 40.0
RULE = (
    "per_capita_income < params.threshold && children >= 1"
    " ? min(children, params.max_children) * params.amount : 0"
)
PARAMS = {"threshold": THRESHOLD, "max_children": 3, "amount": AMOUNT}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return round(time.perf_counter() - start, 4), value


def population(households: int, seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Households and persons frames (about 3.7 persons per household)."""
    rng = np.random.default_rng(seed)
    size = rng.poisson(2.7, households) + 1
    hh_of = np.repeat(np.arange(1, households + 1), size)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    position = np.arange(hh_of.size) - np.repeat(first, size)
    age_days = np.where(
        position == 0,
        rng.integers(20 * 365, 70 * 365, hh_of.size),
        rng.integers(0, 60 * 365, hh_of.size),
    )
    birth = np.datetime64(AS_OF) - age_days.astype("timedelta64[D]")
    income = np.where(position < 2, rng.lognormal(7.6, 0.9, hh_of.size), 0.0)
    persons = pl.DataFrame(
        {
            "person_id": np.arange(1, hh_of.size + 1),
            "household_id": hh_of,
            "birth_date": birth.astype("datetime64[D]"),
            "income": income,
            "relationship": np.where(position == 0, "head", "other"),
            "status": "active",
        }
    )
    hh = pl.DataFrame({"household_id": np.arange(1, households + 1), "unmet_conditions": 0})
    return hh, persons


def compile_rule() -> Any:
    """Parse, check and compile the rule (imports excluded: they are paid once per process)."""
    from solidarity.programs.rules import check_rule
    from solidarity.rules import to_polars

    return to_polars(check_rule(RULE, PARAMS, AS_OF), as_of=AS_OF)


def compiled(hh: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    return compile_rule().apply(hh, members=persons).collect()


def hand_written(hh: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    age = (AS_OF.year - pl.col("birth_date").dt.year()) - (
        (pl.col("birth_date").dt.month().cast(pl.Int32) * 100 + pl.col("birth_date").dt.day())
        > AS_OF.month * 100 + AS_OF.day
    ).cast(pl.Int32)
    agg = (
        persons.lazy()
        .group_by("household_id")
        .agg(
            pl.len().alias("size"),
            pl.col("income").sum().alias("income"),
            (age < 18).sum().alias("children"),
        )
    )
    return (
        hh.lazy()
        .join(agg, on="household_id", how="left", maintain_order="left")
        .with_columns(
            pl.when((pl.col("income") / pl.col("size") < THRESHOLD) & (pl.col("children") >= 1))
            .then(pl.min_horizontal(pl.col("children"), 3) * AMOUNT)
            .otherwise(0.0)
            .alias("result")
        )
        .collect()
    )


def openfisca(hh: pl.DataFrame, persons: pl.DataFrame) -> dict[str, Any]:
    """The same rule in OpenFisca; build, set-up and compute timed apart."""
    try:
        from openfisca_core import periods
        from openfisca_core.entities import build_entity
        from openfisca_core.simulation_builder import SimulationBuilder
        from openfisca_core.taxbenefitsystems import TaxBenefitSystem
        from openfisca_core.variables import Variable
    except ImportError as exc:
        return {
            "available": False,
            "reason": f"openfisca-core not installed ({exc}); pip install -e .[bench]",
        }

    def build() -> Any:
        Household = build_entity(
            key="household",
            plural="households",
            label="household",
            roles=[{"key": "member", "plural": "members", "label": "member"}],
        )
        Person = build_entity(key="person", plural="persons", label="person", is_person=True)

        class income(Variable):
            value_type = float
            entity = Person
            definition_period = periods.DateUnit.MONTH
            label = "income"

        class birth_date(Variable):
            value_type = date
            entity = Person
            definition_period = periods.DateUnit.ETERNITY
            label = "birth date"

        class age(Variable):
            # A formula, as in OpenFisca country packages: the compiled rule computes
            # ages from birth dates too, so both computations include it.
            value_type = int
            entity = Person
            definition_period = periods.DateUnit.MONTH
            label = "age"

            def formula(person: Any, period: Any) -> Any:
                birth = person("birth_date", period)
                years = birth.astype("datetime64[Y]").astype(int) + 1970
                months = birth.astype("datetime64[M]").astype(int) % 12 + 1
                days = (birth - birth.astype("datetime64[M]")).astype(int) + 1
                later = (months * 100 + days) > AS_OF.month * 100 + AS_OF.day
                return AS_OF.year - years - later

        class child_benefit(Variable):
            value_type = float
            entity = Household
            definition_period = periods.DateUnit.MONTH
            label = "child benefit"

            def formula(household: Any, period: Any) -> Any:
                size = household.nb_persons()
                total = household.sum(household.members("income", period))
                children = household.sum(household.members("age", period) < 18)
                eligible = (total / size < THRESHOLD) * (children >= 1)
                return eligible * np.minimum(children, 3) * AMOUNT

        system = TaxBenefitSystem([Household, Person])
        system.add_variables(income, birth_date, age, child_benefit)
        return system

    build_s, system = timed(build)

    def setup() -> Any:
        births = persons["birth_date"].to_numpy().astype("datetime64[D]")
        builder = SimulationBuilder()
        builder.create_entities(system)
        person_ids = persons["person_id"].cast(pl.String).to_list()
        household_ids = hh["household_id"].cast(pl.String).to_list()
        builder.declare_person_entity("person", person_ids)
        household_instance = builder.declare_entity("household", household_ids)
        index = (persons["household_id"] - 1).to_numpy()
        builder.join_with_persons(
            household_instance, [household_ids[i] for i in index], ["member"] * len(index)
        )
        simulation = builder.build(system)
        period = "2025-06"
        simulation.set_input("income", period, persons["income"].to_numpy())
        simulation.set_input("birth_date", "ETERNITY", births)
        return simulation

    setup_s, simulation = timed(setup)
    compute_s, values = timed(lambda: simulation.calculate("child_benefit", "2025-06"))
    return {
        "available": True,
        "build_tax_benefit_system_s": build_s,
        "simulation_setup_s": setup_s,
        "compute_s": compute_s,
        "total_cost": float(values.sum()),
    }


def _raw_insert(engine: Engine, table: Any, frame: pl.DataFrame) -> float:
    """Seconds to bulk-insert ``frame`` with the intake writer, rolled back."""
    from solidarity.registry.intake.writer import bulk_insert

    with engine.connect() as conn:
        trans = conn.begin()
        seconds, _ = timed(lambda: bulk_insert(conn, table, frame))
        trans.rollback()
    return seconds


def _vacuum(engine: Engine, *tables: str) -> float:
    """On PostgreSQL, ``VACUUM (ANALYZE)`` ``tables`` (all if none); the seconds (0 elsewhere).

    Used where a server left to itself would have vacuumed: after the import
    (autovacuum's insert threshold is passed many times over; this machine's
    server runs with autovacuum off) and after the rolled-back Polars trial of an
    enrolment, whose half a million dead rows a programme's first enrolment
    would never meet.
    """
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        seconds, _ = timed(lambda: conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}")))
    return seconds


def enrol(engine: Engine, code: str, out: dict[str, Any], prefix: str) -> None:
    """Enrol the eligible of ``code``; raw inserts of the same rows as baselines."""
    from solidarity.db.engine import session_factory, unit_of_work
    from solidarity.programs import eligibility, service
    from solidarity.programs.models import Enrolment, JourneyEvent

    # The same enrolment read into Polars, then rolled back: the path taken for a
    # past date or a list of households, against the one inside the database.
    with session_factory(engine)() as session:
        programme = service.get_programme(session, code)
        out[f"{prefix}enrol_polars_s"], _ = timed(
            lambda: eligibility.enrol_eligible(
                session, programme, date.today(), "bench", in_database=False
            )
        )
        session.rollback()
    out[f"{prefix}vacuum_after_trial_s"] = _vacuum(engine, "enrolment", "journey_event")
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, code)
        out[f"{prefix}enrol_s"], result = timed(
            lambda: eligibility.enrol_eligible(
                session, programme, date.today(), "bench", in_database=True
            )
        )
    n = result.enrolled + result.waitlisted
    out[f"{prefix}enrolled"] = n
    ids = np.arange(10_000_000, 10_000_000 + n)
    raw = pl.DataFrame(
        {
            "id": ids,
            "programme_id": 1,
            "household_id": ids,
            "status": "active",
            "rule_version_id": 1,
            "as_of": date.today(),
            "benefit_amount": 40.0,
            "priority": None,
            "waitlist_rank": None,
            "enrolled_on": date.today(),
            "version": 1,
            "created_by": "bench",
            "updated_by": "bench",
        },
        schema_overrides={"priority": pl.Float64, "waitlist_rank": pl.Int64},
    )
    out[f"{prefix}raw_insert_enrolments_s"] = _raw_insert(engine, Enrolment.__table__, raw)
    events = pl.DataFrame(
        {
            "id": ids,
            "household_id": ids,
            "programme_id": 1,
            "event": "enrolled",
            "event_date": date.today(),
            "reason": None,
            "created_by": "bench",
        },
        schema_overrides={"reason": pl.String},
    )
    out[f"{prefix}raw_insert_journey_events_s"] = _raw_insert(
        engine, JourneyEvent.__table__, events
    )
    out[f"{prefix}enrol_over_raw_insert"] = round(
        out[f"{prefix}enrol_s"] / out[f"{prefix}raw_insert_enrolments_s"], 2
    )
    out[f"{prefix}enrol_polars_over_raw_insert"] = round(
        out[f"{prefix}enrol_polars_s"] / out[f"{prefix}raw_insert_enrolments_s"], 2
    )
    out[f"{prefix}enrol_over_raw_insert_of_all_rows_written"] = round(
        out[f"{prefix}enrol_s"]
        / (out[f"{prefix}raw_insert_enrolments_s"] + out[f"{prefix}raw_insert_journey_events_s"]),
        2,
    )


def pay(engine: Engine, code: str, out: dict[str, Any], prefix: str, tmp: Path) -> None:
    """Entitlements, approval and payroll of one cycle; raw insert of as many entitlements."""
    from solidarity.db.engine import unit_of_work
    from solidarity.programs import payments, service
    from solidarity.programs.models import Entitlement

    # Computing, approving (maker-checker: another user) and writing the payroll
    # are separate requests, so separate transactions, as in use.
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, code)
        today = date.today()
        cycle = payments.create_cycle(
            session, programme, today.strftime("%Y-%m"), today, today + timedelta(days=30), "bench"
        )
        out[f"{prefix}entitlements_s"], _ = timed(
            lambda: payments.compute_entitlements(session, cycle, "bench")
        )
        cycle_id = cycle.id
    with unit_of_work(engine) as session:
        payments.approve_cycle(session, payments.get_cycle(session, cycle_id), "checker")
    with unit_of_work(engine) as session:
        cycle = payments.get_cycle(session, cycle_id)
        out[f"{prefix}payroll_s"], payroll = timed(
            lambda: payments.generate_payroll(
                session, cycle, tmp / f"payroll-{engine.dialect.name}-{code}", "bench"
            )
        )
    n = payroll.transactions
    out[f"{prefix}payroll_transactions"] = n
    out[f"{prefix}payroll_xml_mb"] = round(Path(payroll.xml_path).stat().st_size / 1e6, 1)
    raw = pl.DataFrame(
        {
            "id": np.arange(20_000_000, 20_000_000 + n),
            "cycle_id": 1,
            "programme_id": 1,
            "enrolment_id": 1,
            "household_id": 1,
            "amount": 40.0,
            "unmet_conditions": 0,
            "payment_reference": [f"RAW-{i}" for i in range(n)],
            "status": "computed",
            "created_by": "bench",
            "updated_by": "bench",
        }
    )
    out[f"{prefix}raw_insert_entitlements_s"] = _raw_insert(engine, Entitlement.__table__, raw)
    out[f"{prefix}payroll_over_raw_insert"] = round(
        out[f"{prefix}payroll_s"] / out[f"{prefix}raw_insert_entitlements_s"], 2
    )


def database(url: str, country: Path, tmp: Path, payroll_programme: bool) -> dict[str, Any]:
    """Import the synthetic registry, then preview, enrol and pay against raw baselines."""
    from solidarity.db import migrate
    from solidarity.db.engine import make_engine, unit_of_work
    from solidarity.programs import eligibility, service
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
    from solidarity.registry.bulk import read_state
    from solidarity.registry.intake.service import import_files
    from solidarity.registry.service import load_areas

    engine: Engine = make_engine(url)
    migrate.upgrade(engine)
    out: dict[str, Any] = {"dialect": engine.dialect.name}
    with (
        (country / "areas.csv").open(newline="", encoding="utf-8-sig") as handle,
        unit_of_work(engine) as session,
    ):
        load_areas(session, csv.DictReader(handle), actor="bench")
    out["import_s"], outcome = timed(
        lambda: import_files(
            engine,
            [country / "households.csv", country / "persons.csv"],
            source="bench",
            accept_valid=True,
            report_dir=tmp / "reports",
        )
    )
    out["households"] = outcome.households_imported
    out["persons"] = outcome.persons_imported
    out["vacuum_after_import_s"] = _vacuum(engine)
    with unit_of_work(engine) as session:
        service.create_programme(session, ProgrammeIn(code="CB", name="Child benefit"), "bench")
        for kind, expression in (
            ("eligibility", RULE.split(" ?")[0]),
            ("benefit", f"({RULE.split(' ?')[0]}) ? min(children, 3) * params.amount : 0"),
        ):
            service.add_rule_version(
                session,
                "CB",
                RuleVersionIn(
                    kind=kind,  # type: ignore[arg-type]
                    expression=expression,
                    valid_from=date(2020, 1, 1),
                    parameters=PARAMS,
                ),
                "bench",
            )
    with engine.connect() as conn:
        out["read_needed_columns_s"], _ = timed(
            lambda: read_state(conn, [], ["birth_date", "income"], date.today())
        )
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CB")
        out["preview_s"], preview = timed(
            lambda: eligibility.preview(session, programme, date.today())
        )
        out["eligible"] = preview.eligible
    enrol(engine, "CB", out, "")
    pay(engine, "CB", out, "", tmp)
    if payroll_programme:
        # Every household, one entitlement each: the payroll figure at full size.
        with unit_of_work(engine) as session:
            service.create_programme(
                session, ProgrammeIn(code="UNI", name="Universal grant"), "bench"
            )
            for kind, expression in (("eligibility", "size >= 1"), ("benefit", "10")):
                service.add_rule_version(
                    session,
                    "UNI",
                    RuleVersionIn(
                        kind=kind,  # type: ignore[arg-type]
                        expression=expression,
                        valid_from=date(2020, 1, 1),
                    ),
                    "bench",
                )
        enrol(engine, "UNI", out, "universal_")
        pay(engine, "UNI", out, "universal_", tmp)
    engine.dispose()
    return out


def main() -> None:
    from solidarity.governance.encryption import ensure_key_ring

    ensure_key_ring()  # names and identifiers are encrypted at rest (decision 0002)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--db-households", type=int, default=100_000)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--skip-openfisca", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved runs of (a) and (b)")
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument(
        "--payroll-programme",
        action="store_true",
        help="also enrol every household in a universal programme and pay it (one "
        "entitlement per household: the payroll figure at --db-households entitlements)",
    )
    parser.add_argument("--skip-db", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"households": args.households, "rule": RULE}
    build_s, (hh, persons) = timed(lambda: population(args.households))
    report["persons"] = persons.height
    report["generate_s"] = build_s
    import solidarity.programs.rules  # noqa: F401  (imports are not part of either figure)

    report["compile_first_s"], _ = timed(compile_rule)  # builds the parser once
    report["compile_s"], _ = timed(compile_rule)
    # Interleaved repeats: on a shared machine one run of each is mostly noise.
    runs: dict[str, list[float]] = {"compiled": [], "hand_written": []}
    for _ in range(args.repeat):
        seconds, ours = timed(lambda: compiled(hh, persons))
        runs["compiled"].append(seconds)
        seconds, theirs = timed(lambda: hand_written(hh, persons))
        runs["hand_written"].append(seconds)
    for name, seconds_list in runs.items():
        report[f"{name}_runs_s"] = seconds_list
        report[f"{name}_best_s"] = min(seconds_list)
        report[f"{name}_median_s"] = float(np.median(seconds_list))
    report["compiled_rule_s"] = report["compiled_best_s"]
    report["hand_written_polars_s"] = report["hand_written_best_s"]
    report["compiled_over_hand_written_best"] = round(
        report["compiled_best_s"] / report["hand_written_best_s"], 3
    )
    report["compiled_over_hand_written_median"] = round(
        report["compiled_median_s"] / report["hand_written_median_s"], 3
    )
    report["total_cost"] = float(ours["result"].sum())
    report["compiled_equals_hand_written"] = bool(
        (ours["result"].cast(pl.Float64) - theirs["result"]).abs().max() < 1e-6  # type: ignore[operator]
    )
    if not args.skip_openfisca:
        try:
            report["openfisca"] = openfisca(hh, persons)
        except Exception as exc:  # report, do not hide, why OpenFisca could not run
            report["openfisca"] = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    if not args.skip_db:
        from solidarity.synthetic.generator import generate

        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            country = tmp / "country"
            report["db_households_requested"] = args.db_households
            report["synthetic_generate_s"], _ = timed(
                lambda: generate(country, households=args.db_households, seed=1)
            )
            wanted = {d.strip() for d in args.databases.split(",")}
            if "sqlite" in wanted:
                report["sqlite"] = database(
                    f"sqlite:///{tmp / 'bench.db'}", country, tmp, args.payroll_programme
                )
            if "postgresql" not in wanted:
                json.dump(report, sys.stdout, indent=2, default=str)
                sys.stdout.write("\n")
                return
            admin_url = make_url(args.postgres)
            name = f"solidarity_bench_{uuid.uuid4().hex[:8]}"
            try:
                admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as exc:
                report["postgresql"] = {"skipped": f"PostgreSQL unreachable: {exc}"}
            else:
                try:
                    url = admin_url.set(database=name).render_as_string(hide_password=False)
                    report["postgresql"] = database(url, country, tmp, args.payroll_programme)
                finally:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
