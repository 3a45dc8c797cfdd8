"""Programme pages: list, detail, the live rule editor, explain, enrolment, payment cycles.

The rule editor checks the expression as it is typed (line and column of the
first error) and previews, over the whole registry, how many households a draft
eligibility rule would admit and at what cost by area; nothing is stored until
the manager saves a new version. Programme pages use query parameters
(``/programme?code=CT``) so that their addresses never clash with area codes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.errors import NotFoundError, SolidarityError, ValidationFailed
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import FINISHED, JobOut
from solidarity.programs import eligibility, payments, service
from solidarity.programs.jobs import ENROL, ENTITLEMENTS
from solidarity.programs.models import Programme, ProgrammeRule
from solidarity.programs.repository import ProgrammeRepository
from solidarity.programs.rules import BoundRule, check_rule
from solidarity.programs.schemas import (
    CycleOut,
    ReconciliationOut,
    RuleVersionIn,
)
from solidarity.registry import service as registry
from solidarity.rules import RuleError
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import field_errors, form_fields, locale_of, redirect, render
from solidarity.web.pages.messages import translate

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Reader = Annotated[Principal, Depends(require("programs.read"))]
Manager = Annotated[Principal, Depends(require("programs.manage"))]
Approver = Annotated[Principal, Depends(require("programs.approve"))]
FormData = Annotated[dict[str, str], Depends(form_fields)]
CycleId = Annotated[int, PathParam(ge=1)]
RULE_KINDS = ("eligibility", "benefit", "priority")


def _programme(session: Session, principal: Principal, code: str) -> Programme:
    """The programme, if the caller's grant covers it (else "not found", like a missing one)."""
    if principal.programmes is not None and code not in principal.programmes:
        raise NotFoundError(f"programme {code!r} not found")
    return service.get_programme(session, code)


def _cycle(session: Session, principal: Principal, cycle_id: int) -> Any:
    cycle = payments.get_cycle(session, cycle_id)
    programme = session.get(Programme, cycle.programme_id)
    if programme is None:
        raise NotFoundError(f"cycle {cycle_id} not found")
    _programme(session, principal, programme.code)
    return cycle, programme


@router.get("/programmes", response_class=HTMLResponse)
def programmes_page(request: Request, session: SessionDep, reader: Reader) -> HTMLResponse:
    """Every programme the caller may see."""
    shown = [
        p
        for p in service.list_programmes(session)
        if reader.programmes is None or p.code in reader.programmes
    ]
    return render(request, "programmes/list.html", reader, programmes=shown)


def _current_rules(session: Session, programme: Programme, on: date) -> dict[str, Any]:
    current: dict[str, Any] = {}
    for kind in RULE_KINDS:
        found = service.optional_rule_in_force(session, programme, kind, on)
        if found is not None:
            current[kind] = found
    return current


@router.get("/programme", response_class=HTMLResponse)
def programme_page(
    request: Request, session: SessionDep, reader: Reader, code: str = ""
) -> Response:
    """A programme: rules (with the editor for managers), explain, enrolment and cycles."""
    if not code:
        return redirect(request, "/programmes")
    programme = _programme(session, reader, code)
    today = date.today()
    current = _current_rules(session, programme, today)
    versions = service.rule_versions(session, code)
    cycles = [CycleOut.model_validate(c) for c in ProgrammeRepository(session).cycles(programme.id)]
    editing = current.get("eligibility")
    return render(
        request,
        "programmes/detail.html",
        reader,
        programme=programme,
        versions=versions,
        current=current,
        cycles=cycles,
        today=today.isoformat(),
        kinds=RULE_KINDS,
        draft_expression=editing.expression if editing else "",
        draft_parameters=json.dumps(editing.parameters, indent=1) if editing else "{}",
        can_manage=reader.has("programs.manage"),
        can_approve=reader.has("programs.approve"),
    )


# --- the rule editor -------------------------------------------------------------------


def _parameters(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            "the parameters are not valid JSON",
            [
                {
                    "field": "parameters",
                    "message": f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
                }
            ],
        ) from None
    if not isinstance(value, dict):
        raise ValidationFailed(
            "the parameters must be an object",
            [{"field": "parameters", "message": 'write them as {"name": value}'}],
        )
    return value


