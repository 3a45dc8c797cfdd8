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


@dataclass
class SourceTable:
    """One table read from a file: all values as strings, ``_row`` the line number."""

    file: Path
    name: str
    frame: pl.DataFrame
    source_columns: dict[str, str]  # field -> column as named in the file


def _refuse(file: Path, message: str) -> ValidationFailed:
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
        raise _refuse(path, f"cannot read the mapping file: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _refuse(path, f"the mapping file is not valid: {problems}") from exc


def _as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            casts.append(pl.col(name))
        elif dtype == pl.Boolean:
            casts.append(pl.col(name).cast(pl.String).str.to_lowercase())
        elif dtype.is_temporal():
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        else:
            casts.append(pl.col(name).cast(pl.String))
    return frame.select(casts)


def read_tables(file: Path) -> list[tuple[str, pl.DataFrame]]:
    """Read ``file`` into one or more (name, string frame) tables.

    An XLSX workbook with sheets named ``households`` and ``persons`` gives both
    tables; any other file gives one table named after the file.
    """
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED:
        raise _refuse(file, f"unsupported file type '{suffix}'; use .csv, .xlsx or .parquet")
    if not file.exists():
        raise _refuse(file, "file not found")
    try:
        if suffix == ".csv":
            frames = [(file.stem, pl.read_csv(file, infer_schema=False, encoding="utf8-lossy"))]
        elif suffix == ".parquet":
            frames = [(file.stem, _as_strings(pl.read_parquet(file)))]
        else:
            sheets = pl.read_excel(file, sheet_id=0, infer_schema_length=0)
            wanted = [s for s in sheets if s.lower() in {"households", "persons"}]
            names = wanted or list(sheets)[:1]
            frames = [(name, _as_strings(sheets[name])) for name in names]
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _refuse(file, f"cannot read the file: {exc}") from exc
    for name, frame in frames:
        if frame.height == 0:
            raise _refuse(file, f"'{name}' has no data rows")
    return frames


def apply_mapping(
    file: Path, name: str, frame: pl.DataFrame, mapping: ColumnMapping, known: set[str]
) -> tuple[SourceTable, list[str]]:
    """Rename columns to field names, translate values and fill defaults.

    Returns:
        The mapped table and the file's columns that map to no field (ignored).
    """
    renames: dict[str, str] = {}
    ignored: list[str] = []
    for column in frame.columns:
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
            raise _refuse(file, f"columns map twice to the field '{target}'")
        renames[column] = target
    unknown_targets = sorted(set(mapping.columns.values()) - known)
    if unknown_targets:
        raise _refuse(file, f"the mapping names unknown field(s): {', '.join(unknown_targets)}")
    out = frame.select(
        [pl.col(src).str.strip_chars().replace("", None).alias(dst) for src, dst in renames.items()]
    )
    for field, table in mapping.values.items():
        if field in out.columns:
            out = out.with_columns(pl.col(field).replace(table))
    for field, default in mapping.defaults.items():
        if field in out.columns:
            out = out.with_columns(pl.col(field).fill_null(pl.lit(default)))
        elif field in known:
            out = out.with_columns(pl.lit(default).alias(field))
    # From the file's own height: the mapped frame may have no columns at all.
    rows = pl.int_range(2, frame.height + 2, dtype=pl.Int64, eager=True).alias(ROW)
    out = out.with_columns(rows) if out.width else rows.to_frame()
    source_columns = {dst: src for src, dst in renames.items()}
    return SourceTable(file=file, name=name, frame=out, source_columns=source_columns), ignored
