"""Registry pages: search, household, history as of a date, change requests and the inbox.

Reads go through the registry service with the caller's area scope, are shaped
by the caller's field permissions (:class:`Disclosure`) and are written to the
audit trail exactly as the API does.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from solidarity.errors import SolidarityError, ValidationFailed
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.privacy import Disclosure
from solidarity.programs import service as programmes
from solidarity.registry import changes, service
from solidarity.registry.fields import HOUSEHOLD_FIELDS, PERSON_FIELDS, FieldSpec, codelists
from solidarity.registry.schemas import (
    CHANGE_KINDS,
    ChangeRequestOut,
    HouseholdOut,
    RegistrySearch,
)
from solidarity.web.deps import get_keys, get_session, require
from solidarity.web.pages.common import field_errors, form_fields, is_htmx, locale_of, render

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
Reader = Annotated[Principal, Depends(require("registry.read"))]
Writer = Annotated[Principal, Depends(require("registry.write"))]
Approver = Annotated[Principal, Depends(require("change_request.approve"))]
HouseholdId = Annotated[int, Path(ge=1)]
Form = Annotated[dict[str, str], Depends(form_fields)]
PAGE_SIZE = 20
#: Kinds the page form offers; the others (split, merge, move...) go through the API.
FORM_KINDS = ("update_fields", "add_member", "remove_member")
#: Household fields an officer edits on the form (area changes need a move request).
EDITABLE_HOUSEHOLD = tuple(f for f in HOUSEHOLD_FIELDS if f.name != "area_code")
#: Fields asked for a new member.
NEW_MEMBER_FIELDS = tuple(
    f
    for f in PERSON_FIELDS
    if f.required or f.name in {"other_names", "marital_status", "education_level", "phone"}
)


def _areas_in_scope(session: Session, principal: Principal) -> list[Any]:
    return [a for a in service.list_areas(session) if principal.covers_path(a.path)]


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


@router.get("/registry", response_class=HTMLResponse)
def registry_search(
    request: Request,
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    name: str | None = None,
    id_value: str | None = None,
    area: str | None = None,
    sex: str | None = None,
    min_age: str | None = None,
    max_age: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Search households by name, identifier, area, age and sex, a page at a time."""
    search = RegistrySearch(
        name=name or None,
        id_value=id_value or None,
        area=area or None,
        sex=sex or None,
        min_age=_int(min_age),
        max_age=_int(max_age),
        page=page,
        page_size=PAGE_SIZE,
    )
    found = service.search_households(session, search, reader.area_paths)
    audit.record_for(
        session,
        reader,
        "household.search",
        "household",
        details={"ids": [h.id for h in found.items], "total": found.total},
    )
    shown = Disclosure(reader, keys.pseudonym_key())
    items = [shown.summary(h) for h in found.items]
    pages = max(1, -(-found.total // PAGE_SIZE))
    criteria = {
        k: v
        for k, v in {
            "name": name,
            "id_value": id_value,
            "area": area,
            "sex": sex,
            "min_age": min_age,
            "max_age": max_age,
        }.items()
        if v
    }
    context: dict[str, Any] = {
        "items": items,
        "total": found.total,
        "page": page,
        "pages": pages,
        "criteria": criteria,
    }
    if is_htmx(request) and request.headers.get("hx-target") == "results":
        return render(request, "registry/_results.html", reader, **context)
    return render(
        request,
        "registry/search.html",
        reader,
        areas=_areas_in_scope(session, reader),
        sexes=codelists().get("sex", []),
        **context,
    )


def _read_household(
    session: Session, reader: Principal, keys: KeyStore, household_id: int, as_of: str | None
) -> HouseholdOut:
    household = service.get_household(session, household_id, as_of, reader.area_paths)
    audit.record_for(
        session,
        reader,
        "household.read",
        "household",
        household_id,
        details={"as_of": as_of, "persons": [m.id for m in household.members]},
    )
    return Disclosure(reader, keys.pseudonym_key()).household(household)


@router.get("/registry/households/{household_id}", response_class=HTMLResponse)
def household_page(
    request: Request,
    session: SessionDep,
    reader: Reader,
    keys: KeysDep,
    household_id: HouseholdId,
    as_of: str | None = None,
) -> HTMLResponse:
    """A household with members, identifiers, dwelling, programmes and history."""
    as_of = as_of or None
    household = _read_household(session, reader, keys, household_id, as_of)
    timeline = service.household_timeline(session, household_id, reader.area_paths)
    audit.record_for(session, reader, "household.history_read", "household", household_id)
    timeline = Disclosure(reader, keys.pseudonym_key()).timeline(timeline)
    requests = changes.list_change_requests(
        session, household_id=household_id, page_size=20, scope=reader.area_paths
    )
    enrolments = (
        programmes.household_enrolments(session, household_id)
        if reader.has("programs.read")
        else None
    )
    return render(
        request,
        "registry/household.html",
        reader,
        household=household,
        dwelling=[(f, getattr(household, f.name, None)) for f in EDITABLE_HOUSEHOLD],
        history=_history(timeline.versions),
        requests=requests.items,
        enrolments=enrolments,
        as_of=as_of,
        today=date.today().isoformat(),
        can_write=reader.has("registry.write"),
    )


def _history(versions: list[Any]) -> list[dict[str, Any]]:
    """Versions newest first, each with the fields it changed from the one before."""
    out = []
    previous: dict[str, Any] | None = None
    for version in versions:
        fields = {**version.fields, "area_code": version.area_code, "status": version.status}
        changed = []
        if previous is not None:
            changed = [
                (name, previous.get(name), value)
                for name, value in sorted(fields.items())
                if previous.get(name) != value
            ]
        out.append({**version.model_dump(), "changes": changed})
        previous = fields
    return list(reversed(out))


# --- change requests -------------------------------------------------------------------


def _form_value(value: Any) -> str:
    """A stored value as the form shows it (so that unchanged inputs are recognised)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _form_context(
    household: HouseholdOut, kind: str, values: dict[str, str] | None = None
) -> dict[str, Any]:
    current = {
        f"household.{f.name}": _form_value(getattr(household, f.name, None))
        for f in EDITABLE_HOUSEHOLD
    }
    return {
        "household": household,
        "kind": kind,
        "kinds": FORM_KINDS,
        "household_fields": EDITABLE_HOUSEHOLD,
        "member_fields": NEW_MEMBER_FIELDS,
        "lists": codelists(),
        "values": {**current, **(values or {})},
        "errors": {},
        "problem": None,
        "created": None,
    }


@router.get("/registry/households/{household_id}/change", response_class=HTMLResponse)
def change_request_form(
    request: Request,
    session: SessionDep,
    writer: Writer,
    keys: KeysDep,
    household_id: HouseholdId,
    kind: str = "update_fields",
) -> HTMLResponse:
    """The form to file a change request about a household."""
    if kind not in FORM_KINDS:
        kind = "update_fields"
    household = _read_household(session, writer, keys, household_id, None)
    context = _form_context(household, kind)
    template = "registry/_change_form.html" if is_htmx(request) else "registry/change.html"
    return render(request, template, writer, **context)


def _payload(kind: str, form: dict[str, str], household: HouseholdOut) -> dict[str, Any]:
    if kind == "update_fields":
        changed: dict[str, Any] = {}
        for spec in EDITABLE_HOUSEHOLD:
            key = f"household.{spec.name}"
            if key not in form:
                continue
            raw = form[key].strip()
            if raw != _form_value(getattr(household, spec.name, None)):
                changed[spec.name] = raw or None
        return {"household": changed, "base_version": household.version}
    if kind == "add_member":
        person = {
            spec.name: form.get(f"person.{spec.name}", "").strip() or None
            for spec in NEW_MEMBER_FIELDS
            if form.get(f"person.{spec.name}", "").strip() or spec.required
        }
        payload: dict[str, Any] = {"person": person, "base_version": household.version}
        id_type = form.get("identifiers[0].id_type", "").strip()
        id_value = form.get("identifiers[0].value", "").strip()
        if id_type or id_value:
            payload["identifiers"] = [{"id_type": id_type or None, "value": id_value or None}]
        return payload
    payload = {
        "person_id": _int(form.get("person_id")) or form.get("person_id") or None,
        "removal_reason": form.get("removal_reason") or None,
        "base_version": household.version,
    }
    new_head = _int(form.get("new_head_person_id"))
    if new_head is not None:
        payload["new_head_person_id"] = new_head
    return payload


@router.post("/registry/households/{household_id}/change-requests", response_class=HTMLResponse)
def file_change_request(
    request: Request,
    session: SessionDep,
    writer: Writer,
    keys: KeysDep,
    household_id: HouseholdId,
    form: Form,
) -> HTMLResponse:
    """File the form's change request; errors come back beside their fields."""
    kind = form.get("kind", "update_fields")
    if kind not in CHANGE_KINDS:
        kind = "update_fields"
    household = _read_household(session, writer, keys, household_id, None)
    context = _form_context(household, kind, form)
    payload = _payload(kind, form, household)
    if kind == "update_fields" and not payload["household"]:
        context["problem"] = locale_of(request).gettext("Nothing was changed.")
        return render(request, "registry/_change_form.html", writer, status_code=422, **context)
    try:
        created = changes.create_change_request(
            session,
            kind=kind,
            household_id=household_id,
            payload=payload,
            actor=writer.username,
            reason=form.get("reason") or None,
        )
    except ValidationFailed as exc:
        context["errors"] = field_errors(exc.errors)
        context["problem"] = exc.detail
        return render(request, "registry/_change_form.html", writer, status_code=422, **context)
    except SolidarityError as exc:
        context["problem"] = exc.detail
        return render(
            request, "registry/_change_form.html", writer, status_code=exc.status_code, **context
        )
    audit.record_for(
        session,
        writer,
        "change_request.created",
        "change_request",
        created.id,
        {"kind": kind, "household_id": household_id},
    )
    context["created"] = ChangeRequestOut.model_validate(created)
    return render(request, "registry/_change_form.html", writer, status_code=201, **context)


@router.get("/registry/change-requests", response_class=HTMLResponse)
def change_requests_page(
    request: Request,
    session: SessionDep,
    reader: Reader,
    status: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Change requests of the caller's areas; approvers see the submitted ones first."""
    if status is None:
        status = "submitted" if reader.has("change_request.approve") else ""
    found = changes.list_change_requests(
        session, status=status or None, page=page, page_size=PAGE_SIZE, scope=reader.area_paths
    )
    return render(
        request,
        "registry/change_requests.html",
        reader,
        items=found.items,
        total=found.total,
        page=page,
        pages=max(1, -(-found.total // PAGE_SIZE)),
        status=status,
        statuses=("submitted", "applied", "rejected"),
    )


def _decision_context(reader: Principal, item: ChangeRequestOut) -> dict[str, Any]:
    return {
        "item": item,
        "show_payload": not reader.pseudonymised,
        "can_decide": reader.has("change_request.approve")
        and item.status == "submitted"
        and item.requested_by != reader.username,
        "own": item.requested_by == reader.username,
        "problem": None,
        "errors": {},
    }


@router.get("/registry/change-requests/{change_request_id}", response_class=HTMLResponse)
def change_request_page(
    request: Request,
    session: SessionDep,
    reader: Reader,
    change_request_id: Annotated[int, Path(ge=1)],
) -> HTMLResponse:
    """One change request: what it changes, its status, and the decision for approvers."""
    found = changes.get_change_request(session, change_request_id, reader.area_paths)
    item = ChangeRequestOut.model_validate(found)
    return render(
        request, "registry/change_request.html", reader, **_decision_context(reader, item)
    )


def _decide(
    request: Request,
    session: Session,
    approver: Principal,
    change_request_id: int,
    form: dict[str, str],
    approve: bool,
) -> HTMLResponse:
    reason = form.get("reason", "").strip() or None
    changes.get_change_request(session, change_request_id, approver.area_paths)
    try:
        if approve:
            decided = changes.approve_change_request(
                session, change_request_id, actor=approver.username, reason=reason
            )
        else:
            decided = changes.reject_change_request(
                session, change_request_id, actor=approver.username, reason=reason or ""
            )
    except SolidarityError as exc:
        session.rollback()
        item = ChangeRequestOut.model_validate(
            changes.get_change_request(session, change_request_id, approver.area_paths)
        )
        context = _decision_context(approver, item)
        context["problem"] = exc.detail
        if isinstance(exc, ValidationFailed):
            context["errors"] = field_errors(exc.errors)
        return render(
            request, "registry/_decision.html", approver, status_code=exc.status_code, **context
        )
    audit.record_for(
        session,
        approver,
        "change_request.approved" if approve else "change_request.rejected",
        "change_request",
        change_request_id,
        {"household_id": decided.household_id, "result": decided.result} if approve else None,
    )
    item = ChangeRequestOut.model_validate(decided)
    return render(request, "registry/_decision.html", approver, **_decision_context(approver, item))


@router.post("/registry/change-requests/{change_request_id}/approve", response_class=HTMLResponse)
def approve_change_request(
    request: Request,
    session: SessionDep,
    approver: Approver,
    change_request_id: Annotated[int, Path(ge=1)],
    form: Form,
) -> HTMLResponse:
    """Approve and apply a change request (not one's own: maker-checker)."""
    return _decide(request, session, approver, change_request_id, form, approve=True)


@router.post("/registry/change-requests/{change_request_id}/reject", response_class=HTMLResponse)
def reject_change_request(
    request: Request,
    session: SessionDep,
    approver: Approver,
    change_request_id: Annotated[int, Path(ge=1)],
    form: Form,
) -> HTMLResponse:
    """Reject a change request with a reason."""
    return _decide(request, session, approver, change_request_id, form, approve=False)


def field_input_type(spec: FieldSpec) -> str:
    """The HTML input type of a catalogue field."""
    return {"integer": "number", "number": "number", "date": "date"}.get(spec.type, "text")
