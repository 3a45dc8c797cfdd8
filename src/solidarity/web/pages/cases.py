"""Case pages: the caseload by priority with overdue items, and one case with its needs
assessment (the checklist with scores), plan (goals, services, referrals with due
dates), visits and notes, review and closure.

Pages call :mod:`solidarity.grievances.cases` with the principal narrowed to
``cases.manage``: cases are scoped like the registry (area subtree, agency).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, SolidarityError, ValidationFailed
from solidarity.governance.principal import Principal
from solidarity.grievances import cases, referrals
from solidarity.grievances.schemas import (
    AssessmentIn,
    CaseIn,
    CaseOut,
    NoteIn,
    PlanItemIn,
    PlanItemUpdate,
)
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import field_errors, form_fields, locale_of, redirect, render

router = APIRouter(include_in_schema=False)

SessionDep = Annotated[Session, Depends(get_session)]
Worker = Annotated[Principal, Depends(require("cases.manage"))]
Form = Annotated[dict[str, str], Depends(form_fields)]
CaseId = Annotated[int, Path(ge=1)]


def _pydantic_errors(exc: ValidationError) -> dict[str, list[str]]:
    return field_errors(
        [{"field": str(e["loc"][0]) if e["loc"] else "", "message": e["msg"]} for e in exc.errors()]
    )


@router.get("/cases", response_class=HTMLResponse)
def caseload_page(
    request: Request, session: SessionDep, worker: Worker, view: str = "mine"
) -> HTMLResponse:
    """The caseload by priority, then overdue plan items and reviews."""
    view = view if view in ("mine", "all", "closed") else "mine"
    rows = cases.caseload(
        session,
        worker,
        case_worker=worker.username if view == "mine" else None,
        status="closed" if view == "closed" else "open",
    )
    return render(
        request,
        "cases/caseload.html",
        worker,
        cases=rows,
        view=view,
        values={"case_worker": worker.username},
        errors={},
        problem=None,
    )


@router.post("/cases", response_class=HTMLResponse)
def open_case_page(request: Request, session: SessionDep, worker: Worker, form: Form) -> Response:
    """Open a case from the caseload's form; errors come back beside their fields."""
    vulnerabilities = [v.strip() for v in form.get("vulnerabilities", "").split(",") if v.strip()]
    try:
        body = CaseIn.model_validate(
            {
                "household_id": form.get("household_id") or None,
                "person_id": form.get("person_id") or None,
                "case_worker": form.get("case_worker", "").strip() or worker.username,
                "vulnerabilities": vulnerabilities,
                "review_date": form.get("review_date") or None,
            }
        )
        created = cases.open_case(session, worker, body)
    except ValidationError as exc:
        return _open_form(request, worker, form, _pydantic_errors(exc), None)
    except ValidationFailed as exc:
        session.rollback()
        return _open_form(request, worker, form, field_errors(exc.errors), exc.detail)
    except NotFoundError as exc:
        session.rollback()
        return _open_form(request, worker, form, {"household_id": [exc.detail]}, exc.detail)
    except SolidarityError as exc:
        session.rollback()
        return _open_form(request, worker, form, {"case_worker": [exc.detail]}, exc.detail)
    return redirect(request, f"/cases/{created.id}")


def _open_form(
    request: Request,
    worker: Principal,
    values: dict[str, str],
    errors: dict[str, list[str]],
    problem: str | None,
) -> HTMLResponse:
    return render(
        request,
        "cases/_open_form.html",
        worker,
        status_code=422,
        values=values,
        errors=errors,
        problem=problem or locale_of(request).gettext("Some fields are not valid."),
    )


def _case_context(session: Session, worker: Principal, case: CaseOut) -> dict[str, Any]:
    spec = cases.checklist()
    scores = dict(case.assessment.get("scores", {}))
    return {
        "case": case,
        "checklist": spec["items"],
        "scores": scores,
        "services": referrals.list_services(session),
        "events": cases.events_of(session, worker, case.id),
        "today": date.today().isoformat(),
        "problem": None,
        "errors": {},
        "done": None,
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, session: SessionDep, worker: Worker, case_id: CaseId
) -> HTMLResponse:
    """One case: assessment, plan, visits and notes, review and closure."""
    case = cases.get_case(session, worker, case_id)
    return render(request, "cases/detail.html", worker, **_case_context(session, worker, case))


def _int(value: str | None) -> int:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() else -1


def _apply(
    session: Session, worker: Principal, case_id: int, part: str, form: dict[str, str]
) -> None:
    version = _int(form.get("version"))
    if part == "assessment":
        scores = {
            key.removeprefix("score."): _int(value)
            for key, value in form.items()
            if key.startswith("score.") and value != ""
        }
        cases.assess(session, worker, case_id, AssessmentIn(version=version, scores=scores))
    elif part == "plan":
        cases.add_plan_item(
            session,
            worker,
            case_id,
            PlanItemIn.model_validate(
                {
                    "kind": form.get("kind") or "goal",
                    "description": form.get("description", "").strip(),
                    "service_code": form.get("service_code") or None,
                    "due_date": form.get("due_date") or None,
                }
            ),
        )
    elif part.startswith("item-"):
        cases.update_plan_item(
            session,
            worker,
            case_id,
            _int(part.removeprefix("item-")),
            PlanItemUpdate.model_validate(
                {
                    "version": version,
                    "status": form.get("status") or "done",
                    "outcome": form.get("outcome") or None,
                }
            ),
        )
    elif part == "note":
        cases.add_note(
            session,
            worker,
            case_id,
            NoteIn.model_validate(
                {
                    "kind": form.get("kind") or "note",
                    "on": form.get("on") or None,
                    "text": form.get("text", "").strip(),
                }
            ),
        )
    elif part == "review":
        next_review = form.get("next_review", "")
        try:
            when = date.fromisoformat(next_review)
        except ValueError:
            raise ValidationFailed(
                "give the date of the next review",
                [{"field": "next_review", "message": "a date"}],
            ) from None
        cases.review(session, worker, case_id, version, when, form.get("note") or None)
    elif part == "close":
        reason = form.get("reason", "").strip()
        if not reason:
            raise ValidationFailed(
                "a case is closed with its reason",
                [{"field": "reason", "message": "required"}],
            )
        cases.close_case(session, worker, case_id, version, reason)
    else:
        raise NotFoundError(f"unknown part {part!r}")


@router.post("/cases/{case_id}/{part}", response_class=HTMLResponse)
def update_case_page(
    request: Request,
    session: SessionDep,
    worker: Worker,
    case_id: CaseId,
    part: str,
    form: Form,
) -> HTMLResponse:
    """Score the checklist, add or update a plan item, add a note, review or close."""
    locale = locale_of(request)
    problem: str | None = None
    errors: dict[str, list[str]] = {}
    status = 200
    try:
        _apply(session, worker, case_id, part, form)
    except ValidationError as exc:
        problem, errors, status = (
            locale.gettext("Some fields are not valid."),
            _pydantic_errors(exc),
            422,
        )
    except NotFoundError:
        raise
    except SolidarityError as exc:
        session.rollback()
        problem, status = exc.detail, exc.status_code
        if isinstance(exc, ValidationFailed):
            errors = field_errors(exc.errors)
    case = cases.get_case(session, worker, case_id)
    context = _case_context(session, worker, case)
    context.update(
        problem=problem,
        errors=errors,
        done=None if problem else locale.gettext("Saved."),
        form_part=part,
    )
    return render(request, "cases/_case.html", worker, status_code=status, **context)
