"""Registry pages: search, household, history as of a date, change requests and the inbox.

Reads go through the registry service with the caller's area scope, are shaped
by the caller's field permissions (:class:`Disclosure`) and are written to the
audit trail exactly as the API does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from solidarity.errors import (
    NotFoundError,
    SolidarityError,
    StaleVersionError,
    ValidationFailed,
)
from solidarity.governance import audit
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.privacy import Disclosure
from solidarity.grievances import service as redress
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
from solidarity.web.pages.messages import translate, translate_errors

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
Reader = Annotated[Principal, Depends(require("registry.read"))]
Writer = Annotated[Principal, Depends(require("registry.write"))]
Approver = Annotated[Principal, Depends(require("change_request.approve"))]
HouseholdId = Annotated[int, Path(ge=1)]
Form = Annotated[dict[str, str], Depends(form_fields)]
PAGE_SIZE = 20
#: Every kind of change request has a form.
FORM_KINDS = CHANGE_KINDS
#: Household fields an officer edits on the form (area changes need a move request).
EDITABLE_HOUSEHOLD = tuple(f for f in HOUSEHOLD_FIELDS if f.name != "area_code")
#: Fields asked for a new member.
NEW_MEMBER_FIELDS = tuple(
    f
    for f in PERSON_FIELDS
    if f.required or f.name in {"other_names", "marital_status", "education_level", "phone"}
)
#: Fields of a member an officer may correct (the relationship changes by change_head);
#: none is required on that form, where a blank input means "keep".
CORRECTION_FIELDS = tuple(
    replace(f, required=False) for f in NEW_MEMBER_FIELDS if f.name != "relationship"
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
        "total_exact": found.total_exact,
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
    """A household: members, identifiers, dwelling, programmes, payments, grievances, history."""
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
    payments = (
        programmes.household_payments(session, household_id)
        if reader.has("programs.read")
        else None
    )
    # The grievances service applies the visibility rules (areas, sensitive categories,
    # grievances about the reader); the page shows only what it returns.
    grievances = (
        redress.list_grievances(session, reader, household_id=household_id, limit=20)
        if reader.has("grievances.read")
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
        payments=payments,
        grievances=grievances,
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


def _household_values(household: HouseholdOut) -> dict[str, str]:
    """The editable household fields of ``household`` as the form shows them."""
    return {
        f"household.{f.name}": _form_value(getattr(household, f.name, None))
        for f in EDITABLE_HOUSEHOLD
    }


def _move_areas(session: Session, principal: Principal, household: HouseholdOut) -> list[Any]:
    """Areas of the caller's a household may move to (any but its own, as in the API)."""
    return [a for a in _areas_in_scope(session, principal) if a.code != household.area_code]


