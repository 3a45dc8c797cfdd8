"""Export of the registry in the import format (CSV, XLSX or Parquet), read in bulk."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, or_, select

from solidarity.analytics.frames import read_frame
from solidarity.db.base import holds
from solidarity.errors import ValidationFailed
from solidarity.registry.bulk import end_of_day, read_state
from solidarity.registry.fields import (
    HOUSEHOLD_FIELDS,
    HOUSEHOLD_KEY,
    IDENTIFIER_PREFIX,
    PERSON_FIELDS,
    PERSON_KEY,
)
from solidarity.registry.models import (
    Area,
    Identifier,
)

FORMATS = {"csv", "xlsx", "parquet"}


def export_registry(
    engine: Engine,
    out: Path,
    *,
    file_format: str = "csv",
    area_code: str | None = None,
    as_of: date | None = None,
) -> dict[Path, int]:
    """Write ``households`` and ``persons`` files of active records in the import format.

    Returns:
        Each file written with its row count.
    """
    if file_format not in FORMATS:
        raise ValidationFailed(f"unknown format '{file_format}'; use csv, xlsx or parquet")
    moment = end_of_day(as_of) if as_of else None
    with engine.connect() as conn:
        areas = read_frame(
            conn, select(Area.id.label("area_id"), Area.code.label("area_code"), Area.path)
        )
        scope: list[str] | None = None
        if area_code is not None:
            root = areas.filter(pl.col("area_code") == area_code)
            if root.height == 0:
                raise ValidationFailed(f"no area has the code '{area_code}'")
            scope = [root.item(0, "path")]
        hh, people = read_state(
            conn,
            [f.name for f in HOUSEHOLD_FIELDS if f.name != "area_code"],
            [f.name for f in PERSON_FIELDS],
            as_of,
            scope_paths=scope,
        )
        ident = Identifier
        id_query = select(ident.person_id, ident.id_type, ident.value)
        if moment is None:
            id_query = id_query.where(holds(ident.active))
        else:
            id_query = id_query.where(
                ident.valid_from < moment, or_(ident.valid_to.is_(None), ident.valid_to >= moment)
            )
        ids = read_frame(conn, id_query)
    hh = hh.join(areas.drop("path"), on="area_id", how="inner")
    people = people.filter(pl.col("status") == "active").join(
        hh.select("household_id"), on="household_id", how="inner"
    )
    if ids.height:
        wide = ids.with_columns((IDENTIFIER_PREFIX + pl.col("id_type")).alias("column")).pivot(
            on="column", index="person_id", values="value", aggregate_function="first"
        )
        people = people.join(wide, on="person_id", how="left")
    key = pl.format("HH{}", pl.col("household_id"))
    households_out = hh.select(
        key.alias(HOUSEHOLD_KEY),
        "area_code",
        *[f.name for f in HOUSEHOLD_FIELDS if f.name != "area_code"],
    ).sort(HOUSEHOLD_KEY)
    id_columns = sorted(c for c in people.columns if c.startswith(IDENTIFIER_PREFIX))
    persons_out = people.select(
        pl.format("P{}", pl.col("person_id")).alias(PERSON_KEY),
        key.alias(HOUSEHOLD_KEY),
        *[f.name for f in PERSON_FIELDS],
        *id_columns,
    ).sort(HOUSEHOLD_KEY, PERSON_KEY)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[Path, int] = {}
    for name, frame in (("households", households_out), ("persons", persons_out)):
        path = out / f"{name}.{file_format}"
        if file_format == "csv":
            frame.write_csv(path)
        elif file_format == "parquet":
            frame.write_parquet(path)
        else:
            frame.write_excel(path, worksheet=name)
        written[path] = frame.height
    return written