def _rule_error(expression: str, exc: RuleError) -> dict[str, Any]:
    lines = expression.splitlines() or [""]
    line = exc.line or 1
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    column = max(1, exc.column or 1)
    return {
        "message": exc.reason,
        "line": exc.line,
        "column": exc.column,
        "token": exc.token,
        "text": text,
        "caret": " " * (column - 1) + "^",
    }


def _draft_preview(
    session: Session,
    programme: Programme,
    expression: str,
    rule: Any,
    parameters: dict[str, Any],
    on: date,
    scope: Sequence[str] | None,
) -> dict[str, Any]:
    """Households a draft eligibility rule admits on ``on`` in the manager's areas, by area."""
    draft = ProgrammeRule(
        programme_id=programme.id,
        kind="eligibility",
        level="household",
        expression=expression,
        valid_from=on,
        parameters=parameters,
    )
    found = eligibility.preview(
        session, programme, on, limit=0, scope_paths=scope, draft=BoundRule(draft, rule)
    )
    return {
        "evaluated": found.households_evaluated,
        "eligible": found.eligible,
        "cost": found.total_cost,
        "annual_cost": found.annual_cost,
        "by_area": found.by_area,
    }


@router.post("/programme/rules/draft", response_class=HTMLResponse)
def check_draft_rule(
    request: Request, session: SessionDep, manager: Manager, form: FormData
) -> HTMLResponse:
    """Check a draft rule as it is typed; for an eligibility rule, preview who qualifies."""
    programme = _programme(session, manager, form.get("code", ""))
    kind = form.get("kind", "eligibility")
    expression = form.get("expression", "")
    on = date.fromisoformat(form.get("valid_from") or date.today().isoformat())
    context: dict[str, Any] = {"kind": kind, "programme": programme, "error": None}
    try:
        parameters = _parameters(form.get("parameters", ""))
        checked = check_rule(expression, parameters, on)
    except RuleError as exc:
        context["error"] = _rule_error(expression, exc)
        context["error"]["message"] = translate(exc.reason, locale_of(request))
        return render(request, "programmes/_rule_feedback.html", manager, **context)
    except ValidationFailed as exc:
        context["error"] = {"message": "; ".join(e["message"] for e in exc.errors) or exc.detail}
        return render(request, "programmes/_rule_feedback.html", manager, **context)
    context["checked"] = checked
    wanted = "boolean" if kind == "eligibility" else "number"
    context["wrong_type"] = checked.type not in (wanted, "any", "null")
    if kind == "eligibility" and not context["wrong_type"] and form.get("preview") != "off":
        context["preview"] = _draft_preview(
            session, programme, expression, checked, parameters, on, manager.area_paths
        )
    return render(request, "programmes/_rule_feedback.html", manager, **context)


@router.post("/programme/rules", response_class=HTMLResponse)
def save_rule_version(
    request: Request, session: SessionDep, manager: Manager, form: FormData
) -> Response:
    """Store the draft as a new version from its date; an open current version ends then."""
    code = form.get("code", "")
    _programme(session, manager, code)
    kind = form.get("kind", "eligibility")
    try:
        valid_from = date.fromisoformat(form.get("valid_from", ""))
    except ValueError:
        valid_from = None
    try:
        if valid_from is None:
            raise ValidationFailed(
                "give the date the version applies from",
                [{"field": "valid_from", "message": "a date is required"}],
            )
        data = RuleVersionIn(
            kind=kind,  # type: ignore[arg-type]
            expression=form.get("expression", ""),
            valid_from=valid_from,
            parameters=_parameters(form.get("parameters", "")),
            legal_reference=form.get("legal_reference", ""),
        )
        for version in service.rule_versions(session, code, kind):
            if version.valid_to is None and version.valid_from < valid_from:
                service.close_rule_version(session, version.id, valid_from, manager.username)
        saved = service.add_rule_version(session, code, data, manager.username)
    except SolidarityError as exc:
        session.rollback()
        errors = field_errors(getattr(exc, "errors", None) or exc.extra.get("errors"))
        return render(
            request,
            "programmes/_save_result.html",
            manager,
            status_code=exc.status_code,
            problem=exc.detail,
            errors=errors,
            saved=None,
        )
    return render(
        request, "programmes/_save_result.html", manager, problem=None, errors={}, saved=saved
    )


