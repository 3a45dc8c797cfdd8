"""The redress event log and the beneficiary journey feed (steps with actor and time)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.grievances.models import RedressEvent


def record_step(
    session: Session,
    subject_type: str,
    subject_id: int,
    actor: str,
    action: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> RedressEvent:
    """Append one step of a grievance, case or referral."""
    event = RedressEvent(
        subject_type=subject_type,
        subject_id=subject_id,
        at=at or utcnow(),
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        details=details or {},
    )
    session.add(event)
    session.flush()
    return event


def feed_journey(
    session: Session,
    programme_code: str | None,
    household_id: int | None,
    person_id: int | None,
    event: str,
    on: date,
    reason: str,
    actor: str,
) -> bool:
    """Add a step to the household's journey through ``programme_code`` (when both are known).

    Grievance, appeal and referral steps appear beside enrolment and payment steps;
    the coherence journey funnel ignores events that are not its stages.

    Returns:
        Whether an event was written.
    """
    if programme_code is None or household_id is None:
        return False
    from solidarity.programs import service as programmes

    programmes.record_journey_event(
        session,
        programme_code,
        household_id,
        event,
        on,
        person_id=person_id,
        reason=reason,
        actor=actor,
    )
    return True
