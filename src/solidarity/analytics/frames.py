"""Reading query results into Polars frames, typed even when empty."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import Connection

T = TypeVar("T")


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
    return _raw(rows, names, schema)


def iter_raw_frames(
    conn: Connection,
    query: Any,
    batch: int,
    schema: dict[str, Any] | None = None,
    *,
    ahead: int = 0,
) -> Generator[pl.DataFrame]:
    """:func:`read_raw_frame` in frames of at most ``batch`` rows, streamed from the server.

    The rows are fetched a batch at a time (a server-side cursor on PostgreSQL),
    so a caller can write out each frame while the rest is still being read.
    With ``ahead``, a background thread reads up to that many frames ahead of
    the caller (the driver leaves Python's lock while the database works), and
    the caller must not use ``conn`` until the iterator is exhausted or closed.
    Nothing is yielded for an empty result.
    """
    frames = _raw_frames(conn, query, batch, schema)
    return read_ahead(frames, ahead) if ahead else frames


def _raw_frames(
    conn: Connection, query: Any, batch: int, schema: dict[str, Any] | None
) -> Generator[pl.DataFrame]:
    # sqlite3 cursors read lazily: its raw cursor is read as is, without
    # SQLAlchemy's rows; other drivers stream through a server-side cursor.
    lazy = conn.dialect.name == "sqlite"
    result = conn.execute(query, execution_options={"stream_results": not lazy})
    try:
        names = list(result.keys())
        cursor = result.cursor
        batches = iter(lambda: cursor.fetchmany(batch), []) if lazy else result.partitions(batch)
        for rows in batches:
            yield _raw(rows, names, schema)
    finally:
        result.close()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def read_ahead(items: Iterator[T], depth: int) -> Generator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead of the consumer.

    Closing the iterator (or leaving a loop over it early) stops the thread and
    waits for it, so the producer's resources are free afterwards; an error in
    the producer is raised in the consumer.
    """
    handoff: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def _raw(rows: Sequence[Any], names: list[str], schema: dict[str, Any] | None) -> pl.DataFrame:
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