@router.get("/programme/explain", response_class=HTMLResponse)
def explain_household(
    request: Request,
    session: SessionDep,
    reader: Reader,
    code: str = "",
    household: str = "",
    as_of: str = "",
) -> HTMLResponse:
    """Why a household does or does not qualify, step by step."""
    if not code or not household.strip().isdigit():
        message = locale_of(request).gettext("Give a household number.")
        return render(request, "programmes/_explain.html", reader, problem=message, result=None)
    household_id = int(household)
    try:
        programme = _programme(session, reader, code)
        on = date.fromisoformat(as_of) if as_of else date.today()
        registry.require_household_in_scope(session, household_id, reader.area_paths)
        result = eligibility.explain_household(session, programme, household_id, on)
    except ValueError:
        message = locale_of(request).gettext("Give a date as YYYY-MM-DD.")
        return render(request, "programmes/_explain.html", reader, problem=message, result=None)
    except SolidarityError as exc:
        return render(request, "programmes/_explain.html", reader, problem=exc.detail, result=None)
    return render(request, "programmes/_explain.html", reader, problem=None, result=result)


# --- enrolment and payment cycles -------------------------------------------------------


@router.post("/programme/enrol", response_class=HTMLResponse)
def enrol(request: Request, session: SessionDep, manager: Manager, form: FormData) -> Response:
    """Start the job enrolling every eligible household of the caller's areas."""
    programme = _programme(session, manager, form.get("code", ""))
    params = {
        "programme": programme.code,
        "as_of": (form.get("as_of") or date.today().isoformat()),
        "household_ids": None,
        "actor": manager.username,
        "scope_paths": list(manager.area_paths) if manager.area_paths is not None else None,
    }
    job = jobs.enqueue(session, ENROL, params, actor=manager.username)
    return redirect(request, f"/programme/jobs/{job.id}")


@router.get("/programme/jobs/{job_id}", response_class=HTMLResponse)
def programme_job(
    request: Request,
    session: SessionDep,
    reader: Reader,
    job_id: Annotated[int, PathParam(ge=1)],
) -> HTMLResponse:
    """Progress and outcome of an enrolment or entitlement job."""
    owner = None if reader.has("jobs.manage") else reader.username
    job = JobOut.model_validate(jobs.get_job(session, job_id, owner))
    if job.kind not in (ENROL, ENTITLEMENTS):
        raise NotFoundError(f"job {job_id} is not a programme job")
    template = (
        "programmes/_job.html"
        if request.headers.get("hx-request") == "true"
        else "programmes/job.html"
    )
    return render(
        request,
        template,
        reader,
        job=job,
        finished=job.status in FINISHED,
        code=job.params.get("programme"),
    )


