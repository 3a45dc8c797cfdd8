"""Coherence benchmark: every diagnostic over a large registry and 12 programmes.

Builds (once, into a fresh database) N one- to six-person households with
consumption, 12 programmes with eligibility rules, random enrolments (about 2.6
programmes per beneficiary household), one approved payment cycle per programme
with an entitlement per beneficiary, and a journey of four events per
beneficiary. Then, in the same run, it times:

- ``read_floor``: merely reading the membership, household, person (group and rule
  columns), spending and journey columns the diagnostics need, into Polars;
- ``overlap_compute``: the overlap matrix from the memberships already in memory;
- ``all_diagnostics``: policy map, overlaps, targeting (rules evaluated), fiscal,
  journey and rule coherence from a cold context (reads included).

Target: ``all_diagnostics / read_floor <= 3`` and ``overlap_compute < 1 s``.

    python benchmarks/coherence.py --households 1000000 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from solidarity.coherence import overlaps as overlaps_mod
from solidarity.coherence import repository as repo
from solidarity.coherence import service
from solidarity.coherence.models import ProgrammeRelation
from solidarity.db import migrate
from solidarity.db.engine import make_engine, session_factory, unit_of_work
from solidarity.programs.models import (
    Enrolment,
    Entitlement,
    JourneyEvent,
    PaymentCycle,
    Programme,
    ProgrammeRule,
)
from solidarity.registry.intake.writer import bulk_insert
from solidarity.registry.models import Area, Household, Person

AS_OF = date(2025, 6, 30)
PROGRAMMES = [
    (
        "CGR",
        "children",
        "child_poverty",
        "count(members, m.age < 15) >= 1 && consumption_per_capita < 300",
    ),
    ("SBY", "children", "education_cost", "any(members, m.age >= 16 && m.age <= 19)"),
    ("SFP", "children", "food_insecurity", "count(members, m.age >= 6 && m.age <= 13) >= 1"),
    ("OAP", "elderly", "old_age", "elderly >= 1"),
    ("CSP", "elderly", "old_age", "any(members, m.age >= 60) && consumption_per_capita >= 450"),
    ("DSG", "persons_with_disabilities", "disability", "disabled_members >= 1"),
    ("HIS", "all", "health_cost", "consumption_per_capita < 360"),
    ("MHV", "working_age", "health_cost", "any(members, m.pregnant)"),
    (
        "PWP",
        "working_age",
        "unemployment",
        "urban_rural == 'rural' && consumption_per_capita < 300",
    ),
    (
        "UIB",
        "working_age",
        "unemployment",
        "urban_rural == 'urban' && consumption_per_capita >= 300",
    ),
    ("ECS", "all", "climate_shock", "consumption_per_capita < 450"),
    ("FSN", "all", "food_insecurity", "consumption_per_capita < 200"),
]  # fmt: skip


def _insert(conn: Any, model: Any, frame: pl.DataFrame) -> None:
    """Bulk-insert ``frame`` with the audit columns the table requires."""
    now = datetime.now(UTC)
    extra = {
        "created_at": now,
        "updated_at": now,
        "created_by": "bench",
        "updated_by": "bench",
    }
    columns = model.__table__.columns
    frame = frame.with_columns(
        pl.lit(v).alias(k) for k, v in extra.items() if k in columns and k not in frame.columns
    )
    bulk_insert(conn, model.__table__, frame)


def build(engine: Engine, households: int, seed: int = 1) -> dict[str, int]:
    """Write the benchmark country; returns row counts."""
    rng = np.random.default_rng(seed)
    districts = 50
    with unit_of_work(engine) as s:
        conn = s.connection()
        areas = [
            {"id": 1, "code": "R01", "name": "R", "level": 0, "parent_id": None, "path": "/R01/"}
        ]
        for d in range(districts):
            areas.append(
                {"id": d + 2, "code": f"D{d:02d}", "name": f"D{d}", "level": 1, "parent_id": 1,
                 "path": f"/R01/D{d:02d}/"}
            )  # fmt: skip
        _insert(conn, Area, pl.DataFrame(areas))
        ids = np.arange(1, households + 1)
        valid = datetime(2020, 1, 1, tzinfo=UTC)
        hh = pl.DataFrame(
            {
                "id": ids,
                "area_id": rng.integers(2, districts + 2, households),
                "status": "active",
                "urban_rural": np.where(rng.random(households) < 0.35, "urban", "rural"),
                "consumption_per_capita": np.round(rng.lognormal(5.8, 0.5, households), 1),
                "valid_from": valid,
                "version": 1,
                "changed_by": "bench",
            }
        )
        _insert(conn, Household, hh)
        sizes = rng.integers(1, 7, households)
        person_hh = np.repeat(ids, sizes)
        n = person_hh.size
        first = np.r_[True, person_hh[1:] != person_hh[:-1]]
        age = np.where(first, rng.integers(18, 90, n), rng.integers(0, 60, n))
        persons = pl.DataFrame(
            {
                "id": np.arange(1, n + 1),
                "household_id": person_hh,
                "area_id": hh["area_id"].to_numpy()[person_hh - 1],
                "status": "active",
                "given_name": "G",
                "family_name": "F",
                "sex": np.where(rng.random(n) < 0.5, "female", "male"),
                "relationship": np.where(first, "head", "child"),
                "wg_walking": np.where(rng.random(n) < 0.05, 3, 1),
                "pregnant": rng.random(n) < 0.02,
                "birth_date_estimated": False,
                "valid_from": valid,
                "version": 1,
                "changed_by": "bench",
            }
        ).with_columns(
            (pl.lit(date(2025, 1, 1)) - pl.duration(days=pl.Series(age.astype(np.int64) * 366)))
            .cast(pl.Date)
            .alias("birth_date")
        )
        _insert(conn, Person, persons)
        enrol_rows, cycle_rows = [], []
        for pid, (code, group, risk, rule) in enumerate(PROGRAMMES, start=1):
            s.add(Programme(id=pid, code=code, name=code, ministry=f"M{pid % 5}",
                            instrument="cash_transfer", lifecycle_group=group, risk_covered=risk,
                            targeting_method="categorical", annual_budget=1e9,
                            funding_source="treasury"))  # fmt: skip
            s.add(ProgrammeRule(programme_id=pid, kind="eligibility", expression=rule,
                                valid_from=date(2020, 1, 1), parameters={}, test_cases=[],
                                legal_reference=f"Act {pid}"))  # fmt: skip
            members = np.flatnonzero(rng.random(households) < 0.22) + 1
            enrol_rows.append(pl.DataFrame({"programme_id": pid, "household_id": members}))
            cycle_rows.append({"id": pid, "programme_id": pid, "period": "2025-05",
                               "window_start": date(2025, 5, 1), "window_end": date(2025, 5, 31),
                               "status": "approved", "version": 1,
                               "entitlement_count": 0, "total_amount": 0.0})  # fmt: skip
        s.flush()
        enrol = pl.concat(enrol_rows).with_row_index("id", offset=1)
        _insert(
            conn,
            Enrolment,
            enrol.with_columns(
                pl.col("id").cast(pl.Int64),
                pl.lit("active").alias("status"),
                pl.lit(date(2024, 1, 1)).alias("as_of"),
                pl.lit(date(2024, 1, 1)).alias("enrolled_on"),
                pl.lit(40.0).alias("benefit_amount"),
                pl.lit(1).alias("version"),
            ),
        )
        _insert(conn, PaymentCycle, pl.DataFrame(cycle_rows))
        ents = enrol.select(
            pl.col("id").cast(pl.Int64),
            pl.col("programme_id").alias("cycle_id"),
            "programme_id",
            pl.col("id").cast(pl.Int64).alias("enrolment_id"),
            "household_id",
            pl.lit(40.0).alias("amount"),
            pl.format("B{}", pl.col("id")).alias("payment_reference"),
            pl.lit("computed").alias("status"),
            pl.lit(0).alias("unmet_conditions"),
        )
        _insert(conn, Entitlement, ents)
        stages = ["applied", "assessed", "eligibility_decided", "enrolled"]
        journey = (
            pl.concat(
                [
                    enrol.select(
                        "programme_id",
                        "household_id",
                        pl.lit(stage).alias("event"),
                        (pl.lit(date(2023, 1, 1)) + pl.duration(days=k * 15 + pl.col("id") % 10))
                        .cast(pl.Date)
                        .alias("event_date"),
                    )
                    for k, stage in enumerate(stages)
                ]
            )
            .with_row_index("id", offset=1)
            .with_columns(pl.col("id").cast(pl.Int64))
        )
        _insert(conn, JourneyEvent, journey.with_columns(pl.lit("bench").alias("created_by")))
        s.add(ProgrammeRelation(kind="mutually_exclusive", programme_a="OAP", programme_b="CSP"))
        s.add(ProgrammeRelation(kind="hand_over", programme_a="CGR", programme_b="SBY"))
    return {
        "households": households,
        "persons": int(n),
        "enrolments": enrol.height,
        "entitlements": ents.height,
        "journey_events": journey.height,
    }


def read_floor(engine: Engine) -> float:
    """Time to merely read the columns the diagnostics need."""
    start = time.perf_counter()
    with session_factory(engine)() as s:
        conn = s.connection()
        repo.read_areas(conn)
        repo.read_programmes(conn)
        repo.read_enrolments(conn, AS_OF)
        repo.read_households(conn, AS_OF)
        repo.read_persons(conn, AS_OF, ("pregnant",))
        repo.read_spending(conn, AS_OF)
        repo.read_journey(conn, AS_OF)
    return time.perf_counter() - start


def diagnostics(engine: Engine) -> dict[str, float]:
    """Time every diagnostic from a cold context, and the overlap compute alone."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with session_factory(engine)() as s:
        ctx = service.Context(s, AS_OF, None, 1)
        for name, run in (
            ("policy_map", lambda: service.policy_map_of(ctx)),
            ("overlaps", lambda: service.overlaps_of(ctx)),
            ("targeting", lambda: service.targeting_of(ctx, "quintile")),
            ("fiscal", lambda: service.fiscal_of(ctx)),
            ("journey", lambda: service.journey_of(ctx)),
            ("rules", lambda: service.rules_of(ctx)),
        ):
            t = time.perf_counter()
            run()
            timings[name] = time.perf_counter() - t
        timings["all_diagnostics"] = time.perf_counter() - start
        sizes = ctx.population.households.select("household_id", "size")
        t = time.perf_counter()
        overlaps_mod.overlaps(ctx.memberships, sizes, ctx.codes)
        timings["overlap_compute"] = time.perf_counter() - t
    return timings


def main() -> None:
    from solidarity.governance.encryption import ensure_key_ring

    ensure_key_ring()  # names and identifiers are encrypted at rest (decision 0002)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'coherence.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        t = time.perf_counter()
        counts = build(engine, args.households)
        build_seconds = time.perf_counter() - t
        floor = read_floor(engine)
        timings = diagnostics(engine)
        engine.dispose()
    result = {
        "backend": url.split(":")[0],
        **counts,
        "programmes": len(PROGRAMMES),
        "build_seconds": round(build_seconds, 2),
        "read_floor_seconds": round(floor, 2),
        **{f"{k}_seconds": round(v, 3) for k, v in timings.items()},
        "ratio_to_floor": round(timings["all_diagnostics"] / floor, 2),
        "target_ratio": 3.0,
        "overlap_target_seconds": 1.0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
