"""The population the diagnostics look at: households as of a date, with their groups.

Every diagnostic is broken down by area (any level of the hierarchy) and by
population group. Groups are properties of the household: the head's sex and age
band, whether any member has a disability (Washington Group domain at 3 or 4),
urban or rural, and the consumption quintile (person-weighted: each quintile holds
a fifth of the persons, households ranked by consumption per capita).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from solidarity.coherence import repository as repo
from solidarity.coherence.errors import UnknownArea

#: Dimensions a diagnostic can be broken down by.
DIMENSIONS = ("area", "urban_rural", "head_sex", "head_age_band", "disability", "quintile")
WASHINGTON_GROUP = (
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_cognition",
    "wg_selfcare",
    "wg_communication",
)


@dataclass(frozen=True)
class Population:
    """Households in scope with their groups, and the read's parameters.

    ``households`` has ``household_id``, ``area_id``, ``area`` (code at
    ``area_level``), ``size`` (active members), ``consumption_per_capita`` and one
    column per dimension of :data:`DIMENSIONS`.
    """

    as_of: date
    area_code: str | None
    area_level: int
    households: pl.DataFrame
    persons: pl.DataFrame
    areas: pl.DataFrame


def age_years(birth: pl.Expr, as_of: date) -> pl.Expr:
    """Whole years between ``birth`` and ``as_of``."""
    day = pl.lit(as_of)
    before = (day.dt.month() < birth.dt.month()) | (
        (day.dt.month() == birth.dt.month()) & (day.dt.day() < birth.dt.day())
    )
    return (day.dt.year() - birth.dt.year()).cast(pl.Int32) - before.cast(pl.Int32)


def head_age_band(age: pl.Expr) -> pl.Expr:
    """Age band of a household head."""
    return (
        pl.when(age < 30)
        .then(pl.lit("under 30"))
        .when(age < 45)
        .then(pl.lit("30-44"))
        .when(age < 65)
        .then(pl.lit("45-64"))
        .when(age.is_not_null())
        .then(pl.lit("65 and over"))
        .otherwise(pl.lit("unknown"))
    )


def quintiles(households: pl.DataFrame) -> pl.Series:
    """Person-weighted consumption quintile (1 poorest .. 5), null without consumption.

    Households are ranked by consumption per capita (ties by id); a household is in
    quintile ``ceil(5 * persons up to and including it / all persons)``.
    """
    ranked = (
        households.select("household_id", "size", "consumption_per_capita")
        .filter(pl.col("consumption_per_capita").is_not_null())
        .sort("consumption_per_capita", "household_id")
        .with_columns(pl.col("size").clip(lower_bound=1).cum_sum().alias("_cum"))
    )
    total = ranked["_cum"].max() if ranked.height else 0
    ranked = ranked.select(
        "household_id",
        (pl.col("_cum") * 5 / max(total or 1, 1)).ceil().clip(1, 5).cast(pl.Int8).alias("quintile"),
    )
    return households.select("household_id").join(
        ranked, on="household_id", how="left", maintain_order="left"
    )["quintile"]


def poorest_share(households: pl.DataFrame, share: float) -> pl.DataFrame:
    """Households of the poorest ``share`` of persons (ranked by consumption per capita)."""
    ranked = (
        households.filter(pl.col("consumption_per_capita").is_not_null())
        .sort("consumption_per_capita", "household_id")
        .with_columns(pl.col("size").clip(lower_bound=1).cum_sum().alias("_cum"))
    )
    total = float(ranked["_cum"].sum() and ranked["_cum"][-1]) if ranked.height else 0.0
    return ranked.filter(pl.col("_cum") <= share * total + 1e-9).select("household_id")


def area_scope(areas: pl.DataFrame, area_code: str | None) -> str | None:
    """The path prefix of ``area_code`` (``None`` for the whole country).

    Raises:
        UnknownArea: No area has that code.
    """
    if area_code is None:
        return None
    found = areas.filter(pl.col("code") == area_code)
    if found.height == 0:
        raise UnknownArea(f"no area has the code {area_code!r}")
    return str(found.item(0, "path"))


def load_population(
    session: Session,
    as_of: date,
    area_code: str | None = None,
    area_level: int = 0,
    *,
    household_columns: tuple[str, ...] = (),
    person_columns: tuple[str, ...] = (),
) -> Population:
    """Read households and persons as of ``as_of`` in one pass each and derive the groups.

    ``household_columns`` and ``person_columns`` are read too (for rules evaluated
    over the same population).
    """
    conn = session.connection()
    areas = repo.read_areas(conn)
    prefix = area_scope(areas, area_code)
    households = repo.read_households(conn, as_of, household_columns)
    persons = repo.read_persons(conn, as_of, person_columns)
    return build_population(as_of, area_code, area_level, households, persons, areas, prefix)


def build_population(
    as_of: date,
    area_code: str | None,
    area_level: int,
    households: pl.DataFrame,
    persons: pl.DataFrame,
    areas: pl.DataFrame,
    prefix: str | None = None,
) -> Population:
    """Derive the groups of ``households`` from their members (pure; no database)."""
    level_code = (
        pl.col("path")
        .str.strip_chars("/")
        .str.split("/")
        .list.get(area_level, null_on_oob=True)
        .fill_null(pl.col("code"))
    )
    area_frame = areas.select("area_id", "path", level_code.alias("area"))
    hh = households.join(area_frame, on="area_id", how="left")
    if prefix is not None:
        hh = hh.filter(pl.col("path").str.starts_with(prefix))
    active = persons.filter(pl.col("status").is_null() | (pl.col("status") == "active"))
    wg = [pl.col(c).fill_null(0) >= 3 for c in WASHINGTON_GROUP if c in active.columns]
    disabled = pl.any_horizontal(wg) if wg else pl.lit(False)
    per_household = active.group_by("household_id").agg(
        pl.len().cast(pl.Int64).alias("size"),
        disabled.any().alias("_disabled"),
    )
    heads = (
        active.filter(pl.col("relationship") == "head")
        .sort("household_id")
        .unique("household_id", keep="first")
        .select(
            "household_id",
            pl.col("sex").fill_null("unknown").alias("head_sex"),
            head_age_band(age_years(pl.col("birth_date"), as_of)).alias("head_age_band"),
        )
    )
    hh = (
        hh.join(per_household, on="household_id", how="left")
        .join(heads, on="household_id", how="left")
        .with_columns(
            pl.col("size").fill_null(0),
            pl.col("area").fill_null("unknown"),
            pl.col("urban_rural").fill_null("unknown"),
            pl.col("head_sex").fill_null("unknown"),
            pl.col("head_age_band").fill_null("unknown"),
            pl.when(pl.col("_disabled"))
            .then(pl.lit("with disability"))
            .otherwise(pl.lit("without disability"))
            .alias("disability"),
        )
        .drop("_disabled", "path")
        .sort("household_id")
    )
    hh = hh.with_columns(
        quintiles(hh).alias("_q"),
    ).with_columns(
        pl.when(pl.col("_q").is_null())
        .then(pl.lit("unknown"))
        .otherwise(pl.format("Q{}", pl.col("_q")))
        .alias("quintile")
    )
    hh = hh.drop("_q")
    members = persons.join(hh.select("household_id"), on="household_id", how="semi")
    return Population(as_of, area_code, area_level, hh, members, areas)
