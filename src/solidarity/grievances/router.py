"""``/api/v1/grievances``, ``/cases``, ``/services`` and ``/referrals``.

Routes are thin: each declares its permission and calls the service with the
principal narrowed to it. Reads of grievances need ``grievances.read``, every
step ``grievances.manage``; cases need ``cases.manage``; referrals and the service
catalogue ``referrals.manage`` (defining services, loading categories and running
escalation need it nationally).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from solidarity.errors import PermissionDenied
from solidarity.governance.principal import Principal
from solidarity.grievances import cases, referrals
from solidarity.grievances import service as grievances
from solidarity.grievances.schemas import (
    ActionOut,
    AssessmentIn,
    AssignIn,
    CaseCloseIn,
    CaseIn,
    CaseOut,
    CaseReviewIn,
    CategoryIn,
    CategoryOut,
    ChangeRequestAction,
    CounterReferralIn,
    EscalationOut,
    EventOut,
    GrievanceIn,
    GrievanceOut,
    GrievancePage,
    IndicatorsOut,
    NoteIn,
    PlanItemIn,
    PlanItemUpdate,
    ReassessAction,
    ReferralIn,
    ReferralOut,
    ReferralStepIn,
    ReissueAction,
    ResolveIn,
    ServiceIn,
    ServiceOut,
    StepIn,
    SuggestionOut,
    WorklistOut,
)
from solidarity.web.concurrency import IfMatch, tag, with_version
from solidarity.web.deps import get_session, require

READ = "grievances.read"
MANAGE = "grievances.manage"
CASES = "cases.manage"
REFERRALS = "referrals.manage"

router = APIRouter(prefix="/api/v1")


def _national(principal: Principal, what: str) -> None:
    if not principal.national:
        raise PermissionDenied(f"{what} needs a national grant of {principal.permission}")


class ReferralPage(BaseModel):
    """A page of referrals."""

    items: list[ReferralOut]
    total: int


# --- grievances ----------------------------------------------------------------------------


@router.get("/grievances", tags=["grievances"])
def list_grievances(
    status: str | None = None,
    assigned_to: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> GrievancePage:
    """Grievances the caller may see (areas, sensitive categories, not about them)."""
    return grievances.list_grievances(
        session, principal, status=status, assigned_to=assigned_to, limit=limit, offset=offset
    )


@router.post("/grievances", tags=["grievances"], status_code=201)
def lodge_grievance(
    body: GrievanceIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Take in a complaint or an appeal (office, phone, web, partner system...)."""
    return grievances.lodge(session, principal, body)


