"""The beneficiary journey: funnel, time per stage, drop-off, and repeated steps.

A household's journey through a programme is the first date of each stage it
reached. Conversion from stage k-1 to k is the share of households that reached
k-1 and also reached k; the days of stage k are ``date(k) - date(k-1)`` over
households that reached both (median and 90th percentile, linear interpolation).
A household that reached some stage but was never enrolled dropped off at the
last stage it reached, with the reason of its latest event.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

STAGES = ("applied", "assessed", "eligibility_decided", "enrolled", "first_paid")
#: Stages where the same household data is collected again in each programme.
DATA_COLLECTION_STAGES = ("applied", "assessed")


@dataclass(frozen=True)
class Journey:
    """Funnel (per programme and stage), drop-off reasons, and repeated steps."""

    funnel: pl.DataFrame
    drop_off: pl.DataFrame
    repeated: pl.DataFrame
    repeated_summary: dict[str, int]


def _firsts(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.filter(pl.col("event").is_in(STAGES))
        .group_by("programme", "household_id", "event")
        .agg(pl.col("event_date").min())
    )


def funnel(events: pl.DataFrame) -> pl.DataFrame:
    """Per programme and stage: households reached, conversion and days (median, p90)."""
    firsts = _firsts(events)
    wide = firsts.pivot(on="event", index=["programme", "household_id"], values="event_date")
    for stage in STAGES:
        if stage not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Date).alias(stage))
    parts = []
    for i, stage in enumerate(STAGES):
        reached = pl.col(stage).is_not_null()
        if i == 0:
            prev_reached = pl.lit(None, dtype=pl.Boolean)
            days = pl.lit(None, dtype=pl.Int64)
        else:
            prev = STAGES[i - 1]
            prev_reached = pl.col(prev).is_not_null()
            days = (pl.col(stage) - pl.col(prev)).dt.total_days()
        parts.append(
            wide.group_by("programme").agg(
                pl.lit(stage).alias("stage"),
                pl.lit(i).alias("order"),
                reached.sum().cast(pl.Int64).alias("households"),
                (prev_reached & reached).sum().cast(pl.Int64).alias("_from_previous"),
                prev_reached.sum().cast(pl.Int64).alias("_previous"),
                days.median().alias("median_days"),
                days.quantile(0.9, "linear").alias("p90_days"),
            )
        )
    frame = pl.concat(parts, how="vertical_relaxed")
    return (
        frame.with_columns(
            pl.when(pl.col("_previous") > 0)
            .then(pl.col("_from_previous") / pl.col("_previous"))
            .alias("conversion")
        )
        .drop("_from_previous", "_previous")
        .sort("programme", "order")
        .drop("order")
    )


def drop_off(events: pl.DataFrame) -> pl.DataFrame:
    """Households that reached a stage but were never enrolled: where they stopped and why."""
    stage_rank = pl.DataFrame(
        {"event": list(STAGES), "rank": list(range(len(STAGES)))},
        schema={"event": pl.String, "rank": pl.Int64},
    )
    ranked = events.join(stage_rank, on="event", how="left")
    per = ranked.group_by("programme", "household_id").agg(
        pl.col("rank").max().alias("furthest"),
        pl.col("reason").sort_by("event_date").drop_nulls().last().alias("reason"),
    )
    enrolled = STAGES.index("enrolled")
    dropped = per.filter(pl.col("furthest").is_not_null() & (pl.col("furthest") < enrolled))
    return (
        dropped.join(stage_rank.rename({"rank": "furthest", "event": "stage"}), on="furthest")
        .with_columns(pl.col("reason").fill_null("unknown"))
        .group_by("programme", "stage", "furthest", "reason")
        .agg(pl.len().cast(pl.Int64).alias("households"))
        .sort(["programme", "furthest", "households"], descending=[False, False, True])
        .drop("furthest")
    )


def repeated_steps(events: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Households that applied to several programmes and the data-collection steps repeated.

    Returns:
        Per household: ``household_id``, ``programmes`` (applied to), ``applications``,
        ``assessments``, ``repeated_steps`` (data collections beyond the first of each
        kind); and totals.
    """
    firsts = _firsts(events).filter(pl.col("event").is_in(DATA_COLLECTION_STAGES))
    per = firsts.group_by("household_id").agg(
        pl.col("programme").filter(pl.col("event") == "applied").n_unique().alias("programmes"),
        (pl.col("event") == "applied").sum().cast(pl.Int64).alias("applications"),
        (pl.col("event") == "assessed").sum().cast(pl.Int64).alias("assessments"),
    )
    several = per.filter(pl.col("programmes") >= 2).with_columns(
        (
            (pl.col("applications") - 1).clip(lower_bound=0)
            + (pl.col("assessments") - 1).clip(lower_bound=0)
        ).alias("repeated_steps")
    )
    summary = {
        "households_applying": per.filter(pl.col("applications") >= 1).height,
        "households_applying_to_several": several.height,
        "repeated_applications": int((several["applications"] - 1).sum() or 0),
        "repeated_assessments": int((several["assessments"] - 1).clip(lower_bound=0).sum() or 0),
    }
    return several.sort(["repeated_steps", "household_id"], descending=[True, False]), summary


def journey(events: pl.DataFrame) -> Journey:
    """Every journey figure of ``events`` (``programme``, ``household_id``, ``event``,
    ``event_date``, ``reason``)."""
    repeated, summary = repeated_steps(events)
    return Journey(funnel(events), drop_off(events), repeated, summary)
