"""Pseudonymised extracts of the registry for analysis, read in bulk.

An analyst gets households and persons without anything that names or locates a
person precisely: person and household ids and identifier values become keyed
hashes (HMAC-SHA256 with a deployment secret, so the same person has the same
pseudonym in every release of one deployment and nobody without the secret can
recompute it), birth dates are generalised to the year or a five-year band,
areas to a chosen level of the hierarchy, and names, phone numbers, addresses,
GPS points, free text and health answers are left out. Columns are an allowlist:
a field added to the catalogue later is not released until it is listed here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl
from sqlalchemy import Engine, or_, select

from solidarity.analytics.frames import read_frame
from solidarity.db.base import holds
from solidarity.errors import ValidationFailed
from solidarity.registry.bulk import end_of_day, read_state
from solidarity.registry.models import Area, Identifier

FORMATS = ("csv", "xlsx", "parquet")
BirthGeneralisation = Literal["year", "5y"]

#: Household columns released as they are (codes, counts and figures only).
HOUSEHOLD_COLUMNS = (
    "urban_rural",
    "roof",
    "wall",
    "floor",
    "water_source",
    "sanitation",
    "cooking_fuel",
    "electricity",
    "land_hectares",
    "livestock_cattle",
    "livestock_small",
    "livestock_poultry",
    "asset_radio",
    "asset_television",
    "asset_refrigerator",
    "asset_bicycle",
    "asset_motorcycle",
    "asset_mobile_phone",
    "consumption_per_capita",
)
#: Person columns released as they are.
PERSON_COLUMNS = (
    "sex",
    "relationship",
    "marital_status",
    "education_level",
    "school_enrolled",
    "main_activity",
    "income",
)
#: Never released, whatever is asked: they name, locate or describe health.
WITHHELD = (
    "given_name",
    "family_name",
    "other_names",
    "phone",
    "birth_date",
    "address",
    "latitude",
    "longitude",
    "occupation",
    "extra",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_cognition",
    "wg_selfcare",
    "wg_communication",
    "chronic_illness",
    "pregnant",
)


def pseudonym(key: bytes, kind: str, value: object) -> str:
    """The keyed hash standing for ``value`` of ``kind`` (128 bits, hex)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class WrittenFile:
    """One file of an extract: where, how many rows, its SHA-256 and its columns."""

    path: Path
    rows: int
    sha256: str
    columns: tuple[str, ...]


@dataclass
class PseudonymisedExtract:
    """What an extract released: its files and how it generalised."""

    files: list[WrittenFile] = field(default_factory=list)
    area_level: int = 1
    birth: BirthGeneralisation = "year"
    area_code: str | None = None
    as_of: date | None = None
    file_format: str = "csv"

    @property
    def rows(self) -> int:
        """Rows over every file."""
        return sum(f.rows for f in self.files)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hashed(column: str, key: bytes, kind: str) -> pl.Expr:
    return (
        pl.col(column)
        .map_elements(lambda v: pseudonym(key, kind, v), return_dtype=pl.String)
        .alias(column)
    )


