"""Referral pages: the referral list (sent and received), the bulk worklist of a programme,
suggested referrals for a household, sending a referral (only the fields a data
sharing agreement allows, consent where required), and one referral with the steps
its side may take (the receiving agency accepts, declines with a reason, marks it
served or counter-refers; the sender closes).

Pages call :mod:`solidarity.grievances.referrals` with the principal narrowed to
``referrals.manage``, as the API does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, SolidarityError, ValidationFailed
from solidarity.governance.keys import KeyStore
from solidarity.governance.principal import Principal
from solidarity.governance.privacy import Disclosure
from solidarity.grievances import referrals
from solidarity.grievances.schemas import CounterReferralIn, ReferralIn
from solidarity.programs import service as programmes
from solidarity.registry import service as registry
from solidarity.web.deps import get_keys, get_session, require
from solidarity.web.pages.common import field_errors, form_fields, locale_of, redirect, render

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(get_session)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
Referrer = Annotated[Principal, Depends(require("referrals.manage"))]
Form = Annotated[dict[str, str], Depends(form_fields)]
ReferralId = Annotated[int, Path(ge=1)]
WORKLIST_SIZE = 100


@router.get("/referrals", response_class=HTMLResponse)
def referrals_page(
    request: Request, session: SessionDep, referrer: Referrer, view: str | None = None
) -> HTMLResponse:
    """Referrals received by the account's agency, or sent within its areas."""
    if view not in ("received", "sent", "all"):
        view = "received" if referrer.agency_code else "all"
    items, total = referrals.list_referrals(
        session, referrer, direction=None if view == "all" else view, limit=200
    )
    return render(
        request,
        "referrals/list.html",
        referrer,
        items=items,
        total=total,
        view=view,
        agency=referrer.agency_code,
    )


