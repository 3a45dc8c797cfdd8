"""REST routes of programmes under /api/v1/programs; function names are the operation ids."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, File, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.errors import NotFoundError, PermissionDenied
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.jobs.schemas import JobAccepted
from solidarity.programs import eligibility, payments, service
from solidarity.programs.jobs import ENROL, ENTITLEMENTS
from solidarity.programs.models import Programme
from solidarity.programs.repository import ProgrammeRepository
from solidarity.programs.schemas import (
    CycleIn,
    CycleOut,
    Decision,
    EnrolmentOut,
    EnrolRequest,
    ExplanationOut,
    ManualRequestIn,
    PayrollOut,
    PreviewOut,
    ProgrammeIn,
    ProgrammeOut,
    ProgrammeUpdate,
    RecertificationOut,
    ReconciliationOut,
    RequestOut,
    RuleVersionIn,
    RuleVersionOut,
)
from solidarity.registry import service as registry
from solidarity.rules import RuleError
from solidarity.web.concurrency import IfMatch, tag, with_version
from solidarity.web.deps import get_actor, get_session, require

router = APIRouter(prefix="/api/v1/programs", tags=["programmes"])

Reader = Annotated[Principal, Depends(require("programs.read"))]
Manager = Annotated[Principal, Depends(require("programs.manage"))]
Approver = Annotated[Principal, Depends(require("programs.approve"))]


def _programme_in_scope(session: Session, principal: Principal, code: str) -> Programme:
    """The programme ``code``, refused as not found when outside the caller's programmes."""
    if principal.programmes is not None and code not in principal.programmes:
        raise NotFoundError(f"programme {code!r} not found")
    return service.get_programme(session, code)


def _national(principal: Principal, what: str) -> None:
    """Refuse work that spans every area to a caller whose grant covers only some."""
    if not principal.national:
        raise PermissionDenied(
            f"{what} is done with a national grant; yours covers some areas only"
        )


def _cycle_in_scope(session: Session, principal: Principal, cycle_id: int) -> None:
    cycle = payments.get_cycle(session, cycle_id)
    programme = session.get(Programme, cycle.programme_id)
    if programme is None or (
        principal.programmes is not None and programme.code not in principal.programmes
    ):
        raise NotFoundError(f"payment cycle {cycle_id} not found")
    _national(principal, "payment cycles")


def _rule_out(version: object) -> RuleVersionOut:
    out = RuleVersionOut.model_validate(version)
    try:
        from solidarity.programs.rules import check_rule

        out.normalised = check_rule(out.expression, out.parameters, out.valid_from).normalised
    except RuleError:
        out.normalised = out.expression
    return out


@router.get("", response_model=list[ProgrammeOut])
def list_programmes(
    principal: Reader, session: Session = Depends(get_session)
) -> list[ProgrammeOut]:
    """List every programme (those of the caller's grant)."""
    return [
        ProgrammeOut.model_validate(p)
        for p in service.list_programmes(session)
        if principal.programmes is None or p.code in principal.programmes
    ]