def export_pseudonymised(
    engine: Engine,
    out: Path,
    *,
    key: bytes,
    file_format: str = "csv",
    area_code: str | None = None,
    scope_paths: list[str] | None = None,
    area_level: int = 1,
    birth: BirthGeneralisation = "year",
    as_of: date | None = None,
) -> PseudonymisedExtract:
    """Write pseudonymised ``households`` and ``persons`` files of active records.

    Args:
        engine: The database.
        out: Directory to write to (created if needed).
        key: The pseudonym key (keep it secret: with it, pseudonyms can be recomputed).
        file_format: ``csv``, ``xlsx`` or ``parquet``.
        area_code: Only this area and its descendants.
        scope_paths: Only these area subtrees (the reader's scope); ``None``: national.
        area_level: Areas are given as their ancestor at this level (0 is the top);
            areas above it keep their own code.
        birth: ``year`` (birth year) or ``5y`` (five-year band such as ``1980-1984``).
        as_of: State on this date; current state if absent.

    Raises:
        ValidationFailed: Unknown format, area, level or birth generalisation.
    """
    errors: list[dict[str, object]] = []
    if file_format not in FORMATS:
        errors.append(
            {"field": "format", "value": file_format, "message": "use csv, xlsx or parquet"}
        )
    if birth not in ("year", "5y"):
        errors.append({"field": "birth", "value": birth, "message": "use year or 5y"})
    if area_level < 0:
        errors.append({"field": "area_level", "value": area_level, "message": "must be 0 or more"})
    if errors:
        raise ValidationFailed("the pseudonymised export is not valid", errors)
    with engine.connect() as conn:
        areas = read_frame(
            conn,
            select(Area.id.label("area_id"), Area.code.label("own_code"), Area.level, Area.path),
        )
        scope = list(scope_paths) if scope_paths is not None else None
        if area_code is not None:
            root = areas.filter(pl.col("own_code") == area_code)
            if root.height == 0:
                raise ValidationFailed(
                    f"no area has the code '{area_code}'",
                    [{"field": "area_code", "value": area_code, "message": "unknown area"}],
                )
            path = root.item(0, "path")
            if scope is not None and not any(path.startswith(p) for p in scope):
                raise ValidationFailed(
                    f"area '{area_code}' is outside your areas",
                    [{"field": "area_code", "value": area_code, "message": "outside your areas"}],
                )
            scope = [path]
        hh, people = read_state(
            conn,
            [*HOUSEHOLD_COLUMNS, "registration_date"],
            [*PERSON_COLUMNS, "birth_date"],
            as_of,
            scope_paths=scope,
        )
        ident = Identifier
        id_query = select(ident.person_id, ident.id_type, ident.value)
        if as_of is None:
            id_query = id_query.where(holds(ident.active))
        else:
            moment = end_of_day(as_of)
            id_query = id_query.where(
                ident.valid_from < moment, or_(ident.valid_to.is_(None), ident.valid_to >= moment)
            )
        ids = read_frame(conn, id_query)
    # The ancestor at ``area_level``: the path "/R01/R01-D02/" lists codes top-down.
    areas = areas.with_columns(
        pl.col("path")
        .str.strip_chars("/")
        .str.split("/")
        .list.get(area_level, null_on_oob=True)
        .fill_null(pl.col("own_code"))
        .alias("area_code")
    ).select("area_id", "area_code")
    hh = hh.join(areas, on="area_id", how="inner")
    people = people.filter(pl.col("status") == "active").join(
        hh.select("household_id", "area_code"), on="household_id", how="inner"
    )
    if ids.height:
        ids = ids.with_columns(
            pl.struct("id_type", "value")
            .map_elements(
                lambda r: pseudonym(key, f"id-{r['id_type']}", r["value"]), return_dtype=pl.String
            )
            .alias("value"),
            ("id_" + pl.col("id_type")).alias("column"),
        )
        wide = ids.pivot(on="column", index="person_id", values="value", aggregate_function="first")
        people = people.join(wide, on="person_id", how="left")
    year = pl.col("birth_date").dt.year()
    if birth == "year":
        birth_col = year.alias("birth_year")
    else:
        start = (year // 5) * 5
        birth_col = pl.format("{}-{}", start, start + 4).alias("birth_band")
    households_out = hh.select(
        _hashed("household_id", key, "household").alias("household_pid"),
        "area_code",
        *HOUSEHOLD_COLUMNS,
        pl.col("registration_date").dt.year().alias("registration_year"),
    ).sort("household_pid")
    id_columns = sorted(c for c in people.columns if c.startswith("id_"))
    persons_out = people.select(
        _hashed("person_id", key, "person").alias("person_pid"),
        _hashed("household_id", key, "household").alias("household_pid"),
        "area_code",
        birth_col,
        *PERSON_COLUMNS,
        *id_columns,
    ).sort("household_pid", "person_pid")
    out.mkdir(parents=True, exist_ok=True)
    extract = PseudonymisedExtract(
        area_level=area_level,
        birth=birth,
        area_code=area_code,
        as_of=as_of,
        file_format=file_format,
    )
    for name, frame in (("households", households_out), ("persons", persons_out)):
        path = out / f"{name}.{file_format}"
        if file_format == "csv":
            frame.write_csv(path)
        elif file_format == "parquet":
            frame.write_parquet(path)
        else:
            frame.write_excel(path, worksheet=name)
        extract.files.append(
            WrittenFile(path, frame.height, file_sha256(path), tuple(frame.columns))
        )
    return extract
