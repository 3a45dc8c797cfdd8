"""Export of the registry in the import format (CSV, XLSX or Parquet), read in bulk."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine, Select, Selectable, or_, select, union_all

from solidarity.errors import ValidationFailed
from solidarity.registry.fields import (
    HOUSEHOLD_FIELDS,
    HOUSEHOLD_KEY,
    IDENTIFIER_PREFIX,
    PERSON_FIELDS,
    PERSON_KEY,
)
from solidarity.registry.models import (
    Area,
    Household,
    HouseholdHistory,
    Identifier,
    Person,
    PersonHistory,
)

FORMATS = {"csv", "xlsx", "parquet"}


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` (UTC): states valid before it are "as of" that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _household_state(moment: datetime | None) -> Select[tuple[object, ...]]:
    fields = [f.name for f in HOUSEHOLD_FIELDS if f.name != "area_code"]
    current = select(
        Household.id.label("household_id"),
        Household.area_id,
        Household.status,
        *[getattr(Household, f) for f in fields],
    )
    if moment is None:
        return current
    current = current.where(Household.valid_from < moment)
    past = select(
        HouseholdHistory.household_id,
        HouseholdHistory.area_id,
        HouseholdHistory.status,
        *[getattr(HouseholdHistory, f) for f in fields],
    ).where(HouseholdHistory.valid_from < moment, HouseholdHistory.valid_to >= moment)
    return union_all(current, past)  # type: ignore[return-value]


def _person_state(moment: datetime | None) -> Select[tuple[object, ...]]:
    fields = [f.name for f in PERSON_FIELDS]
    current = select(
        Person.id.label("person_id"),
        Person.household_id,
        Person.status,
        *[getattr(Person, f) for f in fields],
    )
    if moment is None:
        return current
    current = current.where(Person.valid_from < moment)
    past = select(
        PersonHistory.person_id,
        PersonHistory.household_id,
        PersonHistory.status,
        *[getattr(PersonHistory, f) for f in fields],
    ).where(PersonHistory.valid_from < moment, PersonHistory.valid_to >= moment)
    return union_all(current, past)  # type: ignore[return-value]


def _read(engine: Engine, query: Selectable) -> pl.DataFrame:
    with engine.connect() as conn:
        frame: pl.DataFrame = pl.read_database(query, connection=conn, infer_schema_length=None)
    # An empty result has untyped columns; give keys a type so joins still work.
    return frame.with_columns(
        pl.col(c).cast(pl.Int64 if c.endswith("_id") else pl.String)
        for c, dtype in frame.schema.items()
        if dtype == pl.Null
    )


def _typed_dates(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    casts = [
        pl.col(n).str.slice(0, 10).str.to_date()
        for n in names
        if n in frame.columns and frame.schema[n] == pl.String
    ]
    return frame.with_columns(casts) if casts else frame


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
    areas = _read(engine, select(Area.id.label("area_id"), Area.code.label("area_code"), Area.path))
    if area_code is not None:
        root = areas.filter(pl.col("area_code") == area_code)
        if root.height == 0:
            raise ValidationFailed(f"no area has the code '{area_code}'")
        areas = areas.filter(pl.col("path").str.starts_with(root.item(0, "path")))
    hh = _read(engine, _household_state(moment).subquery().select())
    hh = hh.join(areas.drop("path"), on="area_id", how="inner").filter(pl.col("status") == "active")
    people = _read(engine, _person_state(moment).subquery().select())
    people = people.filter(pl.col("status") == "active").join(
        hh.select("household_id"), on="household_id", how="inner"
    )
    ident = Identifier
    id_query = select(ident.person_id, ident.id_type, ident.value)
    if moment is None:
        id_query = id_query.where(ident.active.is_(True))
    else:
        id_query = id_query.where(
            ident.valid_from < moment, or_(ident.valid_to.is_(None), ident.valid_to >= moment)
        )
    ids = _read(engine, id_query)
    if ids.height:
        wide = ids.with_columns((IDENTIFIER_PREFIX + pl.col("id_type")).alias("column")).pivot(
            on="column", index="person_id", values="value", aggregate_function="first"
        )
        people = people.join(wide, on="person_id", how="left")
    key = pl.format("HH{}", pl.col("household_id"))
    households_out = (
        _typed_dates(hh, ["registration_date"])
        .select(
            key.alias(HOUSEHOLD_KEY),
            "area_code",
            *[f.name for f in HOUSEHOLD_FIELDS if f.name != "area_code"],
        )
        .sort(HOUSEHOLD_KEY)
    )
    id_columns = sorted(c for c in people.columns if c.startswith(IDENTIFIER_PREFIX))
    persons_out = (
        _typed_dates(people, ["birth_date"])
        .select(
            pl.format("P{}", pl.col("person_id")).alias(PERSON_KEY),
            key.alias(HOUSEHOLD_KEY),
            *[f.name for f in PERSON_FIELDS],
            *id_columns,
        )
        .sort(HOUSEHOLD_KEY, PERSON_KEY)
    )
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
