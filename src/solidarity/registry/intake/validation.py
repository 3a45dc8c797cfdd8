"""Vectorised validation of intake tables.

Each check is a Polars filter producing error rows (file, row, column, value,
rule, message, household_key); all checks run over whole columns at once, never
row by row. The same functions convert the string columns to typed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from solidarity.registry.fields import (
    HOUSEHOLD_KEY,
    IDENTIFIER_PREFIX,
    PERSON_KEY,
    FieldSpec,
)
from solidarity.registry.intake.reader import ROW, MappedTable, SourceTable, collect

ERROR_SCHEMA = {
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "rule": pl.String,
    "message": pl.String,
    "household_key": pl.String,
}

TRUE_WORDS = ["true", "1", "yes", "y", "t", "oui", "vrai", "si", "sí"]
FALSE_WORDS = ["false", "0", "no", "n", "f", "non", "faux"]
_BOOLEANS = {**{w: True for w in TRUE_WORDS}, **{w: False for w in FALSE_WORDS}}
HEAD = "head"
FLAG = "__failed_"
MIN_HEAD_AGE = 12


def empty_errors() -> pl.DataFrame:
    """An error frame with no rows."""
    return pl.DataFrame(schema=ERROR_SCHEMA)


def _error_rows(
    table: SourceTable,
    frame: pl.DataFrame | pl.LazyFrame,
    mask: pl.Expr,
    column: str | pl.Expr | None,
    rule: str,
    message: str | pl.Expr,
    value: pl.Expr | None = None,
) -> pl.LazyFrame:
    """Rows of ``frame`` where ``mask`` holds, as error rows naming the file's column."""
    if isinstance(column, str):
        shown: pl.Expr = pl.lit(table.source_columns.get(column, column), dtype=pl.String)
        value = value if value is not None else pl.col(column)
    else:
        shown = column if column is not None else pl.lit(None, dtype=pl.String)
    schema = frame.collect_schema()
    key = pl.col(HOUSEHOLD_KEY) if HOUSEHOLD_KEY in schema else pl.lit(None)
    return (
        frame.lazy()
        .filter(mask)
        .select(
            pl.lit(table.file.name).alias("file"),
            pl.col(ROW).cast(pl.Int64).alias("row"),
            shown.cast(pl.String).alias("column"),
            (value if value is not None else pl.lit(None)).cast(pl.String).alias("value"),
            pl.lit(rule).alias("rule"),
            (message if isinstance(message, pl.Expr) else pl.lit(message))
            .cast(pl.String)
            .alias("message"),
            key.cast(pl.String).alias("household_key"),
        )
    )


def _typed(spec: FieldSpec, raw: pl.Expr, date_format: str | None) -> pl.Expr:
    if spec.type == "integer":
        number = raw.cast(pl.Float64, strict=False)
        return pl.when(number == number.floor()).then(number).cast(pl.Int64, strict=False)
    if spec.type == "number":
        return raw.cast(pl.Float64, strict=False)
    if spec.type == "boolean":
        return raw.str.to_lowercase().replace_strict(
            _BOOLEANS, default=None, return_dtype=pl.Boolean
        )
    if spec.type == "date":
        if date_format:
            return raw.str.to_date(date_format, strict=False)
        return raw.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if spec.type == "code":
        # A handful of distinct values per column: 4 bytes a row instead of 16.
        return raw.cast(pl.Categorical)
    return raw


_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "boolean": "yes/no (true/false)",
    "date": "a date",
}


