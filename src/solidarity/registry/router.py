"""REST routes of the registry under /api/v1: areas, households, persons, change requests.

Routes are thin: they parse the request, call the registry service and shape the
response. Typed errors become RFC 9457 problem details in the app's handler.
Each route declares its permission; reads are limited to the caller's areas
(records outside answer 404 and are never counted), personal fields are shown
according to the caller's field permissions, and every read of personal data is
written to the audit trail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlalchemy.orm import Session

from solidarity.errors import ValidationFailed
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.privacy import Disclosure
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
from solidarity.web.concurrency import IfMatch, tag
from solidarity.web.deps import get_keys, get_session, require

router = APIRouter(prefix="/api/v1", tags=["registry"])

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
Reader = Annotated[Principal, Depends(require("registry.read"))]
Writer = Annotated[Principal, Depends(require("registry.write"))]
Approver = Annotated[Principal, Depends(require("change_request.approve"))]
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
    _reader: Reader,
    parent: Annotated[str | None, Query(description="Only children of this area code")] = None,
    level: Annotated[int | None, Query(ge=0, description="Only areas of this level")] = None,
) -> list[AreaOut]:
    """List administrative areas ordered by path."""
    return service.list_areas(session, parent=parent, level=level)


@router.get("/areas/{code}", response_model=AreaOut, tags=["areas"], responses=PROBLEMS)
def get_area(session: SessionDep, _reader: Reader, code: str) -> AreaOut:
    """Read one administrative area by its code."""
    return service.get_area(session, code)


@router.get("/households", response_model=Page[HouseholdSummary], responses=PROBLEMS)
def list_households(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    search: Annotated[RegistrySearch, Query()],
) -> Page[HouseholdSummary]:
    """Search households by area (with descendants), member identifier, name, age, sex, status.

    Person criteria match households with an active member meeting them all.
    """
    page = service.search_households(session, search, reader.area_paths)
    audit.record_for(
        session,
        reader,
        "household.search",
        "household",
        details={"ids": [h.id for h in page.items], "total": page.total},
    )
    shown = Disclosure(reader, keys.pseudonym_key())
    return page.model_copy(update={"items": [shown.summary(h) for h in page.items]})


@router.get("/households/{household_id}", response_model=HouseholdOut, responses=PROBLEMS)
def get_household(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    response: Response,
    household_id: Annotated[int, Path(ge=1)],
    as_of: AsOf = None,
) -> HouseholdOut:
    """Read a household with its active members and identifiers, now or as of a moment.

    The ``ETag`` header carries the household version; send it as ``If-Match`` when
    filing a change request, which is refused (412) if the household changed meanwhile.
    """
    household = service.get_household(session, household_id, as_of, reader.area_paths)
    audit.record_for(
        session,
        reader,
        "household.read",
        "household",
        household_id,
        details={"as_of": as_of, "persons": [m.id for m in household.members]},
    )
    tag(response, household)
    return Disclosure(reader, keys.pseudonym_key()).household(household)


@router.get(
    "/households/{household_id}/history", response_model=HouseholdTimeline, responses=PROBLEMS
)
def get_household_history(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    household_id: Annotated[int, Path(ge=1)],
) -> HouseholdTimeline:
    """List every version of a household, oldest first, with the change request behind it."""
    timeline = service.household_timeline(session, household_id, reader.area_paths)
    audit.record_for(session, reader, "household.history_read", "household", household_id)
    return Disclosure(reader, keys.pseudonym_key()).timeline(timeline)


@router.get("/persons", response_model=Page[PersonOut], responses=PROBLEMS)
def list_persons(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    search: Annotated[RegistrySearch, Query()],
) -> Page[PersonOut]:
    """Search persons by area (with descendants), identifier, name, age, sex, status."""
    page = service.search_persons(session, search, reader.area_paths)
    audit.record_for(
        session,
        reader,
        "person.search",
        "person",
        details={"ids": [p.id for p in page.items], "total": page.total},
    )
    shown = Disclosure(reader, keys.pseudonym_key())
    return page.model_copy(update={"items": [shown.person(p) for p in page.items]})


@router.get("/persons/{person_id}", response_model=PersonOut, responses=PROBLEMS)
def get_person(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    response: Response,
    person_id: Annotated[int, Path(ge=1)],
    as_of: AsOf = None,
) -> PersonOut:
    """Read a person with the identifiers valid now or as of a moment (``ETag``: its version)."""
    person = service.get_person(session, person_id, as_of, reader.area_paths)
    audit.record_for(session, reader, "person.read", "person", person_id, {"as_of": as_of})
    tag(response, person)
    return Disclosure(reader, keys.pseudonym_key()).person(person)


@router.get("/change-requests", response_model=Page[ChangeRequestOut], tags=["change requests"])
def list_change_requests(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    status_: Annotated[ChangeStatus | None, Query(alias="status")] = None,
    household_id: Annotated[int | None, Query(alias="household")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1)] = 50,
) -> Page[ChangeRequestOut]:
    """List change requests, newest first, optionally of one status or household."""
    found = changes.list_change_requests(
        session,
        status=status_,
        household_id=household_id,
        page=page,
        page_size=page_size,
        scope=reader.area_paths,
    )
    shown = Disclosure(reader, keys.pseudonym_key())
    return found.model_copy(update={"items": [shown.change_request(r) for r in found.items]})


@router.post(
    "/change-requests",
    response_model=ChangeRequestOut,
    status_code=status.HTTP_201_CREATED,
    tags=["change requests"],
    responses={
        **PROBLEMS,
        409: {"description": "The household is not active"},
    },
)
def create_change_request(
    session: SessionDep,
    writer: Writer,
    keys: KeysDep,
    body: ChangeRequestIn,
    response: Response,
    household_version: IfMatch,
) -> ChangeRequestOut:
    """File a change request; it is validated now and refused with the errors if invalid.

    ``If-Match`` carries the household's ETag as read: the request is refused (412)
    if the household changed since, and it is applied only if it still has not
    changed when approved. The household (and a merged one) must lie in the
    caller's areas, and a move or split may only go to an area of the caller's.
    The answer's ``ETag`` is the change request's own version.
    """
    payload = dict(body.payload)
    stated = payload.get("base_version", household_version)
    if stated != household_version:
        raise ValidationFailed(
            f"payload.base_version {stated!r} and If-Match {household_version} disagree: "
            "send the household's ETag as If-Match only",
            [{"field": "payload.base_version", "message": "disagrees with If-Match"}],
        )
    payload["base_version"] = household_version
    scope = writer.area_paths
    service.require_household_in_scope(session, body.household_id, scope)
    absorbed = body.payload.get("absorbed_household_id")
    if isinstance(absorbed, int) and not isinstance(absorbed, bool):
        service.require_household_in_scope(session, absorbed, scope)
    service.require_area_in_scope(session, body.payload.get("area_code"), scope)
    request = changes.create_change_request(
        session,
        kind=body.kind,
        household_id=body.household_id,
        payload=payload,
        actor=writer.username,
        reason=body.reason,
    )
    audit.record_for(
        session,
        writer,
        "change_request.created",
        "change_request",
        request.id,
        {"kind": body.kind, "household_id": body.household_id},
    )
    shown = Disclosure(writer, keys.pseudonym_key())
    return shown.change_request(tag(response, ChangeRequestOut.model_validate(request)))


@router.get(
    "/change-requests/{change_request_id}",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=PROBLEMS,
)
def get_change_request(
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    response: Response,
    change_request_id: Annotated[int, Path(ge=1)],
) -> ChangeRequestOut:
    """Read a change request with its validation, decision and result (``ETag``: its version)."""
    request = changes.get_change_request(session, change_request_id, reader.area_paths)
    shown = Disclosure(reader, keys.pseudonym_key())
    return shown.change_request(tag(response, ChangeRequestOut.model_validate(request)))


DECISION_PROBLEMS: dict[int | str, dict[str, str]] = {
    **PROBLEMS,
    403: {"description": "The requester cannot decide their own request (maker-checker)"},
    409: {"description": "The request is not submitted, or applying it would break a rule"},
}


@router.post(
    "/change-requests/{change_request_id}/approve",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=DECISION_PROBLEMS,
)
def approve_change_request(
    session: SessionDep,
    approver: Approver,
    keys: KeysDep,
    response: Response,
    expected: IfMatch,
    change_request_id: Annotated[int, Path(ge=1)],
    body: DecisionIn | None = None,
) -> ChangeRequestOut:
    """Approve a submitted change request and apply it at once.

    ``If-Match`` is the change request's ETag; 412 also when the household changed
    since the request was filed (two requests prepared against one version cannot
    both apply).
    """
    changes.get_change_request(session, change_request_id, approver.area_paths)
    request = changes.approve_change_request(
        session,
        change_request_id,
        actor=approver.username,
        reason=body.reason if body else None,
        expected_version=expected,
    )
    audit.record_for(
        session,
        approver,
        "change_request.approved",
        "change_request",
        change_request_id,
        {"household_id": request.household_id, "result": request.result},
    )
    shown = Disclosure(approver, keys.pseudonym_key())
    return shown.change_request(tag(response, ChangeRequestOut.model_validate(request)))


@router.post(
    "/change-requests/{change_request_id}/reject",
    response_model=ChangeRequestOut,
    tags=["change requests"],
    responses=DECISION_PROBLEMS,
)
def reject_change_request(
    session: SessionDep,
    approver: Approver,
    keys: KeysDep,
    response: Response,
    expected: IfMatch,
    change_request_id: Annotated[int, Path(ge=1)],
    body: DecisionIn,
) -> ChangeRequestOut:
    """Reject a submitted change request; a reason is required (``If-Match``: its ETag)."""
    changes.get_change_request(session, change_request_id, approver.area_paths)
    request = changes.reject_change_request(
        session,
        change_request_id,
        actor=approver.username,
        reason=body.reason or "",
        expected_version=expected,
    )
    audit.record_for(
        session, approver, "change_request.rejected", "change_request", change_request_id
    )
    shown = Disclosure(approver, keys.pseudonym_key())
    return shown.change_request(tag(response, ChangeRequestOut.model_validate(request)))
