"""Grievance redress on both databases: intake, every workflow transition (allowed and
refused), escalation on a breached service standard with a controlled clock,
sensitive-category visibility, withheld identities, resolution actions, appeals,
journey events and indicators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.errors import ConflictError, NotFoundError, StaleVersionError, ValidationFailed
from solidarity.governance import service as governance
from solidarity.governance.principal import Principal
from solidarity.grievances import service as grievances
from solidarity.grievances.errors import AssignmentRefused, TransitionRefused, UnknownCategory
from solidarity.grievances.models import Grievance, RedressEvent
from solidarity.grievances.schemas import GrievanceIn
from solidarity.programs.models import Entitlement, JourneyEvent
from solidarity.registry.models import ChangeRequest
from tests.integration.test_registry_builders import TinyRegistry, build_registry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MANAGE = "grievances.manage"


@dataclass
class World:
    reg: TinyRegistry
    engine: Engine


@pytest.fixture
def world(engine: Engine, make_account: Callable[..., str]) -> World:
    with unit_of_work(engine) as session:
        reg = build_registry(session)
    make_account("officer", "registration_officer", "R01-D01")
    make_account("investigator", "registration_officer", "R01-D01")
    make_account("south.officer", "registration_officer", "R02-D01")
    make_account("focal", "supervisor", "R01")
    make_account("south.focal", "supervisor", "R02")
    make_account("analyst", "analyst")
    return World(reg, engine)


def who(session: Session, username: str, permission: str = MANAGE) -> Principal:
    """The principal a route would get from ``require(permission)``."""
    return governance.cli_principal(session, username).scoped_to(permission)


def complaint(reg: TinyRegistry, **extra: object) -> GrievanceIn:
    fields: dict[str, object] = {
        "category": "data_error",
        "channel": "office",
        "description": "My birth date is wrong",
        "household_id": reg.okello,
        "person_id": reg.amina,
        "complainant_name": "Amina Okello",
        "complainant_contact": "+256700000001",
    }
    fields.update(extra)
    return GrievanceIn.model_validate(fields)


def test_workflow_allows_each_step_in_order_and_records_actor_and_time(world: World) -> None:
    with unit_of_work(world.engine) as s:
        officer = who(s, "officer")
        g = grievances.lodge(s, officer, complaint(world.reg), now=T0)
        assert g.status == "received" and g.reference.startswith("GRV-")
        assert g.acknowledge_due == T0 + timedelta(days=3)
        assert g.escalation_level == "community"
        steps = [
            lambda v: grievances.acknowledge(s, officer, g.id, v, now=T0 + timedelta(hours=1)),
            lambda v: grievances.assign(s, officer, g.id, "investigator", v),
            lambda v: grievances.investigate(s, who(s, "investigator"), g.id, v),
            lambda v: grievances.resolve(s, who(s, "investigator"), g.id, "Corrected", v),
            lambda v: grievances.close(s, officer, g.id, v),
            lambda v: grievances.appeal(s, officer, g.id, v, note="still wrong"),
            lambda v: grievances.assign(s, officer, g.id, "investigator", v),
        ]
        version = g.version
        statuses = []
        for step in steps:
            out = step(version)
            version = out.version
            statuses.append(out.status)
        assert statuses == [
            "acknowledged",
            "assigned",
            "under_investigation",
            "resolved",
            "closed",
            "appealed",
            "assigned",
        ]
        assert out.escalation_level == "district"  # the appeal went one level up
        events = grievances.events_of(s, officer, g.id)
        assert [e.action for e in events] == [
            "received",
            "acknowledge",
            "assign",
            "investigate",
            "resolve",
            "close",
            "appeal",
            "assign",
        ]
        assert {e.actor for e in events} == {"officer", "investigator"}
        assert all(e.at is not None for e in events)
        assert events[1].at.replace(tzinfo=UTC) == T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("prepare", "step"),
    [
        (0, "resolve"),
        (0, "assign"),
        (0, "close"),
        (0, "appeal"),
        (1, "acknowledge"),
        (1, "investigate"),
        (2, "resolve"),
        (2, "close"),
        (3, "close"),
        (3, "acknowledge"),
        (4, "investigate"),
    ],
)
def test_steps_not_allowed_from_the_current_status_are_refused_and_change_nothing(
    world: World, prepare: int, step: str
) -> None:
    with unit_of_work(world.engine) as s:
        officer = who(s, "officer")
        g = grievances.lodge(s, officer, complaint(world.reg), now=T0)
        forward = [
            lambda v: grievances.acknowledge(s, officer, g.id, v),
            lambda v: grievances.assign(s, officer, g.id, "investigator", v),
            lambda v: grievances.investigate(s, officer, g.id, v),
            lambda v: grievances.resolve(s, officer, g.id, "done", v),
        ]
        version = g.version
        for move in forward[:prepare]:
            version = move(version).version
    attempts = {
        "acknowledge": lambda s, p: grievances.acknowledge(s, p, g.id, version),
        "assign": lambda s, p: grievances.assign(s, p, g.id, "investigator", version),
        "investigate": lambda s, p: grievances.investigate(s, p, g.id, version),
        "resolve": lambda s, p: grievances.resolve(s, p, g.id, "x", version),
        "close": lambda s, p: grievances.close(s, p, g.id, version),
        "appeal": lambda s, p: grievances.appeal(s, p, g.id, version),
    }
    with unit_of_work(world.engine) as s:
        before = s.get(Grievance, g.id)
        assert before is not None
        status, events = before.status, _events(s, g.id)
        with pytest.raises(TransitionRefused) as refused:
            attempts[step](s, who(s, "officer"))
        assert "cannot be" in refused.value.detail and status in refused.value.detail
    with unit_of_work(world.engine) as s:
        after = s.get(Grievance, g.id)
        assert after is not None and after.status == status and after.version == version
        assert _events(s, g.id) == events


def _events(session: Session, grievance_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RedressEvent)
            .where(
                RedressEvent.subject_id == grievance_id, RedressEvent.subject_type == "grievance"
            )
        )
        or 0
    )


def test_a_stale_version_is_refused(world: World) -> None:
    with unit_of_work(world.engine) as s:
        g = grievances.lodge(s, who(s, "officer"), complaint(world.reg))
    with unit_of_work(world.engine) as s, pytest.raises(StaleVersionError):
        grievances.acknowledge(s, who(s, "officer"), g.id, g.version + 1)


def test_unknown_categories_and_missing_places_are_refused(world: World) -> None:
    with unit_of_work(world.engine) as s:
        with pytest.raises(UnknownCategory) as unknown:
            grievances.lodge(s, who(s, "officer"), complaint(world.reg, category="weather"))
        assert "weather" in unknown.value.detail
        assert "payment" in unknown.value.errors[0]["message"]
        with pytest.raises(ValidationFailed):
            grievances.lodge(s, who(s, "officer"), complaint(world.reg, household_id=None))
        with pytest.raises(NotFoundError):  # a household outside the officer's district
            grievances.lodge(s, who(s, "officer"), complaint(world.reg, household_id=world.reg.ali))
    with unit_of_work(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(Grievance)) == 0


def test_anonymous_intake_by_area(world: World) -> None:
    with unit_of_work(world.engine) as s:
        g = grievances.lodge(
            s,
            who(s, "officer"),
            GrievanceIn(
                category="other",
                channel="phone",
                description="Staff ask for money at the pay point",
                area_code="R01-D01",
                anonymous=True,
            ),
        )
        assert g.anonymous and g.identity_withheld and g.household_id is None
        with pytest.raises(ValidationFailed):
            grievances.lodge(
                s,
                who(s, "officer"),
                GrievanceIn(
                    category="other",
                    description="x",
                    area_code="R01-D01",
                    anonymous=True,
                    complainant_name="Named",
                ),
            )


def test_assignment_outside_scope_to_the_subject_or_undesignated_is_refused(
    world: World,
) -> None:
    with unit_of_work(world.engine) as s:
        officer = who(s, "officer")
        g = grievances.lodge(s, officer, complaint(world.reg, subject_staff="investigator"))
        g = grievances.acknowledge(s, officer, g.id, g.version)
        with pytest.raises(AssignmentRefused, match=r"outside|area"):
            grievances.assign(s, officer, g.id, "south.officer", g.version)
        with pytest.raises(AssignmentRefused, match="about"):
            grievances.assign(s, officer, g.id, "investigator", g.version)
        with pytest.raises(AssignmentRefused, match="no active account"):
            grievances.assign(s, officer, g.id, "nobody", g.version)
        sensitive = grievances.lodge(s, officer, complaint(world.reg, category="sea"))
    with unit_of_work(world.engine) as s:
        focal = who(s, "focal")
        sensitive = grievances.acknowledge(s, focal, sensitive.id, sensitive.version)
        with pytest.raises(AssignmentRefused, match="sensitive"):
            grievances.assign(s, focal, sensitive.id, "officer", sensitive.version)
        assigned = grievances.assign(s, focal, sensitive.id, "focal", sensitive.version)
        assert assigned.assigned_to == "focal"


def test_escalation_when_a_service_standard_is_breached(world: World) -> None:
    with unit_of_work(world.engine) as s:
        officer = who(s, "officer")
        late = grievances.lodge(s, officer, complaint(world.reg, category="payment"), now=T0)
        on_time = grievances.lodge(s, officer, complaint(world.reg, category="payment"), now=T0)
        grievances.acknowledge(s, officer, on_time.id, on_time.version, now=T0 + timedelta(days=1))
    with unit_of_work(world.engine) as s:
        assert grievances.escalate_overdue(s, now=T0 + timedelta(days=1)).escalated == []
    with unit_of_work(world.engine) as s:
        # Two days to acknowledge: on day 3 the unacknowledged one goes up a level.
        assert grievances.escalate_overdue(s, now=T0 + timedelta(days=3)).escalated == [late.id]
    with unit_of_work(world.engine) as s:
        # The same breach escalates once.
        assert grievances.escalate_overdue(s, now=T0 + timedelta(days=3, hours=1)).escalated == []
        out = grievances.get_grievance(s, who(s, "officer", "grievances.read"), late.id)
        assert out.escalation_level == "region" and out.escalations == 1
        events = grievances.events_of(s, who(s, "officer"), late.id)
        assert events[-1].action == "escalated" and events[-1].actor == "system"
        assert events[-1].details["breached"] == "acknowledge"
    with unit_of_work(world.engine) as s:
        # Fourteen days to resolve: on day 15 the acknowledged one goes up too.
        escalated = grievances.escalate_overdue(s, now=T0 + timedelta(days=15)).escalated
        assert on_time.id in escalated
        again = grievances.get_grievance(s, who(s, "officer", "grievances.read"), on_time.id)
        assert again.escalation_level == "region"
        assert (
            grievances.events_of(s, who(s, "officer"), on_time.id)[-1].details["breached"]
            == "resolve"
        )


def test_sensitive_categories_are_seen_only_by_designated_roles_never_by_the_subject(
    world: World, make_account: Callable[..., str]
) -> None:
    make_account("focal.accused", "supervisor", "R01")
    with unit_of_work(world.engine) as s:
        g = grievances.lodge(
            s,
            who(s, "officer"),
            complaint(world.reg, category="misconduct_fraud", subject_staff="focal.accused"),
        )
        plain = grievances.lodge(
            s, who(s, "officer"), complaint(world.reg, subject_staff="investigator")
        )
    read = "grievances.read"
    with unit_of_work(world.engine) as s:
        assert grievances.get_grievance(s, who(s, "focal", read), g.id).sensitive
        assert g.id in [x.id for x in grievances.list_grievances(s, who(s, "focal", read)).items]
        for username in ("officer", "investigator", "analyst", "south.focal", "focal.accused"):
            with pytest.raises(NotFoundError):
                grievances.get_grievance(s, who(s, username, read), g.id)
            listed = grievances.list_grievances(s, who(s, username, read)).items
            assert g.id not in [x.id for x in listed], username
        # A grievance about a staff member is never shown to them, sensitive or not.
        with pytest.raises(NotFoundError):
            grievances.get_grievance(s, who(s, "investigator", read), plain.id)
        assert grievances.get_grievance(s, who(s, "officer", read), plain.id).id == plain.id


def test_complainant_identity_can_be_withheld_from_investigators(world: World) -> None:
    read = "grievances.read"
    with unit_of_work(world.engine) as s:
        officer = who(s, "officer")
        g = grievances.lodge(s, officer, complaint(world.reg, withhold_identity=True))
        g = grievances.acknowledge(s, officer, g.id, g.version)
        grievances.assign(s, officer, g.id, "investigator", g.version)
        open_one = grievances.lodge(s, officer, complaint(world.reg))
    with unit_of_work(world.engine) as s:
        seen = grievances.get_grievance(s, who(s, "investigator", read), g.id)
        assert seen.identity_withheld and seen.complainant_name is None
        assert seen.person_id is None and seen.complainant_contact is None
        assert grievances.get_grievance(s, who(s, "officer", read), g.id).complainant_name
        assert grievances.get_grievance(s, who(s, "focal", read), g.id).complainant_name
        # Analysts read pseudonymised: no complainant names at all.
        analysed = grievances.get_grievance(s, who(s, "analyst", read), open_one.id)
        assert analysed.complainant_name is None and analysed.description
        shown = grievances.get_grievance(s, who(s, "investigator", read), open_one.id)
        assert shown.complainant_name == "Amina Okello"


# --- resolution actions, appeals and the journey -------------------------------------------


def _programme(session: Session) -> int:
    """Programme MX (10 per member) enrolling every household, one paid cycle."""
    from solidarity.programs import eligibility, payments
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn

    programme = programmes.create_programme(session, ProgrammeIn(code="MX", name="Grant"), "pm")
    for kind, expression in (("eligibility", "size >= 2"), ("benefit", "10 * size")):
        programmes.add_rule_version(
            session,
            "MX",
            RuleVersionIn(kind=kind, expression=expression, valid_from=date(2020, 1, 1)),
            "pm",
        )
    eligibility.enrol_eligible(session, programme, date.today(), "pm")
    cycle = payments.create_cycle(
        session, programme, "2026-01", date(2026, 1, 1), date(2026, 1, 31), "pm"
    )
    payments.compute_entitlements(session, cycle, "pm")
    payments.approve_cycle(session, cycle, "checker")
    for entitlement in session.scalars(select(Entitlement).where(Entitlement.cycle_id == cycle.id)):
        entitlement.status = "paid"  # as reconciliation would report
    session.flush()
    return programme.id


def _actionable(session: Session, reg: TinyRegistry, **extra: object) -> int:
    officer = who(session, "officer")
    g = grievances.lodge(session, officer, complaint(reg, **extra))
    g = grievances.acknowledge(session, officer, g.id, g.version)
    g = grievances.assign(session, officer, g.id, "officer", g.version)
    return grievances.investigate(session, officer, g.id, g.version).id


def test_resolution_opens_a_change_request(world: World) -> None:
    with unit_of_work(world.engine) as s:
        gid = _actionable(s, world.reg)
        with pytest.raises(ValidationFailed):  # an invalid request files nothing
            grievances.file_change_request(
                s, who(s, "officer"), gid, "update_fields", {"household": {"roof": "gold"}}
            )
    with unit_of_work(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(ChangeRequest)) == 0
        done = grievances.file_change_request(
            s, who(s, "officer"), gid, "update_fields", {"household": {"roof": "tiles"}}
        )
    with unit_of_work(world.engine) as s:
        request = s.get(ChangeRequest, done.details["change_request_id"])
        assert request is not None and request.status == "submitted"
        assert request.household_id == world.reg.okello
        assert request.reason == f"grievance {done.grievance.reference}"
        actions = [e.action for e in grievances.events_of(s, who(s, "officer"), gid)]
        assert actions[-1] == "change_request_filed"


def test_actions_are_refused_before_assignment(world: World) -> None:
    with unit_of_work(world.engine) as s:
        g = grievances.lodge(s, who(s, "officer"), complaint(world.reg))
        with pytest.raises(TransitionRefused):
            grievances.file_change_request(
                s, who(s, "officer"), g.id, "update_fields", {"household": {"roof": "tiles"}}
            )


def test_resolution_reissues_a_payment_in_the_next_cycle(world: World) -> None:
    from solidarity.programs import payments
    from solidarity.programs.models import PaymentCycle, Programme

    with unit_of_work(world.engine) as s:
        _programme(s)
        gid = _actionable(s, world.reg, category="payment", programme_code="MX")
        paid = s.scalar(select(Entitlement).where(Entitlement.household_id == world.reg.okello))
        assert paid is not None and paid.status == "paid"
        other = s.scalar(select(Entitlement).where(Entitlement.household_id == world.reg.mwangi))
        assert other is not None
        with pytest.raises(NotFoundError):  # not the grievance's household
            grievances.reissue_payment(s, who(s, "officer"), gid, other.id)
        done = grievances.reissue_payment(s, who(s, "officer"), gid, paid.id)
        assert done.details["previous_status"] == "paid"
        paid_id = paid.id
    with unit_of_work(world.engine) as s:
        programme = s.scalar(select(Programme).where(Programme.code == "MX"))
        assert programme is not None
        cycle = payments.create_cycle(
            s, programme, "2026-02", date(2026, 2, 1), date(2026, 2, 28), "pm"
        )
        payments.compute_entitlements(s, cycle, "pm")
        reissued = s.scalar(select(Entitlement).where(Entitlement.reissue_of == paid_id))
        assert reissued is not None and reissued.cycle_id == cycle.id
        assert isinstance(cycle, PaymentCycle)
        with pytest.raises(ConflictError, match="already re-issued"):
            grievances.reissue_payment(s, who(s, "officer"), gid, paid_id)


def test_an_appeal_shows_the_explanation_and_feeds_the_journey(world: World) -> None:
    with unit_of_work(world.engine) as s:
        _programme(s)
        officer = who(s, "officer")
        appeal = grievances.lodge(
            s,
            officer,
            GrievanceIn(
                kind="appeal",
                category="exclusion",
                description="We were refused",
                household_id=world.reg.okello,
                programme_code="MX",
            ),
        )
        assert appeal.decision is not None
        assert appeal.decision["eligible"] is True
        assert "size" in appeal.decision["text"]
        with pytest.raises(ValidationFailed):  # an appeal names its programme
            grievances.lodge(
                s,
                officer,
                GrievanceIn(
                    kind="appeal",
                    category="exclusion",
                    description="x",
                    household_id=world.reg.okello,
                ),
            )
        g = grievances.acknowledge(s, officer, appeal.id, appeal.version)
        g = grievances.assign(s, officer, g.id, "officer", g.version)
        g = grievances.investigate(s, officer, g.id, g.version)
        again = grievances.reassess(s, officer, g.id)
        assert again.details["eligible"] is True and "size" in again.details["text"]
        grievances.resolve(s, officer, g.id, "Upheld", g.version)
    with unit_of_work(world.engine) as s:
        events = s.scalars(
            select(JourneyEvent.event)
            .where(JourneyEvent.household_id == world.reg.okello)
            .order_by(JourneyEvent.id)
        ).all()
        assert [e for e in events if e not in ("enrolled", "applied", "assessed")] == [
            "appeal_lodged",
            "reassessed",
            "appeal_decided",
        ]


def test_indicators_report_resolution_time_standard_and_repeats(world: World) -> None:
    read = "grievances.read"
    with unit_of_work(world.engine) as s:
        _programme(s)
        officer = who(s, "officer")
        ids = []
        for days in (2, 40):
            g = grievances.lodge(s, officer, complaint(world.reg, programme_code="MX"), now=T0)
            g = grievances.acknowledge(s, officer, g.id, g.version, now=T0)
            g = grievances.assign(s, officer, g.id, "officer", g.version, now=T0)
            g = grievances.investigate(s, officer, g.id, g.version, now=T0)
            grievances.resolve(s, officer, g.id, "done", g.version, now=T0 + timedelta(days=days))
            ids.append(g.id)
        grievances.lodge(s, officer, complaint(world.reg), now=T0)
    with unit_of_work(world.engine) as s:
        figures = grievances.indicators(s, who(s, "officer", read), now=T0 + timedelta(days=60))
        assert figures.grievances == 3 and figures.resolved == 2
        assert figures.median_days_to_resolve == 21.0
        assert figures.share_within_standard == 0.5  # data_error: 21 days to resolve
        assert figures.open_overdue == 1
        repeat = [r for r in figures.repeat_complaints if r.programme_code == "MX"]
        assert repeat and repeat[0].area_code == "R01-D01" and repeat[0].grievances == 2
        south = grievances.indicators(s, who(s, "south.officer", read))
        assert south.grievances == 0


def test_a_sensitive_grant_narrower_than_reading_shows_only_its_areas(world: World) -> None:
    from solidarity.governance.schemas import GrantIn

    with unit_of_work(world.engine) as s:
        governance.create_user(
            s,
            username="mixed",
            display_name="mixed",
            password="correct-horse-battery",
            actor="test",
            grants=[GrantIn(role="analyst"), GrantIn(role="supervisor", area_code="R02")],
        )
        north = grievances.lodge(s, who(s, "officer"), complaint(world.reg, category="sea"))
        south = grievances.lodge(
            s,
            who(s, "south.officer"),
            complaint(world.reg, category="sea", household_id=world.reg.ali, person_id=None),
        )
        plain = grievances.lodge(s, who(s, "officer"), complaint(world.reg))
    with unit_of_work(world.engine) as s:
        page = grievances.list_grievances(s, who(s, "mixed", "grievances.read"))
        assert {g.id for g in page.items} == {south.id, plain.id} and page.total == 2
        with pytest.raises(NotFoundError):
            grievances.get_grievance(s, who(s, "mixed", "grievances.read"), north.id)
        one = grievances.list_grievances(s, who(s, "mixed", "grievances.read"), limit=1)
        assert len(one.items) == 1 and one.total == 2
