"""Overlaps between programmes, from one bitmask per household.

Each programme gets one bit; a household's membership is the OR of its
programmes' bits. Grouping households by mask leaves at most a few thousand
combinations however large the population, and every figure (pairwise counts,
Jaccard, multiplicity, largest combinations) is computed from that small table:
pairwise counts are one matrix product over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Overlaps:
    """What the overlap diagnostic computes.

    Attributes:
        programmes: Codes in bit order.
        pairs: One row per pair: ``programme_a``, ``programme_b``, ``households_a``,
            ``households_b``, ``households_both``, ``persons_both``, ``share_a_in_b``
            (of A's households, the share also in B), ``share_b_in_a``, ``jaccard``.
        multiplicity: ``programmes`` (``1``, ``2``, ``3``, ``4+``), ``households``, ``share``.
        combinations: Combinations of two or more programmes, largest first.
        masks: ``household_id``, ``mask``, ``count`` per member household.
        beneficiaries: Households in at least one programme.
    """

    programmes: list[str]
    pairs: pl.DataFrame
    multiplicity: pl.DataFrame
    combinations: pl.DataFrame
    masks: pl.DataFrame
    beneficiaries: int

    def matrix(self) -> pl.DataFrame:
        """Long form of the symmetric Jaccard matrix (diagonal 1), for a heat map."""
        rows = [
            {"programme_a": p, "programme_b": p, "jaccard": 1.0, "households_both": None}
            for p in self.programmes
        ]
        for r in self.pairs.iter_rows(named=True):
            for a, b in (
                (r["programme_a"], r["programme_b"]),
                (r["programme_b"], r["programme_a"]),
            ):
                rows.append(
                    {
                        "programme_a": a,
                        "programme_b": b,
                        "jaccard": r["jaccard"],
                        "households_both": r["households_both"],
                    }
                )
        return pl.DataFrame(
            rows,
            schema={
                "programme_a": pl.String,
                "programme_b": pl.String,
                "jaccard": pl.Float64,
                "households_both": pl.Int64,
            },
        )


def household_masks(memberships: pl.DataFrame, programmes: list[str]) -> pl.DataFrame:
    """One row per member household: its programme bitmask and how many programmes it is in.

    Bits are looked up by hash and OR-ed per household, so repeated memberships need
    no de-duplication pass and no join.
    """
    bits = {p: 1 << i for i, p in enumerate(programmes)}
    return (
        memberships.lazy()
        .select(
            "household_id",
            pl.col("programme")
            .replace_strict(bits, default=None, return_dtype=pl.Int64)
            .alias("bit"),
        )
        .drop_nulls("bit")
        .group_by("household_id")
        .agg(pl.col("bit").bitwise_or().alias("mask"))
        .with_columns(pl.col("mask").bitwise_count_ones().cast(pl.Int64).alias("count"))
        .collect()
    )


def decode(mask: int, programmes: list[str]) -> list[str]:
    """The programme codes of a bitmask."""
    return [p for i, p in enumerate(programmes) if mask >> i & 1]


def overlaps(
    memberships: pl.DataFrame, sizes: pl.DataFrame, programmes: list[str], top: int = 15
) -> Overlaps:
    """Overlap figures of ``memberships`` (``programme``, ``household_id``).

    Args:
        memberships: Who is in which programme (households outside ``sizes`` are ignored).
        sizes: ``household_id`` and ``size`` of the households in scope.
        programmes: Programme codes to consider (at most 63).
        top: How many combinations to keep.
    """
    if len(programmes) > 63:
        raise ValueError("at most 63 programmes fit in one bitmask")
    # Scope and sizes in one join, on one row per household rather than per membership.
    masks = household_masks(memberships, programmes).join(
        sizes.select("household_id", "size"), on="household_id", how="inner"
    )
    combos = (
        masks.group_by("mask")
        .agg(
            pl.len().cast(pl.Int64).alias("households"),
            pl.col("size").fill_null(0).sum().cast(pl.Int64).alias("persons"),
            pl.col("count").first().alias("count"),
        )
        .sort("mask")
    )
    k = len(programmes)
    mask_values = combos["mask"].to_numpy().astype(np.int64)
    member = ((mask_values[:, None] >> np.arange(k)) & 1).astype(np.int64)
    households = combos["households"].to_numpy().astype(np.int64)
    persons = combos["persons"].to_numpy().astype(np.int64)
    hh_matrix = member.T @ (member * households[:, None])
    person_matrix = member.T @ (member * persons[:, None])
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            a, b, both = int(hh_matrix[i, i]), int(hh_matrix[j, j]), int(hh_matrix[i, j])
            union = a + b - both
            rows.append(
                {
                    "programme_a": programmes[i],
                    "programme_b": programmes[j],
                    "households_a": a,
                    "households_b": b,
                    "households_both": both,
                    "persons_both": int(person_matrix[i, j]),
                    "share_a_in_b": both / a if a else None,
                    "share_b_in_a": both / b if b else None,
                    "jaccard": both / union if union else None,
                }
            )
    pairs = pl.DataFrame(
        rows,
        schema={
            "programme_a": pl.String,
            "programme_b": pl.String,
            "households_a": pl.Int64,
            "households_b": pl.Int64,
            "households_both": pl.Int64,
            "persons_both": pl.Int64,
            "share_a_in_b": pl.Float64,
            "share_b_in_a": pl.Float64,
            "jaccard": pl.Float64,
        },
    )
    beneficiaries = int(households.sum())
    bands = combos.with_columns(
        pl.when(pl.col("count") >= 4)
        .then(pl.lit("4+"))
        .otherwise(pl.col("count").cast(pl.String))
        .alias("programmes")
    )
    multiplicity = (
        pl.DataFrame({"programmes": ["1", "2", "3", "4+"]})
        .join(
            bands.group_by("programmes").agg(pl.col("households").sum()),
            on="programmes",
            how="left",
        )
        .with_columns(pl.col("households").fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("households") / beneficiaries if beneficiaries else pl.lit(None))
            .cast(pl.Float64)
            .alias("share")
        )
    )
    combinations = (
        combos.filter(pl.col("count") >= 2)
        .sort(["households", "mask"], descending=[True, False])
        .head(top)
    )
    combinations = combinations.with_columns(
        pl.Series(
            "programmes",
            [" + ".join(decode(int(m), programmes)) for m in combinations["mask"]],
            dtype=pl.String,
        ),
        (pl.col("households") / beneficiaries if beneficiaries else pl.lit(None))
        .cast(pl.Float64)
        .alias("share"),
    ).select("programmes", "count", "households", "persons", "share")
    return Overlaps(
        programmes, pairs, multiplicity, combinations, masks.drop("size"), beneficiaries
    )


def in_both(masks: pl.DataFrame, programmes: list[str], a: str, b: str) -> pl.DataFrame:
    """Households in both ``a`` and ``b`` (empty when either is unknown)."""
    if a not in programmes or b not in programmes:
        return masks.head(0).select("household_id")
    both = (1 << programmes.index(a)) | (1 << programmes.index(b))
    return masks.filter((pl.col("mask") & both) == both).select("household_id").sort("household_id")
