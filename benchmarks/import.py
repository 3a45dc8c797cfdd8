"""Benchmark: validated bulk import against the raw bulk-load floor and ORM-per-row.

Generates the synthetic country (about 1,000,000 persons by default), then for
each database, in the same run:

* ``validated``: ``solidarity.registry.intake.service.import_files`` with full
  validation, in a child process so its peak memory is measured alone;
* ``floor``: the same household and person rows loaded raw into bare tables
  with no validation and no constraints (PostgreSQL ``COPY`` of the files;
  SQLite ``executemany`` in one transaction);
* ``schema_floor``: the same rows typed by inference and written into the real
  registry tables by the same write path, without validation (the schema's own cost);
* ``orm_per_row``: one ORM object per row with ``session.add`` on a sample,
  extrapolated to the full row count.

Prints one JSON document. Usage::

    python benchmarks/import.py [--households 250000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import create_engine, text

from solidarity.db import migrate
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.registry.intake import writer
from solidarity.registry.models import Household, Identifier, Person
from solidarity.registry.service import load_areas

PG_ADMIN = os.environ.get(
    "SOLIDARITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

CHILD = """
import json, sys, time
from pathlib import Path


def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's
    # high-water mark across fork and exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

from solidarity.db.engine import make_engine
from solidarity.registry.intake.service import import_files
engine = make_engine(sys.argv[1])
start = time.perf_counter()
outcome = import_files(engine, [Path(sys.argv[2]), Path(sys.argv[3])], report_dir=Path(sys.argv[4]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "status": outcome.status,
                  "households": outcome.households_imported, "persons": outcome.persons_imported,
                  "peak_rss_mb": peak_mb()}))
"""


def fresh_database(kind: str, workdir: Path) -> tuple[str, Any]:
    """A new, migrated database with the country's areas; returns its URL and a dropper."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    name = f"solidarity_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url, drop


def prepare(url: str, areas_csv: Path) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with areas_csv.open(newline="") as handle, unit_of_work(engine) as session:
        load_areas(session, csv.DictReader(handle))
    engine.dispose()


