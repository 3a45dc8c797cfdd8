"""The vectorised evaluation of programmes over a population and the measures of a run.

Pure Polars, no database: :func:`transfers` runs each programme's compiled rules
over the whole population at once (budget caps applied in priority order), and
:func:`measures` turns the population and its transfers into cost, coverage,
targeting errors, poverty, inequality, incidence and overlaps. Baseline and
scenario go through the same two functions, so they differ only by their rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from typing import Any

import polars as pl

from solidarity.rules import CheckedRule, to_polars_all

#: Payments per year of each benefit frequency.
PAYMENTS_PER_YEAR: dict[str, int] = {
    "monthly": 12,
    "bimonthly": 6,
    "quarterly": 4,
    "biannual": 2,
    "annual": 1,
    "one_off": 1,
}

#: Population groups the beneficiaries are broken down by.
BREAKDOWNS = ("area", "head_sex", "head_age_band", "disability", "quintile", "decile")

#: Life-cycle groups: households with at least one such member.
LIFE_CYCLE = {
    "children": "has_child",
    "working_age": "has_working_age",
    "elderly": "has_elderly",
    "persons_with_disabilities": "has_disabled",
}


@dataclass(frozen=True)
class ProgrammeSpec:
    """A programme as a simulation sees it: compiled rules, frequency and cap.

    A household is eligible when any of ``eligibility`` holds (one rule, or the
    rules of merged programmes).
    """

    code: str
    name: str
    eligibility: tuple[CheckedRule, ...]
    benefit: CheckedRule | None
    priority: CheckedRule | None
    per_year: int
    budget_cap: float | None
    rule_ids: dict[str, int | None]


def transfers(
    households: pl.DataFrame,
    persons: pl.DataFrame,
    specs: Sequence[ProgrammeSpec],
    as_of: date,
) -> pl.DataFrame:
    """Annual transfers of every programme to every beneficiary household.

    Every rule of every programme is compiled into one plan, so the members are
    grouped once for all of them (an aggregate several rules use is computed once).

    Returns:
        ``household_id``, ``programme``, ``amount`` (per year), one row per
        beneficiary household and programme (eligible households within the cap,
        whatever their amount).
    """
    if not specs:
        return pl.DataFrame(
            schema={"household_id": pl.Int64, "programme": pl.String, "amount": pl.Float64}
        )
    rules: dict[str, CheckedRule] = {}
    for p, spec in enumerate(specs):
        rules |= {f"_e{p}_{i}": rule for i, rule in enumerate(spec.eligibility)}
        if spec.benefit is not None:
            rules[f"_b{p}"] = spec.benefit
        if spec.priority is not None:
            rules[f"_p{p}"] = spec.priority
    evaluated = (
        to_polars_all(rules, as_of=as_of)
        .apply(households, members=persons)
        .select("household_id", *rules)
        .collect()
    )
    return pl.concat([_chosen(evaluated, spec, p) for p, spec in enumerate(specs)])


def _chosen(evaluated: pl.DataFrame, spec: ProgrammeSpec, p: int) -> pl.DataFrame:
    """The beneficiaries of the ``p``-th programme and their annual amounts."""
    eligible = pl.any_horizontal(
        [pl.col(f"_e{p}_{i}").fill_null(False) for i in range(len(spec.eligibility))]
    )
    benefit = pl.col(f"_b{p}") if spec.benefit is not None else pl.lit(0.0)
    priority = pl.col(f"_p{p}") if spec.priority is not None else pl.lit(None)
    chosen = (
        evaluated.lazy()
        .filter(eligible)
        .select(
            "household_id",
            (benefit.cast(pl.Float64).fill_null(0.0).clip(lower_bound=0.0) * spec.per_year).alias(
                "amount"
            ),
            priority.cast(pl.Float64).alias("_p"),
        )
        .sort(["_p", "household_id"], nulls_last=True)
    )
    if spec.budget_cap is not None:
        # Like enrolment: in priority order while the cap lasts; the first that does
        # not fit and every one after it wait.
        fits = (pl.col("amount").cum_sum() <= spec.budget_cap).cast(pl.Int8).cum_min()
        chosen = chosen.filter(fits.cast(pl.Boolean))
    # Like enrolment, an eligible household within the cap is a beneficiary even when
    # its benefit is nil (a fee waiver, a service).
    return chosen.select(
        pl.col("household_id").cast(pl.Int64),
        pl.lit(spec.code).alias("programme"),
        "amount",
    ).collect()


def ntile(households: pl.DataFrame, n: int) -> pl.Series:
    """Person-weighted consumption n-tile (1 poorest .. n); null without consumption.

    Households are ranked by consumption per capita (ties by id); a household is in
    group ``ceil(n * persons up to and including it / all persons)``.
    """
    ranked = (
        households.select("household_id", "size", "consumption_per_capita")
        .filter(pl.col("consumption_per_capita").is_not_null())
        .sort("consumption_per_capita", "household_id")
        .with_columns(pl.col("size").clip(lower_bound=1).cum_sum().alias("_cum"))
    )
    total = int(ranked["_cum"].max() or 0) if ranked.height else 0  # type: ignore[arg-type]
    ranked = ranked.select(
        "household_id",
        (pl.col("_cum") * n / max(total, 1)).ceil().clip(1, n).cast(pl.Int8).alias("_n"),
    )
    return households.select("household_id").join(
        ranked, on="household_id", how="left", maintain_order="left"
    )["_n"]


def gini(values: pl.Series, weights: pl.Series) -> float | None:
    """Weighted Gini coefficient: ``sum_i w_i y_i (C_{i-1} + C_i - W) / (W * sum w y)``."""
    frame = pl.DataFrame({"y": values, "w": weights.cast(pl.Float64)}).drop_nulls().sort("y")
    if frame.height == 0:
        return None
    total_w = float(frame["w"].sum())
    total_wy = float((frame["y"] * frame["w"]).sum())
    if total_w <= 0 or total_wy <= 0:
        return None
    cum = frame["w"].cum_sum()
    before = cum - frame["w"]
    s = float((frame["w"] * frame["y"] * (before + cum - total_w)).sum())
    return s / (total_w * total_wy)


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def per_household(population: pl.DataFrame, paid: pl.DataFrame) -> pl.DataFrame:
    """The population with ``transfer`` (total per year) and ``programmes`` (how many)."""
    totals = paid.group_by("household_id").agg(
        pl.col("amount").sum().alias("transfer"), pl.len().alias("programmes")
    )
    return population.join(totals, on="household_id", how="left").with_columns(
        pl.col("transfer").fill_null(0.0), pl.col("programmes").fill_null(0)
    )


def measures(
    population: pl.DataFrame,
    paid: pl.DataFrame,
    codes: Sequence[str],
    poverty_line: float,
    periods_per_year: int,
) -> dict[str, Any]:
    """Every figure of one side (baseline or scenario) of a run.

    ``population`` has one row per household with ``size``, ``consumption_per_capita``
    (per period of the poverty line), the groups of :data:`BREAKDOWNS` and the flags of
    :data:`LIFE_CYCLE`; ``paid`` is the output of :func:`transfers`.
    """
    hh = per_household(population, paid).with_columns(
        (pl.col("consumption_per_capita") < poverty_line).fill_null(False).alias("poor"),
        (pl.col("programmes") > 0).alias("covered"),
    )
    joined = paid.join(hh.drop("transfer", "programmes"), on="household_id", how="left")

    programmes = []
    for code in codes:
        mine = joined.filter(pl.col("programme") == code)
        poor_hh = int(hh["poor"].sum())
        poor_in = int(mine["poor"].sum())
        programmes.append(
            {
                "programme": code,
                "households": mine.height,
                "persons": int(mine["size"].sum()),
                "cost": round(float(mine["amount"].sum()), 2),
                "coverage_of_poor": _round(_share(poor_in, poor_hh)),
                "inclusion_error": _round(_share(mine.height - poor_in, mine.height)),
            }
        )
    total_cost = round(float(paid["amount"].sum()), 2)

    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for dim in BREAKDOWNS:
        rows = (
            joined.group_by(
                pl.col(dim).cast(pl.String).fill_null("unknown").alias("group"), "programme"
            )
            .agg(
                pl.len().alias("households"),
                pl.col("size").sum().alias("persons"),
                pl.col("amount").sum().round(2).alias("cost"),
            )
            .sort("group", "programme")
        )
        alls = (
            hh.filter(pl.col("covered"))
            .group_by(pl.col(dim).cast(pl.String).fill_null("unknown").alias("group"))
            .agg(
                pl.lit("ALL").alias("programme"),
                pl.len().alias("households"),
                pl.col("size").sum().alias("persons"),
                pl.col("transfer").sum().round(2).alias("cost"),
            )
            .sort("group")
        )
        breakdowns[dim] = [*rows.to_dicts(), *alls.to_dicts()]

    poor = hh.filter(pl.col("poor"))
    covered = hh.filter(pl.col("covered"))
    targeting = {
        "poor_households": poor.height,
        "beneficiary_households": covered.height,
        "coverage_of_poor": _round(_share(int(poor["covered"].sum()), poor.height)),
        "exclusion_error": _round(_share(int((~poor["covered"]).sum()), poor.height)),
        "inclusion_error": _round(_share(int((~covered["poor"]).sum()), covered.height)),
    }
    life_cycle = {}
    for group, flag in LIFE_CYCLE.items():
        members = hh.filter(pl.col(flag))
        life_cycle[group] = {
            "households": members.height,
            "covered": int(members["covered"].sum()),
            "coverage": _round(_share(int(members["covered"].sum()), members.height)),
        }

    observed = hh.filter(pl.col("consumption_per_capita").is_not_null())
    post = pl.col("consumption_per_capita") + pl.col("transfer") / (
        periods_per_year * pl.col("size").clip(lower_bound=1)
    )
    observed = observed.with_columns(post.alias("post"))
    weights = observed["size"].clip(lower_bound=1)
    persons = float(weights.sum())

    def poverty(column: str) -> dict[str, float | None]:
        y = observed[column]
        gap = ((poverty_line - y) / poverty_line).clip(lower_bound=0.0)
        return {
            "headcount": _round(_share(float((weights * (y < poverty_line)).sum()), persons)),
            "gap": _round(_share(float((weights * gap).sum()), persons)),
            "gini": _round(gini(y, weights)),
        }

    incidence = []
    total_transfer = float(hh["transfer"].sum())
    for q in range(1, 6):
        in_q = float(hh.filter(pl.col("quintile") == f"Q{q}")["transfer"].sum())
        incidence.append({"quintile": f"Q{q}", "share": _round(_share(in_q, total_transfer))})

    overlaps = []
    members_of = {
        code: set(paid.filter(pl.col("programme") == code)["household_id"].to_list())
        for code in codes
    }
    for a, b in combinations(codes, 2):
        both = len(members_of[a] & members_of[b])
        if both:
            union = len(members_of[a] | members_of[b])
            overlaps.append(
                {
                    "programme_a": a,
                    "programme_b": b,
                    "households_both": both,
                    "jaccard": _round(_share(both, union)),
                }
            )

    return {
        "total_cost": total_cost,
        "beneficiary_households": covered.height,
        "beneficiary_persons": int(covered["size"].sum()),
        "programmes": programmes,
        "breakdowns": breakdowns,
        "targeting": targeting,
        "life_cycle": life_cycle,
        "poverty_before": poverty("consumption_per_capita"),
        "poverty_after": poverty("post"),
        "incidence": incidence,
        "overlaps": overlaps,
        "households_without_consumption": hh.height - observed.height,
    }


def winners_and_losers(
    population: pl.DataFrame, base: pl.DataFrame, scenario: pl.DataFrame
) -> tuple[dict[str, Any], pl.DataFrame]:
    """Households whose annual transfers rise or fall, by how much, where and who.

    Returns:
        The summary and the per-household frame (``household_id``, ``before``,
        ``after``, ``change`` and the groups) of the households that change.
    """
    b = base.group_by("household_id").agg(pl.col("amount").sum().alias("before"))
    s = scenario.group_by("household_id").agg(pl.col("amount").sum().alias("after"))
    changes = (
        b.join(s, on="household_id", how="full", coalesce=True)
        .with_columns(pl.col("before").fill_null(0.0), pl.col("after").fill_null(0.0))
        .with_columns((pl.col("after") - pl.col("before")).round(2).alias("change"))
        .filter(pl.col("change") != 0)
        .join(population, on="household_id", how="left")
        .sort("household_id")
    )
    winners = changes.filter(pl.col("change") > 0)
    losers = changes.filter(pl.col("change") < 0)

    def by(dim: str) -> list[dict[str, Any]]:
        return (
            changes.group_by(pl.col(dim).cast(pl.String).fill_null("unknown").alias("group"))
            .agg(
                (pl.col("change") > 0).sum().alias("winners"),
                (pl.col("change") < 0).sum().alias("losers"),
                pl.col("change").sum().round(2).alias("net_change"),
            )
            .sort("group")
            .to_dicts()
        )

    summary = {
        "winners": winners.height,
        "losers": losers.height,
        "total_gain": round(float(winners["change"].sum()), 2),
        "total_loss": round(float(-losers["change"].sum()), 2),
        "average_gain": _round(_share(float(winners["change"].sum()), winners.height), 2),
        "average_loss": _round(_share(float(-losers["change"].sum()), losers.height), 2),
        "by_area": by("area"),
        "by_head_sex": by("head_sex"),
        "by_head_age_band": by("head_age_band"),
        "by_quintile": by("quintile"),
    }
    return summary, changes.select("household_id", "area", "before", "after", "change")
