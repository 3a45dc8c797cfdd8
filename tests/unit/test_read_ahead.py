"""Frames read ahead in a thread: same items, errors raised in the reader, nothing left running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

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