@router.get("/referrals/worklist", response_class=HTMLResponse)
def referral_worklist_page(
    request: Request,
    session: SessionDep,
    referrer: Referrer,
    programme: str | None = None,
    service: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """Suggested referrals in bulk: every household in the account's areas, or a programme's
    beneficiaries, with the services they are likely eligible for and not yet receiving."""
    problem = None
    found = None
    try:
        found = referrals.worklist(
            session,
            referrer,
            programme_code=programme or None,
            service_code=service or None,
            limit=WORKLIST_SIZE,
            offset=(page - 1) * WORKLIST_SIZE,
        )
    except NotFoundError as exc:
        problem = exc.detail
    return render(
        request,
        "referrals/worklist.html",
        referrer,
        found=found,
        problem=problem,
        programme=programme or "",
        service=service or "",
        page=page,
        pages=max(1, -(-(found.suggestions if found else 0) // WORKLIST_SIZE)),
        programmes=programmes.list_programmes(session),
        services=referrals.list_services(session),
    )


@router.get("/referrals/suggested", response_class=HTMLResponse)
def suggested_referrals_page(
    request: Request, session: SessionDep, referrer: Referrer, household_id: str | None = None
) -> HTMLResponse:
    """Services one household is likely eligible for and not yet receiving, explained."""
    suggestions = None
    problem = None
    number = int(household_id) if household_id and household_id.isdigit() else None
    if household_id and number is None:
        problem = locale_of(request).gettext("A household number is a whole number.")
    elif number is not None:
        try:
            suggestions = referrals.suggest_for_household(session, referrer, number)
        except NotFoundError as exc:
            problem = exc.detail
    return render(
        request,
        "referrals/suggested.html",
        referrer,
        household_id=household_id or "",
        number=number,
        suggestions=suggestions,
        problem=problem,
    )


def _send_context(
    session: Session,
    referrer: Referrer,
    keys: KeyStore,
    household_id: str | None,
    service_code: str | None,
) -> dict[str, Any]:
    """The send form: the household's members, the service's agreed fields and consent."""
    context: dict[str, Any] = {
        "services": referrals.list_services(session),
        "household_id": household_id or "",
        "service_code": service_code or "",
        "members": [],
        "allowed": [],
        "consent_required": False,
        "ready": False,
        "values": {},
        "errors": {},
        "problem": None,
    }
    number = int(household_id) if household_id and household_id.isdigit() else None
    if number is not None:
        household = registry.get_household(session, number, scope=referrer.area_paths)
        shown = Disclosure(referrer, keys.pseudonym_key()).household(household)
        context["members"] = shown.members
    if service_code:
        allowed, consent = referrals.sharing_terms(session, service_code)
        context.update(allowed=allowed, consent_required=consent)
    context["ready"] = number is not None and bool(service_code)
    return context


@router.get("/referrals/new", response_class=HTMLResponse)
def send_referral_form(
    request: Request,
    session: SessionDep,
    referrer: Referrer,
    keys: KeysDep,
    household_id: str | None = None,
    service_code: str | None = None,
) -> HTMLResponse:
    """Choose the household and the service, then what to send with the referral."""
    problem = None
    try:
        context = _send_context(session, referrer, keys, household_id, service_code)
    except (NotFoundError, ValidationFailed) as exc:
        context = _send_context(session, referrer, keys, None, None)
        context.update(household_id=household_id or "", service_code=service_code or "")
        problem = exc.detail
    context["problem"] = problem
    return render(request, "referrals/send.html", referrer, **context)


@router.post("/referrals", response_class=HTMLResponse)
def send_referral_page(
    request: Request, session: SessionDep, referrer: Referrer, keys: KeysDep, form: Form
) -> Response:
    """Send the form's referral; a refusal changes nothing and is shown beside the fields."""
    household_id = form.get("household_id", "")
    service_code = form.get("service_code", "")
    fields = sorted(k.removeprefix("field.") for k, v in form.items() if k.startswith("field."))
    try:
        sent = referrals.send_referral(
            session,
            referrer,
            ReferralIn(
                service_code=service_code,
                household_id=int(household_id) if household_id.isdigit() else 0,
                person_id=int(form["person_id"]) if form.get("person_id", "").isdigit() else None,
                reason=form.get("reason") or None,
                fields=fields,
                consent_evidence=form.get("consent_evidence") or None,
            ),
        )
    except SolidarityError as exc:
        session.rollback()
        context = _send_context(session, referrer, keys, household_id, service_code)
        errors = field_errors(exc.errors) if isinstance(exc, ValidationFailed) else {}
        refused = exc.extra.get("fields") if isinstance(exc.extra, dict) else None
        if refused:
            errors.setdefault("fields", []).append(exc.detail)
        elif "consent" in exc.detail:
            errors.setdefault("consent_evidence", []).append(exc.detail)
        context.update(values=form, errors=errors, problem=exc.detail)
        return render(
            request,
            "referrals/_send_form.html",
            referrer,
            status_code=exc.status_code,
            **context,
        )
    return redirect(request, f"/referrals/{sent.id}?sent=1")


def _referral_context(session: Session, referrer: Principal, referral_id: int) -> dict[str, Any]:
    referral = referrals.get_referral(session, referrer, referral_id)
    steps = referrals.steps_for(session, referrer, referral_id)
    return {
        "r": referral,
        "steps": [s for s in steps if s != "counter"],
        "can_counter": "counter" in steps,
        "services": referrals.list_services(session) if "counter" in steps else [],
        "events": referrals.events_of(session, referrer, referral_id),
        "problem": None,
        "errors": {},
        "done": None,
    }


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_page(
    request: Request,
    session: SessionDep,
    referrer: Referrer,
    referral_id: ReferralId,
    sent: int = 0,
) -> HTMLResponse:
    """One referral: what was shared, consent, the steps this side may take, the history."""
    context = _referral_context(session, referrer, referral_id)
    return render(request, "referrals/detail.html", referrer, sent=bool(sent), **context)


def _after(
    request: Request,
    session: Session,
    referrer: Principal,
    referral_id: int,
    exc: SolidarityError | None,
    done: str | None,
) -> HTMLResponse:
    if exc is not None:
        session.rollback()
    context = _referral_context(session, referrer, referral_id)
    if exc is not None:
        errors = field_errors(exc.errors) if isinstance(exc, ValidationFailed) else {}
        context.update(problem=exc.detail, errors=errors)
    context["done"] = done
    return render(
        request,
        "referrals/_actions.html",
        referrer,
        status_code=exc.status_code if exc is not None else 200,
        **context,
    )


@router.post("/referrals/{referral_id}/steps/{action}", response_class=HTMLResponse)
def referral_step_page(
    request: Request,
    session: SessionDep,
    referrer: Referrer,
    referral_id: ReferralId,
    action: str,
    form: Form,
) -> HTMLResponse:
    """Receive, accept, decline (with a reason), serve or close a referral."""
    if action not in referrals.RECEIVER_STEPS | {"close"}:
        raise NotFoundError(f"unknown step {action!r}")
    version = form.get("version", "")
    try:
        referrals.step(
            session,
            referrer,
            referral_id,
            action,
            int(version) if version.isdigit() else -1,
            reason=form.get("reason", "").strip() or None,
            outcome=form.get("outcome", "").strip() or None,
        )
    except NotFoundError:
        raise
    except SolidarityError as exc:
        return _after(request, session, referrer, referral_id, exc, None)
    done = locale_of(request).gettext("Step recorded.")
    return _after(request, session, referrer, referral_id, None, done)


@router.post("/referrals/{referral_id}/counter", response_class=HTMLResponse)
def counter_referral_page(
    request: Request,
    session: SessionDep,
    referrer: Referrer,
    referral_id: ReferralId,
    form: Form,
) -> HTMLResponse:
    """Refer back or onward from a received referral (only received fields travel)."""
    fields = sorted(k.removeprefix("field.") for k, v in form.items() if k.startswith("field."))
    try:
        made = referrals.counter_refer(
            session,
            referrer,
            referral_id,
            CounterReferralIn(
                service_code=form.get("service_code", ""),
                reason=form.get("reason") or None,
                fields=fields,
            ),
        )
    except NotFoundError:
        raise
    except SolidarityError as exc:
        return _after(request, session, referrer, referral_id, exc, None)
    done = locale_of(request).gettext("Counter-referral #%(id)s sent.", id=made.id)
    return _after(request, session, referrer, referral_id, None, done)