def check_fields(
    table: MappedTable,
    specs: Sequence[FieldSpec],
    codelists: dict[str, list[object]],
    date_formats: dict[str, str],
    today: date,
    max_age_years: int,
) -> tuple[SourceTable, list[pl.LazyFrame]]:
    """Read ``table`` once, checking and converting every field of ``specs`` on the way.

    Each check becomes a boolean column computed in the same pass as the typed
    values, so the file's strings are never held beside them. The raw text of a
    value that failed to parse is fetched afterwards, for those rows only.

    Returns:
        The typed table and its error rows (lazy).
    """
    errors: list[pl.LazyFrame] = [
        pl.LazyFrame(
            [
                {
                    "file": table.file.name,
                    "row": None,
                    "column": spec.name,
                    "value": None,
                    "rule": "missing_column",
                    "message": f"required column '{spec.name}' ({spec.label}) is missing",
                    "household_key": None,
                }
            ],
            schema=ERROR_SCHEMA,
        )
        for spec in specs
        if spec.required and spec.name not in table.columns
    ]
    present = [s for s in specs if s.name in table.columns]
    flags: list[tuple[str, FieldSpec, str, str]] = []
    flag_exprs: list[pl.Expr] = []
    for spec in present:
        raw = pl.col(spec.name)
        typed = _typed(spec, raw, date_formats.get(spec.name))
        for rule, message, mask in _field_checks(
            spec, raw, typed, codelists, date_formats, today, max_age_years
        ):
            name = f"{FLAG}{len(flags)}"
            flags.append((name, spec, rule, message))
            flag_exprs.append(mask.fill_null(False).alias(name))
    typed_exprs = [
        _typed(s, pl.col(s.name), date_formats.get(s.name)).alias(s.name) for s in present
    ]
    frame = collect(table, table.plan.with_columns(*flag_exprs, *typed_exprs))
    checked = SourceTable(
        table.file, table.name, frame.drop([f for f, *_ in flags]), table.source_columns
    )
    for flag, spec, rule, message in flags:
        if not frame.get_column(flag).any():
            continue
        failing = frame.lazy().filter(pl.col(flag))
        if rule == "type":
            # The typed value is null here: show what the file said instead.
            failing = failing.select(ROW, *_key(frame, spec)).join(
                table.plan.select(ROW, spec.name), on=ROW, how="inner"
            )
        errors.append(_error_rows(checked, failing, pl.lit(True), spec.name, rule, message))
    return checked, errors


def _key(frame: pl.DataFrame, spec: FieldSpec) -> list[str]:
    return [HOUSEHOLD_KEY] if HOUSEHOLD_KEY in frame.columns and spec.name != HOUSEHOLD_KEY else []


def _field_checks(
    spec: FieldSpec,
    raw: pl.Expr,
    typed: pl.Expr,
    codelists: dict[str, list[object]],
    date_formats: dict[str, str],
    today: date,
    max_age_years: int,
) -> list[tuple[str, str, pl.Expr]]:
    """(rule, message, failing-row mask) for each check of one field."""
    checks: list[tuple[str, str, pl.Expr]] = []
    if spec.required:
        checks.append(("required", f"{spec.label} is required", raw.is_null()))
    if spec.type in _TYPE_WORDS:
        fmt = date_formats.get(spec.name)
        hint = f" in the format {fmt}" if fmt else " (YYYY-MM-DD)" if spec.type == "date" else ""
        checks.append(
            (
                "type",
                f"{spec.label} must be {_TYPE_WORDS[spec.type]}{hint}",
                raw.is_not_null() & typed.is_null(),
            )
        )
    if spec.codelist:
        allowed = codelists.get(spec.codelist, [])
        shown = ", ".join(str(v) for v in allowed)
        if spec.type == "integer":
            mask = typed.is_not_null() & ~typed.is_in([int(str(v)) for v in allowed])
        else:
            mask = raw.is_not_null() & ~raw.is_in([str(v) for v in allowed])
        checks.append(("codelist", f"{spec.label} must be one of: {shown}", mask))
    if spec.minimum is not None and spec.type in {"integer", "number"}:
        checks.append(
            ("range", f"{spec.label} must be at least {spec.minimum:g}", typed < spec.minimum)
        )
    if spec.maximum is not None and spec.type in {"integer", "number"}:
        checks.append(
            ("range", f"{spec.label} must be at most {spec.maximum:g}", typed > spec.maximum)
        )
    if spec.max_length is not None and spec.type == "string":
        checks.append(
            (
                "max_length",
                f"{spec.label} must be at most {spec.max_length} characters",
                raw.str.len_chars() > spec.max_length,
            )
        )
    if spec.type == "date":
        checks.append(("date_future", f"{spec.label} cannot be in the future", typed > today))
    if spec.name == "birth_date":
        oldest = date(today.year - max_age_years, today.month, min(today.day, 28))
        checks.append(
            (
                "age_plausible",
                f"a birth date before {oldest.isoformat()} means an age over {max_age_years} years",
                typed < oldest,
            )
        )
    return checks


