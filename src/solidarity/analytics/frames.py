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
