"""Coherence diagnostics on a small hand-built country; every expected figure worked out by hand.

Ten one-person households, h1..h10, consumption per capita 100, 200, ... 1000 (so
quintile Q1 = h1, h2; Q2 = h3, h4; ... Q5 = h9, h10); h1-h5 in district D1 and
h6-h10 in D2; heads aged 70, 70, 66, 40, 40, 30, 30, 80, 50, 50 on 2025-06-30.

OAP (rule: a member 65+) enrols h1, h2, h3, h4; CSP (a member 60+ and consumption
>= 800) enrols h2, h8, h9; CGR (a child under 15) enrols h4, h5, h6. OAP and CSP
are declared mutually exclusive; CGR hands over to SBY (16-19).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from solidarity.coherence import service
from solidarity.coherence.models import ProgrammeRelation
from solidarity.programs.models import (
    Enrolment,
    Entitlement,
    JourneyEvent,
    PaymentCycle,
    Programme,
    ProgrammeRule,
)
from solidarity.registry.models import Area, Household, Person

AS_OF = date(2025, 6, 30)
AGES = [70, 70, 66, 40, 40, 30, 30, 80, 50, 50]


def _build(session: Session) -> dict[str, int]:
    region = Area(id=1, code="R01", name="Region", level=0, path="/R01/")
    d1 = Area(id=2, code="D1", name="One", level=1, parent_id=1, path="/R01/D1/")
    d2 = Area(id=3, code="D2", name="Two", level=1, parent_id=1, path="/R01/D2/")
    session.add_all([region, d1, d2])
    session.flush()
    ids: dict[str, int] = {}
    for i in range(1, 11):
        hh = Household(
            area_id=2 if i <= 5 else 3,
            status="active",
            urban_rural="rural" if i % 2 else "urban",
            consumption_per_capita=100.0 * i,
            valid_from=__import__("datetime").datetime(
                2020, 1, 1, tzinfo=__import__("datetime").UTC
            ),
        )
        session.add(hh)
        session.flush()
        ids[f"h{i}"] = hh.id
        session.add(
            Person(
                household_id=hh.id,
                area_id=hh.area_id,
                given_name=f"P{i}",
                family_name="Test",
                sex="female" if i % 2 else "male",
                birth_date=date(2025 - AGES[i - 1], 1, 1),
                relationship="head",
                valid_from=hh.valid_from,
            )
        )
    session.flush()
    rules = {
        "OAP": ("elderly", "any(members, m.age >= 65)", "Social Pensions Act 2019, s. 4"),
        "CSP": (
            "elderly",
            "any(members, m.age >= 60) && consumption_per_capita >= 800",
            "Social Security Act 2001, s. 30",
        ),
        "CGR": ("children", "count(members, m.age < 15) >= 1", "Child Grant Decree 2020, art. 3"),
        "SBY": ("children", "any(members, m.age >= 16 && m.age <= 19)", "Bursary Manual 2021, 2.1"),
    }
    programmes: dict[str, Programme] = {}
    for code, (group, expression, legal) in rules.items():
        p = Programme(
            code=code,
            name=code,
            ministry="Welfare" if code != "CSP" else "Social Security",
            instrument="social_insurance" if code == "CSP" else "cash_transfer",
            lifecycle_group=group,
            risk_covered="old_age" if group == "elderly" else "child_poverty",
            targeting_method="categorical",
            annual_budget=1000.0,
            funding_source="treasury",
        )
        session.add(p)
        session.flush()
        programmes[code] = p
        session.add(
            ProgrammeRule(
                programme_id=p.id,
                kind="eligibility",
                expression=expression,
                valid_from=date(2020, 1, 1),
                parameters={},
                legal_reference=legal,
                test_cases=[],
            )
        )
    members = {"OAP": [1, 2, 3, 4], "CSP": [2, 8, 9], "CGR": [4, 5, 6]}
    for code, households in members.items():
        for i in households:
            session.add(
                Enrolment(
                    programme_id=programmes[code].id,
                    household_id=ids[f"h{i}"],
                    status="active",
                    as_of=date(2024, 1, 1),
                    enrolled_on=date(2024, 1, 1),
                )
            )
    # An exited enrolment does not count on the as-of date.
    session.add(
        Enrolment(
            programme_id=programmes["CGR"].id,
            household_id=ids["h7"],
            status="exited",
            as_of=date(2024, 1, 1),
            enrolled_on=date(2024, 1, 1),
            exited_on=date(2025, 1, 1),
        )
    )
    oap_cycle = PaymentCycle(
        programme_id=programmes["OAP"].id,
        period="2025-05",
        window_start=date(2025, 5, 1),
        window_end=date(2025, 5, 31),
        status="reconciled",
    )
    csp_cycle = PaymentCycle(
        programme_id=programmes["CSP"].id,
        period="2025-05",
        window_start=date(2025, 5, 1),
        window_end=date(2025, 5, 31),
        status="approved",
    )
    draft = PaymentCycle(
        programme_id=programmes["CGR"].id,
        period="2025-06",
        window_start=date(2025, 6, 1),
        window_end=date(2025, 6, 30),
        status="computed",
    )
    session.add_all([oap_cycle, csp_cycle, draft])
    session.flush()
    payments = [
        (oap_cycle, "OAP", 1, 100.0, "paid", 100.0),
        (oap_cycle, "OAP", 2, 100.0, "paid", 100.0),
        (oap_cycle, "OAP", 3, 100.0, "failed", None),
        (oap_cycle, "OAP", 4, 100.0, "paid", 100.0),
        (csp_cycle, "CSP", 2, 300.0, "computed", None),
        (csp_cycle, "CSP", 8, 300.0, "computed", None),
        (csp_cycle, "CSP", 9, 300.0, "computed", None),
        (draft, "CGR", 4, 50.0, "computed", None),
    ]
    for n, (cycle, code, i, amount, status, paid) in enumerate(payments):
        session.add(
            Entitlement(
                cycle_id=cycle.id,
                programme_id=programmes[code].id,
                enrolment_id=0,
                household_id=ids[f"h{i}"],
                amount=amount,
                payment_reference=f"REF{n}",
                status=status,
                paid_amount=paid,
            )
        )
    day = date(2024, 1, 1)
    from datetime import timedelta

    journey = [
        ("OAP", 1, "applied", 0, None),
        ("OAP", 1, "assessed", 10, None),
        ("OAP", 1, "eligibility_decided", 20, None),
        ("OAP", 1, "enrolled", 30, None),
        ("OAP", 2, "applied", 0, None),
        ("OAP", 2, "assessed", 20, None),
        ("OAP", 2, "eligibility_decided", 30, None),
        ("OAP", 2, "enrolled", 40, None),
        ("OAP", 3, "applied", 0, None),
        ("OAP", 3, "assessed", 30, "could_not_verify_identity"),
        ("OAP", 5, "applied", 0, "incomplete_documents"),
        ("CSP", 2, "applied", 5, None),
        ("CSP", 2, "assessed", 15, None),
        ("CSP", 2, "enrolled", 25, None),
    ]
    for code, i, event, offset, reason in journey:
        session.add(
            JourneyEvent(
                programme_id=programmes[code].id,
                household_id=ids[f"h{i}"],
                event=event,
                event_date=day + timedelta(days=offset),
                reason=reason,
            )
        )
    session.add_all(
        [
            ProgrammeRelation(kind="mutually_exclusive", programme_a="OAP", programme_b="CSP",
                              legal_reference="Pensions Harmonisation Decree 2022, art. 9"),
            ProgrammeRelation(kind="hand_over", programme_a="CGR", programme_b="SBY"),
        ]
    )  # fmt: skip
    session.commit()
    return ids


@pytest.fixture
def country(session: Session) -> dict[str, int]:
    return _build(session)


def _pair(pairs: list[dict[str, object]], a: str, b: str) -> dict[str, object]:
    return next(p for p in pairs if {p["programme_a"], p["programme_b"]} == {a, b})


def test_overlaps_by_hand(session: Session, country: dict[str, int]) -> None:
    out = service.overlaps_of(service.Context(session, AS_OF))
    # OAP {1,2,3,4}, CSP {2,8,9}, CGR {4,5,6}; h7's CGR enrolment ended before the as-of date.
    oap_csp = _pair(out.pairs, "OAP", "CSP")
    assert oap_csp["households_both"] == 1
    assert oap_csp["jaccard"] == pytest.approx(1 / (4 + 3 - 1))
    shares = sorted([oap_csp["share_a_in_b"], oap_csp["share_b_in_a"]])  # type: ignore[type-var]
    assert shares == [pytest.approx(1 / 4), pytest.approx(1 / 3)]
    assert _pair(out.pairs, "OAP", "CGR")["households_both"] == 1
    assert _pair(out.pairs, "CGR", "CSP")["households_both"] == 0
    assert _pair(out.pairs, "CGR", "CSP")["jaccard"] == 0
    assert out.beneficiaries == 8
    multiplicity = {r["programmes"]: r for r in out.multiplicity}
    assert multiplicity["1"]["households"] == 6
    assert multiplicity["2"]["households"] == 2
    assert multiplicity["2"]["share"] == pytest.approx(2 / 8)
    assert multiplicity["4+"]["households"] == 0
    assert [v["household_id"] for v in out.exclusive_violations] == [country["h2"]]
    assert out.exclusive_violations[0]["legal_reference"].startswith("Pensions Harmonisation")


def test_overlaps_in_one_area(session: Session, country: dict[str, int]) -> None:
    out = service.overlaps_of(service.Context(session, AS_OF, area_code="D2"))
    # In D2 only h6 (CGR), h8 and h9 (CSP) are beneficiaries.
    assert out.beneficiaries == 3
    assert out.exclusive_violations == []


def test_exclusion_and_inclusion_errors_by_hand(session: Session, country: dict[str, int]) -> None:
    out = service.targeting_of(service.Context(session, AS_OF))
    table = {r["programme"]: r for r in out.rows}
    # OAP target (65+): h1, h2, h3, h8; covered h1, h2, h3; h4 enrolled but 40.
    assert table["OAP"]["target"] == 4
    assert table["OAP"]["beneficiaries"] == 4
    assert table["OAP"]["exclusion_error"] == pytest.approx(1 / 4)
    assert table["OAP"]["inclusion_error"] == pytest.approx(1 / 4)
    # CSP target (60+ and consumption >= 800): h8 only; enrolled h2, h8, h9.
    assert table["CSP"]["target"] == 1
    assert table["CSP"]["exclusion_error"] == 0
    assert table["CSP"]["inclusion_error"] == pytest.approx(2 / 3)
    # Nobody has a child: CGR's three beneficiaries are all inclusion errors.
    assert table["CGR"]["target"] == 0
    assert table["CGR"]["inclusion_error"] == 1
    # System: targets {1,2,3,8}, beneficiaries {1,2,3,4,5,6,8,9}: all targets covered.
    assert table["ALL"]["target"] == 4
    assert table["ALL"]["exclusion_error"] == 0
    assert table["ALL"]["inclusion_error"] == pytest.approx(4 / 8)
    assert out.target_sources["OAP"] == "eligibility rule"
    # Default vulnerable: the poorest 20% of persons = h1, h2, both covered.
    assert out.vulnerable_households == 2
    assert out.uncovered_households == 0


def test_targeting_by_area_and_declared_target(session: Session, country: dict[str, int]) -> None:
    from solidarity.coherence.models import DeclaredTarget

    session.add(
        DeclaredTarget(programme_code=None, name="poorest 70%", kind="poorest_share", share=0.7)
    )
    session.add(
        DeclaredTarget(programme_code="CGR", name="poorest 30%", kind="poorest_share", share=0.3)
    )
    session.commit()
    out = service.targeting_of(service.Context(session, AS_OF, area_level=1), by="area")
    rows = {(r["programme"], r["group"]): r for r in out.rows}
    # CGR target now h1, h2, h3 (all in D1), beneficiaries h4, h5 (D1), h6 (D2).
    assert rows[("CGR", "D1")]["target"] == 3
    assert rows[("CGR", "D1")]["exclusion_error"] == 1
    assert rows[("CGR", "D2")]["inclusion_error"] == 1
    assert out.target_sources["CGR"] == "declared: poorest 30%"
    # Vulnerable h1..h7: uncovered h7 only (its enrolment had ended), in D2.
    assert out.vulnerable_households == 7
    assert out.uncovered_households == 1
    assert out.uncovered_sample == [country["h7"]]
    assert out.worst_areas[0]["area"] == "D2"
    assert out.worst_areas[0]["uncovered"] == 1
    assert out.worst_areas[0]["uncovered_share"] == pytest.approx(1 / 2)


def test_fiscal_incidence_by_hand(session: Session, country: dict[str, int]) -> None:
    out = service.fiscal_of(service.Context(session, AS_OF))
    per = {r["programme"]: r for r in out.by_programme}
    # OAP reconciled: paid 100 x 3 (h3 failed); CSP approved: 300 x 3; CGR draft: nothing.
    assert per["OAP"]["spending"] == pytest.approx(300)
    assert per["CSP"]["spending"] == pytest.approx(900)
    assert per["CGR"]["spending"] == 0
    assert per["OAP"]["cost_per_beneficiary"] == pytest.approx(300 / 4)
    assert per["CSP"]["execution_rate"] == pytest.approx(0.9)
    incidence = {r["quintile"]: r["share"] for r in out.incidence if r["programme"] == "ALL"}
    # Q1 (h1, h2): 100 + 100 + 300; Q2 (h3, h4): 100; Q4 (h8): 300; Q5 (h9): 300. Total 1200.
    assert incidence == {
        "Q1": pytest.approx(500 / 1200),
        "Q2": pytest.approx(100 / 1200),
        "Q4": pytest.approx(300 / 1200),
        "Q5": pytest.approx(300 / 1200),
    }
    ministries = {r["ministry"]: r for r in out.by_ministry}
    assert ministries["Welfare"]["spending"] == pytest.approx(300)
    assert ministries["Welfare"]["programmes"] == 3


def test_journey_medians_by_hand(session: Session, country: dict[str, int]) -> None:
    out = service.journey_of(service.Context(session, AS_OF))
    oap = {r["stage"]: r for r in out.funnel if r["programme"] == "OAP"}
    assert oap["applied"]["households"] == 4
    assert oap["assessed"]["households"] == 3
    assert oap["assessed"]["conversion"] == pytest.approx(3 / 4)
    # Days to assessment 10, 20, 30: median 20; p90 = 20 + 0.8 * (30 - 20) = 28.
    assert oap["assessed"]["median_days"] == pytest.approx(20)
    assert oap["assessed"]["p90_days"] == pytest.approx(28)
    assert oap["eligibility_decided"]["conversion"] == pytest.approx(2 / 3)
    assert oap["enrolled"]["median_days"] == pytest.approx(10)
    drops = {(r["programme"], r["stage"], r["reason"]): r["households"] for r in out.drop_off}
    assert drops == {
        ("OAP", "applied", "incomplete_documents"): 1,
        ("OAP", "assessed", "could_not_verify_identity"): 1,
    }
    # h2 applied to OAP and CSP: one repeated application, one repeated assessment.
    assert out.repeated_summary["households_applying_to_several"] == 1
    assert out.repeated_summary["repeated_applications"] == 1
    assert out.repeated_summary["repeated_assessments"] == 1
    assert out.repeated_sample[0]["household_id"] == country["h2"]


def test_rule_gap_and_exclusive_eligibility(session: Session, country: dict[str, int]) -> None:
    out = service.rules_of(service.Context(session, AS_OF))
    bands = {r["programme"]: r["age_band"] for r in out.rules}
    assert bands == {"CGR": "under 15", "CSP": "60+", "OAP": "65+", "SBY": "16-19"}
    [gap] = out.hand_overs
    assert gap["gap"] == "15"
    assert gap["gap_years"] == 1
    assert gap["legal_reference_a"] == "Child Grant Decree 2020, art. 3"
    assert gap["legal_reference_b"] == "Bursary Manual 2021, 2.1"
    # Eligible for both OAP (65+) and CSP (60+, consumption >= 800): h8 only.
    [both] = out.exclusive_eligible
    assert both["eligible_for_both"] == 1
    assert both["households"] == [country["h8"]]
    assert out.contradictions == []


def test_policy_map_flags(session: Session, country: dict[str, int]) -> None:
    out = service.policy_map_of(service.Context(session, AS_OF))
    flagged = {(r["lifecycle_group"], r["risk"]): r["flag"] for r in out.flagged}
    # Old age is covered twice for the elderly (OAP, CSP): crowded; children's
    # poverty twice (CGR, SBY); nothing covers old age for children, and so on.
    assert flagged[("elderly", "old_age")] == "crowded"
    assert flagged[("children", "child_poverty")] == "crowded"
    assert flagged[("working_age", "old_age")] == "empty"
    cell = next(
        c
        for c in out.cells
        if (c["lifecycle_group"], c["risk"], c["instrument_class"])
        == ("elderly", "old_age", "social insurance")
    )
    assert cell["programmes"] == ["CSP"]
    assert cell["beneficiaries"] == 3