@router.post("", response_model=ProgrammeOut, status_code=201)
def create_programme(
    principal: Manager,
    data: ProgrammeIn,
    response: Response,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> ProgrammeOut:
    """Create a programme (``ETag``: its version)."""
    _national(principal, "designing programmes")
    return tag(
        response, ProgrammeOut.model_validate(service.create_programme(session, data, actor))
    )


@router.get("/{code}", response_model=ProgrammeOut)
def get_programme(
    principal: Reader, code: str, response: Response, session: Session = Depends(get_session)
) -> ProgrammeOut:
    """Show a programme (``ETag``: its version)."""
    return tag(response, ProgrammeOut.model_validate(_programme_in_scope(session, principal, code)))


@router.patch("/{code}", response_model=ProgrammeOut)
def update_programme(
    principal: Manager,
    code: str,
    data: ProgrammeUpdate,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> ProgrammeOut:
    """Change a programme; ``If-Match`` must be the ETag read (optimistic locking)."""
    _programme_in_scope(session, principal, code)
    _national(principal, "designing programmes")
    done = service.update_programme(session, code, with_version(data, expected), actor)
    return tag(response, ProgrammeOut.model_validate(done))


@router.get("/{code}/rules", response_model=list[RuleVersionOut])
def list_rule_versions(
    principal: Reader, code: str, kind: str | None = None, session: Session = Depends(get_session)
) -> list[RuleVersionOut]:
    """List a programme's rule versions."""
    _programme_in_scope(session, principal, code)
    return [_rule_out(v) for v in service.rule_versions(session, code, kind)]


@router.post("/{code}/rules", response_model=RuleVersionOut, status_code=201)
def add_rule_version(
    principal: Manager,
    code: str,
    data: RuleVersionIn,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> RuleVersionOut:
    """Store a rule version; refused with line, column and reason if it does not check."""
    _programme_in_scope(session, principal, code)
    _national(principal, "designing programmes")
    return _rule_out(service.add_rule_version(session, code, data, actor))


@router.get("/{code}/preview", response_model=PreviewOut)
def preview_eligibility(
    principal: Reader,
    code: str,
    as_of: date | None = None,
    area_level: int = Query(default=0, ge=0),
    limit: int = Query(default=50, ge=0, le=1000),
    offset: int = Query(default=0, ge=0),
    session: Session = Depends(get_session),
) -> PreviewOut:
    """Who would be eligible on a date and at what cost (nothing is written)."""
    programme = _programme_in_scope(session, principal, code)
    return eligibility.preview(
        session,
        programme,
        as_of or date.today(),
        area_level=area_level,
        limit=limit,
        offset=offset,
        scope_paths=principal.area_paths,
    )


@router.post("/{code}/enrol", response_model=JobAccepted, status_code=202)
def enrol_households(
    principal: Manager,
    code: str,
    request: Request,
    data: EnrolRequest = Body(default_factory=EnrolRequest),
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> JobAccepted:
    """Start a job enrolling every eligible household (or the listed ones)."""
    _programme_in_scope(session, principal, code)
    params = {
        "programme": code,
        "as_of": (data.as_of or date.today()).isoformat(),
        "household_ids": data.household_ids,
        "actor": actor,
        "scope_paths": None if principal.area_paths is None else list(principal.area_paths),
    }
    job = jobs.enqueue(session, ENROL, params, actor=actor)
    return JobAccepted(
        id=job.id,
        kind=job.kind,
        status="queued",
        url=str(request.url_for("get_job", job_id=job.id)),
    )


@router.get("/{code}/enrolments/{household_id}", response_model=EnrolmentOut)
def get_enrolment(
    principal: Reader, code: str, household_id: int, session: Session = Depends(get_session)
) -> EnrolmentOut:
    """A household's enrolment in a programme."""
    programme = _programme_in_scope(session, principal, code)
    registry.require_household_in_scope(session, household_id, principal.area_paths)
    found = ProgrammeRepository(session).enrolment(programme.id, household_id)
    if found is None:
        raise NotFoundError(f"household {household_id} is not enrolled in '{code}'")
    return EnrolmentOut.model_validate(found)


@router.get("/{code}/waitlist", response_model=list[EnrolmentOut])
def list_waitlist(
    principal: Reader,
    code: str,
    limit: int = Query(default=100, ge=1, le=1000),
    session: Session = Depends(get_session),
) -> list[EnrolmentOut]:
    """The waiting list in admission order."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "the waiting list")
    return [
        EnrolmentOut.model_validate(e)
        for e in ProgrammeRepository(session).waitlist(programme.id, limit)
    ]


@router.post("/{code}/requests", response_model=RequestOut, status_code=201)
def request_enrolment_change(
    principal: Manager,
    code: str,
    data: ManualRequestIn,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> RequestOut:
    """File a manual enrolment or exit; another user must approve it."""
    programme = _programme_in_scope(session, principal, code)
    registry.require_household_in_scope(session, data.household_id, principal.area_paths)
    made = eligibility.request_change(
        session,
        programme,
        data.household_id,
        data.action,
        data.reason,
        actor,
        data.as_of or date.today(),
    )
    return RequestOut.model_validate(made)


@router.get("/{code}/requests", response_model=list[RequestOut])
def list_requests(
    principal: Reader,
    code: str,
    status: str | None = None,
    batch: str | None = None,
    limit: int = Query(default=500, ge=1, description="Capped by the deployment's page_size_max"),
    offset: int = Query(default=0, ge=0),
    session: Session = Depends(get_session),
) -> list[RequestOut]:
    """List enrolment and exit requests in id order, one page (``limit``, ``offset``)."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "the request list")
    size = min(limit, get_settings().page_size_max)
    found = ProgrammeRepository(session).requests(
        programme.id, status, batch, limit=size, offset=offset
    )
    return [RequestOut.model_validate(r) for r in found]


@router.post("/{code}/requests/decision", response_model=list[RequestOut])
def decide_requests(
    principal: Approver,
    code: str,
    data: Decision,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> list[RequestOut]:
    """Approve or reject requests (maker-checker: not your own)."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "deciding requests")
    decided = eligibility.decide(
        session,
        programme,
        actor,
        approve=data.approve,
        request_ids=data.request_ids,
        batch=data.batch,
    )
    return [RequestOut.model_validate(r) for r in decided]


@router.post("/{code}/recertify", response_model=RecertificationOut)
def recertify_enrolments(
    principal: Manager,
    code: str,
    as_of: date | None = None,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> RecertificationOut:
    """Re-evaluate active enrolments and propose exits (approved separately)."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "recertification")
    when = as_of or date.today()
    batch, reviewed, proposals = eligibility.recertify(session, programme, when, actor)
    return RecertificationOut(
        programme=code,
        as_of=when,
        batch=batch,
        reviewed=reviewed,
        proposed_exits=len(proposals),
        proposals=[RequestOut.model_validate(p) for p in proposals[:1000]],
    )


@router.get("/{code}/explain/{household_id}", response_model=ExplanationOut)
def explain_household(
    principal: Reader,
    code: str,
    household_id: int,
    as_of: date | None = None,
    session: Session = Depends(get_session),
) -> ExplanationOut:
    """Why a household is or is not eligible, from the rule and registry of a date."""
    programme = _programme_in_scope(session, principal, code)
    registry.require_household_in_scope(session, household_id, principal.area_paths)
    return eligibility.explain_household(session, programme, household_id, as_of or date.today())


@router.post("/{code}/compliance", status_code=201)
def upload_compliance(
    principal: Manager,
    code: str,
    file: UploadFile = File(...),
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> dict[str, int]:
    """Store compliance records (CSV: household_id, person_id, condition, period, met)."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "compliance records")
    count = payments.record_compliance(session, programme, file.file.read(), actor)
    return {"records": count}


@router.get("/{code}/cycles", response_model=list[CycleOut])
def list_cycles(
    principal: Reader, code: str, session: Session = Depends(get_session)
) -> list[CycleOut]:
    """List a programme's payment cycles."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "payment cycles")
    return [CycleOut.model_validate(c) for c in ProgrammeRepository(session).cycles(programme.id)]


@router.post("/{code}/cycles", response_model=CycleOut, status_code=201)
def create_cycle(
    principal: Manager,
    code: str,
    data: CycleIn,
    response: Response,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> CycleOut:
    """Open a payment cycle (``ETag``: its version)."""
    programme = _programme_in_scope(session, principal, code)
    _national(principal, "payment cycles")
    cycle = payments.create_cycle(
        session, programme, data.period, data.window_start, data.window_end, actor
    )
    return tag(response, CycleOut.model_validate(cycle))


@router.get("/cycles/{cycle_id}", response_model=CycleOut)
def get_cycle(
    principal: Reader, cycle_id: int, response: Response, session: Session = Depends(get_session)
) -> CycleOut:
    """Show a payment cycle (``ETag``: its version)."""
    _cycle_in_scope(session, principal, cycle_id)
    return tag(response, CycleOut.model_validate(payments.get_cycle(session, cycle_id)))


@router.post("/cycles/{cycle_id}/entitlements", response_model=CycleOut)
def compute_entitlements(
    principal: Manager,
    cycle_id: int,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> CycleOut:
    """Compute (or recompute before approval) the cycle's entitlements (``If-Match``)."""
    _cycle_in_scope(session, principal, cycle_id)
    cycle = payments.get_cycle(session, cycle_id)
    cycle.expect_version(expected, f"payment cycle {cycle_id}")
    cycle = payments.compute_entitlements(session, cycle, actor)
    return tag(response, CycleOut.model_validate(cycle))


@router.post("/cycles/{cycle_id}/entitlements/job", response_model=JobAccepted, status_code=202)
def compute_entitlements_job(
    principal: Manager,
    cycle_id: int,
    request: Request,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> JobAccepted:
    """Start a job computing the cycle's entitlements (for large programmes)."""
    _cycle_in_scope(session, principal, cycle_id)
    job = jobs.enqueue(session, ENTITLEMENTS, {"cycle_id": cycle_id, "actor": actor}, actor=actor)
    return JobAccepted(
        id=job.id,
        kind=job.kind,
        status="queued",
        url=str(request.url_for("get_job", job_id=job.id)),
    )


@router.post("/cycles/{cycle_id}/approve", response_model=CycleOut)
def approve_cycle(
    principal: Approver,
    cycle_id: int,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> CycleOut:
    """Approve the entitlements (not by whoever computed them; ``If-Match``: the ETag read)."""
    _cycle_in_scope(session, principal, cycle_id)
    cycle = payments.get_cycle(session, cycle_id)
    cycle.expect_version(expected, f"payment cycle {cycle_id}")
    cycle = payments.approve_cycle(session, cycle, actor)
    return tag(response, CycleOut.model_validate(cycle))


@router.post("/cycles/{cycle_id}/payroll", response_model=PayrollOut)
def generate_payroll(
    principal: Manager,
    cycle_id: int,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> PayrollOut:
    """Write the payroll CSV and pain.001.001.09 XML (same files on every run)."""
    _cycle_in_scope(session, principal, cycle_id)
    out_dir = Path(get_settings().report_dir) / "payroll"
    return payments.generate_payroll(session, payments.get_cycle(session, cycle_id), out_dir, actor)


@router.post(
    "/cycles/{cycle_id}/reconciliations", response_model=ReconciliationOut, status_code=201
)
def import_reconciliation(
    principal: Manager,
    cycle_id: int,
    file: UploadFile = File(...),
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> ReconciliationOut:
    """Match a provider's payment report; nothing changes until it is accepted."""
    _cycle_in_scope(session, principal, cycle_id)
    record = payments.import_reconciliation(
        session,
        payments.get_cycle(session, cycle_id),
        file.filename or "reconciliation.csv",
        file.file.read(),
        actor,
    )
    return ReconciliationOut.model_validate(record)


@router.post("/reconciliations/{import_id}/accept", response_model=ReconciliationOut)
def accept_reconciliation(
    principal: Manager,
    import_id: int,
    session: Session = Depends(get_session),
    actor: str = Depends(get_actor),
) -> ReconciliationOut:
    """Apply the matched rows of a reconciliation import."""
    _national(principal, "reconciliation")
    return ReconciliationOut.model_validate(
        payments.accept_reconciliation(session, import_id, actor)
    )
