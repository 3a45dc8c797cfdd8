"""Case management: a case worker's cases for households with several vulnerabilities.

A case has a needs assessment (the configurable checklist of ``needs_checklist.yaml``,
scored and weighted into a priority), a plan of goals, services and referrals with
due dates, visits and notes, review dates and a closure reason. Case data is scoped
like the registry (area subtree) and, for accounts of an agency, to that agency.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError, StaleVersionError, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.grievances.errors import AssignmentRefused, TransitionRefused
from solidarity.grievances.events import record_step
from solidarity.grievances.models import Case, CaseNote, CasePlanItem
from solidarity.grievances.repository import AreaLookup, CaseRepository
from solidarity.grievances.schemas import (
    AssessmentIn,
    CaseIn,
    CaseOut,
    EventOut,
    NoteIn,
    NoteOut,
    PlanItemIn,
    PlanItemOut,
    PlanItemUpdate,
)
from solidarity.registry import service as registry

CHECKLIST_FILE = Path(__file__).with_name("needs_checklist.yaml")
MANAGE = "cases.manage"
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@lru_cache(maxsize=1)
def checklist() -> dict[str, Any]:
    """The needs checklist of the deployment."""
    data: dict[str, Any] = yaml.safe_load(CHECKLIST_FILE.read_text(encoding="utf-8"))
    return data


def _visible(session: Session, principal: Principal, case_id: int) -> Case:
    case = CaseRepository(session).get(case_id)
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    area = AreaLookup(session).get(case.area_id)
    same_agency = principal.agency_code is None or principal.agency_code == case.agency_code
    if not same_agency or not principal.covers_path(area.path if area else None):
        raise NotFoundError(f"case {case_id} not found")
    return case


def _check_version(case: Case | CasePlanItem, version: int, what: str) -> None:
    if version != case.version:
        raise StaleVersionError(
            f"{what} changed since you read it (version {version}, now {case.version})"
        )


def _open(case: Case) -> None:
    if case.status != "open":
        raise TransitionRefused(f"case {case.id}", case.status, "changed", [])


def case_out(session: Session, case: Case, today: date | None = None) -> CaseOut:
    """A case with its plan, notes and overdue flags."""
    today = today or date.today()
    repo = CaseRepository(session)
    plan = [
        PlanItemOut.model_validate(i).model_copy(
            update={"overdue": i.status == "open" and i.due_date is not None and i.due_date < today}
        )
        for i in repo.plan(case.id)
    ]
    codes = AreaLookup(session).codes({case.area_id})
    return CaseOut(
        id=case.id,
        household_id=case.household_id,
        person_id=case.person_id,
        area_code=codes.get(case.area_id),
        agency_code=case.agency_code,
        case_worker=case.case_worker,
        status=case.status,
        vulnerabilities=list(case.vulnerabilities),
        assessment=dict(case.assessment),
        score=case.score,
        priority=case.priority,
        review_date=case.review_date,
        closure_reason=case.closure_reason,
        overdue_items=sum(1 for i in plan if i.overdue),
        review_overdue=case.status == "open"
        and case.review_date is not None
        and case.review_date < today,
        plan=plan,
        notes=[NoteOut.model_validate(n) for n in repo.notes(case.id)],
        version=case.version,
    )


def _require_case_worker(session: Session, username: str, area_id: int) -> None:
    from solidarity.governance import service as governance

    try:
        worker = governance.cli_principal(session, username)
    except NotFoundError:
        raise AssignmentRefused(f"no active account {username!r} to be the case worker") from None
    area = AreaLookup(session).get(area_id)
    if not worker.has(MANAGE) or not worker.scoped_to(MANAGE).covers_path(
        area.path if area else None
    ):
        raise AssignmentRefused(
            f"{username} does not manage cases in this household's area (cases.manage over it)"
        )


def open_case(
    session: Session, principal: Principal, body: CaseIn, now: datetime | None = None
) -> CaseOut:
    """Open a case for a household (or one of its members).

    Raises:
        NotFoundError: The household is outside the officer's areas.
        AssignmentRefused: The case worker does not manage cases there.
        ValidationFailed: The person is not of the household.
    """
    now = now or utcnow()
    household = registry.get_household(session, body.household_id, scope=principal.area_paths)
    if body.person_id is not None and body.person_id not in {m.id for m in household.members}:
        raise ValidationFailed(
            "the person is not of the household",
            [{"field": "person_id", "value": body.person_id, "message": "not of the household"}],
        )
    area = AreaLookup(session).by_code(household.area_code or "")
    assert area is not None
    _require_case_worker(session, body.case_worker, area.id)
    case: Case = CaseRepository(session).add(
        Case(
            household_id=household.id,
            person_id=body.person_id,
            area_id=area.id,
            agency_code=principal.agency_code,
            case_worker=body.case_worker,
            vulnerabilities=body.vulnerabilities,
            review_date=body.review_date,
            created_by=principal.username,
            updated_by=principal.username,
        )
    )
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        "opened",
        to_status="open",
        details={"case_worker": body.case_worker},
        at=now,
    )
    audit.record_for(session, principal, "case.opened", "case", case.id)
    return case_out(session, case, now.date())


def get_case(session: Session, principal: Principal, case_id: int) -> CaseOut:
    """One case.

    Raises:
        NotFoundError: No such case, or outside the reader's areas or agency.
    """
    return case_out(session, _visible(session, principal, case_id))


def caseload(
    session: Session,
    principal: Principal,
    case_worker: str | None = None,
    status: str | None = "open",
    today: date | None = None,
) -> list[CaseOut]:
    """Cases in the reader's areas (a worker's caseload), by priority then overdue items."""
    today = today or date.today()
    rows = CaseRepository(session).search(
        principal.area_paths, principal.agency_code, case_worker, status
    )
    cases = [case_out(session, c, today) for c in rows]
    return sorted(
        cases,
        key=lambda c: (
            PRIORITY_ORDER.get(c.priority, 3),
            -(c.overdue_items + int(c.review_overdue)),
            c.id,
        ),
    )


def assess(session: Session, principal: Principal, case_id: int, body: AssessmentIn) -> CaseOut:
    """Score the needs checklist; the weighted score sets the case's priority.

    Raises:
        ValidationFailed: An unknown item or a score out of range (nothing is changed).
    """
    case = _visible(session, principal, case_id)
    _open(case)
    _check_version(case, body.version, f"case {case_id}")
    spec = checklist()
    items = {i["code"]: i for i in spec["items"]}
    errors: list[dict[str, Any]] = []
    for code, score in body.scores.items():
        item = items.get(code)
        if item is None:
            errors.append(
                {"field": f"scores.{code}", "message": f"unknown item; use {', '.join(items)}"}
            )
        elif not 0 <= score <= int(item["max"]):
            errors.append({"field": f"scores.{code}", "value": score, "message": "out of range"})
    if errors:
        raise ValidationFailed("the assessment is not valid", errors)
    top = sum(int(i["max"]) * float(i["weight"]) for i in items.values())
    weighted = sum(score * float(items[c]["weight"]) for c, score in body.scores.items())
    share = weighted / top if top else 0.0
    thresholds = spec["priority"]
    priority = (
        "high"
        if share >= float(thresholds["high"])
        else "medium"
        if share >= float(thresholds["medium"])
        else "low"
    )
    case.assessment = {"scores": body.scores, "assessed_on": date.today().isoformat()}
    case.score = round(share, 4)
    case.priority = priority
    case.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        "assessed",
        details={"score": case.score, "priority": priority},
    )
    return case_out(session, case)


def add_plan_item(
    session: Session, principal: Principal, case_id: int, body: PlanItemIn
) -> CaseOut:
    """Add a goal, service or referral to the plan (a referral item is sent at once).

    Raises:
        See :func:`solidarity.grievances.referrals.send_referral` for referral items.
    """
    case = _visible(session, principal, case_id)
    _open(case)
    if body.kind == "referral":
        from solidarity.grievances import referrals
        from solidarity.grievances.schemas import ReferralIn

        if not body.service_code:
            raise ValidationFailed(
                "a referral item names a service",
                [{"field": "service_code", "message": "required for a referral"}],
            )
        referrals.send_referral(
            session,
            principal,
            ReferralIn(
                service_code=body.service_code,
                household_id=case.household_id,
                person_id=case.person_id,
                reason=body.description,
                case_id=case.id,
            ),
        )
    else:
        CaseRepository(session).add(
            CasePlanItem(
                case_id=case.id,
                **body.model_dump(),
                created_by=principal.username,
                updated_by=principal.username,
            )
        )
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        f"plan_{body.kind}",
        details=body.model_dump(mode="json"),
    )
    return case_out(session, case)


def update_plan_item(
    session: Session, principal: Principal, case_id: int, item_id: int, body: PlanItemUpdate
) -> CaseOut:
    """Mark a plan item done, dropped or open again."""
    case = _visible(session, principal, case_id)
    item = CaseRepository(session).plan_item(item_id)
    if item is None or item.case_id != case.id:
        raise NotFoundError(f"plan item {item_id} of case {case_id} not found")
    _check_version(item, body.version, f"plan item {item_id}")
    item.status = body.status
    item.outcome = body.outcome
    item.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        "plan_item_updated",
        details={"item": item_id, "status": body.status},
    )
    return case_out(session, case)


def add_note(session: Session, principal: Principal, case_id: int, body: NoteIn) -> CaseOut:
    """Record a visit or a note."""
    case = _visible(session, principal, case_id)
    CaseRepository(session).add(
        CaseNote(
            case_id=case.id,
            kind=body.kind,
            on=body.on or date.today(),
            author=principal.username,
            text=body.text,
            created_by=principal.username,
            updated_by=principal.username,
        )
    )
    record_step(session, "case", case.id, principal.username, body.kind)
    return case_out(session, case)


def review(
    session: Session,
    principal: Principal,
    case_id: int,
    version: int,
    next_review: date,
    note: str | None = None,
) -> CaseOut:
    """Record a review and set the next review date."""
    case = _visible(session, principal, case_id)
    _open(case)
    _check_version(case, version, f"case {case_id}")
    case.review_date = next_review
    case.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        "reviewed",
        details={"next_review": next_review.isoformat(), "note": note},
    )
    return case_out(session, case)


def close_case(
    session: Session,
    principal: Principal,
    case_id: int,
    version: int,
    reason: str,
    now: datetime | None = None,
) -> CaseOut:
    """Close a case with its reason.

    Raises:
        TransitionRefused: It is already closed.
    """
    now = now or utcnow()
    case = _visible(session, principal, case_id)
    _open(case)
    _check_version(case, version, f"case {case_id}")
    case.status = "closed"
    case.closure_reason = reason
    case.closed_at = now
    case.updated_by = principal.username
    session.flush()
    record_step(
        session,
        "case",
        case.id,
        principal.username,
        "closed",
        from_status="open",
        to_status="closed",
        details={"reason": reason},
        at=now,
    )
    audit.record_for(session, principal, "case.closed", "case", case.id)
    return case_out(session, case, now.date())


def events_of(session: Session, principal: Principal, case_id: int) -> list[EventOut]:
    """Every step of a case."""
    from solidarity.grievances.repository import GrievanceRepository

    _visible(session, principal, case_id)
    return [
        EventOut.model_validate(e) for e in GrievanceRepository(session).events("case", case_id)
    ]
