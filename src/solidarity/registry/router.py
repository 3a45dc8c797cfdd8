"""REST routes of the registry under /api/v1: areas, households, persons, change requests.

Routes are thin: they parse the request, call the registry service and shape the
response. Typed errors become RFC 9457 problem details in the app's handler.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlalchemy.orm import Session

from solidarity.registry import changes, service
from solidarity.registry.schemas import (
    AreaOut,
    ChangeRequestIn,
    ChangeRequestOut,
    ChangeStatus,
    DecisionIn,
    HouseholdOut,
    HouseholdSummary,
    HouseholdTimeline,
    Page,
    PersonOut,
    RegistrySearch,
)
from solidarity.web.deps import get_actor, get_session

router = APIRouter(prefix="/api/v1", tags=["registry"])

SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]
AsOf = Annotated[
    str | None,
    Query(
        description="Date (end of that day, UTC) or ISO 8601 datetime; current state if absent",
        examples=["2025-01-31"],
    ),
]
PROBLEMS: dict[int | str, dict[str, str]] = {
    404: {"description": "Not found (problem details)"},
    422: {"description": "Validation failed (problem details with errors)"},
}


@router.get("/areas", response_model=list[AreaOut], tags=["areas"])
def list_areas(
    session: SessionDep,
    parent: Annotated[str | None, Query(description="Only children of this area code")] = None,
    level: Annotated[int | None, Query(ge=0, description="Only areas of this level")] = None,
) -> list[AreaOut]:
    """List administrative areas ordered by path."""
    return service.list_areas(session, parent=parent, level=level)


@router.get("/areas/{code}", response_model=AreaOut, tags=["areas"], responses=PROBLEMS)
def get_area(session: SessionDep, code: str) -> AreaOut:
    """Read one administrative area by its code."""
    return service.get_area(session, code)


@router.get("/households", response_model=Page[HouseholdSummary], responses=PROBLEMS)
def list_households(
    session: SessionDep, search: Annotated[RegistrySearch, Query()]
) -> Page[HouseholdSummary]:
    """Search households by area (with descendants), member identifier, name, age, sex, status.

    Person criteria match households with an active member meeting them all.
    """
    return service.search_households(session, search)


@router.get("/households/{household_id}", response_model=HouseholdOut, responses=PROBLEMS)
def get_household(
    session: SessionDep,
    response: Response,
    household_id: Annotated[int, Path(ge=1)],
    as_of: AsOf = None,
) -> HouseholdOut:
    """Read a household with its active members and identifiers, now or as of a moment.

    The ``ETag`` header carries the household version; pass it as ``payload.base_version``
    of a change request to have the request refused if the household changed meanwhile.
    """
    household = service.get_household(session, household_id, as_of)
    response.headers["ETag"] = f'"{household.version}"'
    return household


@router.get(
    "/households/{household_id}/history", response_model=HouseholdTimeline, responses=PROBLEMS
)
def get_household_history(
    session: SessionDep, household_id: Annotated[int, Path(ge=1)]
) -> HouseholdTimeline:
    """List every version of a household, oldest first, with the change request behind it."""
    return service.household_timeline(session, household_id)


@router.get("/persons", response_model=Page[PersonOut], responses=PROBLEMS)
def list_persons(
    session: SessionDep, search: Annotated[RegistrySearch, Query()]
) -> Page[PersonOut]:
    """Search persons by area (with descendants), identifier, name, age, sex, status."""
    return service.search_persons(session, search)


@router.get("/persons/{person_id}", response_model=PersonOut, responses=PROBLEMS)
def get_person(
    session: SessionDep, person_id: Annotated[int, Path(ge=1)], as_of: AsOf = None
) -> PersonOut:
    """Read a person with the identifiers valid now or as of a moment."""
    return service.get_person(session, person_id, as_of)


@router.get("/change-requests", response_model=Page[ChangeRequestOut], tags=["change requests"])
def list_change_requests(
    session: SessionDep,
    status_: Annotated[ChangeStatus | None, Query(alias="status")] = None,
    household_id: Annotated[int | None, Query(alias="household")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1)] = 50,
) -> Page[ChangeRequestOut]:
    """List change requests, newest first, optionally of one status or household."""
    return changes.list_change_requests(
        session, status=status_, household_id=household_id, page=page, page_size=page_size
    )


@router.post(
    "/change-requests",
    response_model=ChangeRequestOut,
    status_code=status.HTTP_201_CREATED,
    tags=["change requests"],
    responses={
        **PROBLEMS,
        409: {"description": "The household is not active"},
        412: {"description": "payload.base_version is not the current household version"},
    },
)
def create_change_request(
    session: SessionDep, actor: ActorDep, body: ChangeRequestIn
) -> ChangeRequestOut:
    """File a change request; it is validated now and refused with the errors if invalid."""
    request = changes.create_change_request(
        session,
        kind=body.kind,
        household_id=body.household_id,
        payload=body.payload,
        actor=actor,
        reason=body.reason,
    )
    return ChangeRequestOut.model_validate(request)


@router.get(
    "/change-requests/{change_request_id}",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=PROBLEMS,
)
def get_change_request(
    session: SessionDep, change_request_id: Annotated[int, Path(ge=1)]
) -> ChangeRequestOut:
    """Read a change request with its validation, decision and result."""
    return ChangeRequestOut.model_validate(changes.get_change_request(session, change_request_id))


DECISION_PROBLEMS: dict[int | str, dict[str, str]] = {
    **PROBLEMS,
    403: {"description": "The requester cannot decide their own request (maker-checker)"},
    409: {"description": "The request is not submitted, or applying it would break a rule"},
    412: {"description": "The household changed since the request was validated"},
}


@router.post(
    "/change-requests/{change_request_id}/approve",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=DECISION_PROBLEMS,
)
def approve_change_request(
    session: SessionDep,
    actor: ActorDep,
    change_request_id: Annotated[int, Path(ge=1)],
    body: DecisionIn | None = None,
) -> ChangeRequestOut:
    """Approve a submitted change request and apply it at once."""
    request = changes.approve_change_request(
        session, change_request_id, actor=actor, reason=body.reason if body else None
    )
    return ChangeRequestOut.model_validate(request)


@router.post(
    "/change-requests/{change_request_id}/reject",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=DECISION_PROBLEMS,
)
def reject_change_request(
    session: SessionDep,
    actor: ActorDep,
    change_request_id: Annotated[int, Path(ge=1)],
    body: DecisionIn,
) -> ChangeRequestOut:
    """Reject a submitted change request; a reason is required."""
    request = changes.reject_change_request(
        session, change_request_id, actor=actor, reason=body.reason or ""
    )
    return ChangeRequestOut.model_validate(request)
