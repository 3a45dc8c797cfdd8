"""``solidarity grievances``, ``solidarity cases`` and ``solidarity referrals``.

Every command acts as an account (``--user``): the operator vouches for who they
are, and the account's grants decide what it may see and do, as in the API.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy.orm import Session

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.governance.principal import Principal
from solidarity.grievances import cases as case_service
from solidarity.grievances import referrals as referral_service
from solidarity.grievances import service
from solidarity.grievances.schemas import (
    AssessmentIn,
    CaseIn,
    CounterReferralIn,
    GrievanceIn,
    NoteIn,
    PlanItemIn,
    ReferralIn,
    ServiceIn,
)

grievances_app = typer.Typer(help="Grievances and appeals: intake, workflow, escalation.")
cases_app = typer.Typer(help="Case management: caseload, assessment, plan, visits, closure.")
referrals_app = typer.Typer(help="The service catalogue, suggested referrals and referrals.")
console = Console()

USER = typer.Option(..., "--user", "-u", help="The account acting (its grants apply).")
VERSION = typer.Option(..., "--version", help="The version you read (optimistic locking).")


def _as(session: Session, username: str, permission: str) -> Principal:
    from solidarity.errors import PermissionDenied
    from solidarity.governance import service as governance

    principal = governance.cli_principal(session, username)
    if not principal.has(permission):
        raise PermissionDenied(f"{username} lacks the permission {permission!r}")
    return principal.scoped_to(permission)


def _print(result: Any) -> None:
    if isinstance(result, BaseModel):
        data: Any = result.model_dump(mode="json")
    elif isinstance(result, list):
        data = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
    else:
        data = result
    console.print_json(json.dumps(data, default=str))


# --- grievances ----------------------------------------------------------------------------


@grievances_app.command("categories")
@command
def categories(user: str = USER) -> None:
    """The deployment's categories, service standards and escalation paths."""
    with unit_of_work() as s:
        _as(s, user, "grievances.read")
        _print(service.list_categories(s))


@grievances_app.command("load-categories")
@command
def load_categories(path: Path, user: str = USER) -> None:
    """Create or update categories from a YAML file (``categories:`` list)."""
    with unit_of_work() as s:
        principal = _as(s, user, "grievances.manage")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        _print(service.load_categories(s, data["categories"], actor=principal.username))


@grievances_app.command("lodge")
@command
def lodge(
    category: str = typer.Option(..., "--category"),
    description: str = typer.Option(..., "--description"),
    household: int | None = typer.Option(None, "--household"),
    person: int | None = typer.Option(None, "--person"),
    area: str | None = typer.Option(None, "--area"),
    channel: str = typer.Option("office", "--channel"),
    programme: str | None = typer.Option(None, "--programme"),
    appeal: bool = typer.Option(False, "--appeal", help="An appeal of an eligibility decision."),
    anonymous: bool = typer.Option(False, "--anonymous"),
    withhold_identity: bool = typer.Option(False, "--withhold-identity"),
    name: str | None = typer.Option(None, "--name"),
    contact: str | None = typer.Option(None, "--contact"),
    subject_staff: str | None = typer.Option(None, "--about-staff"),
    user: str = USER,
) -> None:
    """Take in a complaint or an appeal."""
    body = GrievanceIn.model_validate(
        {
            "kind": "appeal" if appeal else "complaint",
            "category": category,
            "channel": channel,
            "description": description,
            "household_id": household,
            "person_id": person,
            "area_code": area,
            "programme_code": programme,
            "anonymous": anonymous,
            "withhold_identity": withhold_identity,
            "complainant_name": name,
            "complainant_contact": contact,
            "subject_staff": subject_staff,
        }
    )
    with unit_of_work() as s:
        _print(service.lodge(s, _as(s, user, "grievances.manage"), body))


@grievances_app.command("list")
@command
def list_(
    status: str | None = typer.Option(None, "--status"),
    assigned_to: str | None = typer.Option(None, "--assigned-to"),
    user: str = USER,
) -> None:
    """Grievances the account may see."""
    with unit_of_work() as s:
        principal = _as(s, user, "grievances.read")
        _print(service.list_grievances(s, principal, status=status, assigned_to=assigned_to))


@grievances_app.command("show")
@command
def show(grievance_id: int, user: str = USER) -> None:
    """One grievance and its steps."""
    with unit_of_work() as s:
        principal = _as(s, user, "grievances.read")
        out = service.get_grievance(s, principal, grievance_id).model_dump(mode="json")
        out["events"] = [
            e.model_dump(mode="json") for e in service.events_of(s, principal, grievance_id)
        ]
        _print(out)


