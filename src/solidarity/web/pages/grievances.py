"""Grievance pages: intake form, the inbox with service-standard timers, the grievance
with the workflow steps allowed from its status and the resolution actions.

Every page calls the grievances service with the principal narrowed to the page's
permission, so visibility is exactly the API's: a grievance outside the reader's
areas, of a sensitive category the reader is not designated for, or about the
reader is "not found"; withheld identities stay withheld.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.db.base import utcnow
from solidarity.errors import NotFoundError, PermissionDenied, SolidarityError, ValidationFailed
from solidarity.governance.principal import Principal
from solidarity.grievances import referrals
from solidarity.grievances import service as grievances
from solidarity.grievances.schemas import Channel, GrievanceIn, GrievanceOut, ReferralIn
from solidarity.programs import service as programmes
from solidarity.registry import service as registry
from solidarity.registry.fields import HOUSEHOLD_FIELDS
from solidarity.web.deps import get_session, require
from solidarity.web.i18n import Locale
from solidarity.web.pages.common import field_errors, form_fields, locale_of, redirect, render

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(get_session)]
Reader = Annotated[Principal, Depends(require("grievances.read"))]
Handler = Annotated[Principal, Depends(require("grievances.manage"))]
Form = Annotated[dict[str, str], Depends(form_fields)]
GrievanceId = Annotated[int, Path(ge=1)]

CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
STEPS = ("acknowledge", "assign", "investigate", "resolve", "close", "appeal")
ACTIONS = ("reassess", "reissue", "refer", "change")
#: Household fields a grievance's change request may correct from the page.
CORRECTABLE = tuple(f.name for f in HOUSEHOLD_FIELDS if f.name != "area_code")


def time_left(locale: Locale, seconds: float | None) -> str:
    """``seconds`` as days and hours, e.g. "2 d 5 h" (absolute value)."""
    if seconds is None:
        return "-"
    hours = int(abs(seconds) // 3600)
    days, hours = divmod(hours, 24)
    if days:
        return locale.gettext("%(days)s d %(hours)s h", days=days, hours=hours)
    minutes = int(abs(seconds) % 3600 // 60)
    return locale.gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)


def _categories(session: Session) -> dict[str, Any]:
    return {c.code: c for c in grievances.list_categories(session)}


@router.get("/grievances", response_class=HTMLResponse)
def grievance_inbox(
    request: Request, session: SessionDep, reader: Reader, view: str = "open"
) -> HTMLResponse:
    """The inbox: grievances the reader may see, most urgent first, with their timers."""
    view = view if view in ("open", "mine", "all") else "open"
    now = utcnow()
    items = grievances.inbox(session, reader, mine=view == "mine", open_only=view != "all", now=now)
    return render(
        request,
        "grievances/inbox.html",
        reader,
        items=items,
        view=view,
        categories=_categories(session),
        can_lodge=reader.has("grievances.manage"),
        time_left=lambda s: time_left(locale_of(request), s),
    )


def _intake_context(
    session: Session, principal: Principal, values: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "categories": list(_categories(session).values()),
        "channels": CHANNELS,
        "areas": [a for a in registry.list_areas(session) if principal.covers_path(a.path)],
        "programmes": programmes.list_programmes(session),
        "values": values or {"channel": "office", "kind": "complaint"},
        "errors": {},
        "problem": None,
    }


@router.get("/grievances/new", response_class=HTMLResponse)
def grievance_intake_form(
    request: Request, session: SessionDep, handler: Handler, household_id: int | None = None
) -> HTMLResponse:
    """The intake form (office, phone, web...), on behalf of a household or anonymous."""
    values = {"channel": "office", "kind": "complaint"}
    if household_id:
        values["household_id"] = str(household_id)
    context = _intake_context(session, handler, values)
    return render(request, "grievances/intake.html", handler, **context)


def _optional_int(value: str | None) -> int | str | None:
    value = (value or "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value


def _intake_body(form: dict[str, str]) -> dict[str, Any]:
    anonymous = form.get("anonymous") == "on"
    return {
        "kind": form.get("kind") or "complaint",
        "category": form.get("category", ""),
        "channel": form.get("channel") or "office",
        "description": form.get("description", "").strip(),
        "household_id": _optional_int(form.get("household_id")),
        "person_id": _optional_int(form.get("person_id")),
        "area_code": form.get("area_code") or None,
        "programme_code": form.get("programme_code") or None,
        "decision_date": form.get("decision_date") or None,
        "anonymous": anonymous,
        "withhold_identity": form.get("withhold_identity") == "on",
        "complainant_name": form.get("complainant_name", "").strip() or None,
        "complainant_contact": form.get("complainant_contact", "").strip() or None,
        "subject_staff": form.get("subject_staff", "").strip() or None,
    }


@router.post("/grievances", response_class=HTMLResponse)
def lodge_grievance(
    request: Request, session: SessionDep, handler: Handler, form: Form
) -> Response:
    """Lodge the form's grievance; errors come back beside their fields."""
    context = _intake_context(session, handler, form)
    locale = locale_of(request)
    errors: list[dict[str, Any]] = []
    if not form.get("category"):
        errors.append({"field": "category", "message": locale.gettext("choose a category")})
    try:
        body = GrievanceIn.model_validate(_intake_body(form))
    except ValidationError as exc:
        errors += [{"field": str(e["loc"][0]), "message": e["msg"]} for e in exc.errors()]
    if errors:
        context["errors"] = field_errors(errors)
        context["problem"] = locale.gettext("Some fields are not valid.")
        return render(request, "grievances/_intake_form.html", handler, status_code=422, **context)
    try:
        created = grievances.lodge(session, handler, body)
    except ValidationFailed as exc:
        session.rollback()
        context["errors"] = field_errors(exc.errors)
        context["problem"] = exc.detail
        return render(request, "grievances/_intake_form.html", handler, status_code=422, **context)
    except (NotFoundError, PermissionDenied) as exc:
        session.rollback()
        field = "household_id" if form.get("household_id") else "area_code"
        context["errors"] = {field: [exc.detail]}
        context["problem"] = exc.detail
        return render(request, "grievances/_intake_form.html", handler, status_code=422, **context)
    return redirect(request, f"/grievances/{created.id}?lodged=1")


