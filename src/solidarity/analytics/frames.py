"""Reading query results into Polars frames, typed even when empty."""

from __future__ import annotations

import importlib.util
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
    frames = _arrow_frames(conn, query, batch, schema) or _raw_frames(conn, query, batch, schema)
    return read_ahead(frames, ahead) if ahead else frames


def _sqlite_file(conn: Connection) -> str | None:
    """The file of a SQLite database another connection would read as ``conn`` does.

    None unless the database is a file (an in-memory one has no other reader),
    ``conn`` has written nothing it has not committed (another connection would
    not see it), and the ADBC SQLite driver is installed.
    """
    if conn.dialect.name != "sqlite":
        return None
    path = conn.engine.url.database
    dbapi = conn.connection.dbapi_connection
    if not path or path == ":memory:" or path.startswith("file:") or dbapi is None:
        return None
    if dbapi.in_transaction or importlib.util.find_spec("adbc_driver_sqlite") is None:
        return None
    return path


def _arrow_frames(
    conn: Connection, query: Any, batch: int, schema: dict[str, Any] | None
) -> Generator[pl.DataFrame] | None:
    """``query`` read from a SQLite file as Arrow batches, or None to read it from ``conn``.

    Python's sqlite3 builds a Python object per value; ADBC's driver builds
    Arrow columns in C, outside Python's lock (a payroll's million rows read in
    a third of the time). Its own connection reads the last committed state (see
    :func:`_sqlite_file`). The driver types each column from the first batch:
    values of one table column share a type (SQLite's column affinity), but a
    column that is empty in the whole first batch cannot be typed, so such a
    result is read from ``conn`` instead. Columns must be table columns, not
    computed ones (SQLite gives an expression's values no common type).
    """
    path = _sqlite_file(conn)
    if path is None:
        return None
    compiled = query.compile(dialect=conn.dialect)
    binds = [compiled.binds[name] for name in compiled.positiontup or ()]
    if any(b.expanding for b in binds):
        return None
    values = compiled.construct_params()
    params = []
    for name, bind in zip(compiled.positiontup or (), binds, strict=True):
        process = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        params.append(process(values[name]) if process else values[name])
    from adbc_driver_sqlite import dbapi as adbc

    db = adbc.connect(path)
    try:
        cursor = db.cursor()
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch)})
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute(str(compiled), params)
        reader = cursor.fetch_record_batch()
        first = next(iter(reader), None)
    except BaseException:
        db.close()
        raise
    if first is not None and any(c.null_count == len(c) for c in first.columns):
        db.close()
        return None

    def frames() -> Generator[pl.DataFrame]:
        try:  # the cursor owns the stream: kept open until the last batch
            if first is None:
                return
            yield _typed(first, schema)
            for more in reader:
                yield _typed(more, schema)
        finally:
            cursor.close()
            db.close()

    return frames()


def _typed(batch: Any, schema: dict[str, Any] | None) -> pl.DataFrame:
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame.cast(schema) if schema else frame  # type: ignore[arg-type]


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
