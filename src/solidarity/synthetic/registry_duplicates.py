"""Registry-level duplicates: households registered a second time with slightly different data.

Off by default. The linkage work turns it on to have known duplicate persons to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from solidarity.synthetic.corruption import (
    DataQuality,
    collect_corruptions,
    corrupt_birth_date,
    corrupt_names,
    corrupt_national_id,
)
from solidarity.synthetic.population import EPOCH, prefixed_keys

#: How a second registration differs from the first.
REGISTRY_DUPLICATE_QUALITY = DataQuality(
    name_typo=0.25,
    transliteration=0.10,
    names_swapped=0.02,
    second_name_dropped=0.4,
    birth_day_month_swapped=0.05,
    birth_year_off_by_one=0.05,
    birth_year_only=0.0,
)


@dataclass(frozen=True)
class RegistryDuplicates:
    """Duplicated household and person rows, and who they really are."""

    households: pl.DataFrame
    persons: pl.DataFrame
    truth: pl.DataFrame


def plant_registry_duplicates(
    rng: np.random.Generator,
    households: pl.DataFrame,
    persons: pl.DataFrame,
    rate: float,
    as_of: date,
) -> RegistryDuplicates:
    """Register a share ``rate`` of households again under new keys, with corrupted fields.

    The copies never reuse an identifier already in the registry: their national
    IDs are missing or mistyped into unused numbers, and birth certificates are dropped.
    """
    n_hh = households.height
    chosen = np.sort(rng.choice(n_hh, size=round(rate * n_hh), replace=False))
    k = len(chosen)
    width = households["household_key"].str.len_chars().max()
    digits = int(width) - 2 if isinstance(width, int) else 7
    new_keys = prefixed_keys("HH", np.arange(n_hh + 1, n_hh + k + 1), digits)
    later = rng.integers(30, 900, k)
    original_hh = households.select(pl.all().gather(pl.Series(chosen)))
    mapping = pl.DataFrame({"household_key": original_hh["household_key"], "_new": new_keys})
    as_of_days = (as_of - EPOCH).days
    registered = np.minimum(
        original_hh["registration_date"].cast(pl.Int32).to_numpy().astype(np.int64) + later,
        as_of_days,
    )
    dup_hh = original_hh.with_columns(
        household_key=new_keys,
        registration_date=pl.Series(registered).cast(pl.Int32).cast(pl.Date),
        latitude=(pl.col("latitude") + pl.Series(rng.normal(0, 0.0005, k))).round(6),
        longitude=(pl.col("longitude") + pl.Series(rng.normal(0, 0.0005, k))).round(6),
    )

    originals = persons.join(mapping, on="household_key", how="inner", maintain_order="left")
    copies = originals.with_columns(
        _original_key=pl.col("person_key"),
        _original_hh=pl.col("household_key"),
        household_key=pl.col("_new"),
        person_key=pl.concat_str([pl.col("_new"), pl.col("person_key").str.slice(-3)]),
        national_id=pl.col("id_national_id"),
        id_birth_certificate=pl.lit(None, dtype=pl.String),
    ).drop("_new")
    copies = corrupt_names(copies, rng, REGISTRY_DUPLICATE_QUALITY, fold_other_names=False)
    copies = corrupt_birth_date(copies, rng, REGISTRY_DUPLICATE_QUALITY, pl.lit(as_of))
    copies = corrupt_national_id(copies, rng, missing=0.6, mistyped=0.4)
    copies = collect_corruptions(copies)
    taken = persons["id_national_id"].drop_nulls()
    copies = copies.with_columns(
        birth_date=pl.col("birth_date").str.to_date("%Y-%m-%d"),
        id_national_id=pl.when(
            pl.col("national_id").is_in(taken.implode()) | pl.col("national_id").is_duplicated()
        )
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("national_id")),
    )
    truth = copies.select(
        duplicate_person_key="person_key",
        original_person_key="_original_key",
        duplicate_household_key="household_key",
        original_household_key="_original_hh",
        corruptions="corruptions",
    )
    return RegistryDuplicates(
        households=dup_hh, persons=copies.select(persons.columns), truth=truth
    )
