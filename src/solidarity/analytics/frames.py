"""Reading query results into Polars frames, typed even when empty."""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection


def read_frame(conn: Connection, query: Any, schema: dict[str, Any] | None = None) -> pl.DataFrame:
    """Run ``query`` and return its rows as a Polars frame (typed even when empty)."""
    frame: pl.DataFrame = pl.read_database(
        query, connection=conn, infer_schema_length=None, schema_overrides=schema
    )
    return frame.with_columns(
        pl.col(c).cast(pl.Int64 if c.endswith("_id") or c == "id" else pl.String)
        for c, dtype in frame.schema.items()
        if dtype == pl.Null
    )


def read_raw_frame(
    conn: Connection, query: Any, schema: dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``query`` and build a frame from the driver's rows, as the driver returns them.

    SQLAlchemy's per-row result processing (e.g. parsing SQLite date text in
    Python) is skipped: bulk readers that type their columns themselves read a
    million rows several times faster. Values stay as the driver gives them:
    SQLite dates are text and its booleans 0/1; PostgreSQL's are typed.
    """
    result = conn.execute(query)
    try:
        cursor = result.cursor
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        result.close()
    frame = pl.DataFrame(
        rows,
        schema=names,
        schema_overrides=schema,
        orient="row",
        infer_schema_length=None,
    )
    return frame.with_columns(
        pl.col(c).cast(pl.Int64 if c.endswith("_id") or c == "id" else pl.String)
        for c, dtype in frame.schema.items()
        if dtype == pl.Null
    )
