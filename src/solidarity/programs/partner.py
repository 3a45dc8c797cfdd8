"""Enrolments that partner programmes report to Solidarity's beneficiary registry.

A ministry running its own programme system (an SP-MIS outside Solidarity) tells
the Integrated Beneficiary Registry whom it enrolled, so that overlaps, coverage
and journeys count its beneficiaries too. Such a programme is recorded as a
``Programme`` with status ``partner``: it has no rules here and is never enrolled,
paid or reconciled by Solidarity; its enrolments are kept as reported, with the
reporting agency and the benefits it declared, and each change of status is a
journey event like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from solidarity.errors import ConflictError
from solidarity.programs.models import Enrolment, JourneyEvent, Programme
from solidarity.programs.repository import ProgrammeRepository

#: Status of a programme whose enrolments are reported by another system.
PARTNER = "partner"
#: IBR enrolment status code (digest section 11) -> (enrolment status, exit reason).
IBR_STATUSES: dict[str, tuple[str, str | None]] = {
    "1": ("active", None),
    "2": ("exited", "deceased"),
    "3": ("exited", "graduated"),
    "4": ("suspended", None),
}


@dataclass(frozen=True)
class PartnerProgramme:
    """A partner programme as its owner describes it."""

    code: str
    name: str
    agency: str
    instrument: str = "cash_transfer"
    description: str = ""


@dataclass
class ReportedEnrolment:
    """One beneficiary line of a partner's report, resolved to a household."""

    household_id: int
    person_id: int | None
    status_code: str
    enrolled_on: date
    status_changed_on: date | None = None
    benefits: list[dict[str, Any]] = field(default_factory=list)


def partner_programme(session: Session, described: PartnerProgramme, actor: str) -> Programme:
    """The partner programme with this code, registered on first report.

    Raises:
        ConflictError: The code belongs to a programme run in Solidarity, or to
            another agency's partner programme.
    """
    repo = ProgrammeRepository(session)
    programme = repo.programme_by_code(described.code)
    if programme is None:
        programme = Programme(
            code=described.code,
            name=described.name or described.code,
            ministry=described.agency,
            instrument=described.instrument,
            targeting_method="categorical",
            risk_covered=described.description[:200],
            status=PARTNER,
            created_by=actor,
            updated_by=actor,
        )
        return repo.add(programme)  # type: ignore[no-any-return]
    if programme.status != PARTNER:
        raise ConflictError(
            f"programme '{described.code}' is run in Solidarity: "
            "its enrolments cannot be reported by a partner"
        )
    if programme.ministry != described.agency:
        raise ConflictError(
            f"programme '{described.code}' is reported by another agency ({programme.ministry})"
        )
    return programme


def report_enrolment(
    session: Session, programme: Programme, line: ReportedEnrolment, actor: str
) -> Enrolment:
    """Record (or update) one reported enrolment and the journey event of its change.

    Reporting the same status again changes nothing, so a partner may resend a
    report safely.

    Raises:
        ValueError: An enrolment status code other than 1-4.
    """
    if line.status_code not in IBR_STATUSES:
        raise ValueError(
            f"enrollment_status {line.status_code!r} is not a DCI enrolment status (1-4)"
        )
    status, exit_reason = IBR_STATUSES[line.status_code]
    changed_on = line.status_changed_on or line.enrolled_on
    repo = ProgrammeRepository(session)
    enrolment = repo.enrolment(programme.id, line.household_id)
    paid = [b for b in line.benefits if isinstance(b.get("benefit_value"), (int, float))]
    amount = float(paid[-1]["benefit_value"]) if paid else 0.0
    explanation = {"reported_by": actor, "person_id": line.person_id, "benefits": line.benefits}
    if enrolment is None:
        enrolment = Enrolment(
            programme_id=programme.id,
            household_id=line.household_id,
            status=status,
            as_of=line.enrolled_on,
            enrolled_on=line.enrolled_on,
            benefit_amount=amount,
            created_by=actor,
            updated_by=actor,
        )
        session.add(enrolment)
        _journey(session, programme, line, "enrolled", line.enrolled_on, actor)
    elif enrolment.status == status and enrolment.exit_reason == exit_reason:
        enrolment.explanation = explanation
        enrolment.benefit_amount = amount
        return enrolment
    enrolment.status = status
    enrolment.benefit_amount = amount
    enrolment.explanation = explanation
    enrolment.updated_by = actor
    if status == "exited":
        enrolment.exited_on = changed_on
        enrolment.exit_reason = exit_reason
        _journey(session, programme, line, "exited", changed_on, actor, exit_reason)
    else:
        enrolment.exited_on = None
        enrolment.exit_reason = None
        if status == "suspended":
            _journey(session, programme, line, "suspended", changed_on, actor)
    session.flush()
    return enrolment


def _journey(
    session: Session,
    programme: Programme,
    line: ReportedEnrolment,
    event: str,
    on: date,
    actor: str,
    reason: str | None = None,
) -> None:
    session.add(
        JourneyEvent(
            programme_id=programme.id,
            household_id=line.household_id,
            person_id=line.person_id,
            event=event,
            event_date=on,
            reason=reason or f"reported by {actor}",
            created_by=actor,
        )
    )
