"""Referrals on both databases: the catalogue, suggested referrals against hand-computed
eligibility (one household and in bulk), the life-cycle across two agencies,
agreement and consent enforcement, counter-referrals, case and journey feeds, and
statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.errors import NotFoundError, PermissionDenied, ValidationFailed
from solidarity.governance import agreements
from solidarity.governance import service as governance
from solidarity.governance.agreements import AgreementRefused
from solidarity.governance.models import Consent
from solidarity.governance.principal import Principal
from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
from solidarity.grievances import referrals
from solidarity.grievances import service as grievances
from solidarity.grievances.errors import AreaNotServed, SharingRefused, TransitionRefused
from solidarity.grievances.models import Referral
from solidarity.grievances.schemas import CounterReferralIn, ReferralIn, ServiceIn
from solidarity.programs.models import JourneyEvent
from solidarity.registry.bulk import read_state
from solidarity.rules import to_polars
from tests.integration.test_registry_builders import TinyRegistry, build_registry

ON = date(2026, 3, 2)
PERM = "referrals.manage"

#: service -> (agency, sector, areas served, eligibility)
CATALOGUE = {
    "SCH": ("MOE", "education", ["R01"], "children >= 1"),
    "NUT": ("MOH", "health", ["R01-D01"], "children >= 1 && size >= 3"),
    "HIE": ("MOH", "health", ["R01", "R02"], "elderly >= 1"),
    "JOB": ("MOL", "labour", ["R02"], "size == 1"),
}


@dataclass
class World:
    reg: TinyRegistry
    engine: Engine


def person(session: Session, username: str, permission: str = PERM) -> Principal:
    return governance.cli_principal(session, username).scoped_to(permission)


@pytest.fixture
def world(engine: Engine, make_account: Callable[..., str]) -> World:
    with unit_of_work(engine) as s:
        reg = build_registry(s)
        for code in ("MOE", "MOH", "MOL"):
            agreements.create_agency(s, AgencyIn(code=code, name=code), actor="admin")
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOE",
                agency_code="MOE",
                purposes=["referral"],
                fields=["given_name", "family_name", "birth_date"],
                valid_from=date(2020, 1, 1),
            ),
            actor="admin",
        )
        agreements.create_agreement(
            s,
            AgreementIn(
                code="DSA-MOH",
                agency_code="MOH",
                purposes=["referral"],
                fields=["given_name", "family_name", "sex"],
                valid_from=date(2020, 1, 1),
                legal_basis="consent of the person",
            ),
            actor="admin",
        )
        for agency in ("MOE", "MOH"):
            governance.create_user(
                s,
                username=f"{agency.lower()}.desk",
                display_name=agency,
                password="correct-horse-battery",
                actor="admin",
                grants=[GrantIn(role="partner")],
                agency_code=agency,
            )
    make_account("officer", "registration_officer", "R01-D01")
    make_account("south.officer", "registration_officer", "R02-D01")
    make_account("steward", "data_steward")
    with unit_of_work(engine) as s:
        steward = person(s, "steward")
        for code, (agency, sector, areas, rule) in CATALOGUE.items():
            referrals.create_service(
                s,
                steward,
                ServiceIn(
                    code=code,
                    name=code,
                    sector=sector,
                    agency_code=agency,
                    area_codes=areas,
                    eligibility=rule,
                    days_to_respond=7,
                ),
            )
    return World(reg, engine)


def test_a_service_with_a_bad_rule_or_unknown_agency_is_refused(world: World) -> None:
    with unit_of_work(world.engine) as s:
        with pytest.raises(ValidationFailed) as refused:
            referrals.create_service(
                s,
                person(s, "steward"),
                ServiceIn(
                    code="BAD",
                    name="Bad",
                    sector="health",
                    agency_code="NOPE",
                    area_codes=["R09"],
                    eligibility="childrn >= 1",
                ),
            )
        fields = {e["field"] for e in refused.value.errors}
        assert fields == {"agency_code", "area_codes", "eligibility"}


def test_suggestions_for_a_household_match_hand_computed_eligibility(world: World) -> None:
    reg = world.reg
    expected = {reg.okello: ["NUT", "SCH"], reg.mwangi: ["HIE"], reg.ali: ["JOB"]}
    with unit_of_work(world.engine) as s:
        national = person(s, "steward")
        for household, codes in expected.items():
            found = referrals.suggest_for_household(s, national, household, ON)
            assert [f.service_code for f in found] == codes
            assert all(f.explanation for f in found)
        found = referrals.suggest_for_household(s, national, reg.okello, ON)
        assert "Children under 18: 1" in found[1].explanation
        with pytest.raises(NotFoundError):
            referrals.suggest_for_household(s, person(s, "officer"), reg.ali, ON)


def test_bulk_worklist_equals_the_rules_engine_and_drops_services_already_received(
    world: World,
) -> None:
    with unit_of_work(world.engine) as s:
        steward = person(s, "steward")
        bulk = referrals.worklist(s, steward, on=ON)
        assert bulk.households_evaluated == 3
        assert bulk.by_service == {"HIE": 1, "JOB": 1, "NUT": 1, "SCH": 1}
        # The rules engine alone, area by area by hand, gives the same pairs.
        households, persons = read_state(s.connection(), [], ["birth_date"], ON)
        households = households.with_columns(pl.lit(0).alias("unmet_conditions"))
        by_hand = set()
        areas = {world.reg.okello: "R01-D01", world.reg.mwangi: "R01-D02", world.reg.ali: "R02-D01"}
        for code, (_agency, _sector, served, rule) in CATALOGUE.items():
            checked = referrals._checked(rule, {}, ON)
            frame = to_polars(checked, as_of=ON).apply(households, members=persons).collect()
            for row in frame.filter(pl.col("result")).iter_rows(named=True):
                if any(areas[row["household_id"]].startswith(a) for a in served):
                    by_hand.add((row["household_id"], code))
        assert {(r.household_id, r.service_code) for r in bulk.items} == by_hand
        referrals.send_referral(
            s,
            person(s, "officer"),
            ReferralIn(
                service_code="SCH", household_id=world.reg.okello, person_id=world.reg.grace
            ),
            now=None,
        )
        after = referrals.worklist(s, steward, on=ON)
        assert after.by_service == {"HIE": 1, "JOB": 1, "NUT": 1}
        district = referrals.worklist(s, person(s, "officer"), on=ON)
        assert {r.household_id for r in district.items} == {world.reg.okello}


def test_the_referral_life_cycle_across_two_agencies(world: World) -> None:
    with unit_of_work(world.engine) as s:
        officer = person(s, "officer")
        sent = referrals.send_referral(
            s,
            officer,
            ReferralIn(
                service_code="SCH",
                household_id=world.reg.okello,
                person_id=world.reg.grace,
                fields=["given_name", "birth_date"],
                reason="out of school",
            ),
        )
        assert sent.status == "sent" and sent.to_agency == "MOE"
        assert sent.shared_record == {
            "id": world.reg.grace,
            "given_name": "Grace",
            "birth_date": "2015-07-01",
            "household_id": world.reg.okello,
        }
    # The shared record is sealed at rest (it copies her name), read back whole.
    with world.engine.connect() as conn:
        raw = conn.execute(text("SELECT shared_record FROM referral")).scalar_one()
    assert "Grace" not in raw and raw.count(":") == 1
    with unit_of_work(world.engine) as s:
        moe = person(s, "moe.desk")
        assert [r.id for r in referrals.list_referrals(s, moe)[0]] == [sent.id]
        assert referrals.get_referral(s, moe, sent.id).shared_record == sent.shared_record
        assert referrals.list_referrals(s, person(s, "moh.desk"))[0] == []
        with pytest.raises(NotFoundError):
            referrals.get_referral(s, person(s, "moh.desk"), sent.id)
        with pytest.raises(NotFoundError):
            referrals.get_referral(s, person(s, "south.officer"), sent.id)
        governance.create_user(
            s,
            username="moe.south",
            display_name="MOE south office",
            password="correct-horse-battery",
            actor="admin",
            grants=[GrantIn(role="partner", area_code="R02")],
            agency_code="MOE",
        )
        with pytest.raises(NotFoundError):  # the agency's office of another region
            referrals.get_referral(s, person(s, "moe.south"), sent.id)
        assert referrals.list_referrals(s, person(s, "moe.south"))[0] == []
        with pytest.raises(PermissionDenied):  # the sender cannot accept for the agency
            referrals.step(s, person(s, "officer"), sent.id, "receive", sent.version)
        with pytest.raises(TransitionRefused):
            referrals.step(s, moe, sent.id, "accept", sent.version)
        r = referrals.step(s, moe, sent.id, "receive", sent.version)
        with pytest.raises(ValidationFailed):
            referrals.step(s, moe, sent.id, "decline", r.version)
        r = referrals.step(s, moe, sent.id, "accept", r.version)
        with pytest.raises(PermissionDenied):  # the agency does not close
            referrals.step(s, moe, sent.id, "close", r.version)
        r = referrals.step(s, moe, sent.id, "serve", r.version, outcome="bursary granted")
        assert r.status == "served" and r.served_at is not None
        r = referrals.step(s, person(s, "officer"), sent.id, "close", r.version)
        assert r.status == "closed"
        with pytest.raises(TransitionRefused):
            referrals.step(s, moe, sent.id, "serve", r.version)
        steps = [e.action for e in referrals.events_of(s, person(s, "officer"), sent.id)]
        assert steps == ["sent", "receive", "accept", "serve", "close"]
        stats = grievances.referral_statistics(s, None)
        assert [(x.sector, x.area_code, x.sent, x.accepted, x.served) for x in stats] == [
            ("education", "R01-D01", 1, 1, 1)
        ]


def test_a_decline_needs_a_reason_and_a_counter_referral_carries_only_received_fields(
    world: World,
) -> None:
    with unit_of_work(world.engine) as s:
        sent = referrals.send_referral(
            s,
            person(s, "officer"),
            ReferralIn(
                service_code="SCH",
                household_id=world.reg.okello,
                person_id=world.reg.grace,
                fields=["given_name", "birth_date"],
            ),
        )
        moe = person(s, "moe.desk")
        r = referrals.step(s, moe, sent.id, "receive", sent.version)
        r = referrals.step(s, moe, sent.id, "decline", r.version, reason="needs health care first")
        assert r.decline_reason == "needs health care first"
        with pytest.raises(SharingRefused, match="did not come"):
            referrals.counter_refer(
                s, moe, sent.id, CounterReferralIn(service_code="NUT", fields=["sex"])
            )
        with pytest.raises(SharingRefused, match="consent"):  # MOH shares on consent only
            referrals.counter_refer(
                s, moe, sent.id, CounterReferralIn(service_code="NUT", fields=["given_name"])
            )
        agreements.record_consent(
            s,
            person(s, "officer"),
            agreements.ConsentIn(person_id=world.reg.grace, purpose="referral", evidence="form"),
        )
        counter = referrals.counter_refer(
            s, moe, sent.id, CounterReferralIn(service_code="NUT", fields=["given_name"])
        )
        assert counter.counter_of == sent.id and counter.to_agency == "MOH"
        assert counter.from_agency == "MOE" and counter.consent_id is not None
        assert set(counter.shared_record) == {"id", "given_name", "household_id"}


def test_agreements_consent_and_areas_are_enforced_and_nothing_is_sent(world: World) -> None:
    reg = world.reg
    with unit_of_work(world.engine) as s:
        officer = person(s, "officer")
        with pytest.raises(SharingRefused, match=r"sex"):
            referrals.send_referral(
                s,
                officer,
                ReferralIn(service_code="SCH", household_id=reg.okello, fields=["sex"]),
            )
        with pytest.raises(AreaNotServed):
            referrals.send_referral(
                s, person(s, "steward"), ReferralIn(service_code="JOB", household_id=reg.okello)
            )
        with pytest.raises(AgreementRefused):  # MOL has no agreement at all
            referrals.send_referral(
                s,
                person(s, "south.officer"),
                ReferralIn(service_code="JOB", household_id=reg.ali),
            )
        with pytest.raises(SharingRefused, match="consent"):
            referrals.send_referral(
                s, officer, ReferralIn(service_code="NUT", household_id=reg.okello)
            )
        with pytest.raises(ValidationFailed):
            referrals.send_referral(
                s, officer, ReferralIn(service_code="NOPE", household_id=reg.okello)
            )
        assert s.scalar(select(func.count()).select_from(Referral)) == 0
        assert s.scalar(select(func.count()).select_from(Consent)) == 0
        given = referrals.send_referral(
            s,
            officer,
            ReferralIn(
                service_code="NUT",
                household_id=reg.okello,
                fields=["given_name"],
                consent_evidence="thumbprint on form N-12",
            ),
        )
        consent = s.get(Consent, given.consent_id)
        assert consent is not None and consent.person_id == reg.amina
        assert consent.purpose == "referral"


def test_overdue_referrals_are_flagged_and_outcomes_reach_the_journey(world: World) -> None:
    from solidarity.programs import eligibility
    from solidarity.programs import service as programmes
    from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn

    with unit_of_work(world.engine) as s:
        programme = programmes.create_programme(s, ProgrammeIn(code="CG", name="Grant"), "pm")
        programmes.add_rule_version(
            s,
            "CG",
            RuleVersionIn(kind="eligibility", expression="children >= 1", valid_from=ON),
            "pm",
        )
        eligibility.enrol_eligible(s, programme, date.today(), "pm")
        worklist = referrals.worklist(s, person(s, "steward"), programme_code="CG", on=ON)
        assert worklist.households_evaluated == 1
        assert worklist.by_service == {"NUT": 1, "SCH": 1}
        from datetime import UTC, datetime

        sent = referrals.send_referral(
            s,
            person(s, "officer"),
            ReferralIn(service_code="SCH", household_id=world.reg.okello, programme_code="CG"),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
        assert sent.overdue  # seven days to respond, long past
        moe = person(s, "moe.desk")
        r = referrals.step(s, moe, sent.id, "receive", sent.version)
        r = referrals.step(s, moe, sent.id, "accept", r.version)
        referrals.step(s, moe, sent.id, "serve", r.version, outcome="enrolled")
        events = s.scalars(
            select(JourneyEvent.event).where(JourneyEvent.household_id == world.reg.okello)
        ).all()
        assert "referred" in events and "referral_served" in events
