"""Lookups by identifier use the partial unique index on both engines.

The index is declared ``WHERE active``; a query written ``active IS true`` (or
``active = 1`` on SQLite) is not proved to match it, and every search by national
id then scanned the whole identifier table (80 ms a query at a million persons).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from solidarity.registry.repository import (
    HouseholdRepository,
    IdentifierRepository,
    PersonCriteria,
)

INDEX = "uq_identifier_active_type_value_index"


@pytest.fixture
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "identifier" in statement and not statement.lstrip().upper().startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    yield seen
    event.remove(engine, "before_cursor_execute", capture)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    # An empty table is cheapest to scan: forbid scans, so the plan shows
    # whether the index can be used at all.
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    return "\n".join(str(row[0]) for row in rows)


def test_a_search_by_identifier_uses_the_identifier_index(
    session: Session, statements: list[tuple[str, Any]]
) -> None:
    HouseholdRepository(session).search(
        PersonCriteria(id_type="national_id", id_value="NI-1"), None, 1, 20, 1000
    )
    IdentifierRepository(session).active_holder("national_id", "NI-1")
    assert len(statements) == 2  # the page's keys (no match: no count) and the holder
    for statement, parameters in statements:
        plan = _plan(session, statement, parameters)
        assert INDEX in plan, plan
