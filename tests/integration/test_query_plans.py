"""Statements that must find their index, checked on both engines.

Lookups by identifier use the partial unique index. The index is declared
``WHERE active``; a query written ``active IS true`` (or ``active = 1`` on SQLite)
is not proved to match it, and every search by national id then scanned the
whole identifier table (80 ms a query at a million persons).

A population-wide household rule over the members' age and income groups the
members from ``ix_person_member_age_income`` alone (migration 0016): the plan on
SQLite; on PostgreSQL, which reads an index alone only once the table has been
vacuumed, the index's columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

from solidarity.registry.repository import (
    HouseholdRepository,
    IdentifierRepository,
    PersonCriteria,
)
from solidarity.rules import check, to_sql_grouped

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


def test_a_rule_over_members_age_and_income_groups_them_from_the_index(
    session: Session,
) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # PostgreSQL reads an index alone only where the visibility map says
        # so (after VACUUM, outside a transaction): check the index it would use.
        columns = next(
            index["column_names"]
            for index in inspect(session.connection()).get_indexes("person")
            if index["name"] == "ix_person_member_age_income"
        )
        assert columns == ["household_id", "status", "birth_date", "income"]
        return
    rule = check("sum(members, m.income) / size < 1500 && count(members, m.age < 18) >= 1")
    _, members = to_sql_grouped({"eligible": rule}, as_of=date(2025, 6, 30))
    compiled = select(members).compile(bind)
    parameters = tuple(compiled.params[name] for name in compiled.positiontup or ())
    plan = _plan(session, str(compiled), parameters)
    assert "COVERING INDEX ix_person_member_age_income" in plan, plan  # no member row read
