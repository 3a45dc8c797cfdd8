"""Reads and writes of bulk intake: import runs and the registry lookups intake needs."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, and_, column, func, select, table, update
from sqlalchemy.orm import Session

from solidarity.db.base import holds, refresh_statistics
from solidarity.errors import NotFoundError
from solidarity.governance.encryption import key_ring
from solidarity.registry.intake.writer import bulk_insert_rows
from solidarity.registry.models import Household, Identifier, ImportRun, Person


def existing_household_keys(conn: Connection, source: str) -> dict[str, int]:
    """Source keys already imported from ``source``, with their household ids."""
    rows = conn.execute(
        select(Household.source_key, Household.id).where(Household.source == source)
    )
    return {key: id_ for key, id_ in rows if key is not None}


def active_identifiers(conn: Connection, ids: pl.DataFrame, source: str) -> pl.DataFrame:
    """Active registry identifiers equal to any of ``ids`` (id_type, value).

    The file's identifiers go into a temporary table joined against the unique
    index, one query whatever the file's size. ``holder`` is the holder's
    household source key when that household came from ``source``.
    """
    empty = pl.DataFrame(schema={"id_type": pl.String, "value": pl.String, "holder": pl.String})
    if (
        ids.height == 0
        or conn.execute(select(Identifier.id).where(holds(Identifier.active)).limit(1)).first()
        is None
    ):
        return empty
    # The registry holds only blind indexes of values: probe with the file's own.
    ring = key_ring()
    wanted = ids.select("id_type", "value").unique()
    wanted = wanted.with_columns(
        pl.Series("value_index", ring.identifier_index_many(wanted.get_column("value").to_list()))
    )
    # A pooled connection may still hold the table from an earlier run.
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS intake_identifier (id_type TEXT, value_index TEXT)"
    )
    conn.exec_driver_sql("DELETE FROM intake_identifier")
    try:
        bulk_insert_rows(conn, "intake_identifier", wanted.select("id_type", "value_index"))
        probe = table("intake_identifier", column("id_type"), column("value_index"))
        rows = conn.execute(
            select(
                Identifier.id_type, Identifier.value_index, Household.source, Household.source_key
            )
            .join(
                probe,
                and_(
                    probe.c.id_type == Identifier.id_type,
                    probe.c.value_index == Identifier.value_index,
                ),
            )
            .join(Person, Person.id == Identifier.person_id)
            .join(Household, Household.id == Person.household_id)
            .where(holds(Identifier.active))
        ).all()
    finally:
        conn.exec_driver_sql("DROP TABLE intake_identifier")
    if not rows:
        return empty
    found = pl.DataFrame(
        {
            "id_type": [r[0] for r in rows],
            "value_index": [r[1] for r in rows],
            "holder": [r[3] if r[2] == source else None for r in rows],
        },
        schema={"id_type": pl.String, "value_index": pl.String, "holder": pl.String},
    )
    return found.join(wanted, on=["id_type", "value_index"]).select(empty.columns)


def add_to_run(conn: Connection, run_id: int, households: int, persons: int) -> None:
    """Count a committed batch in the import run (in the batch's own transaction)."""
    conn.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id)
        .values(
            households_imported=ImportRun.households_imported + households,
            persons_imported=ImportRun.persons_imported + persons,
        )
    )


class ImportRunRepository:
    """Import runs, newest first."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(
        self, limit: int, offset: int, created_by: str | None = None
    ) -> tuple[Sequence[ImportRun], int]:
        """One page of runs and the total count (only ``created_by``'s runs if given)."""
        conditions = [] if created_by is None else [ImportRun.created_by == created_by]
        total = (
            self.session.scalar(select(func.count()).select_from(ImportRun).where(*conditions)) or 0
        )
        rows = self.session.scalars(
            select(ImportRun)
            .where(*conditions)
            .order_by(ImportRun.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total

    def get(self, run_id: int, created_by: str | None = None) -> ImportRun:
        """The run ``run_id`` (only if ``created_by`` made it, when given), or NotFoundError."""
        run = self.session.get(ImportRun, run_id)
        if run is None or (created_by is not None and run.created_by != created_by):
            raise NotFoundError(f"import run {run_id} does not exist")
        return run


class ImportErasureRepository:
    """Import runs as erasure needs them: their reports and the files they wrote."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def runs_mentioning(self, needles: Sequence[str]) -> Sequence[ImportRun]:
        """Runs whose stored report contains one of ``needles``."""
        from solidarity.registry.scrub import contains_any

        return self.session.scalars(
            select(ImportRun).where(contains_any(ImportRun.report, needles)).order_by(ImportRun.id)
        ).all()

    def written_paths(self) -> list[str]:
        """Every error report and rejected-row file (and source file) recorded by a run."""
        paths: list[str] = []
        for files, report in self.session.execute(select(ImportRun.files, ImportRun.report)):
            paths.extend(str(f) for f in files or [])
            report = report or {}
            if report.get("report_path"):
                paths.append(str(report["report_path"]))
                paths.append(str(report["report_path"]).removesuffix(".csv") + ".json")
            paths.extend(str(p) for p in report.get("rejects_paths") or [])
        return paths


def refresh_registry_statistics(conn: Connection, persons_imported: int) -> None:
    """Planner statistics of the registry tables after a large import (PostgreSQL)."""
    tables = [Household.__table__, Person.__table__, Identifier.__table__]
    refresh_statistics(conn, tables, persons_imported)  # type: ignore[arg-type]
