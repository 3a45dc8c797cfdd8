"""Frames read ahead in a thread, and through ADBC from a SQLite file: same rows either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Connection, Engine, bindparam, column, select, text
from sqlalchemy import table as sa_table

from solidarity.analytics import frames
from solidarity.analytics.frames import iter_raw_frames, read_ahead
from solidarity.db.engine import make_engine


def _reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_items_come_in_order_and_the_thread_ends() -> None:
    assert list(read_ahead(iter(range(1000)), 2)) == list(range(1000))
    assert _reading_threads() == []


def test_an_error_in_the_producer_is_raised_to_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("disk gone")

    seen = []
    with pytest.raises(RuntimeError, match="disk gone"):
        for item in read_ahead(failing(), 1):
            seen.append(item)
    assert seen == [1]
    assert _reading_threads() == []


def test_leaving_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    items = read_ahead(endless(), 1)
    assert [next(items), next(items)] == [0, 1]
    items.close()  # type: ignore[attr-defined]
    assert closed.is_set()
    assert _reading_threads() == []


def test_raw_frames_read_ahead_equal_those_read_in_line() -> None:
    engine = make_engine("sqlite://")  # its connections may be used from another thread
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER, name TEXT)"))
        conn.execute(
            text("INSERT INTO t VALUES (:id, :name)"),
            [{"id": i, "name": None if i % 7 == 0 else f"n{i}"} for i in range(25)],
        )
        query = text("SELECT id, name FROM t ORDER BY id")
        in_line = list(iter_raw_frames(conn, query, 10))
        ahead = list(iter_raw_frames(conn, query, 10, ahead=2))
    assert [f.height for f in in_line] == [10, 10, 5]
    assert all(a.equals(b) for a, b in zip(in_line, ahead, strict=True))
    assert in_line[0]["name"].to_list()[:2] == [None, "n1"]


def _sqlite_file(tmp_path: Path, names: list[str | None]) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'frames.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER, name TEXT, amount REAL)"))
        conn.execute(
            text("INSERT INTO t VALUES (:id, :name, :amount)"),
            [{"id": i, "name": n, "amount": i / 4} for i, n in enumerate(names)],
        )
    return engine


def _read(engine: Engine, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """The frames of ``t`` in batches of 100, and which path read them."""
    paths = []
    arrow, rows = frames._arrow_frames, frames._raw_frames
    monkeypatch.setattr(frames, "_arrow_frames", lambda *a: paths.append("arrow") or arrow(*a))
    monkeypatch.setattr(frames, "_raw_frames", lambda *a: paths.append("rows") or rows(*a))
    table = sa_table("t", column("id"), column("name"), column("amount"))
    query = select(table).where(table.c.id >= bindparam("low", 0)).order_by(table.c.id)
    read = list(iter_raw_frames(conn, query, 100, {"amount": pl.Float64}, ahead=1))
    return paths[-1], read


def test_a_sqlite_file_is_read_through_adbc_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [None if i % 3 == 0 else f"n{i}" for i in range(250)]
    engine = _sqlite_file(tmp_path, names)
    with engine.connect() as conn:
        path, read = _read(engine, conn, monkeypatch)
    assert path == "arrow"
    assert [f.height for f in read] == [100, 100, 50]
    whole = pl.concat(read)
    assert whole["id"].to_list() == list(range(250))
    assert whole["name"].to_list() == names
    assert whole["amount"].to_list() == [i / 4 for i in range(250)]
    assert whole.schema == pl.Schema({"id": pl.Int64, "name": pl.String, "amount": pl.Float64})


def test_a_column_empty_in_the_first_batch_is_read_from_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADBC would type the empty column as integers, then fail on the names after it."""
    names = [None if i < 150 else f"n{i}" for i in range(250)]
    engine = _sqlite_file(tmp_path, names)
    with engine.connect() as conn:
        path, read = _read(engine, conn, monkeypatch)
    assert path == "rows"
    assert pl.concat(read)["name"].to_list() == names


def test_uncommitted_writes_are_read_from_the_connection_that_made_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _sqlite_file(tmp_path, [f"n{i}" for i in range(10)])
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t VALUES (10, 'uncommitted', 2.5)"))
        path, read = _read(engine, conn, monkeypatch)
        conn.rollback()
    assert path == "rows"
    assert pl.concat(read)["name"].to_list()[-1] == "uncommitted"
