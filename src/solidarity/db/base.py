"""Declarative base with one constraint naming convention, and the shared mixins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Integer, MetaData, String, Table, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Rows written at once from which :func:`refresh_statistics` is worth its cost.
BULK_ROWS = 50_000

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` made timezone-aware: SQLite hands back naive times, stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Bare(ColumnElement[bool]):
    """A boolean column written bare in SQL (see :func:`holds`)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]
    # Not Boolean: SQLAlchemy would then write "column = 1" on SQLite.
    type = NullType()  # type: ignore[assignment]

    def __init__(self, column: Any) -> None:
        self.column = column


@compiles(_Bare)
def _compile_bare(element: _Bare, compiler: Any, **kw: Any) -> str:
    text: str = compiler.process(element.column, **kw)
    return text


def holds(flag: Any) -> ColumnElement[bool]:
    """The boolean column ``flag`` as a bare predicate: ``WHERE active``.

    Partial indexes are declared ``WHERE active``. SQLAlchemy writes a boolean
    test as ``active = 1`` on SQLite and ``is_(True)`` as ``active IS true``, and
    neither planner then proves the index applies: a lookup by identifier
    scanned the whole table.
    """
    return _Bare(flag)


class Base(DeclarativeBase):
    """Base of every ORM table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampedMixin:
    """Created/updated timestamps and the actor who made them."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), onupdate=utcnow
    )
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    updated_by: Mapped[str] = mapped_column(String(128), default="system")


class VersionedMixin:
    """A row version for optimistic locking; SQLAlchemy checks it on every UPDATE."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    def expect_version(self, expected: int | None, what: str) -> None:
        """Refuse to change this record unless it is still at ``expected`` (``None``: no check).

        Args:
            expected: The version the caller read (an ``If-Match`` ETag, a CLI option).
            what: The record in the user's words, e.g. ``"payment cycle 4"``.

        Raises:
            StaleVersionError: The record changed since the caller read it.
        """
        from solidarity.errors import StaleVersionError

        if expected is not None and expected != self.version:
            raise StaleVersionError(
                f"{what} changed since you read it (you read version {expected}, "
                f"it is now at version {self.version}): read it again and redo your change",
                expected_version=expected,
                current_version=self.version,
            )


def refresh_statistics(conn: Connection, tables: Iterable[Table], rows_written: int) -> None:
    """Let PostgreSQL's planner see a bulk write now (``ANALYZE``), not when autovacuum runs.

    Planned on the statistics of before a million-row write (or on none, within
    the writing transaction), a join over those rows can become a nested loop:
    a payroll's payee join took minutes instead of a second. Writes of fewer
    than :data:`BULK_ROWS` rows are left to autovacuum; SQLite needs none.
    """
    if conn.dialect.name != "postgresql" or rows_written < BULK_ROWS:
        return
    quote = conn.dialect.identifier_preparer.format_table
    for table in tables:
        conn.execute(text(f"ANALYZE {quote(table)}"))
