"""Where the money goes: budget, spending, cost per beneficiary and benefit incidence.

Spending is read from payment cycles (see ``repository.read_spending``): what was
paid in reconciled cycles, what is owed in approved ones, over the year ending on
the as-of date. Incidence is the share of spending reaching each consumption
quintile: spending to households of quintile q / all spending.
"""

from __future__ import annotations

import polars as pl


def _per_beneficiary(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col("beneficiaries") > 0)
        .then(pl.col("spending") / pl.col("beneficiaries"))
        .alias("cost_per_beneficiary")
    )


def by_programme(
    programmes: pl.DataFrame,
    spending: pl.DataFrame,
    memberships: pl.DataFrame,
    admin_costs: pl.DataFrame,
) -> pl.DataFrame:
    """Per programme: ministry, funding source, budget, spending, beneficiaries, unit cost.

    ``spending`` carries ``programme``, ``household_id``, ``spent`` (households in
    scope only); ``admin_share`` is recorded administrative cost / spending.
    """
    spent = spending.group_by("programme").agg(pl.col("spent").sum().alias("spending"))
    members = memberships.group_by("programme").agg(
        pl.col("household_id").n_unique().cast(pl.Int64).alias("beneficiaries")
    )
    frame = (
        programmes.select(
            "programme",
            "name",
            "ministry",
            "funding_source",
            pl.col("annual_budget").alias("budget"),
        )
        .join(spent, on="programme", how="left")
        .join(members, on="programme", how="left")
        .join(admin_costs, on="programme", how="left")
        .with_columns(pl.col("spending").fill_null(0.0), pl.col("beneficiaries").fill_null(0))
        .with_columns(
            pl.when(pl.col("budget") > 0)
            .then(pl.col("spending") / pl.col("budget"))
            .alias("execution_rate"),
            pl.when(pl.col("spending") > 0)
            .then(pl.col("admin_cost") / pl.col("spending"))
            .alias("admin_share"),
        )
    )
    return _per_beneficiary(frame).sort("programme")


def by_column(per_programme: pl.DataFrame, column: str) -> pl.DataFrame:
    """Totals of budget, spending and beneficiaries by ministry or funding source."""
    return _per_beneficiary(
        per_programme.group_by(pl.col(column).fill_null("").alias(column))
        .agg(
            pl.col("programme").n_unique().cast(pl.Int64).alias("programmes"),
            pl.col("budget").sum(),
            pl.col("spending").sum(),
            pl.col("beneficiaries").sum(),
        )
        .sort(column)
    )


def by_area(
    spending: pl.DataFrame, memberships: pl.DataFrame, households: pl.DataFrame, poor: pl.DataFrame
) -> pl.DataFrame:
    """Per area: spending, beneficiary households, poor persons and spending per poor person."""
    area = households.select("household_id", "area", "size")
    spent = (
        spending.join(area, on="household_id", how="inner")
        .group_by("area")
        .agg(pl.col("spent").sum().alias("spending"))
    )
    members = (
        memberships.select("household_id")
        .unique()
        .join(area, on="household_id", how="inner")
        .group_by("area")
        .agg(pl.len().cast(pl.Int64).alias("beneficiaries"))
    )
    poor_persons = (
        area.join(poor.select("household_id"), on="household_id", how="semi")
        .group_by("area")
        .agg(pl.col("size").sum().cast(pl.Int64).alias("poor_persons"))
    )
    frame = (
        area.select("area")
        .unique()
        .join(spent, on="area", how="left")
        .join(members, on="area", how="left")
        .join(poor_persons, on="area", how="left")
        .with_columns(
            pl.col("spending").fill_null(0.0),
            pl.col("beneficiaries").fill_null(0),
            pl.col("poor_persons").fill_null(0),
        )
        .with_columns(
            pl.when(pl.col("poor_persons") > 0)
            .then(pl.col("spending") / pl.col("poor_persons"))
            .alias("spending_per_poor_person")
        )
    )
    return _per_beneficiary(frame).sort("area")


def incidence(spending: pl.DataFrame, households: pl.DataFrame) -> pl.DataFrame:
    """Share of spending reaching each consumption quintile, per programme and overall.

    Returns:
        ``programme`` (``ALL`` for the total), ``quintile``, ``spending``, ``share``.
    """
    quintile = households.select("household_id", "quintile")
    spent = spending.join(quintile, on="household_id", how="inner")
    per = spent.group_by("programme", "quintile").agg(pl.col("spent").sum().alias("spending"))
    total = spent.group_by("quintile").agg(pl.col("spent").sum().alias("spending"))
    stacked = pl.concat(
        [per, total.with_columns(pl.lit("ALL").alias("programme")).select(per.columns)]
    )
    sums = stacked.group_by("programme").agg(pl.col("spending").sum().alias("_total"))
    order = pl.when(pl.col("programme") == "ALL").then(1).otherwise(0)
    return (
        stacked.join(sums, on="programme")
        .with_columns(
            pl.when(pl.col("_total") > 0).then(pl.col("spending") / pl.col("_total")).alias("share")
        )
        .drop("_total")
        .sort(order, "programme", "quintile")
    )
