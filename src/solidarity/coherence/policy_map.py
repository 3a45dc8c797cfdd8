"""The policy map: programmes on a grid of life-cycle group x risk x instrument class.

Instruments are grouped in the four classes of social protection: social
assistance, social insurance, labour market and services. A cell (group, risk)
is *empty* when no programme covers that risk for that group, and *crowded* when
two or more programmes do (whatever their instrument). A programme for ``all``
covers its risk for every group.
"""

from __future__ import annotations

import polars as pl

INSTRUMENT_CLASS = {
    "cash_transfer": "social assistance",
    "in_kind": "social assistance",
    "fee_waiver": "social assistance",
    "insurance_subsidy": "social assistance",
    "social_insurance": "social insurance",
    "public_works": "labour market",
    "labour_market": "labour market",
    "service": "services",
}
CLASSES = ("social assistance", "social insurance", "labour market", "services")
GROUPS = ("children", "working_age", "elderly", "persons_with_disabilities")


def policy_map(programmes: pl.DataFrame, beneficiaries: pl.DataFrame) -> pl.DataFrame:
    """One row per (group, risk, instrument class) with its programmes, budget and beneficiaries.

    Args:
        programmes: ``programme``, ``ministry``, ``instrument``, ``lifecycle_group``,
            ``risk_covered``, ``annual_budget``.
        beneficiaries: ``programme``, ``beneficiaries``.

    Returns:
        ``lifecycle_group``, ``risk``, ``instrument_class``, ``programmes`` (list),
        ``ministries`` (list), ``budget``, ``beneficiaries``, ``programme_count``,
        ``flag`` (``empty``, ``crowded`` or empty text) — flags are per (group, risk).
    """
    base = programmes.join(beneficiaries, on="programme", how="left").select(
        "programme",
        "ministry",
        pl.col("lifecycle_group").fill_null("all"),
        pl.col("risk_covered").fill_null("").alias("risk"),
        pl.col("instrument")
        .replace_strict(INSTRUMENT_CLASS, default="social assistance")
        .alias("instrument_class"),
        pl.col("annual_budget").fill_null(0.0).alias("budget"),
        pl.col("beneficiaries").fill_null(0).cast(pl.Int64),
    )
    risks = sorted(r for r in base["risk"].unique().to_list() if r)
    groups = [*GROUPS, *sorted(set(base["lifecycle_group"].to_list()) - set(GROUPS) - {"all"})]
    # A programme for "all" sits in every group's row.
    expanded = pl.concat(
        [
            base.filter(pl.col("lifecycle_group") != "all"),
            base.filter(pl.col("lifecycle_group") == "all")
            .drop("lifecycle_group")
            .join(pl.DataFrame({"lifecycle_group": groups}), how="cross")
            .select(base.columns),
        ]
    )
    grid = (
        pl.DataFrame({"lifecycle_group": groups})
        .join(pl.DataFrame({"risk": risks}, schema={"risk": pl.String}), how="cross")
        .join(pl.DataFrame({"instrument_class": list(CLASSES)}), how="cross")
    )
    cells = expanded.group_by("lifecycle_group", "risk", "instrument_class").agg(
        pl.col("programme").sort().alias("programmes"),
        pl.col("ministry").unique().sort().alias("ministries"),
        pl.col("budget").sum(),
        pl.col("beneficiaries").sum(),
    )
    per_risk = expanded.group_by("lifecycle_group", "risk").agg(
        pl.col("programme").n_unique().cast(pl.Int64).alias("programme_count")
    )
    return (
        grid.join(cells, on=["lifecycle_group", "risk", "instrument_class"], how="left")
        .join(per_risk, on=["lifecycle_group", "risk"], how="left")
        .with_columns(
            pl.col("programmes").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("ministries").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("budget").fill_null(0.0),
            pl.col("beneficiaries").fill_null(0),
            pl.col("programme_count").fill_null(0),
        )
        .with_columns(
            pl.when(pl.col("programme_count") == 0)
            .then(pl.lit("empty"))
            .when(pl.col("programme_count") >= 2)
            .then(pl.lit("crowded"))
            .otherwise(pl.lit(""))
            .alias("flag")
        )
        .sort("lifecycle_group", "risk", "instrument_class")
    )


def flagged_cells(grid: pl.DataFrame) -> pl.DataFrame:
    """One row per (group, risk) that is empty or crowded, with its programmes."""
    return (
        grid.group_by("lifecycle_group", "risk")
        .agg(
            pl.col("flag").first(),
            pl.col("programmes").list.explode().unique().sort().alias("programmes"),
        )
        .filter(pl.col("flag") != "")
        .sort("flag", "lifecycle_group", "risk")
    )