def validated_import(url: str, households: Path, persons: Path, workdir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(households), str(persons), str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


INDEXES = {
    "households": ["UNIQUE (household_key)", "(area_code)"],
    "persons": ["UNIQUE (person_key)", "(household_key)", "(family_name)", "(birth_date)"],
}


def floor(url: str, households: Path, persons: Path) -> float:
    """Raw load of the same rows into bare text tables, without validation."""
    engine = make_engine(url)
    header = {p: next(csv.reader(p.open())) for p in (households, persons)}
    start = time.perf_counter()
    with engine.begin() as conn:
        for path, columns in header.items():
            table = f"bare_{path.stem}"
            conn.exec_driver_sql(
                f"CREATE TABLE {table} ({', '.join(f'{c} text' for c in columns)})"
            )
            if engine.dialect.name == "postgresql":
                raw = conn.connection.driver_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(  # type: ignore[union-attr]
                        f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER)"
                    ) as copy,
                    path.open("rb") as handle,
                ):
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
            else:
                rows = pl.read_csv(path, infer_schema=False).rows()
                marks = ", ".join("?" for _ in columns)
                conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", rows)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def schema_floor(url: str, households: Path, persons: Path) -> float:
    """The same rows, typed by inference, written into the real registry tables.

    Same write path as the import (COPY / executemany, identifiers unpivoted) in
    one transaction, with no validation: what this schema's indexes and column
    types cost by themselves.
    """
    engine = make_engine(url)
    start = time.perf_counter()
    ids = {"id_national_id": pl.String, "id_birth_certificate": pl.String, "phone": pl.String}
    hh = pl.read_csv(
        households, try_parse_dates=True, schema_overrides={"household_key": pl.String}
    )
    people = pl.read_csv(persons, try_parse_dates=True, schema_overrides=ids)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        areas = {code: id_ for code, id_ in conn.execute(text("SELECT code, id FROM area"))}
        hh = hh.with_columns(
            pl.int_range(1, pl.len() + 1).alias("id"),
            pl.col("area_code").replace_strict(areas, return_dtype=pl.Int64).alias("area_id"),
            pl.lit("floor").alias("source"),
            pl.col("household_key").alias("source_key"),
        )
        people = people.join(
            hh.select("household_key", pl.col("id").alias("household_id"), "area_id"),
            on="household_key",
        ).with_columns(
            pl.int_range(1, pl.len() + 1).alias("id"),
            pl.lit("floor").alias("source"),
            pl.col("person_key").alias("source_key"),
        )
        dialect = engine.dialect.name
        for table, frame in ((Household.__table__, hh), (Person.__table__, people)):
            rows = writer.stamp(frame, now, "bench", dialect)
            columns = [c for c in rows.columns if c in table.columns]  # type: ignore[attr-defined]
            writer.bulk_insert(conn, table, rows.select(columns))  # type: ignore[arg-type]
        identifiers = (
            people.select("id", *[c for c in ids if c.startswith("id_")])
            .unpivot(index="id", variable_name="id_type", value_name="value")
            .drop_nulls("value")
            .select(
                pl.col("id").alias("person_id"),
                pl.col("id_type").str.strip_prefix("id_"),
                "value",
                pl.lit(False).alias("verified"),
                pl.lit(True).alias("active"),
            )
        )
        rows = writer.stamp(identifiers, now, "bench", dialect).drop(
            "version", "status", "changed_by"
        )
        writer.bulk_insert(conn, Identifier.__table__, rows)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def orm_per_row(url: str, households: Path, persons: Path, sample: int) -> dict[str, float]:
    """One ORM object per row, ``session.add`` each, on ``sample`` person rows."""
    people = pl.read_csv(persons, infer_schema=False, n_rows=sample)
    keys = people.get_column("household_key").unique()
    hh = pl.read_csv(households, infer_schema=False).filter(
        pl.col("household_key").is_in(keys.implode())
    )
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        areas = {code: id_ for code, id_ in session.execute(text("SELECT code, id FROM area"))}
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        ids: dict[str, Household] = {}
        for row in hh.iter_rows(named=True):
            household = Household(
                area_id=areas[row["area_code"]],
                source="orm",
                source_key=row["household_key"],
                address=row["address"],
                roof=row["roof"],
                wall=row["wall"],
                floor=row["floor"],
            )
            session.add(household)
            ids[row["household_key"]] = household
        session.flush()
        for row in people.iter_rows(named=True):
            household = ids[row["household_key"]]
            session.add(
                Person(
                    household_id=household.id,
                    area_id=household.area_id,
                    source="orm",
                    source_key=row["person_key"],
                    given_name=row["given_name"],
                    family_name=row["family_name"],
                    sex=row["sex"],
                    birth_date=date.fromisoformat(row["birth_date"]),
                    relationship=row["relationship"],
                )
            )
    seconds = time.perf_counter() - start
    engine.dispose()
    rows = people.height + hh.height
    return {"sample_rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--orm-sample", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="solidarity-bench-"))
    if not (os.environ.get("SOLIDARITY_KEY_FILE") or os.environ.get("SOLIDARITY_FIELD_KEYS")):
        # Names and identifiers are encrypted at rest: the run needs a field key ring
        # (inherited by the child import process through the environment).
        from solidarity.governance.encryption import KeyRing, write_key_ring

        key_file = workdir / "field-keys.json"
        if not key_file.exists():
            write_key_ring(KeyRing.generate(str(key_file)), key_file)
        os.environ["SOLIDARITY_KEY_FILE"] = str(key_file)
    from solidarity.synthetic.generator import generate

    start = time.perf_counter()
    country = generate(workdir / "country", households=args.households, seed=args.seed)
    generation = time.perf_counter() - start
    files = country.files
    households, persons = files["households"], files["persons"]
    rows = country.households + country.persons
    results: dict[str, Any] = {
        "households": country.households,
        "persons": country.persons,
        "generation_seconds": round(generation, 1),
        "databases": {},
    }
    for kind in args.databases.split(","):
        url, drop = fresh_database(kind, workdir)
        try:
            prepare(url, files["areas"])
            ours = validated_import(url, households, persons, workdir)
        finally:
            drop()
        url, drop = fresh_database(kind, workdir)
        try:
            floor_seconds = floor(url, households, persons)
        finally:
            drop()
        url, drop = fresh_database(kind, workdir)
        try:
            prepare(url, files["areas"])
            schema_seconds = schema_floor(url, households, persons)
        finally:
            drop()
        url, drop = fresh_database(kind, workdir)
        try:
            prepare(url, files["areas"])
            orm = orm_per_row(url, households, persons, args.orm_sample)
        finally:
            drop()
        orm_full = rows / orm["rows_per_second"]
        results["databases"][kind] = {
            "validated_import_seconds": round(ours["seconds"], 2),
            "validated_import_status": ours["status"],
            "peak_rss_mb": round(ours["peak_rss_mb"]),
            "floor_seconds": round(floor_seconds, 2),
            "ratio_to_floor": round(ours["seconds"] / floor_seconds, 2),
            "schema_floor_seconds": round(schema_seconds, 2),
            "ratio_to_schema_floor": round(ours["seconds"] / schema_seconds, 2),
            "orm_per_row_rows_per_second": round(orm["rows_per_second"]),
            "orm_per_row_extrapolated_seconds": round(orm_full, 1),
            "speedup_over_orm": round(orm_full / ours["seconds"], 1),
        }
        print(json.dumps({kind: results["databases"][kind]}), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
