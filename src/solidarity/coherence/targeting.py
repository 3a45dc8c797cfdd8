"""Coverage, exclusion and inclusion errors against each programme's target population.

For a programme P with target population T (households its own eligibility rule,
or a declared target, selects) and beneficiaries B (households enrolled):

- coverage = |T ∩ B| / |T|
- exclusion error = |T \\ B| / |T| (= 1 - coverage)
- inclusion error = |B \\ T| / |B|

The system as a whole uses T = households in any programme's target and B =
households in any programme.
"""

from __future__ import annotations

import polars as pl

SYSTEM = "ALL"


def _rates(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.col("target") > 0)
        .then(pl.col("covered_target") / pl.col("target"))
        .alias("coverage"),
        pl.when(pl.col("target") > 0)
        .then((pl.col("target") - pl.col("covered_target")) / pl.col("target"))
        .alias("exclusion_error"),
        pl.when(pl.col("beneficiaries") > 0)
        .then((pl.col("beneficiaries") - pl.col("covered_target")) / pl.col("beneficiaries"))
        .alias("inclusion_error"),
    )


def targeting(
    targets: pl.DataFrame,
    memberships: pl.DataFrame,
    households: pl.DataFrame,
    by: str | None = None,
) -> pl.DataFrame:
    """Coverage and targeting errors per programme (and ``ALL``), optionally per group.

    Args:
        targets: ``programme``, ``household_id`` of each programme's target population.
        memberships: ``programme``, ``household_id`` of its beneficiaries.
        households: Households in scope, with the column ``by`` when given.
        by: A dimension of the population (``area``, ``quintile`` ...) or ``None``.

    Returns:
        ``programme``, ``group``, ``target``, ``beneficiaries``, ``covered_target``,
        ``coverage``, ``exclusion_error``, ``inclusion_error``.
    """
    group = pl.col(by).cast(pl.String) if by else pl.lit("all")
    scope = households.select("household_id", group.alias("group"))
    t = targets.select("programme", "household_id").unique().with_columns(pl.lit(True).alias("t"))
    b = (
        memberships.select("programme", "household_id")
        .unique()
        .with_columns(pl.lit(True).alias("b"))
    )
    joined = (
        t.join(b, on=["programme", "household_id"], how="full", coalesce=True)
        .with_columns(pl.col("t").fill_null(False), pl.col("b").fill_null(False))
        .join(scope, on="household_id", how="inner")
    )
    system = joined.group_by("household_id", "group").agg(pl.col("t").any(), pl.col("b").any())
    system = system.with_columns(pl.lit(SYSTEM).alias("programme"))
    stacked = pl.concat([joined.select(system.columns), system], how="vertical_relaxed")
    counts = stacked.group_by("programme", "group").agg(
        pl.col("t").sum().cast(pl.Int64).alias("target"),
        pl.col("b").sum().cast(pl.Int64).alias("beneficiaries"),
        (pl.col("t") & pl.col("b")).sum().cast(pl.Int64).alias("covered_target"),
    )
    order = pl.when(pl.col("programme") == SYSTEM).then(1).otherwise(0)
    return _rates(counts).sort(order, "programme", "group")


def uncovered(
    vulnerable: pl.DataFrame, memberships: pl.DataFrame, households: pl.DataFrame
) -> pl.DataFrame:
    """Poor or vulnerable households in no programme at all, with their area and groups."""
    return (
        households.join(vulnerable.select("household_id"), on="household_id", how="semi")
        .join(memberships.select("household_id"), on="household_id", how="anti")
        .sort("household_id")
    )


def worst_areas(
    vulnerable: pl.DataFrame, memberships: pl.DataFrame, households: pl.DataFrame
) -> pl.DataFrame:
    """Areas ranked by poor or vulnerable households left in no programme.

    Returns:
        ``area``, ``vulnerable``, ``uncovered``, ``uncovered_share``, ``rank``,
        ranked by uncovered households, then by share.
    """
    v = households.join(vulnerable.select("household_id"), on="household_id", how="semi")
    covered = memberships.select("household_id").unique().with_columns(pl.lit(True).alias("in"))
    v = v.join(covered, on="household_id", how="left").with_columns(pl.col("in").fill_null(False))
    table = (
        v.group_by("area")
        .agg(
            pl.len().cast(pl.Int64).alias("vulnerable"),
            (~pl.col("in")).sum().cast(pl.Int64).alias("uncovered"),
            pl.col("size").filter(~pl.col("in")).sum().cast(pl.Int64).alias("uncovered_persons"),
        )
        .with_columns((pl.col("uncovered") / pl.col("vulnerable")).alias("uncovered_share"))
        .sort(["uncovered", "uncovered_share", "area"], descending=[True, True, False])
    )
    return table.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
