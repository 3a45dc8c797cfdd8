"""Reading CSV, XLSX and Parquet files into string columns, and applying a mapping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml
from pydantic import ValidationError

from solidarity.errors import ValidationFailed
from solidarity.registry.intake.schemas import ColumnMapping

SUPPORTED = {".csv", ".xlsx", ".parquet"}
#: The column an error file adds; ignored when the corrected file is re-imported.
ERRORS_COLUMN = "import_errors"
ROW = "_row"
#: Rows read at a time: bounds the memory of raw text during intake.
CHUNK_ROWS = 200_000


@dataclass
class SourceTable:
    """One table of a file, checked and typed; ``_row`` is the line number in the file."""

    file: Path
    name: str
    frame: pl.DataFrame
    source_columns: dict[str, str]  # field -> column as named in the file


@dataclass
class MappedTable:
    """One table of a file, mapped to field names but not read yet (a lazy plan of strings)."""

    file: Path
    name: str
    plan: pl.LazyFrame
    columns: list[str]
    source_columns: dict[str, str]


def file_refusal(file: Path, message: str) -> ValidationFailed:
    """A refusal of a whole file, shaped like the row errors of the report."""
    return ValidationFailed(
        f"{file.name}: {message}",
        [
            {
                "file": file.name,
                "row": None,
                "column": None,
                "value": None,
                "rule": "file",
                "message": message,
            }
        ],
    )


def load_mapping(path: Path | None) -> ColumnMapping:
    """Read a mapping YAML file (or return the identity mapping)."""
    if path is None:
        return ColumnMapping()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ColumnMapping.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise file_refusal(path, f"cannot read the mapping file: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise file_refusal(path, f"the mapping file is not valid: {problems}") from exc


def _as_strings(frame: pl.LazyFrame) -> pl.LazyFrame:
    casts = []
    for name, dtype in frame.collect_schema().items():
        if dtype == pl.String:
            casts.append(pl.col(name))
        elif dtype == pl.Boolean:
            casts.append(pl.col(name).cast(pl.String).str.to_lowercase())
        elif dtype.is_temporal():
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        else:
            casts.append(pl.col(name).cast(pl.String))
    return frame.select(casts)


def scan_tables(file: Path) -> list[tuple[str, pl.LazyFrame]]:
    """Open ``file`` as one or more lazy (name, string columns) tables.

    An XLSX workbook with sheets named ``households`` and ``persons`` gives both
    tables; any other file gives one table named after the file. CSV and Parquet
    are scanned, not loaded, so mapping and reading happen in one pass.
    """
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED:
        raise file_refusal(file, f"unsupported file type '{suffix}'; use .csv, .xlsx or .parquet")
    if not file.exists():
        raise file_refusal(file, "file not found")
    try:
        if suffix == ".csv":
            return [(file.stem, pl.scan_csv(file, infer_schema=False, encoding="utf8-lossy"))]
        if suffix == ".parquet":
            return [(file.stem, _as_strings(pl.scan_parquet(file)))]
        sheets = pl.read_excel(file, sheet_id=0, infer_schema_length=0)
        wanted = [s for s in sheets if s.lower() in {"households", "persons"}]
        names = wanted or list(sheets)[:1]
        return [(name, _as_strings(sheets[name].lazy())) for name in names]
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise file_refusal(file, f"cannot read the file: {exc}") from exc


def read_original(file: Path, name: str) -> pl.DataFrame:
    """The table ``name`` of ``file`` exactly as it is, with its ``_row`` line numbers."""
    frame = next(lf for n, lf in scan_tables(file) if n == name)
    return frame.with_row_index(ROW, offset=2).collect()


def map_table(
    file: Path, name: str, frame: pl.LazyFrame, mapping: ColumnMapping, known: set[str]
) -> tuple[MappedTable, list[str]]:
    """Plan the renaming of columns to field names, value translation and defaults.

    Nothing is read yet: the checks add their expressions to the same plan, so
    a file is read once and its strings never held beside their typed values.

    Returns:
        The mapped table and the file's columns that map to no field (ignored).

    Raises:
        ValidationFailed: an unreadable file or a mapping that does not fit it.
    """
    try:
        columns = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise file_refusal(file, f"cannot read the file: {exc}") from exc
    renames: dict[str, str] = {}
    ignored: list[str] = []
    for column in columns:
        target = mapping.columns.get(column)
        if target is None:
            base = column.rsplit("/", 1)[-1] if mapping.strip_group_prefixes else column
            target = mapping.columns.get(base, base)
        target = target.strip()
        if target == ERRORS_COLUMN:
            continue
        if target not in known:
            ignored.append(column)
            continue
        if target in renames.values():
            raise file_refusal(file, f"columns map twice to the field '{target}'")
        renames[column] = target
    unknown_targets = sorted(set(mapping.columns.values()) - known)
    if unknown_targets:
        raise file_refusal(
            file, f"the mapping names unknown field(s): {', '.join(unknown_targets)}"
        )
    exprs: dict[str, pl.Expr] = {
        dst: pl.col(src).str.strip_chars().replace("", None) for src, dst in renames.items()
    }
    for field, table in mapping.values.items():
        if field in exprs:
            exprs[field] = exprs[field].replace(table)
    for field, default in mapping.defaults.items():
        if field in exprs:
            exprs[field] = exprs[field].fill_null(pl.lit(default))
        elif field in known:
            exprs[field] = pl.lit(default, dtype=pl.String)
    plan = frame.with_row_index(ROW, offset=2).select(
        pl.col(ROW).cast(pl.Int64), *[e.alias(n) for n, e in exprs.items()]
    )
    source_columns = {dst: src for src, dst in renames.items()}
    mapped = MappedTable(file, name, plan, [ROW, *exprs], source_columns)
    return mapped, ignored


def collect(table: MappedTable, plan: pl.LazyFrame, chunk_rows: int = CHUNK_ROWS) -> pl.DataFrame:
    """Run ``plan`` (built on ``table``) over the file in slices of ``chunk_rows``.

    Only one slice of raw text is in memory at a time; what stays is the typed
    result. Unreadable data and empty tables are refused.
    """
    parts: list[pl.DataFrame] = []
    try:
        while True:
            part = plan.slice(len(parts) * chunk_rows, chunk_rows).collect()
            if part.height or not parts:
                parts.append(part)
            if part.height < chunk_rows:
                break
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise file_refusal(table.file, f"cannot read the file: {exc}") from exc
    frame = pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]
    if frame.height == 0:
        raise file_refusal(table.file, f"'{table.name}' has no data rows")
    return frame
