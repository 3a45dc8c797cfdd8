"""The registry's history model: moments, previous states and new versions.

A change never overwrites silently: the current row's state is first copied to
the history table with the interval it was valid, ``[valid_from, valid_to)``,
then the current row is stamped with the change time, the change request and the
actor. SQLAlchemy's ``version_id_col`` bumps ``version`` on the UPDATE and
refuses it if someone else changed the row meanwhile.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from solidarity.errors import ValidationFailed
from solidarity.registry.models import (
    Household,
    HouseholdHistory,
    Person,
    PersonHistory,
)

#: Columns shared by a current row and its history rows (the state of a version).
HOUSEHOLD_STATE = tuple(
    c.key
    for c in HouseholdHistory.__table__.columns
    if c.key not in {"history_id", "household_id", "valid_to"}
)
PERSON_STATE = tuple(
    c.key
    for c in PersonHistory.__table__.columns
    if c.key not in {"history_id", "person_id", "valid_to"}
)


def aware(moment: datetime) -> datetime:
    """``moment`` as timezone-aware UTC (SQLite returns naive UTC datetimes)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_moment(as_of: date | datetime | str | None) -> datetime | None:
    """The instant an ``as_of`` stands for; a date means the end of that day (UTC).

    Raises:
        ValidationFailed: ``as_of`` is text that is neither a date nor a datetime.
    """
    if as_of is None:
        return None
    if isinstance(as_of, str):
        text = as_of.strip()
        try:
            as_of = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValidationFailed(
                f"as_of {text!r} is not a date or datetime",
                [{"field": "as_of", "value": text, "message": "use YYYY-MM-DD or ISO 8601"}],
            ) from exc
    if isinstance(as_of, datetime):
        return aware(as_of)
    return datetime.combine(as_of, time.max, tzinfo=UTC)


def household_state(row: Household | HouseholdHistory) -> dict[str, Any]:
    """The state columns of a household version."""
    return {key: getattr(row, key) for key in HOUSEHOLD_STATE}


def person_state(row: Person | PersonHistory) -> dict[str, Any]:
    """The state columns of a person version."""
    return {key: getattr(row, key) for key in PERSON_STATE}


def close_household_version(
    session: Session,
    household: Household,
    *,
    at: datetime,
    change_request_id: int | None,
    actor: str,
) -> None:
    """Keep the household's current state as history and stamp a new version.

    Call before changing the household's fields; the version increments on flush.
    """
    session.add(
        HouseholdHistory(household_id=household.id, valid_to=at, **household_state(household))
    )
    household.valid_from = at
    household.change_request_id = change_request_id
    household.changed_by = actor
    household.updated_by = actor


def close_person_version(
    session: Session,
    person: Person,
    *,
    at: datetime,
    change_request_id: int | None,
    actor: str,
) -> None:
    """Keep the person's current state as history and stamp a new version.

    Call before changing the person's fields; the version increments on flush.
    """
    session.add(PersonHistory(person_id=person.id, valid_to=at, **person_state(person)))
    person.valid_from = at
    person.change_request_id = change_request_id
    person.changed_by = actor
    person.updated_by = actor