def _detail_context(
    session: Session, principal: Principal, grievance: GrievanceOut, now: datetime
) -> dict[str, Any]:
    manage = (
        principal.scoped_to("grievances.manage") if principal.has("grievances.manage") else None
    )
    steps = grievances.allowed_steps(grievance.status) if manage else []
    assignable: list[str] = []
    if "assign" in steps and manage is not None:
        assignable = grievances.assignable_users(session, manage, grievance.id)
    actionable = manage is not None and grievance.status in grievances.ACTIONABLE
    return {
        "g": grievance,
        "item": grievances.timer(grievance, now),
        "category": _categories(session).get(grievance.category),
        "steps": steps,
        "assignable": assignable,
        "actionable": actionable,
        "services": referrals.list_services(session) if actionable else [],
        "programmes": programmes.list_programmes(session) if actionable else [],
        "correctable": CORRECTABLE,
        "events": grievances.events_of(session, principal, grievance.id),
        "problem": None,
        "errors": {},
        "done": None,
    }


@router.get("/grievances/{grievance_id}", response_class=HTMLResponse)
def grievance_page(
    request: Request,
    session: SessionDep,
    reader: Reader,
    grievance_id: GrievanceId,
    lodged: int = 0,
) -> HTMLResponse:
    """One grievance: facts, timer, the appealed decision explained, steps and history."""
    now = utcnow()
    grievance = grievances.get_grievance(session, reader, grievance_id)
    context = _detail_context(session, reader, grievance, now)
    return render(
        request,
        "grievances/detail.html",
        reader,
        lodged=bool(lodged),
        time_left=lambda s: time_left(locale_of(request), s),
        **context,
    )