def _cycle_row(
    request: Request,
    principal: Principal,
    cycle: Any,
    programme: Programme,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    return render(
        request,
        "programmes/_cycle.html",
        principal,
        status_code=status_code,
        cycle=CycleOut.model_validate(cycle),
        programme=programme,
        can_manage=principal.has("programs.manage"),
        can_approve=principal.has("programs.approve"),
        **{"problem": None, "reconciliation": None, "payroll": None, **extra},
    )


@router.post("/programme/cycles", response_class=HTMLResponse)
def create_cycle(
    request: Request, session: SessionDep, manager: Manager, form: FormData
) -> Response:
    """Open a payment cycle for a period."""
    programme = _programme(session, manager, form.get("code", ""))
    try:
        start = date.fromisoformat(form.get("window_start", ""))
        end = date.fromisoformat(form.get("window_end", ""))
    except ValueError:
        return render(
            request,
            "partials/alert.html",
            manager,
            status_code=422,
            title=locale_of(request).gettext("Give the payment window's dates."),
            detail="",
            errors=[],
        )
    try:
        payments.create_cycle(
            session, programme, form.get("period", ""), start, end, manager.username
        )
    except SolidarityError as exc:
        session.rollback()
        return render(
            request,
            "partials/alert.html",
            manager,
            status_code=exc.status_code,
            title=exc.title,
            detail=exc.detail,
            errors=getattr(exc, "errors", []),
        )
    return redirect(request, f"/programme?code={programme.code}#cycles")


def _cycle_action(
    request: Request, session: Session, principal: Principal, cycle_id: int, action: str
) -> HTMLResponse:
    cycle, programme = _cycle(session, principal, cycle_id)
    extra: dict[str, Any] = {}
    try:
        if action == "compute":
            payments.compute_entitlements(session, cycle, principal.username)
        elif action == "approve":
            payments.approve_cycle(session, cycle, principal.username)
        elif action == "payroll":
            out_dir = Path(get_settings().report_dir) / "payroll"
            extra["payroll"] = payments.generate_payroll(
                session, cycle, out_dir, principal.username
            )
    except SolidarityError as exc:
        session.rollback()
        cycle, programme = _cycle(session, principal, cycle_id)
        return _cycle_row(
            request, principal, cycle, programme, status_code=exc.status_code, problem=exc.detail
        )
    return _cycle_row(request, principal, cycle, programme, **extra)


@router.post("/programme/cycles/{cycle_id}/entitlements", response_class=HTMLResponse)
def compute_entitlements(
    request: Request, session: SessionDep, manager: Manager, cycle_id: CycleId
) -> HTMLResponse:
    """Compute (or recompute) the cycle's entitlements."""
    return _cycle_action(request, session, manager, cycle_id, "compute")


@router.post("/programme/cycles/{cycle_id}/approve", response_class=HTMLResponse)
def approve_cycle(
    request: Request, session: SessionDep, approver: Approver, cycle_id: CycleId
) -> HTMLResponse:
    """Approve the cycle's entitlements (not by whoever computed them)."""
    return _cycle_action(request, session, approver, cycle_id, "approve")


@router.post("/programme/cycles/{cycle_id}/payroll", response_class=HTMLResponse)
def generate_payroll(
    request: Request, session: SessionDep, manager: Manager, cycle_id: CycleId
) -> HTMLResponse:
    """Write the payroll files of an approved cycle."""
    return _cycle_action(request, session, manager, cycle_id, "payroll")


@router.get("/programme/payroll")
def download_payroll(
    request: Request, session: SessionDep, manager: Manager, cycle: int = 0, format: str = "csv"
) -> Response:
    """Download a generated payroll (CSV, or pain.001 XML with ``format=xml``)."""
    if cycle < 1:
        return redirect(request, "/programmes")
    found, _programme_row = _cycle(session, manager, cycle)
    if found.status not in ("payroll_generated", "reconciled"):
        raise NotFoundError(f"cycle {cycle} has no payroll yet")
    out_dir = Path(get_settings().report_dir) / "payroll"
    payroll = payments.generate_payroll(session, found, out_dir, manager.username)
    path = Path(payroll.xml_path if format == "xml" else payroll.csv_path)
    media = "application/xml" if format == "xml" else "text/csv"
    return FileResponse(path, media_type=media, filename=path.name)


@router.post("/programme/cycles/{cycle_id}/reconciliation", response_class=HTMLResponse)
def upload_reconciliation(
    request: Request,
    session: SessionDep,
    manager: Manager,
    cycle_id: CycleId,
    file: UploadFile = File(...),
) -> HTMLResponse:
    """Match a provider's payment report and show the discrepancies (nothing applied yet)."""
    cycle, programme = _cycle(session, manager, cycle_id)
    try:
        record = payments.import_reconciliation(
            session,
            cycle,
            file.filename or "reconciliation.csv",
            file.file.read(),
            manager.username,
        )
    except SolidarityError as exc:
        session.rollback()
        cycle, programme = _cycle(session, manager, cycle_id)
        return _cycle_row(request, manager, cycle, programme, problem=exc.detail)
    return _cycle_row(
        request,
        manager,
        cycle,
        programme,
        reconciliation=ReconciliationOut.model_validate(record),
    )


@router.post("/programme/reconciliations/{import_id}/accept", response_class=HTMLResponse)
def accept_reconciliation(
    request: Request,
    session: SessionDep,
    manager: Manager,
    import_id: Annotated[int, PathParam(ge=1)],
) -> HTMLResponse:
    """Apply the matched rows of a reconciliation."""
    try:
        record = payments.accept_reconciliation(session, import_id, manager.username)
    except SolidarityError as exc:
        session.rollback()
        return render(
            request,
            "partials/alert.html",
            manager,
            status_code=exc.status_code,
            title=exc.title,
            detail=exc.detail,
            errors=[],
        )
    cycle, programme = _cycle(session, manager, record.cycle_id)
    return _cycle_row(
        request,
        manager,
        cycle,
        programme,
        reconciliation=ReconciliationOut.model_validate(record),
    )