def age_at(birth: pl.Expr, today: date) -> pl.Expr:
    """Whole years between ``birth`` and ``today``."""
    years = pl.lit(today.year) - birth.dt.year()
    before_birthday = (birth.dt.month() > today.month) | (
        (birth.dt.month() == today.month) & (birth.dt.day() > today.day)
    )
    return years - before_birthday.cast(pl.Int32)


def check_households(
    table: SourceTable,
    frame: pl.DataFrame,
    area_ids: dict[str, int],
    in_scope: set[str] | None = None,
) -> list[pl.LazyFrame]:
    """Household keys unique and present; area codes known and, given ``in_scope``, in it."""
    errors: list[pl.LazyFrame] = []
    key = pl.col(HOUSEHOLD_KEY)
    if HOUSEHOLD_KEY not in frame.columns:
        return errors
    errors.append(
        _error_rows(
            table, frame, key.is_null(), HOUSEHOLD_KEY, "required", "household key is required"
        )
    )
    errors.append(
        _error_rows(
            table,
            frame,
            key.is_not_null() & key.is_duplicated(),
            HOUSEHOLD_KEY,
            "duplicate_key",
            "the same household key appears on several rows",
        )
    )
    if "area_code" in frame.columns:
        area = pl.col("area_code")
        errors.append(
            _error_rows(
                table,
                frame,
                area.is_not_null() & ~area.is_in(list(area_ids)),
                "area_code",
                "unknown_area",
                "no area has this code (load areas first)",
            )
        )
        if in_scope is not None:
            errors.append(
                _error_rows(
                    table,
                    frame,
                    area.is_in(list(area_ids)) & ~area.is_in(list(in_scope)),
                    "area_code",
                    "outside_scope",
                    "this area is outside the importer's area of responsibility",
                )
            )
    return errors


def check_members(
    table: SourceTable,
    persons: pl.DataFrame,
    household_keys: pl.Series,
    today: date,
    *,
    combined: bool,
) -> list[pl.LazyFrame]:
    """One head per household, members of known households, plausible relationships."""
    errors: list[pl.LazyFrame] = []
    if HOUSEHOLD_KEY not in persons.columns:
        return errors
    key = pl.col(HOUSEHOLD_KEY)
    if not combined:
        errors.append(
            _error_rows(
                table,
                persons,
                key.is_null(),
                HOUSEHOLD_KEY,
                "required",
                "household key is required",
            )
        )
        errors.append(
            _error_rows(
                table,
                persons,
                key.is_not_null() & ~key.is_in(household_keys.implode()),
                HOUSEHOLD_KEY,
                "unknown_household",
                "no household with this key in the household file",
            )
        )
    if PERSON_KEY in persons.columns:
        pk = pl.col(PERSON_KEY)
        errors.append(
            _error_rows(
                table,
                persons,
                pk.is_not_null() & pk.is_duplicated(),
                PERSON_KEY,
                "duplicate_key",
                "the same person key appears on several rows",
            )
        )
    if "relationship" not in persons.columns:
        return errors
    is_head = pl.col("relationship") == HEAD
    heads = (
        persons.lazy()
        .filter(key.is_not_null())
        .group_by(HOUSEHOLD_KEY)
        .agg(is_head.sum().alias("heads"), pl.col(ROW).min().alias("first_row"))
    )
    with_heads = persons.lazy().join(heads, on=HOUSEHOLD_KEY, how="left")
    errors.append(
        _error_rows(
            table,
            with_heads,
            (pl.col("heads") == 0) & (pl.col(ROW) == pl.col("first_row")),
            "relationship",
            "one_head",
            pl.format("household {} has no head; exactly one member must be 'head'", key),
        )
    )
    errors.append(
        _error_rows(
            table,
            with_heads,
            (pl.col("heads") > 1) & is_head,
            "relationship",
            "one_head",
            pl.format(
                "household {} has {} heads; exactly one member must be 'head'", key, pl.col("heads")
            ),
        )
    )
    if "birth_date" in persons.columns:
        head_birth = (
            persons.lazy()
            .filter(is_head)
            .group_by(HOUSEHOLD_KEY)
            .agg(pl.col("birth_date").first().alias("head_birth"))
        )
        joined = persons.lazy().join(head_birth, on=HOUSEHOLD_KEY, how="left")
        birth, head_b, rel = pl.col("birth_date"), pl.col("head_birth"), pl.col("relationship")
        errors.append(
            _error_rows(
                table,
                joined,
                is_head & (age_at(birth, today) < MIN_HEAD_AGE),
                "birth_date",
                "head_age",
                f"the head of a household must be at least {MIN_HEAD_AGE} years old",
            )
        )
        errors.append(
            _error_rows(
                table,
                joined,
                rel.is_in(["child", "stepchild", "grandchild"]) & (birth < head_b),
                "birth_date",
                "relationship_age",
                pl.format("a {} of the head cannot be older than the head", rel),
            )
        )
        errors.append(
            _error_rows(
                table,
                joined,
                rel.is_in(["parent", "parent_in_law"]) & (birth > head_b),
                "birth_date",
                "relationship_age",
                pl.format("a {} of the head cannot be younger than the head", rel),
            )
        )
    if {"pregnant", "sex"} <= set(persons.columns):
        errors.append(
            _error_rows(
                table,
                persons,
                pl.col("pregnant") & (pl.col("sex") == "male"),
                "pregnant",
                "consistency",
                "a male person cannot be pregnant",
            )
        )
    return errors


