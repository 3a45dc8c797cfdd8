"""A small synthetic registry with planted duplicates, imported through the real intake."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, select

from solidarity.db.engine import unit_of_work
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Person
from solidarity.registry.service import load_areas
from solidarity.synthetic.generator import generate


def synthetic_registry(engine: Engine, out: Path, households: int = 300) -> pl.DataFrame:
    """Import a synthetic country with 5% duplicate households; return the true pairs.

    Returns:
        ``id_l``, ``id_r``: registry person ids of each planted duplicate pair.
    """
    generate(out, households=households, seed=7, registry_duplicate_rate=0.05)
    with unit_of_work(engine) as session, (out / "areas.csv").open(encoding="utf-8") as handle:
        load_areas(session, csv.DictReader(handle))
    outcome = import_files(
        engine, [out / "households.csv", out / "persons.csv"], source="synthetic"
    )
    assert outcome.status == "succeeded", outcome
    with unit_of_work(engine) as session:
        rows = session.execute(select(Person.id, Person.source_key)).all()
    keys = pl.DataFrame(
        {"person_id": [r[0] for r in rows], "person_key": [r[1] for r in rows]},
        schema={"person_id": pl.Int64, "person_key": pl.String},
    )
    truth = pl.read_csv(out / "ground_truth_duplicates.csv", infer_schema_length=0)
    pairs = truth.join(keys, left_on="duplicate_person_key", right_on="person_key").join(
        keys, left_on="original_person_key", right_on="person_key", suffix="_original"
    )
    return pairs.select(
        pl.min_horizontal("person_id", "person_id_original").alias("id_l"),
        pl.max_horizontal("person_id", "person_id_original").alias("id_r"),
    )
