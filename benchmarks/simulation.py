"""Simulation benchmark: a reform run and a budget solve over a large registry.

Builds (into a fresh database) N one- to six-person households with consumption
and four programmes with dated eligibility and benefit rules. Then times:

- ``read``: reading the registry columns the rules and groups need into Polars;
- ``run``: baseline and scenario side by side (reads included; the reform changes
  two parameters, adds a programme, merges two and caps a budget);
- ``solve``: the threshold of one programme that spends a budget (at most 20
  population-wide evaluations, reads included), with its 8-point trade-off curve;
- ``indicators``: the standard library of indicators computed (one read per unit);
- ``quality``: the five data quality dimensions scored, failing records listed.

    python benchmarks/simulation.py --households 1000000 [--database-url postgresql+psycopg://...]
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

from solidarity.db import migrate
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.monitoring import quality
from solidarity.monitoring import service as monitoring
from solidarity.programs.models import Programme, ProgrammeRule
from solidarity.registry.intake.writer import bulk_insert
from solidarity.registry.models import Area, Household, Person
from solidarity.simulation import service, solver
from solidarity.simulation.schemas import SolveIn

AS_OF = date(2025, 6, 30)
PROGRAMMES = [
    ("CG", "children >= 1 && consumption_per_capita < params.threshold", {"threshold": 300},
     "min(children, params.max_children) * params.per_child", {"max_children": 3, "per_child": 10}),
    ("OAP", "elderly >= 1", {}, "params.amount", {"amount": 25}),
    ("DSG", "disabled_members >= 1", {}, "params.amount", {"amount": 20}),
    ("FSN", "consumption_per_capita < params.threshold", {"threshold": 200},
     "min(size, params.cap) * params.amount", {"cap": 5, "amount": 6}),
]  # fmt: skip
SCENARIO: dict[str, Any] = {
    "name": "bench-reform",
    "baseline_date": AS_OF.isoformat(),
    "poverty_line": 300,
    "changes": [
        {"kind": "parameters", "programme": "CG", "set": {"threshold": 400}},
        {"kind": "parameters", "programme": "CG", "rule": "benefit", "set": {"per_child": 12}},
        {"kind": "add_programme", "programme": "PWP", "eligibility":
         "urban_rural == 'rural' && consumption_per_capita < 250", "benefit": "30"},
        {"kind": "merge_programmes", "programmes": ["OAP", "DSG"], "into": "SPG",
         "benefit": "params.amount", "parameters": {"amount": 22}},
        {"kind": "budget_cap", "programme": "FSN", "cap": 5e7},
    ],
}  # fmt: skip


def _insert(conn: Any, model: Any, frame: pl.DataFrame) -> None:
    now = datetime.now(UTC)
    extra = {"created_at": now, "updated_at": now, "created_by": "bench", "updated_by": "bench"}
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
        areas = [{"id": 1, "code": "R01", "name": "R", "level": 0, "parent_id": None,
                  "path": "/R01/"}]  # fmt: skip
        areas += [
            {"id": d + 2, "code": f"D{d:02d}", "name": f"D{d}", "level": 1, "parent_id": 1,
             "path": f"/R01/D{d:02d}/"}
            for d in range(districts)
        ]  # fmt: skip
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
        for pid, (code, elig, ep, benefit, bp) in enumerate(PROGRAMMES, start=1):
            s.add(Programme(id=pid, code=code, name=code, instrument="cash_transfer",
                            targeting_method="categorical"))  # fmt: skip
            s.flush()
            for kind, expression, params in (("eligibility", elig, ep), ("benefit", benefit, bp)):
                s.add(ProgrammeRule(programme_id=pid, kind=kind, expression=expression,
                                    valid_from=date(2020, 1, 1), parameters=params,
                                    test_cases=[]))  # fmt: skip
    return {"households": households, "persons": int(n)}


def main() -> None:
    from solidarity.governance.encryption import ensure_key_ring

    ensure_key_ring()  # names and identifiers are encrypted at rest (decision 0002)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        started = time.perf_counter()
        counts = build(engine, args.households)
        figures: dict[str, Any] = {**counts, "backend": engine.dialect.name}
        figures["build_s"] = round(time.perf_counter() - started, 2)
        scenario = service.parse_scenario(SCENARIO)
        with unit_of_work(engine) as s:
            started = time.perf_counter()
            baseline = service.baseline_side(s, AS_OF)
            service.read_population(s, AS_OF, [baseline, service.apply_changes(baseline, scenario)])
            figures["read_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            result = service.run(s, scenario)
            figures["run_s"] = round(time.perf_counter() - started, 2)
            figures["baseline_cost"] = result["baseline"]["total_cost"]
            figures["scenario_cost"] = result["scenario_figures"]["total_cost"]
            figures["winners"] = result["winners_and_losers"]["winners"]
            figures["losers"] = result["winners_and_losers"]["losers"]
            started = time.perf_counter()
            solved = solver.solve(
                s,
                SolveIn(scenario=scenario, programme="CG", parameter="threshold", low=0,
                        high=2000, budget=figures["baseline_cost"] / 4),
            )  # fmt: skip
            figures["solve_s"] = round(time.perf_counter() - started, 2)
            figures["solve_evaluations"] = solved["evaluations"]
            figures["solve_value"] = round(solved["value"], 3)
            started = time.perf_counter()
            monitoring.load_standard(s, "bench")
            values = monitoring.compute_all(s, AS_OF)
            figures["indicators_s"] = round(time.perf_counter() - started, 2)
            figures["indicators_computed"] = sum(v.status == "computed" for v in values)
            started = time.perf_counter()
            report = quality.assess(s, AS_OF)
            figures["quality_s"] = round(time.perf_counter() - started, 2)
            figures["quality_checked"] = report.get("checked")
        engine.dispose()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