def households_without_members(
    table: SourceTable, households: pl.DataFrame, person_keys: pl.Series
) -> pl.LazyFrame:
    """Households with no member rows."""
    key = pl.col(HOUSEHOLD_KEY)
    return _error_rows(
        table,
        households,
        key.is_not_null() & ~key.is_in(person_keys.implode()),
        HOUSEHOLD_KEY,
        "no_members",
        "the household has no members in the person file",
    )


def identifier_rows(persons: pl.DataFrame, id_types: Sequence[str]) -> pl.DataFrame:
    """Identifiers in long form: one row per (person row, type, value) present."""
    columns = [IDENTIFIER_PREFIX + t for t in id_types if IDENTIFIER_PREFIX + t in persons.columns]
    if not columns:
        return pl.DataFrame(
            schema={
                ROW: pl.Int64,
                HOUSEHOLD_KEY: pl.String,
                PERSON_KEY: pl.String,
                "id_type": pl.String,
                "value": pl.String,
            }
        )
    keep = [c for c in (ROW, HOUSEHOLD_KEY, PERSON_KEY) if c in persons.columns]
    long = (
        persons.select(*keep, *columns)
        .unpivot(index=keep, on=columns, variable_name="id_type", value_name="value")
        .filter(pl.col("value").is_not_null())
    )
    return long.with_columns(pl.col("id_type").str.strip_prefix(IDENTIFIER_PREFIX))


def check_identifiers(
    table: SourceTable, ids: pl.DataFrame, existing: pl.DataFrame
) -> list[pl.LazyFrame]:
    """Identifiers unique inside the file and not held by another person in the registry.

    ``existing`` has id_type, value and holder (the holder's household source key
    when it came from this source), so re-importing the same household is no clash.
    """
    names = {
        t: table.source_columns.get(IDENTIFIER_PREFIX + t, IDENTIFIER_PREFIX + t)
        for t in ids.get_column("id_type").unique().to_list()
    }
    column = pl.col("id_type").replace_strict(names, default=None, return_dtype=pl.String)
    duplicate = pl.struct("id_type", "value").is_duplicated()
    clash = ids.join(existing, on=["id_type", "value"], how="inner").filter(
        pl.col("holder").is_null() | (pl.col("holder") != pl.col(HOUSEHOLD_KEY))
    )
    return [
        _error_rows(
            table,
            ids,
            duplicate,
            column,
            "duplicate_identifier",
            pl.format(
                "{} {} appears more than once in the file", pl.col("id_type"), pl.col("value")
            ),
            value=pl.col("value"),
        ),
        _error_rows(
            table,
            clash,
            pl.lit(True),
            column,
            "identifier_in_registry",
            pl.format(
                "{} {} already belongs to another person in the registry",
                pl.col("id_type"),
                pl.col("value"),
            ),
            value=pl.col("value"),
        ),
    ]