@grievances_app.command("step")
@command
def step(
    grievance_id: int,
    action: str = typer.Argument(
        ..., help="acknowledge, assign, investigate, resolve, close, appeal"
    ),
    version: int = VERSION,
    assignee: str | None = typer.Option(None, "--assignee"),
    resolution: str | None = typer.Option(None, "--resolution"),
    note: str | None = typer.Option(None, "--note"),
    user: str = USER,
) -> None:
    """Move a grievance one step of the workflow."""
    from solidarity.errors import ValidationFailed

    with unit_of_work() as s:
        p = _as(s, user, "grievances.manage")
        if action == "acknowledge":
            _print(service.acknowledge(s, p, grievance_id, version, note))
        elif action == "assign" and assignee:
            _print(service.assign(s, p, grievance_id, assignee, version, note))
        elif action == "investigate":
            _print(service.investigate(s, p, grievance_id, version, note))
        elif action == "resolve" and resolution:
            _print(service.resolve(s, p, grievance_id, resolution, version))
        elif action == "close":
            _print(service.close(s, p, grievance_id, version, note))
        elif action == "appeal":
            _print(service.appeal(s, p, grievance_id, version, note))
        else:
            raise ValidationFailed(
                f"unknown step {action!r} or a missing --assignee/--resolution",
                [{"field": "action", "value": action, "message": "see --help"}],
            )


@grievances_app.command("change-request")
@command
def change_request(
    grievance_id: int,
    kind: str = typer.Option(..., "--kind"),
    payload: str = typer.Option(..., "--payload", help="The change request payload as JSON."),
    user: str = USER,
) -> None:
    """Resolution action: file a change request of the grievance's household."""
    with unit_of_work() as s:
        p = _as(s, user, "grievances.manage")
        _print(service.file_change_request(s, p, grievance_id, kind, json.loads(payload)))


@grievances_app.command("reassess")
@command
def reassess(
    grievance_id: int, programme: str | None = typer.Option(None, "--programme"), user: str = USER
) -> None:
    """Resolution action: re-run the eligibility assessment."""
    with unit_of_work() as s:
        _print(service.reassess(s, _as(s, user, "grievances.manage"), grievance_id, programme))


@grievances_app.command("reissue")
@command
def reissue(
    grievance_id: int, entitlement: int = typer.Option(..., "--entitlement"), user: str = USER
) -> None:
    """Resolution action: re-issue a payment in the programme's next cycle."""
    with unit_of_work() as s:
        p = _as(s, user, "grievances.manage")
        _print(service.reissue_payment(s, p, grievance_id, entitlement))


@grievances_app.command("escalate")
@command
def escalate(
    now: str | None = typer.Option(None, "--now", help="ISO time to run as (default: now)."),
) -> None:
    """Escalate every grievance whose service standard is breached (run it daily)."""
    moment = datetime.fromisoformat(now) if now else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    with unit_of_work() as s:
        _print(service.escalate_overdue(s, moment))


@grievances_app.command("indicators")
@command
def indicators(user: str = USER) -> None:
    """Resolution time, share within standard, repeats, referral figures."""
    with unit_of_work() as s:
        _print(service.indicators(s, _as(s, user, "grievances.read")))


# --- cases -----------------------------------------------------------------------------------


@cases_app.command("open")
@command
def open_case(
    household: int = typer.Option(..., "--household"),
    case_worker: str = typer.Option(..., "--case-worker"),
    person: int | None = typer.Option(None, "--person"),
    vulnerability: list[str] = typer.Option([], "--vulnerability"),
    review: str | None = typer.Option(None, "--review", help="First review date."),
    user: str = USER,
) -> None:
    """Open a case."""
    body = CaseIn(
        household_id=household,
        person_id=person,
        case_worker=case_worker,
        vulnerabilities=vulnerability,
        review_date=date.fromisoformat(review) if review else None,
    )
    with unit_of_work() as s:
        _print(case_service.open_case(s, _as(s, user, "cases.manage"), body))


@cases_app.command("list")
@command
def caseload(
    case_worker: str | None = typer.Option(None, "--case-worker"), user: str = USER
) -> None:
    """The caseload by priority and overdue items."""
    with unit_of_work() as s:
        _print(case_service.caseload(s, _as(s, user, "cases.manage"), case_worker))


@cases_app.command("show")
@command
def show_case(case_id: int, user: str = USER) -> None:
    """One case with its plan and notes."""
    with unit_of_work() as s:
        _print(case_service.get_case(s, _as(s, user, "cases.manage"), case_id))


