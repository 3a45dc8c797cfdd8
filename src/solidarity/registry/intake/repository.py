"""Bulk reads that intake needs from the registry."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, select, update

from solidarity.registry.models import Household, Identifier, ImportRun, Person

_CHUNK = 5_000


def existing_household_keys(conn: Connection, source: str) -> dict[str, int]:
    """Source keys already imported from ``source``, with their household ids."""
    rows = conn.execute(
        select(Household.source_key, Household.id).where(Household.source == source)
    )
    return {key: id_ for key, id_ in rows if key is not None}


def active_identifiers(conn: Connection, values: Sequence[str], source: str) -> pl.DataFrame:
    """Active identifiers among ``values``, with the holder's household source key.

    ``holder`` is set only when the holder's household came from ``source``.
    """
    frames = []
    unique = sorted(set(values))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = conn.execute(
            select(Identifier.id_type, Identifier.value, Household.source, Household.source_key)
            .join(Person, Person.id == Identifier.person_id)
            .join(Household, Household.id == Person.household_id)
            .where(Identifier.active.is_(True), Identifier.value.in_(chunk))
        ).all()
        if rows:
            frames.append(
                pl.DataFrame(
                    {
                        "id_type": [r[0] for r in rows],
                        "value": [r[1] for r in rows],
                        "holder": [r[3] if r[2] == source else None for r in rows],
                    },
                    schema={"id_type": pl.String, "value": pl.String, "holder": pl.String},
                )
            )
    if not frames:
        return pl.DataFrame(schema={"id_type": pl.String, "value": pl.String, "holder": pl.String})
    return pl.concat(frames)


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
