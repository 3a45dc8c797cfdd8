"""Case management on both databases: opening, needs assessment, plan, referrals whose
outcomes return to the case, visits, reviews, caseload order, scope and closure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.errors import NotFoundError, StaleVersionError, ValidationFailed
from solidarity.governance import agreements
from solidarity.governance import service as governance
from solidarity.governance.principal import Principal
from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
from solidarity.grievances import cases, referrals
from solidarity.grievances.errors import AssignmentRefused, TransitionRefused
from solidarity.grievances.schemas import (
    AssessmentIn,
    CaseIn,
    NoteIn,
    PlanItemIn,
    PlanItemUpdate,
    ServiceIn,
)
from tests.integration.test_registry_builders import TinyRegistry, build_registry

TODAY = date.today()


def who(session: Session, username: str, permission: str = "cases.manage") -> Principal:
    return governance.cli_principal(session, username).scoped_to(permission)


@pytest.fixture
def reg(engine: Engine, make_account: Callable[..., str]) -> TinyRegistry:
    with unit_of_work(engine) as s:
        built = build_registry(s)
        agreements.create_agency(s, AgencyIn(code="MOE", name="Education"), actor="admin")
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOE",
                agency_code="MOE",
                purposes=["referral"],
                fields=["given_name"],
                valid_from=date(2020, 1, 1),
            ),
            actor="admin",
        )
        governance.create_user(
            s,
            username="moe.desk",
            display_name="MOE",
            password="correct-horse-battery",
            actor="admin",
            grants=[GrantIn(role="partner")],
            agency_code="MOE",
        )
    make_account("worker", "registration_officer", "R01-D01")
    make_account("south.worker", "registration_officer", "R02-D01")
    make_account("steward", "data_steward")
    with unit_of_work(engine) as s:
        referrals.create_service(
            s,
            who(s, "steward", "referrals.manage"),
            ServiceIn(
                code="SCH",
                name="School bursary",
                sector="education",
                agency_code="MOE",
                area_codes=["R01"],
                eligibility="children >= 1",
            ),
        )
    return built


def test_a_case_from_assessment_to_closure(engine: Engine, reg: TinyRegistry) -> None:
    with unit_of_work(engine) as s:
        worker = who(s, "worker")
        case = cases.open_case(
            s,
            worker,
            CaseIn(
                household_id=reg.okello,
                case_worker="worker",
                vulnerabilities=["disability", "child out of school"],
                review_date=TODAY + timedelta(days=30),
            ),
        )
        assert case.status == "open" and case.priority == "low" and case.area_code == "R01-D01"
        with pytest.raises(ValidationFailed):
            cases.assess(s, worker, case.id, AssessmentIn(version=case.version, scores={"x": 1}))
        with pytest.raises(ValidationFailed):
            cases.assess(
                s, worker, case.id, AssessmentIn(version=case.version, scores={"health": 9})
            )
        case = cases.assess(
            s,
            worker,
            case.id,
            AssessmentIn(
                version=case.version,
                scores={"food_security": 3, "health": 3, "child_protection": 2, "education": 3},
            ),
        )
        # (3*2 + 3*2 + 2*3 + 3*1) / (3*2 + 3*2 + 3*3 + 3 + 3 + 3) = 21 / 30
        assert case.score == 0.7 and case.priority == "high"
        case = cases.add_plan_item(
            s,
            worker,
            case.id,
            PlanItemIn(kind="goal", description="Food secure", due_date=TODAY - timedelta(days=1)),
        )
        assert case.overdue_items == 1
        case = cases.add_plan_item(
            s,
            worker,
            case.id,
            PlanItemIn(kind="referral", description="Bursary for Grace", service_code="SCH"),
        )
        referral_item = next(i for i in case.plan if i.kind == "referral")
        assert referral_item.referral_id is not None
        case = cases.add_note(s, worker, case.id, NoteIn(kind="visit", text="Met the family"))
        assert case.notes[0].kind == "visit" and case.notes[0].author == "worker"
    with unit_of_work(engine) as s:
        moe = who(s, "moe.desk", "referrals.manage")
        sent = referrals.get_referral(s, moe, referral_item.referral_id)
        assert sent.case_id == case.id
        r = referrals.step(s, moe, sent.id, "receive", sent.version)
        r = referrals.step(s, moe, sent.id, "accept", r.version)
        referrals.step(s, moe, sent.id, "serve", r.version, outcome="bursary paid")
    with unit_of_work(engine) as s:
        worker = who(s, "worker")
        case = cases.get_case(s, worker, case.id)
        item = next(i for i in case.plan if i.kind == "referral")
        assert item.status == "done" and item.outcome == "bursary paid"
        goal = next(i for i in case.plan if i.kind == "goal")
        case = cases.update_plan_item(
            s, worker, case.id, goal.id, PlanItemUpdate(version=goal.version, status="done")
        )
        assert case.overdue_items == 0
        with pytest.raises(StaleVersionError):
            cases.review(s, worker, case.id, case.version + 5, TODAY)
        case = cases.review(s, worker, case.id, case.version, TODAY + timedelta(days=90))
        case = cases.close_case(s, worker, case.id, case.version, "goals met")
        assert case.status == "closed" and case.closure_reason == "goals met"
        with pytest.raises(TransitionRefused):
            cases.add_plan_item(s, worker, case.id, PlanItemIn(kind="goal", description="more"))
        actions = [e.action for e in cases.events_of(s, worker, case.id)]
        assert actions[0] == "opened" and "referral_served" in actions and actions[-1] == "closed"


def test_caseload_by_priority_and_overdue_items_scoped_like_the_registry(
    engine: Engine, reg: TinyRegistry
) -> None:
    with unit_of_work(engine) as s:
        worker = who(s, "worker")
        low = cases.open_case(s, worker, CaseIn(household_id=reg.okello, case_worker="worker"))
        high = cases.open_case(s, worker, CaseIn(household_id=reg.okello, case_worker="worker"))
        cases.assess(
            s,
            worker,
            high.id,
            AssessmentIn(
                version=high.version,
                scores={"health": 3, "food_security": 3, "child_protection": 3},
            ),
        )
        overdue = cases.open_case(
            s,
            worker,
            CaseIn(
                household_id=reg.okello,
                case_worker="worker",
                review_date=TODAY - timedelta(days=3),
            ),
        )
        south = who(s, "south.worker")
        cases.open_case(s, south, CaseIn(household_id=reg.ali, case_worker="south.worker"))
        with pytest.raises(AssignmentRefused):  # a case worker outside the district
            cases.open_case(s, worker, CaseIn(household_id=reg.okello, case_worker="south.worker"))
        with pytest.raises(NotFoundError):  # a household outside the district
            cases.open_case(s, worker, CaseIn(household_id=reg.ali, case_worker="worker"))
    with unit_of_work(engine) as s:
        load = cases.caseload(s, who(s, "worker"), case_worker="worker")
        assert [c.id for c in load] == [high.id, overdue.id, low.id]
        assert load[1].review_overdue
        assert {c.household_id for c in cases.caseload(s, who(s, "south.worker"))} == {reg.ali}
        with pytest.raises(NotFoundError):
            cases.get_case(s, who(s, "south.worker"), low.id)