@cases_app.command("assess")
@command
def assess(
    case_id: int,
    score: list[str] = typer.Option(..., "--score", help="item=score, repeated"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """Score the needs checklist."""
    scores = {k: int(v) for k, _, v in (item.partition("=") for item in score)}
    with unit_of_work() as s:
        p = _as(s, user, "cases.manage")
        _print(case_service.assess(s, p, case_id, AssessmentIn(version=version, scores=scores)))


@cases_app.command("plan")
@command
def plan(
    case_id: int,
    kind: str = typer.Option(..., "--kind", help="goal, service or referral"),
    description: str = typer.Option(..., "--description"),
    service_code: str | None = typer.Option(None, "--service"),
    due: str | None = typer.Option(None, "--due"),
    user: str = USER,
) -> None:
    """Add a goal, service or referral to the plan."""
    body = PlanItemIn.model_validate(
        {"kind": kind, "description": description, "service_code": service_code, "due_date": due}
    )
    with unit_of_work() as s:
        _print(case_service.add_plan_item(s, _as(s, user, "cases.manage"), case_id, body))


@cases_app.command("note")
@command
def note(
    case_id: int,
    text: str = typer.Option(..., "--text"),
    visit: bool = typer.Option(False, "--visit"),
    user: str = USER,
) -> None:
    """Record a visit or a note."""
    body = NoteIn(kind="visit" if visit else "note", text=text)
    with unit_of_work() as s:
        _print(case_service.add_note(s, _as(s, user, "cases.manage"), case_id, body))


@cases_app.command("close")
@command
def close_case(
    case_id: int,
    reason: str = typer.Option(..., "--reason"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """Close a case."""
    with unit_of_work() as s:
        p = _as(s, user, "cases.manage")
        _print(case_service.close_case(s, p, case_id, version, reason))


# --- referrals -------------------------------------------------------------------------------


@referrals_app.command("services")
@command
def services(user: str = USER) -> None:
    """The service catalogue."""
    with unit_of_work() as s:
        _as(s, user, "referrals.manage")
        _print(referral_service.list_services(s))


@referrals_app.command("load-services")
@command
def load_services(path: Path, user: str = USER) -> None:
    """Add services from a YAML file (``services:`` list of ServiceIn)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        _print(
            [
                referral_service.create_service(s, p, ServiceIn.model_validate(row))
                for row in data["services"]
            ]
        )


@referrals_app.command("suggest")
@command
def suggest(household: int, user: str = USER) -> None:
    """Services a household is likely eligible for and not yet receiving, explained."""
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        _print(referral_service.suggest_for_household(s, p, household))


@referrals_app.command("worklist")
@command
def worklist(
    programme: str | None = typer.Option(None, "--programme"),
    service_code: str | None = typer.Option(None, "--service"),
    limit: int = typer.Option(100, "--limit"),
    user: str = USER,
) -> None:
    """Suggested referrals in bulk (a programme's beneficiaries, or everyone in scope)."""
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        _print(
            referral_service.worklist(
                s, p, programme_code=programme, service_code=service_code, limit=limit
            )
        )


@referrals_app.command("send")
@command
def send(
    service_code: str = typer.Option(..., "--service"),
    household: int = typer.Option(..., "--household"),
    person: int | None = typer.Option(None, "--person"),
    field: list[str] = typer.Option([], "--field", help="A person field to share, repeated."),
    consent: str | None = typer.Option(None, "--consent", help="Consent evidence to record."),
    reason: str | None = typer.Option(None, "--reason"),
    case: int | None = typer.Option(None, "--case"),
    user: str = USER,
) -> None:
    """Send a referral."""
    body = ReferralIn(
        service_code=service_code,
        household_id=household,
        person_id=person,
        fields=field,
        consent_evidence=consent,
        reason=reason,
        case_id=case,
    )
    with unit_of_work() as s:
        _print(referral_service.send_referral(s, _as(s, user, "referrals.manage"), body))


@referrals_app.command("list")
@command
def list_referrals(status: str | None = typer.Option(None, "--status"), user: str = USER) -> None:
    """Referrals to the account's agency, or sent within its areas."""
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        items, total = referral_service.list_referrals(s, p, status=status)
        _print({"total": total, "items": [i.model_dump(mode="json") for i in items]})


@referrals_app.command("step")
@command
def referral_step(
    referral_id: int,
    action: str = typer.Argument(..., help="receive, accept, decline, serve, close"),
    version: int = VERSION,
    reason: str | None = typer.Option(None, "--reason"),
    outcome: str | None = typer.Option(None, "--outcome"),
    user: str = USER,
) -> None:
    """Move a referral one step of its life-cycle."""
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        _print(
            referral_service.step(
                s, p, referral_id, action, version, reason=reason, outcome=outcome
            )
        )


@referrals_app.command("counter")
@command
def counter(
    referral_id: int,
    service_code: str = typer.Option(..., "--service"),
    field: list[str] = typer.Option([], "--field"),
    reason: str | None = typer.Option(None, "--reason"),
    user: str = USER,
) -> None:
    """Counter-refer from a received referral."""
    body = CounterReferralIn(service_code=service_code, fields=field, reason=reason)
    with unit_of_work() as s:
        p = _as(s, user, "referrals.manage")
        _print(referral_service.counter_refer(s, p, referral_id, body))
