"""The errors real lists carry: typos, transliterations, swapped names, bad dates and IDs.

Every corruption is a Polars expression over whole columns, driven by random
columns drawn with numpy, and each applied change is recorded in a
``corruptions`` column (``;``-separated kinds) so the ground truth can say
exactly what was done to which record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import polars.selectors as cs

from solidarity.synthetic.names import TRANSLITERATIONS

_LETTERS = pl.Series(list("aeiouaeioubdghklmnrstwyz"))

#: Kinds of corruption, in the order they are reported.
KINDS = (
    "name_typo",
    "transliteration",
    "names_swapped",
    "second_name_dropped",
    "national_id_missing",
    "national_id_mistyped",
    "birth_day_month_swapped",
    "birth_year_off_by_one",
    "birth_year_only",
)


@dataclass(frozen=True)
class DataQuality:
    """How carefully a ministry keeps its list: the share of records hit by each error."""

    name_typo: float = 0.05
    transliteration: float = 0.03
    names_swapped: float = 0.02
    second_name_dropped: float = 0.4
    national_id_missing: float = 0.1
    national_id_mistyped: float = 0.02
    birth_day_month_swapped: float = 0.02
    birth_year_off_by_one: float = 0.02
    birth_year_only: float = 0.0
    phone_missing: float = 0.3
    duplicates: float = 0.02
    uppercase_names: bool = False


def _typo(column: str, salt: str) -> pl.Expr:
    """One character edit (substitution, deletion, insertion or transposition), never the first."""
    s = pl.col(column)
    n = s.str.len_chars().cast(pl.Int64)
    at = (pl.col(f"_u_{salt}") * (n - 1).cast(pl.Float64)).floor().cast(pl.Int64) + 1
    at = pl.min_horizontal(at, n - 1)
    char = pl.col(f"_ch_{salt}")
    op = pl.col(f"_op_{salt}")
    return (
        pl.when(op == 0)
        .then(pl.concat_str([s.str.slice(0, at), char, s.str.slice(at + 1)]))
        .when(op == 1)
        .then(pl.concat_str([s.str.slice(0, at), s.str.slice(at + 1)]))
        .when(op == 2)
        .then(pl.concat_str([s.str.slice(0, at), char, s.str.slice(at)]))
        .otherwise(
            pl.concat_str(
                [
                    s.str.slice(0, at - 1),
                    s.str.slice(at, 1),
                    s.str.slice(at - 1, 1),
                    s.str.slice(at + 1),
                ]
            )
        )
    )


def _transliterate(column: str) -> pl.Expr:
    patterns = [a for a, _ in TRANSLITERATIONS]
    variants = [b for _, b in TRANSLITERATIONS]
    return pl.col(column).str.to_lowercase().str.replace_many(patterns, variants).str.to_titlecase()


def _random_columns(rng: np.random.Generator, n: int, salt: str) -> dict[str, pl.Series]:
    return {
        f"_u_{salt}": pl.Series(rng.random(n)),
        f"_op_{salt}": pl.Series(rng.integers(0, 4, n)),
        f"_ch_{salt}": _LETTERS.gather(rng.integers(0, len(_LETTERS), n)),
    }


def corrupt_names(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    quality: DataQuality,
    *,
    fold_other_names: bool = True,
) -> pl.DataFrame:
    """Corrupt ``given_name`` and ``family_name``.

    Args:
        frame: Records with ``given_name``, ``family_name`` and ``other_names``.
        rng: The random generator.
        quality: The share of records hit by each kind of error.
        fold_other_names: Lists with a single given-name field write other names
            after the given name (unless dropped); the registry keeps them apart
            and a dropped second name is simply missing.
    """
    n = frame.height
    flags = {
        "typo": rng.random(n) < quality.name_typo,
        "typo_family": rng.random(n) < 0.5,
        "translit": rng.random(n) < quality.transliteration,
        "swap": rng.random(n) < quality.names_swapped,
        "drop": rng.random(n) < quality.second_name_dropped,
    }
    frame = frame.with_columns(
        **{f"_f_{k}": pl.Series(v) for k, v in flags.items()},
        **_random_columns(rng, n, "g"),
        **_random_columns(rng, n, "f"),
        _given0=pl.col("given_name"),
        _family0=pl.col("family_name"),
    )
    typo_given = pl.col("_f_typo") & ~pl.col("_f_typo_family")
    typo_family = pl.col("_f_typo") & pl.col("_f_typo_family")
    frame = frame.with_columns(
        given_name=pl.when(typo_given).then(_typo("given_name", "g")).otherwise("given_name"),
        family_name=pl.when(typo_family).then(_typo("family_name", "f")).otherwise("family_name"),
    )
    frame = frame.with_columns(_after_typo=pl.concat_str(["given_name", "family_name"]))
    frame = frame.with_columns(
        given_name=pl.when("_f_translit")
        .then(_transliterate("given_name"))
        .otherwise("given_name"),
        family_name=pl.when("_f_translit")
        .then(_transliterate("family_name"))
        .otherwise("family_name"),
    )
    has_other = pl.col("other_names").is_not_null()
    frame = frame.with_columns(
        _c_name_typo=pl.col("_after_typo") != pl.concat_str(["_given0", "_family0"]),
        _c_transliteration=pl.concat_str(["given_name", "family_name"]) != pl.col("_after_typo"),
        _c_names_swapped=pl.col("_f_swap"),
        _c_second_name_dropped=has_other & pl.col("_f_drop"),
    )
    if fold_other_names:
        frame = frame.with_columns(
            given_name=pl.when(has_other & ~pl.col("_f_drop"))
            .then(pl.concat_str(["given_name", pl.lit(" "), "other_names"]))
            .otherwise("given_name"),
        )
    else:
        frame = frame.with_columns(
            other_names=pl.when(pl.col("_f_drop")).then(None).otherwise("other_names")
        )
    frame = frame.with_columns(
        given_name=pl.when("_f_swap").then("family_name").otherwise("given_name"),
        family_name=pl.when("_f_swap").then("given_name").otherwise("family_name"),
    )
    if quality.uppercase_names:
        frame = frame.with_columns(
            pl.col("given_name").str.to_uppercase(), pl.col("family_name").str.to_uppercase()
        )
    return frame.drop(
        cs.starts_with("_u_", "_op_", "_ch_", "_f_"), "_after_typo", "_given0", "_family0"
    )


def corrupt_national_id(
    frame: pl.DataFrame, rng: np.random.Generator, missing: float, mistyped: float
) -> pl.DataFrame:
    """Drop or mistype ``national_id`` (one digit changed or two neighbours swapped)."""
    n = frame.height
    s = pl.col("national_id")
    length = s.str.len_chars().cast(pl.Int64)
    at = (pl.col("_u_id") * (length - 1).cast(pl.Float64)).floor().cast(pl.Int64)
    old_digit = s.str.slice(at, 1).cast(pl.Int64, strict=False).fill_null(0)
    new_digit = ((old_digit + pl.col("_k_id")) % 10).cast(pl.String)
    substituted = pl.concat_str([s.str.slice(0, at), new_digit, s.str.slice(at + 1)])
    swapped = pl.concat_str(
        [s.str.slice(0, at), s.str.slice(at + 1, 1), s.str.slice(at, 1), s.str.slice(at + 2)]
    )
    frame = frame.with_columns(
        _u_id=pl.Series(rng.random(n)),
        _k_id=pl.Series(rng.integers(1, 10, n)),
        _swap_id=pl.Series(rng.random(n) < 0.3),
        _mistype=pl.Series(rng.random(n) < mistyped),
        _missing=pl.Series(rng.random(n) < missing),
        _id0=s,
    )
    frame = frame.with_columns(
        national_id=pl.when("_missing")
        .then(pl.lit(None, dtype=pl.String))
        .when("_mistype")
        .then(pl.when("_swap_id").then(swapped).otherwise(substituted))
        .otherwise(s)
    )
    return frame.with_columns(
        _c_national_id_missing=pl.col("_id0").is_not_null() & pl.col("national_id").is_null(),
        _c_national_id_mistyped=(pl.col("national_id") != pl.col("_id0")).fill_null(False),
    ).drop("_u_id", "_k_id", "_swap_id", "_mistype", "_missing", "_id0")


def corrupt_birth_date(
    frame: pl.DataFrame,
    rng: np.random.Generator,
    quality: DataQuality,
    latest: pl.Expr,
) -> pl.DataFrame:
    """Swap day and month, shift the year by one or keep only the year of ``birth_date``.

    The result is a string column: ``YYYY-MM-DD``, or ``YYYY`` for year-only
    records. A corrupted date never goes past ``latest``.
    """
    n = frame.height
    bd = pl.col("birth_date")
    year, month, day = bd.dt.year(), bd.dt.month(), bd.dt.day()
    swapped = pl.date(year, day, month)
    shift = pl.col("_shift")
    shifted = pl.date(
        year + shift, month, pl.when((month == 2) & (day == 29)).then(28).otherwise(day)
    )
    frame = frame.with_columns(
        _swap=pl.Series(rng.random(n) < quality.birth_day_month_swapped),
        _off=pl.Series(rng.random(n) < quality.birth_year_off_by_one),
        _year_only=pl.Series(rng.random(n) < quality.birth_year_only),
        _shift=pl.Series(np.where(rng.random(n) < 0.5, -1, 1)),
    )
    candidate = (
        pl.when(pl.col("_swap") & (day <= 12) & (day != month))
        .then(swapped)
        .when(pl.col("_off"))
        .then(shifted)
        .otherwise(bd)
    )
    frame = frame.with_columns(
        _bd=pl.when(candidate <= latest).then(candidate).otherwise(bd),
    )
    changed = pl.col("_bd") != bd
    return frame.with_columns(
        _c_birth_day_month_swapped=changed & pl.col("_swap") & (day <= 12),
        _c_birth_year_off_by_one=changed & (pl.col("_bd").dt.year() != year),
        _c_birth_year_only=pl.col("_year_only"),
        birth_date=pl.when("_year_only")
        .then(pl.col("_bd").dt.year().cast(pl.String))
        .otherwise(pl.col("_bd").dt.to_string("%Y-%m-%d")),
    ).drop("_swap", "_off", "_year_only", "_shift", "_bd")


def collect_corruptions(frame: pl.DataFrame) -> pl.DataFrame:
    """Fold the ``_c_<kind>`` flags into one ``corruptions`` column and drop them."""
    present = [k for k in KINDS if f"_c_{k}" in frame.columns]
    labels = [
        pl.when(pl.col(f"_c_{k}").fill_null(False)).then(pl.lit(k)).otherwise(pl.lit(None))
        for k in present
    ]
    joined = (
        pl.concat_str(labels, separator=";", ignore_nulls=True)
        if labels
        else pl.lit("", dtype=pl.String)
    )
    return frame.with_columns(corruptions=pl.when(joined == "").then(None).otherwise(joined)).drop(
        [f"_c_{k}" for k in present]
    )