def _form_context(
    session: Session,
    principal: Principal,
    household: HouseholdOut,
    kind: str,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "household": household,
        "kind": kind,
        "kinds": FORM_KINDS,
        "household_fields": EDITABLE_HOUSEHOLD,
        "member_fields": NEW_MEMBER_FIELDS,
        "correction_fields": CORRECTION_FIELDS,
        "lists": codelists(),
        "areas": _move_areas(session, principal, household),
        # Only an update starts from the household's values; a split's new address starts blank.
        "values": {
            **(_household_values(household) if kind == "update_fields" else {}),
            **(values or {}),
        },
        "base_version": household.version,
        "errors": {},
        "problem": None,
        "conflict": None,
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
    """The form to file a change request about a household, for each kind of change."""
    if kind not in FORM_KINDS:
        kind = "update_fields"
    household = _read_household(session, writer, keys, household_id, None)
    context = _form_context(session, writer, household, kind)
    template = "registry/_change_form.html" if is_htmx(request) else "registry/change.html"
    return render(request, template, writer, **context)


def _text(form: dict[str, str], key: str) -> str | None:
    return form.get(key, "").strip() or None


def _number_or_text(form: dict[str, str], key: str) -> int | str | None:
    """A whole number when the field holds one, else the text (the service names the error)."""
    raw = _text(form, key)
    return int(raw) if raw is not None and raw.isdigit() else raw


def _payload(kind: str, form: dict[str, str], opened: dict[str, str]) -> dict[str, Any]:
    """The API payload of the form of ``kind``, without ``base_version``.

    ``opened`` holds the household fields as they were when the form was opened:
    an update carries only the fields the officer changed from those, so that
    re-applying it on a newer version never undoes somebody else's change.
    """
    if kind == "update_fields":
        changed: dict[str, Any] = {}
        for spec in EDITABLE_HOUSEHOLD:
            key = f"household.{spec.name}"
            if key in form and form[key].strip() != opened.get(key, ""):
                changed[spec.name] = form[key].strip() or None
        payload: dict[str, Any] = {"household": changed} if changed else {}
        person = {
            spec.name: form[f"person.{spec.name}"].strip()
            for spec in CORRECTION_FIELDS
            if form.get(f"person.{spec.name}", "").strip()
        }
        if person or _text(form, "person_id"):
            payload["person_id"] = _number_or_text(form, "person_id")
            payload["person"] = person
        return payload
    if kind == "add_member":
        member = {
            spec.name: _text(form, f"person.{spec.name}")
            for spec in NEW_MEMBER_FIELDS
            if _text(form, f"person.{spec.name}") or spec.required
        }
        payload = {"person": member}
        id_type, id_value = (
            _text(form, "identifiers[0].id_type"),
            _text(form, "identifiers[0].value"),
        )
        if id_type or id_value:
            payload["identifiers"] = [{"id_type": id_type, "value": id_value}]
        return payload
    if kind == "remove_member":
        payload = {
            "person_id": _number_or_text(form, "person_id"),
            "removal_reason": _text(form, "removal_reason"),
        }
        if _text(form, "new_head_person_id"):
            payload["new_head_person_id"] = _number_or_text(form, "new_head_person_id")
        return payload
    if kind == "change_head":
        payload = {"person_id": _number_or_text(form, "person_id")}
        if _text(form, "previous_head_relationship"):  # else the service's default
            payload["previous_head_relationship"] = _text(form, "previous_head_relationship")
        return payload
    if kind == "move_household":
        return {"area_code": _text(form, "area_code")}
    if kind == "split_household":
        leaving = sorted(
            int(key.removeprefix("person_ids."))
            for key, value in form.items()
            if key.startswith("person_ids.") and key.removeprefix("person_ids.").isdigit() and value
        )
        payload = {"person_ids": leaving, "head_person_id": _number_or_text(form, "head_person_id")}
        if _text(form, "remaining_head_person_id"):
            payload["remaining_head_person_id"] = _number_or_text(form, "remaining_head_person_id")
        if _text(form, "area_code"):
            payload["area_code"] = _text(form, "area_code")
        if _text(form, "household.address"):
            payload["household"] = {"address": _text(form, "household.address")}
        return payload
    # merge_households
    payload = {"absorbed_household_id": _number_or_text(form, "absorbed_household_id")}
    if _text(form, "absorbed_head_relationship"):  # else the service's default
        payload["absorbed_head_relationship"] = _text(form, "absorbed_head_relationship")
    return payload


def _scope_errors(
    session: Session, principal: Principal, kind: str, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The API's scope checks as field errors: a merged household and a new area are ours."""
    errors: list[dict[str, Any]] = []
    absorbed = payload.get("absorbed_household_id")
    if kind == "merge_households" and isinstance(absorbed, int):
        try:
            service.require_household_in_scope(session, absorbed, principal.area_paths)
        except NotFoundError:
            errors.append(
                {
                    "field": "absorbed_household_id",
                    "value": absorbed,
                    "message": "no such household",
                }
            )
    area = payload.get("area_code")
    if kind in ("move_household", "split_household") and area:
        try:
            service.require_area_in_scope(session, area, principal.area_paths)
        except SolidarityError:
            errors.append({"field": "area_code", "value": area, "message": "unknown area code"})
    return errors


def _opened(
    session: Session, principal: Principal, keys: KeyStore, household_id: int, base: int
) -> HouseholdOut | None:
    """The household as it was at version ``base`` (``None`` if history does not have it)."""
    timeline = service.household_timeline(session, household_id, principal.area_paths)
    version = next((v for v in timeline.versions if v.version == base), None)
    if version is None or version.valid_to is None:
        return None
    before_end = version.valid_to - timedelta(microseconds=1)
    household = service.get_household(session, household_id, before_end, principal.area_paths)
    return Disclosure(principal, keys.pseudonym_key()).household(household)


def _member_label(member: Any) -> str:
    return f"#{member.id} {member.given_name} {member.family_name}"


def _differences(opened: HouseholdOut, now: HouseholdOut) -> list[tuple[str, str, str]]:
    """(what, value when opened, value now) for everything that changed between two versions."""
    rows: list[tuple[str, str, str]] = []
    for name in ("area_code", "status", *(f.name for f in EDITABLE_HOUSEHOLD)):
        before, after = getattr(opened, name, None), getattr(now, name, None)
        if before != after:
            rows.append((name, _form_value(before), _form_value(after)))
    then = {m.id: m for m in opened.members}
    current = {m.id: m for m in now.members}
    for person_id in sorted(then.keys() | current.keys()):
        old, new = then.get(person_id), current.get(person_id)
        if old is None or new is None:
            rows.append(
                ("members", _member_label(old) if old else "", _member_label(new) if new else "")
            )
            continue
        for name in ("given_name", "family_name", "sex", "birth_date", "relationship"):
            if getattr(old, name) != getattr(new, name):
                rows.append(
                    (
                        f"#{person_id} {name}",
                        _form_value(getattr(old, name)),
                        _form_value(getattr(new, name)),
                    )
                )
    return rows


@router.post("/registry/households/{household_id}/change-requests", response_class=HTMLResponse)
def file_change_request(
    request: Request,
    session: SessionDep,
    writer: Writer,
    keys: KeysDep,
    household_id: HouseholdId,
    form: Form,
) -> HTMLResponse:
    """File the form's change request; errors come back beside their fields.

    The form carries the household version it was opened on. When the household
    changed since, nothing is filed: the page lists what changed (value when
    opened, value now) and offers the same change again on the current version.
    """
    locale = locale_of(request)
    kind = form.get("kind", "update_fields")
    if kind not in FORM_KINDS:
        kind = "update_fields"
    household = _read_household(session, writer, keys, household_id, None)
    base = _int(form.get("base_version")) or household.version
    opened = household
    if base != household.version:
        opened = _opened(session, writer, keys, household_id, base) or household
    opened_values = _household_values(opened)
    payload = _payload(kind, form, opened_values)
    # What the officer changed, kept on top of the current values when the form comes back.
    edits = {k: v for k, v in form.items() if not k.startswith("household.")}
    edits.update(
        {f"household.{k}": _form_value(v) for k, v in payload.get("household", {}).items()}
    )
    context = _form_context(session, writer, household, kind, edits)
    if kind == "update_fields" and not payload:
        context["problem"] = locale.gettext("Nothing was changed.")
        return render(request, "registry/_change_form.html", writer, status_code=422, **context)
    try:
        scope_errors = _scope_errors(session, writer, kind, payload)
        if scope_errors:
            raise ValidationFailed(
                f"{kind} change to household {household_id} refused: {len(scope_errors)} error(s)",
                scope_errors,
            )
        created = changes.create_change_request(
            session,
            kind=kind,
            household_id=household_id,
            payload={**payload, "base_version": base},
            actor=writer.username,
            reason=form.get("reason") or None,
        )
    except StaleVersionError:
        context["conflict"] = {
            "opened_version": base,
            "current_version": household.version,
            "rows": _differences(opened, household),
            "overlap": sorted(
                k.removeprefix("household.")
                for k in payload.get("household", {})
                if getattr(opened, k, None) != getattr(household, k, None)
            ),
        }
        return render(request, "registry/_change_form.html", writer, status_code=409, **context)
    except ValidationFailed as exc:
        context["errors"] = field_errors(translate_errors(exc.errors, locale))
        context["problem"] = translate(exc.detail, locale)
        return render(request, "registry/_change_form.html", writer, status_code=422, **context)
    except SolidarityError as exc:
        context["problem"] = translate(exc.detail, locale)
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
        locale = locale_of(request)
        context["problem"] = translate(exc.detail, locale)
        if isinstance(exc, ValidationFailed):
            context["errors"] = field_errors(translate_errors(exc.errors, locale))
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
