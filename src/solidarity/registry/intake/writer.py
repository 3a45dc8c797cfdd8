"""Bulk writes of intake batches: COPY on PostgreSQL, executemany on SQLite.

Rows go straight from Polars frames to the database driver, with values already
in the storage format SQLAlchemy itself uses on each backend (encrypted columns
sealed, blind indexes computed), so rows written here read back through the ORM
exactly like rows written by it.
"""

from __future__ import annotations

import io
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Table, text

from solidarity.db.encrypted import encrypted_columns
from solidarity.governance.encryption import key_ring


def allocate_ids(conn: Connection, table: Table, count: int) -> pl.Series:
    """Reserve ``count`` new primary keys for ``table`` (inside the caller's transaction)."""
    if count == 0:
        return pl.Series("id", [], dtype=pl.Int64)
    if conn.dialect.name == "postgresql":
        # One row holding an array: far cheaper to fetch than one row per id.
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
        ).scalar_one()
        ids = conn.execute(
            text("SELECT array_agg(nextval(CAST(:s AS regclass))) FROM generate_series(1, :n)"),
            {"s": sequence, "n": count},
        ).scalar_one()
        return pl.Series("id", ids, dtype=pl.Int64)
    # SQLite serialises writers, and the caller's transaction holds the write lock
    # once it has written, so max(id) + 1 is safe here.
    start = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
    return pl.int_range(start + 1, start + 1 + count, dtype=pl.Int64, eager=True).alias("id")


def _sqlite_values(frame: pl.DataFrame) -> pl.DataFrame:
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d %H:%M:%S.%6f"))
        elif dtype == pl.Boolean:
            casts.append(pl.col(name).cast(pl.Int8))
        else:
            casts.append(pl.col(name))
    return frame.select(casts)


NAME_COLUMNS = ("given_name", "family_name", "other_names")


def protect(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Encrypt ``table``'s encrypted columns in ``frame`` and add missing blind indexes.

    Bulk writes bypass the column types, so they seal values here, a column at a
    time (decision 0003). Frames without such columns are returned unchanged.
    """
    encrypted = {n: f for n, f in encrypted_columns(table).items() if n in frame.columns}
    if not encrypted or frame.height == 0:
        return frame
    ring = key_ring()
    added: list[pl.Series] = []
    if (
        "name_index" in table.columns
        and "name_index" not in frame.columns
        and any(c in frame.columns for c in NAME_COLUMNS)
    ):
        names = [
            frame.get_column(c).to_list() if c in frame.columns else [None] * frame.height
            for c in NAME_COLUMNS
        ]
        added.append(pl.Series("name_index", ring.name_index_many(*names), dtype=pl.String))
    if "value_index" in table.columns and "value_index" not in frame.columns:
        values = frame.get_column("value").cast(pl.String).to_list()
        added.append(pl.Series("value_index", ring.identifier_index_many(values), dtype=pl.String))
    for name, field in encrypted.items():
        values = frame.get_column(name).cast(pl.String).to_list()
        added.append(pl.Series(name, ring.encrypt_many(values, field), dtype=pl.String))
    return frame.with_columns(added)


def bulk_insert(conn: Connection, table: Table, frame: pl.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named like ``table``'s) in one statement.

    Encrypted columns are sealed and blind indexes computed on the way (:func:`protect`).
    """
    unknown = set(frame.columns) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    return bulk_insert_rows(conn, table.name, protect(table, frame))


def bulk_insert_rows(conn: Connection, table_name: str, frame: pl.DataFrame) -> int:
    """COPY (PostgreSQL) or executemany (SQLite) ``frame`` into ``table_name``.

    ``table_name`` must be one of ours, never user input: it is part of the statement.
    """
    if frame.height == 0:
        return 0
    names = ", ".join(f'"{c}"' for c in frame.columns)
    if conn.dialect.name == "postgresql":
        buffer = io.BytesIO()
        frame.write_csv(
            buffer, include_header=False, null_value="", datetime_format="%Y-%m-%dT%H:%M:%S%.f%z"
        )
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            statement = f"COPY {table_name} ({names}) FROM STDIN WITH (FORMAT csv, NULL '')"
            with cursor.copy(statement) as copy:
                copy.write(buffer.getbuffer())
        return frame.height
    placeholders = ", ".join("?" for _ in frame.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {table_name} ({names}) VALUES ({placeholders})",
        _sqlite_values(frame).rows(),  # type: ignore[arg-type]
    )
    return frame.height


def stamp(frame: pl.DataFrame, moment: datetime, actor: str, dialect: str) -> pl.DataFrame:
    """Add the audit and version columns every registry row carries.

    On PostgreSQL the timestamps are left to the columns' ``now()`` defaults (one
    value per batch transaction): parsing three timestamps per row costs more
    than the rest of the row.
    """
    stamped = frame.with_columns(
        pl.lit(actor).alias("created_by"),
        pl.lit(actor).alias("updated_by"),
        pl.lit(actor).alias("changed_by"),
        pl.lit(1).alias("version"),
        pl.lit("active").alias("status"),
    )
    if dialect == "postgresql":
        return stamped
    at = pl.lit(moment, dtype=pl.Datetime("us", "UTC"))
    return stamped.with_columns(
        at.alias("created_at"), at.alias("updated_at"), at.alias("valid_from")
    )