@router.get("/grievances/categories", tags=["grievances"])
def list_grievance_categories(
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> list[CategoryOut]:
    """The deployment's categories with their service standards and escalation paths."""
    return grievances.list_categories(session)


@router.put("/grievances/categories", tags=["grievances"])
def load_grievance_categories(
    body: list[CategoryIn],
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> list[CategoryOut]:
    """Create or update categories (national grant)."""
    _national(principal, "configuring categories")
    return grievances.load_categories(
        session, [c.model_dump() for c in body], actor=principal.username
    )


@router.get("/grievances/indicators", tags=["grievances"])
def get_grievance_indicators(
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> IndicatorsOut:
    """Resolution time, share within standard, repeats by area and programme, referrals."""
    return grievances.indicators(session, principal)


@router.post("/grievances/escalations", tags=["grievances"])
def escalate_grievances(
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> EscalationOut:
    """Escalate every grievance whose service standard is breached (national grant)."""
    _national(principal, "running escalation")
    return grievances.escalate_overdue(session)


@router.get("/grievances/{grievance_id}", tags=["grievances"])
def get_grievance(
    grievance_id: int,
    response: Response,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> GrievanceOut:
    """One grievance (404 when outside the caller's view; ``ETag``: its version)."""
    return tag(response, grievances.get_grievance(session, principal, grievance_id))


@router.get("/grievances/{grievance_id}/events", tags=["grievances"])
def list_grievance_events(
    grievance_id: int,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(READ)),
) -> list[EventOut]:
    """Every step of a grievance with actor and time."""
    return grievances.events_of(session, principal, grievance_id)


@router.post("/grievances/{grievance_id}/acknowledge", tags=["grievances"])
def acknowledge_grievance(
    grievance_id: int,
    body: StepIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Acknowledge receipt."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.acknowledge(session, principal, grievance_id, body.version, body.note),
    )


@router.post("/grievances/{grievance_id}/assign", tags=["grievances"])
def assign_grievance(
    grievance_id: int,
    body: AssignIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Assign an investigator."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.assign(session, principal, grievance_id, body.assignee, body.version, body.note),
    )


@router.post("/grievances/{grievance_id}/investigate", tags=["grievances"])
def investigate_grievance(
    grievance_id: int,
    body: StepIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Start the investigation."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.investigate(session, principal, grievance_id, body.version, body.note),
    )


@router.post("/grievances/{grievance_id}/resolve", tags=["grievances"])
def resolve_grievance(
    grievance_id: int,
    body: ResolveIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Resolve with what was done."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.resolve(session, principal, grievance_id, body.resolution, body.version),
    )


@router.post("/grievances/{grievance_id}/close", tags=["grievances"])
def close_grievance(
    grievance_id: int,
    body: StepIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Close a resolved grievance."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.close(session, principal, grievance_id, body.version, body.note),
    )


@router.post("/grievances/{grievance_id}/appeal", tags=["grievances"])
def appeal_grievance(
    grievance_id: int,
    body: StepIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> GrievanceOut:
    """Appeal the resolution (one level up the escalation path)."""
    body = with_version(body, expected)
    return tag(
        response,
        grievances.appeal(session, principal, grievance_id, body.version, body.note),
    )


@router.post("/grievances/{grievance_id}/actions/change-request", tags=["grievances"])
def grievance_change_request(
    grievance_id: int,
    body: ChangeRequestAction,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Resolution action: file a change request of the household."""
    return grievances.file_change_request(session, principal, grievance_id, body.kind, body.payload)


@router.post("/grievances/{grievance_id}/actions/reassess", tags=["grievances"])
def grievance_reassess(
    grievance_id: int,
    body: ReassessAction,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Resolution action: re-run the eligibility assessment."""
    return grievances.reassess(session, principal, grievance_id, body.programme_code)


@router.post("/grievances/{grievance_id}/actions/reissue-payment", tags=["grievances"])
def grievance_reissue_payment(
    grievance_id: int,
    body: ReissueAction,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Resolution action: re-issue a payment in the next cycle."""
    return grievances.reissue_payment(session, principal, grievance_id, body.entitlement_id)


@router.post("/grievances/{grievance_id}/actions/referral", tags=["grievances"])
def grievance_referral(
    grievance_id: int,
    body: ReferralIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Resolution action: refer the household to another agency."""
    return grievances.refer(session, principal, grievance_id, body)


# --- cases -----------------------------------------------------------------------------------


@router.get("/cases", tags=["cases"])
def list_cases(
    case_worker: str | None = None,
    status: str | None = "open",
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> list[CaseOut]:
    """The caseload in the caller's areas, by priority then overdue items."""
    return cases.caseload(session, principal, case_worker, status)


@router.post("/cases", tags=["cases"], status_code=201)
def open_case(
    body: CaseIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Open a case for a household or person."""
    return cases.open_case(session, principal, body)


@router.get("/cases/checklist", tags=["cases"])
def get_needs_checklist(principal: Principal = Depends(require(CASES))) -> dict[str, Any]:
    """The needs assessment checklist (items, maxima, weights, priority thresholds)."""
    return cases.checklist()


@router.get("/cases/{case_id}", tags=["cases"])
def get_case(
    case_id: int,
    response: Response,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """One case with its plan and notes (``ETag``: the case version)."""
    return tag(response, cases.get_case(session, principal, case_id))


@router.get("/cases/{case_id}/events", tags=["cases"])
def list_case_events(
    case_id: int,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> list[EventOut]:
    """Every step of a case."""
    return cases.events_of(session, principal, case_id)


@router.post("/cases/{case_id}/assessment", tags=["cases"])
def assess_case(
    case_id: int,
    body: AssessmentIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Score the needs checklist (``If-Match``: the case's ETag)."""
    return tag(response, cases.assess(session, principal, case_id, with_version(body, expected)))


@router.post("/cases/{case_id}/plan", tags=["cases"])
def add_case_plan_item(
    case_id: int,
    body: PlanItemIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Add a goal, service or referral to the plan."""
    return cases.add_plan_item(session, principal, case_id, body)


@router.patch("/cases/{case_id}/plan/{item_id}", tags=["cases"])
def update_case_plan_item(
    case_id: int,
    item_id: int,
    body: PlanItemUpdate,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Mark a plan item done or dropped.

    ``If-Match`` is the plan item's version as read (``plan[].version`` of the case),
    not the case's ETag; the answer is the case, whose items carry their new versions.
    """
    return cases.update_plan_item(
        session, principal, case_id, item_id, with_version(body, expected)
    )


@router.post("/cases/{case_id}/notes", tags=["cases"])
def add_case_note(
    case_id: int,
    body: NoteIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Record a visit or a note."""
    return cases.add_note(session, principal, case_id, body)


@router.post("/cases/{case_id}/review", tags=["cases"])
def review_case(
    case_id: int,
    body: CaseReviewIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Record a review and set the next review date (``If-Match``: the case's ETag)."""
    body = with_version(body, expected)
    return tag(
        response,
        cases.review(session, principal, case_id, body.version, body.next_review, body.note),
    )


@router.post("/cases/{case_id}/close", tags=["cases"])
def close_case(
    case_id: int,
    body: CaseCloseIn,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(CASES)),
) -> CaseOut:
    """Close a case with its reason (``If-Match``: the case's ETag)."""
    body = with_version(body, expected)
    return tag(response, cases.close_case(session, principal, case_id, body.version, body.reason))


# --- services and referrals ----------------------------------------------------------------


@router.get("/services", tags=["referrals"])
def list_services(
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> list[ServiceOut]:
    """The service catalogue with open referrals per service."""
    return referrals.list_services(session)


@router.post("/services", tags=["referrals"], status_code=201)
def create_service(
    body: ServiceIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ServiceOut:
    """Add a service to the catalogue (national grant)."""
    _national(principal, "defining services")
    return referrals.create_service(session, principal, body)


@router.get("/services/{service_code}", tags=["referrals"])
def get_service(
    service_code: str,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ServiceOut:
    """One service of the catalogue."""
    return referrals.get_service(session, service_code)


@router.get("/referrals", tags=["referrals"])
def list_referrals(
    status: str | None = None,
    case_id: int | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ReferralPage:
    """Referrals to the caller's agency, or sent within its areas."""
    items, total = referrals.list_referrals(
        session, principal, status=status, case_id=case_id, limit=limit, offset=offset
    )
    return ReferralPage(items=items, total=total)


@router.post("/referrals", tags=["referrals"], status_code=201)
def send_referral(
    body: ReferralIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ReferralOut:
    """Send a referral (only agreed fields travel; consent where required)."""
    return referrals.send_referral(session, principal, body)


@router.get("/referrals/worklist", tags=["referrals"])
def get_referral_worklist(
    programme: str | None = None,
    service: str | None = None,
    as_of: date | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> WorklistOut:
    """Suggested referrals in bulk (e.g. a programme's beneficiaries) as a worklist."""
    return referrals.worklist(
        session,
        principal,
        programme_code=programme,
        service_code=service,
        on=as_of,
        limit=limit,
        offset=offset,
    )


@router.get("/referrals/suggested/{household_id}", tags=["referrals"])
def suggest_referrals(
    household_id: int,
    as_of: date | None = None,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> list[SuggestionOut]:
    """Services a household is likely eligible for and not yet receiving, explained."""
    return referrals.suggest_for_household(session, principal, household_id, as_of)


@router.get("/referrals/{referral_id}", tags=["referrals"])
def get_referral(
    referral_id: int,
    response: Response,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ReferralOut:
    """One referral, to its sender or its receiving agency (``ETag``: its version)."""
    return tag(response, referrals.get_referral(session, principal, referral_id))


@router.get("/referrals/{referral_id}/events", tags=["referrals"])
def list_referral_events(
    referral_id: int,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> list[EventOut]:
    """Every step of a referral."""
    return referrals.events_of(session, principal, referral_id)


def _step(action: str) -> Any:
    def endpoint(
        referral_id: int,
        body: ReferralStepIn,
        response: Response,
        expected: IfMatch,
        session: Session = Depends(get_session),
        principal: Principal = Depends(require(REFERRALS)),
    ) -> ReferralOut:
        body = with_version(body, expected)
        done = referrals.step(
            session,
            principal,
            referral_id,
            action,
            body.version,
            reason=body.reason,
            outcome=body.outcome,
        )
        return tag(response, done)

    endpoint.__name__ = f"{action}_referral"
    endpoint.__doc__ = (
        f"The referral life-cycle: {action} "
        f"({'the receiving agency' if action in referrals.RECEIVER_STEPS else 'the sender'}; "
        "``If-Match``: the referral's ETag)."
    )
    return endpoint


for _action in ("receive", "accept", "decline", "serve", "close"):
    router.add_api_route(
        f"/referrals/{{referral_id}}/{_action}",
        _step(_action),
        methods=["POST"],
        tags=["referrals"],
        name=f"{_action}_referral",
        response_model=ReferralOut,
    )


@router.post("/referrals/{referral_id}/counter-referrals", tags=["referrals"], status_code=201)
def counter_referral(
    referral_id: int,
    body: CounterReferralIn,
    session: Session = Depends(get_session),
    principal: Principal = Depends(require(REFERRALS)),
) -> ReferralOut:
    """Refer back or onward from a received referral (only received fields travel)."""
    return referrals.counter_refer(session, principal, referral_id, body)
