"""The records the model compares: one canonical frame, built in bulk with Polars.

Every source (registry persons, another ministry's list, a benchmark file) is
turned into the same columns, so one model and one set of blocking rules serve
deduplication, linkage and the intake check. Names are folded to plain lower-case
letters and given a phonetic key built for transliterated, non-English names
(``tch``/``ch``/``sch``/``sh``, ``ph``/``f``, ``k``/``c``/``q``, ``w``/``u``,
``y``/``i``, doubled letters), which Soundex-style English keys handle badly.
"""

from __future__ import annotations

import polars as pl

#: Canonical columns (besides ``unique_id``) and their types.
CANONICAL: dict[str, pl.DataType] = {
    "given_name": pl.String(),
    "given_first": pl.String(),
    "given_key": pl.String(),
    "family_name": pl.String(),
    "family_key": pl.String(),
    "name_set_key": pl.String(),
    "birth_date": pl.String(),
    "birth_year": pl.Int32(),
    "birth_month": pl.Int32(),
    "birth_day": pl.Int32(),
    "birth_estimated": pl.Boolean(),
    "sex": pl.String(),
    "locality": pl.String(),
    "district": pl.String(),
    "address": pl.String(),
    "national_id": pl.String(),
    "phone": pl.String(),
    "household_id": pl.Int64(),
}

#: Fields a mapping (or a caller) may provide; the rest are derived from them.
INPUT_FIELDS = (
    "given_name",
    "other_names",
    "family_name",
    "birth_date",
    "birth_date_estimated",
    "sex",
    "locality",
    "district",
    "address",
    "national_id",
    "phone",
    "household_id",
)

# Applied in order; longer spellings first so that "tch" is not read as "t" + "ch".
_PHONETIC_PASSES: tuple[tuple[list[str], list[str]], ...] = (
    (
        ["tch", "sch", "dh", "th", "kh", "gh", "ph", "qu", "ck"],
        ["x", "x", "d", "t", "k", "g", "f", "kw", "k"],
    ),
    (
        ["ch", "sh", "ng", "c", "q", "z", "v", "y", "w"],
        ["x", "x", "n", "k", "k", "s", "f", "i", "u"],
    ),
    (["ou", "ee", "oo", "ie", "ei"], ["u", "i", "u", "i", "i"]),
    (["e", "o"], ["i", "u"]),
)
_DOUBLES = [c + c for c in "abcdefghijklmnopqrstuvwxyz"]
_SINGLES = list("abcdefghijklmnopqrstuvwxyz")


def fold_text(expr: pl.Expr, *, digits: bool = False) -> pl.Expr:
    """Lower-case letters (and digits if asked) and single spaces: accents and punctuation gone."""
    return (
        expr.cast(pl.String)
        .str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9 ]" if digits else r"[^a-z ]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .replace("", None)
    )


def phonetic_key(expr: pl.Expr) -> pl.Expr:
    """A sound-alike key of a folded name, tolerant of common transliteration variants."""
    key = expr.str.replace_all(" ", "").str.replace("^h", "")
    for patterns, replacements in _PHONETIC_PASSES:
        key = key.str.replace_many(patterns, replacements, leftmost=True)
    key = key.str.replace_all("h", "")
    for _ in range(2):
        key = key.str.replace_many(_DOUBLES, _SINGLES, leftmost=True)
    return key.replace("", None)


def _digits(expr: pl.Expr) -> pl.Expr:
    return (
        expr.cast(pl.String)
        .str.replace_all(r"[^0-9A-Za-z]", "")
        .str.to_uppercase()
        .replace("", None)
    )