def _workflow(
    request: Request,
    session: Session,
    handler: Principal,
    grievance_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    grievance = grievances.get_grievance(session, handler, grievance_id)
    context = {**_detail_context(session, handler, grievance, utcnow()), **extra}
    return render(
        request,
        "grievances/_workflow.html",
        handler,
        status_code=status_code,
        time_left=lambda s: time_left(locale_of(request), s),
        **context,
    )


def _version(form: dict[str, str]) -> int:
    value = form.get("version", "")
    return int(value) if value.isdigit() else -1


@router.post("/grievances/{grievance_id}/steps/{step}", response_class=HTMLResponse)
def grievance_step(
    request: Request,
    session: SessionDep,
    handler: Handler,
    grievance_id: GrievanceId,
    step: str,
    form: Form,
) -> HTMLResponse:
    """Take one workflow step (acknowledge, assign, investigate, resolve, close, appeal)."""
    version = _version(form)
    note = form.get("note", "").strip() or None
    locale = locale_of(request)
    try:
        if step == "acknowledge":
            grievances.acknowledge(session, handler, grievance_id, version, note)
        elif step == "assign":
            assignee = form.get("assignee", "").strip()
            if not assignee:
                raise ValidationFailed(
                    locale.gettext("Choose who investigates."),
                    [{"field": "assignee", "message": locale.gettext("required")}],
                )
            grievances.assign(session, handler, grievance_id, assignee, version, note)
        elif step == "investigate":
            grievances.investigate(session, handler, grievance_id, version, note)
        elif step == "resolve":
            resolution = form.get("resolution", "").strip()
            if not resolution:
                raise ValidationFailed(
                    locale.gettext("Say how the grievance was resolved."),
                    [{"field": "resolution", "message": locale.gettext("required")}],
                )
            grievances.resolve(session, handler, grievance_id, resolution, version)
        elif step == "close":
            grievances.close(session, handler, grievance_id, version, note)
        elif step == "appeal":
            grievances.appeal(session, handler, grievance_id, version, note)
        else:
            raise NotFoundError(f"unknown step {step!r}")
    except NotFoundError:
        raise
    except SolidarityError as exc:
        session.rollback()
        errors = field_errors(exc.errors) if isinstance(exc, ValidationFailed) else {}
        return _workflow(
            request,
            session,
            handler,
            grievance_id,
            status_code=exc.status_code,
            problem=exc.detail,
            errors=errors,
        )
    return _workflow(request, session, handler, grievance_id, done=locale.gettext("Step recorded."))


def _action(
    session: Session, handler: Principal, grievance_id: int, action: str, form: dict[str, str]
) -> str:
    """Run a resolution action; returns what to tell the officer (untranslated parts)."""
    if action == "reassess":
        out = grievances.reassess(
            session, handler, grievance_id, form.get("programme_code") or None
        )
        return str(out.details["text"])
    if action == "reissue":
        entitlement = form.get("entitlement_id", "").strip()
        if not entitlement.isdigit():
            raise ValidationFailed(
                "give the number of the payment (entitlement) to re-issue",
                [{"field": "entitlement_id", "message": "a number"}],
            )
        out = grievances.reissue_payment(session, handler, grievance_id, int(entitlement))
        return f"entitlement {out.details['entitlement_id']} ({out.details['previous_status']})"
    if action == "refer":
        grievance = grievances.get_grievance(session, handler, grievance_id)
        if grievance.household_id is None:
            raise ValidationFailed(
                "this grievance concerns no household",
                [{"field": "service_code", "message": "no household to refer"}],
            )
        out = grievances.refer(
            session,
            handler,
            grievance_id,
            ReferralIn(
                service_code=form.get("service_code", ""),
                household_id=grievance.household_id,
                reason=form.get("reason") or None,
                consent_evidence=form.get("consent_evidence") or None,
            ),
        )
        return f"referral {out.details['referral_id']} ({out.details['service']})"
    if action == "change":
        grievance = grievances.get_grievance(session, handler, grievance_id)
        field = form.get("field", "")
        if field not in CORRECTABLE or grievance.household_id is None:
            raise ValidationFailed(
                "choose the household field to correct",
                [{"field": "field", "message": "choose a field"}],
            )
        household = registry.get_household(
            session, grievance.household_id, scope=handler.area_paths
        )
        out = grievances.file_change_request(
            session,
            handler,
            grievance_id,
            "update_fields",
            {
                "household": {field: form.get("value", "").strip() or None},
                "base_version": household.version,
            },
        )
        return f"change request {out.details['change_request_id']}"
    raise NotFoundError(f"unknown action {action!r}")


@router.post("/grievances/{grievance_id}/actions/{action}", response_class=HTMLResponse)
def grievance_action(
    request: Request,
    session: SessionDep,
    handler: Handler,
    grievance_id: GrievanceId,
    action: str,
    form: Form,
) -> HTMLResponse:
    """A resolution action: re-run eligibility, re-issue a payment, refer, file a change."""
    locale = locale_of(request)
    try:
        what = _action(session, handler, grievance_id, action, form)
    except NotFoundError as exc:
        if action not in ACTIONS:
            raise
        session.rollback()
        return _workflow(
            request, session, handler, grievance_id, status_code=404, problem=exc.detail
        )
    except SolidarityError as exc:
        session.rollback()
        errors = field_errors(exc.errors) if isinstance(exc, ValidationFailed) else {}
        return _workflow(
            request,
            session,
            handler,
            grievance_id,
            status_code=exc.status_code,
            problem=exc.detail,
            errors=errors,
        )
    return _workflow(
        request,
        session,
        handler,
        grievance_id,
        done=locale.gettext("Action recorded: %(what)s", what=what),
    )