def _sex(expr: pl.Expr) -> pl.Expr:
    folded = expr.cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        pl.when(folded.is_in(["f", "female", "femme", "woman", "2"]))
        .then(pl.lit("female"))
        .when(folded.is_in(["m", "male", "homme", "man", "1"]))
        .then(pl.lit("male"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _birth_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """Split a birth date given as a date, ``YYYY-MM-DD``, ``YYYYMMDD`` or ``YYYY`` alone."""
    dtype = frame.schema.get("birth_date")
    if dtype is None:
        return frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("birth_date"),
            pl.lit(None, dtype=pl.Int32).alias("birth_year"),
            pl.lit(None, dtype=pl.Int32).alias("birth_month"),
            pl.lit(None, dtype=pl.Int32).alias("birth_day"),
            pl.lit(None, dtype=pl.Boolean).alias("_year_only"),
        )
    if dtype in (pl.Date, pl.Datetime):
        text = pl.col("birth_date").cast(pl.Date).dt.strftime("%Y-%m-%d")
    else:
        raw = pl.col("birth_date").cast(pl.String).str.strip_chars()
        text = (
            pl.when(raw.str.contains(r"^\d{8}$"))
            .then(raw.str.slice(0, 4) + "-" + raw.str.slice(4, 2) + "-" + raw.str.slice(6, 2))
            .otherwise(raw.str.slice(0, 10))
        )
    frame = frame.with_columns(text.alias("_bd"))
    full = pl.col("_bd").str.to_date("%Y-%m-%d", strict=False)
    year_only = pl.col("_bd").str.contains(r"^\d{4}$").fill_null(False)
    return frame.with_columns(
        full.dt.strftime("%Y-%m-%d").alias("birth_date"),
        pl.when(full.is_not_null())
        .then(full.dt.year())
        .when(year_only)
        .then(pl.col("_bd").cast(pl.Int32, strict=False))
        .cast(pl.Int32)
        .alias("birth_year"),
        full.dt.month().cast(pl.Int32).alias("birth_month"),
        full.dt.day().cast(pl.Int32).alias("birth_day"),
        year_only.alias("_year_only"),
    ).drop("_bd")


def canonical_frame(frame: pl.DataFrame, id_column: str = "unique_id") -> pl.DataFrame:
    """The canonical comparison frame of ``frame`` (columns named as in ``INPUT_FIELDS``).

    Missing input fields become null columns; ``unique_id`` is taken from ``id_column``.
    """
    present = set(frame.columns)

    def col(name: str, dtype: pl.DataType = pl.String()) -> pl.Expr:
        return pl.col(name) if name in present else pl.lit(None, dtype=dtype)

    frame = _birth_parts(frame)
    present = set(frame.columns)
    given_full = fold_text(
        pl.concat_str([col("given_name"), col("other_names")], separator=" ", ignore_nulls=True)
    )
    out = frame.select(
        pl.col(id_column).cast(pl.Int64).alias("unique_id"),
        given_full.alias("given_name"),
        fold_text(col("family_name")).alias("family_name"),
        pl.col("birth_date"),
        pl.col("birth_year"),
        pl.col("birth_month"),
        pl.col("birth_day"),
        (
            col("birth_date_estimated", pl.Boolean()).cast(pl.Boolean).fill_null(False)
            | pl.col("_year_only")
        ).alias("birth_estimated"),
        _sex(col("sex")).alias("sex"),
        col("locality").cast(pl.String).alias("locality"),
        col("district").cast(pl.String).alias("district"),
        fold_text(col("address"), digits=True).alias("address"),
        _digits(col("national_id")).alias("national_id"),
        _digits(col("phone")).alias("phone"),
        col("household_id", pl.Int64()).cast(pl.Int64).alias("household_id"),
    )
    out = out.with_columns(pl.col("given_name").str.split(" ").list.first().alias("given_first"))
    out = out.with_columns(
        phonetic_key(pl.col("given_first")).alias("given_key"),
        phonetic_key(pl.col("family_name")).alias("family_key"),
    )
    out = out.with_columns(
        pl.when(pl.col("given_key").is_not_null() & pl.col("family_key").is_not_null())
        .then(
            pl.concat_str(
                [
                    pl.min_horizontal("given_key", "family_key"),
                    pl.max_horizontal("given_key", "family_key"),
                ],
                separator="|",
            )
        )
        .alias("name_set_key")
    )
    return out.select("unique_id", *CANONICAL).cast(dict(CANONICAL))  # type: ignore[arg-type]


def filled_share(frame: pl.DataFrame) -> dict[str, float]:
    """The share of non-null values of each canonical column."""
    if frame.height == 0:
        return {name: 0.0 for name in CANONICAL}
    counts = frame.select(pl.col(list(CANONICAL)).is_not_null().mean()).row(0, named=True)
    return {name: float(value or 0.0) for name, value in counts.items()}
