"""Monitoring indicators on the ten hand-built households of the simulation tests.

On 2025-06-30: CG enrols h1, h2 and OAP h1, h4, h8 (OAP's h9 exited in January),
so households h1, h2, h4, h8 (four one-person households of ten) are covered.
Payments in the 12 months to the date (cycles of May 2025, window ending 05-31):
  CG  (reconciled): h1 paid 10 on 05-31, h2 unclaimed.
  OAP (approved):   h1 paid 20 on 06-05 (late), h8 paid 20 on 05-20, h4 not yet reported.
A 2023 cycle is outside the 12 months. h1-h3 were updated on 2025-03-01 (the rest
in 2020); the member of h5 has the name, sex and birth date of h3's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from solidarity.monitoring import service
from solidarity.monitoring.errors import IndicatorInvalid
from solidarity.programs.models import Enrolment, Entitlement, PaymentCycle, Programme
from solidarity.registry.models import Household, Person
from tests.integration.test_simulation import build

AS_OF = date(2025, 6, 30)


def world(session: Session) -> dict[str, int]:
    ids = build(session)
    progs = {p.code: p.id for p in session.query(Programme).all()}
    enrolments: dict[tuple[str, str], int] = {}
    for code, hh in (("CG", "h1"), ("CG", "h2"), ("OAP", "h1"), ("OAP", "h4"), ("OAP", "h8")):
        e = Enrolment(
            programme_id=progs[code],
            household_id=ids[hh],
            status="active",
            as_of=date(2024, 1, 1),
            enrolled_on=date(2024, 1, 1),
        )
        session.add(e)
        session.flush()
        enrolments[(code, hh)] = e.id
    session.add(
        Enrolment(
            programme_id=progs["OAP"],
            household_id=ids["h9"],
            status="exited",
            as_of=date(2024, 1, 1),
            enrolled_on=date(2024, 1, 1),
            exited_on=date(2025, 1, 1),
        )
    )
    cycles = {}
    for code, status, period, start, end in (
        ("CG", "reconciled", "2025-05", date(2025, 5, 1), date(2025, 5, 31)),
        ("OAP", "approved", "2025-05", date(2025, 5, 1), date(2025, 5, 31)),
        ("CG", "reconciled", "2023-05", date(2023, 5, 1), date(2023, 5, 31)),
    ):
        c = PaymentCycle(
            programme_id=progs[code],
            period=period,
            window_start=start,
            window_end=end,
            status=status,
        )
        session.add(c)
        session.flush()
        cycles[(code, period)] = c.id
    payments = (
        ("CG", "2025-05", "h1", "paid", 10.0, date(2025, 5, 31)),
        ("CG", "2025-05", "h2", "unclaimed", None, None),
        ("OAP", "2025-05", "h1", "paid", 20.0, date(2025, 6, 5)),
        ("OAP", "2025-05", "h4", "computed", None, None),
        ("OAP", "2025-05", "h8", "paid", 20.0, date(2025, 5, 20)),
        ("CG", "2023-05", "h1", "paid", 10.0, date(2023, 5, 31)),
    )
    for n, (code, period, hh, status, paid, on) in enumerate(payments):
        session.add(
            Entitlement(
                cycle_id=cycles[(code, period)],
                programme_id=progs[code],
                enrolment_id=enrolments[(code, hh)],
                household_id=ids[hh],
                amount=paid or 10.0,
                payment_reference=f"REF-{n}",
                status=status,
                paid_amount=paid,
                paid_on=on,
            )
        )
    recent = datetime(2025, 3, 1, tzinfo=UTC)
    session.execute(
        update(Household)
        .where(Household.id.in_([ids["h1"], ids["h2"], ids["h3"]]))
        .values(valid_from=recent)
    )
    # Same name, sex and birth date as h3's member: a probable duplicate pair.
    session.query(Person).filter(Person.household_id == ids["h5"]).one().given_name = "P3"
    session.flush()
    return ids


def values(session: Session) -> dict[str, object]:
    service.load_standard(session, "analyst")
    return {v.code: v for v in service.compute_all(session, AS_OF)}


def test_standard_indicators_match_hand_counts(session: Session) -> None:
    world(session)
    v = values(session)
    sdg = v["SDG_1_3_1"]
    assert (sdg.value, sdg.numerator, sdg.denominator) == (0.4, 4, 10)  # type: ignore[attr-defined]
    by_sex = {(d["by"], d["group"]): d["value"] for d in sdg.disaggregation}  # type: ignore[attr-defined]
    # Women: h1, h3, h5, h7, h9 (h1 covered); men h2, h4, h6, h8, h10 (h2, h4, h8).
    assert by_sex[("sex", "female")] == 0.2 and by_sex[("sex", "male")] == 0.6
    assert by_sex[("area", "D1")] == 0.6 and by_sex[("area", "D2")] == 0.2
    assert v["ASPIRE_COVERAGE_Q1"].value == 1.0  # type: ignore[attr-defined]
    # Transfers: h1 10 + 20, h8 20 (the 2023 payment is too old): Q1 gets 30 of 50.
    assert v["ASPIRE_INCIDENCE_Q1"].value == 0.6  # type: ignore[attr-defined]
    # Beneficiaries h1, h2, h4, h8: 50 / ((100 + 200 + 400 + 800) * 12).
    assert v["ASPIRE_ADEQUACY"].value == pytest.approx(50 / 18000, abs=1e-6)  # type: ignore[attr-defined]
    # h1, h2, h4 of the four beneficiaries are in quintiles 1-2.
    assert v["TARGETING_ACCURACY"].value == 0.75  # type: ignore[attr-defined]
    # Reported: CG h1 (on time), CG h2 (unclaimed), OAP h1 (late), OAP h8 (early).
    assert v["PAYMENT_TIMELINESS"].value == 0.5  # type: ignore[attr-defined]
    assert v["RECONCILIATION_RATE"].value == 0.8  # type: ignore[attr-defined]
    assert v["UNCLAIMED_RATE"].value == 0.25  # type: ignore[attr-defined]
    assert v["REGISTRY_FRESHNESS"].value == 0.3  # type: ignore[attr-defined]
    assert v["DUPLICATE_RATE"].value == 0.2  # type: ignore[attr-defined]
    # No grievance was lodged: not computable with the reason, never a silent zero.
    grm = v["GRIEVANCE_WITHIN_STANDARD"]
    assert grm.status == "not_computable" and grm.value is None  # type: ignore[attr-defined]
    assert "grievance" in (grm.reason or "")  # type: ignore[attr-defined]


def test_bad_indicators_fail_clearly(session: Session) -> None:
    world(session)
    with pytest.raises(IndicatorInvalid, match="programmes"):
        service.save_indicator(
            session,
            service.parse_definition(
                {
                    "code": "X",
                    "name": "x",
                    "unit_of_analysis": "household",
                    "numerator": "programmez >= 1",
                }
            ),
            "analyst",
        )
    with pytest.raises(IndicatorInvalid, match="can be split by"):
        service.save_indicator(
            session,
            service.parse_definition(
                {
                    "code": "X",
                    "name": "x",
                    "unit_of_analysis": "payment",
                    "numerator": "1",
                    "disaggregations": ["sex"],
                }
            ),
            "analyst",
        )
    row = service.save_indicator(
        session,
        service.parse_definition(
            {
                "code": "NONE",
                "name": "nobody",
                "unit_of_analysis": "household",
                "filter": "programmes >= 5",
                "numerator": "1",
            }
        ),
        "analyst",
    )
    value = service.compute(session, row, AS_OF)
    assert value.status == "not_computable" and value.value is None
    assert "denominator is zero" in (value.reason or "")


def test_snapshots_are_reproducible_from_stored_versions(session: Session) -> None:
    from solidarity.coherence import plan
    from solidarity.coherence.schemas import IndicatorIn

    world(session)
    service.load_standard(session, "analyst")
    # SDG 1.3.1 feeds the coherence results framework's coverage indicator.
    plan.upsert_indicator(session, IndicatorIn(code="COV", name="Coverage"), actor="analyst")
    rows = service.snapshot(session, "2025-06", AS_OF, "analyst")
    sdg = next(r for r in rows if r.indicator_code == "SDG_1_3_1")
    assert (sdg.value, sdg.indicator_version, sdg.status) == (0.4, 1, "computed")
    cov = next(i for i in plan.list_indicators(session) if i.code == "COV")
    assert cov.latest == 0.4
    # A new version (new targets) does not change what the stored snapshot used.
    definition = service.parse_definition(
        {**service.indicator(session, "SDG_1_3_1").definition, "targets": {2025: 0.5}}
    )
    assert service.save_indicator(session, definition, "analyst").version == 2
    again, value, same_data = service.reproduce(session, sdg.id)
    assert same_data and value.version == 1 and value.value == again.value == 0.4
    trend = next(t for t in service.trends(session) if t["code"] == "SDG_1_3_1")
    assert trend["points"][0]["value"] == 0.4 and trend["points"][0]["target"] == 0.5


def test_grievance_indicators_match_hand_counts(session: Session) -> None:
    """Resolved in the 12 months: g1 in 10 days (due in 30), g2 in 40 days (late).

    g3 is still open and g4 was received in 2024: neither counts.
    """
    from solidarity.grievances.models import Grievance

    world(session)

    def at(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)

    for received, resolved, due in (
        (date(2025, 5, 1), date(2025, 5, 11), date(2025, 5, 31)),
        (date(2025, 5, 1), date(2025, 6, 10), date(2025, 5, 31)),
        (date(2025, 6, 1), None, date(2025, 7, 1)),
        (date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 31)),
    ):
        session.add(
            Grievance(
                category_code="payment", channel="phone",
                status="resolved" if resolved else "received",
                area_id=2, description="late payment", escalation_level="district",
                received_at=at(received), acknowledge_due=at(received), resolve_due=at(due),
                resolved_at=at(resolved) if resolved else None,
            )
        )  # fmt: skip
    session.flush()
    v = values(session)
    assert v["GRIEVANCE_RESOLUTION_DAYS"].value == pytest.approx(25.0)  # type: ignore[attr-defined]
    assert v["GRIEVANCE_RESOLUTION_DAYS"].denominator == 2  # type: ignore[attr-defined]
    assert v["GRIEVANCE_WITHIN_STANDARD"].value == 0.5  # type: ignore[attr-defined]


def test_journey_indicators_match_hand_counts(session: Session) -> None:
    """CG: h1 applied 01-10 and was enrolled 01-30 (20 days), h2 02-01 -> 03-03 (30 days),
    h3 applied 03-01 and was waitlisted. OAP enrolled h4 without an application; h5's
    2023 journey is older than 12 months. Conversion 2/3; 25 days on average.
    """
    from solidarity.programs.models import JourneyEvent

    ids = world(session)
    progs = {p.code: p.id for p in session.query(Programme).all()}
    for code, hh, event, day in (
        ("CG", "h1", "applied", date(2025, 1, 10)),
        ("CG", "h1", "enrolled", date(2025, 1, 30)),
        ("CG", "h2", "applied", date(2025, 2, 1)),
        ("CG", "h2", "enrolled", date(2025, 3, 3)),
        ("CG", "h3", "applied", date(2025, 3, 1)),
        ("CG", "h3", "waitlisted", date(2025, 3, 5)),
        ("OAP", "h4", "enrolled", date(2025, 4, 1)),
        ("CG", "h5", "applied", date(2023, 1, 1)),
        ("CG", "h5", "enrolled", date(2023, 2, 1)),
    ):
        session.add(
            JourneyEvent(programme_id=progs[code], household_id=ids[hh], event=event,
                         event_date=day)
        )  # fmt: skip
    session.flush()
    v = values(session)
    conversion = v["ENROLMENT_CONVERSION"]
    assert (conversion.numerator, conversion.denominator) == (2, 3)  # type: ignore[attr-defined]
    assert conversion.value == pytest.approx(2 / 3, abs=1e-6)  # type: ignore[attr-defined]
    assert v["DAYS_TO_ENROL"].value == 25.0  # type: ignore[attr-defined]
    by = {(d["by"], d["group"]): d["value"] for d in v["DAYS_TO_ENROL"].disaggregation}  # type: ignore[attr-defined]
    assert by == {("programme", "CG"): 25.0}


def test_a_snapshot_job_feeds_the_dashboard(engine: Engine) -> None:
    from solidarity.db.engine import unit_of_work
    from solidarity.jobs import service as jobs
    from solidarity.jobs.worker import Worker
    from solidarity.monitoring.jobs import SNAPSHOT

    with unit_of_work(engine) as s:
        world(s)
        service.load_standard(s, "analyst")
        assert all(i["latest"] is None for i in service.dashboard(s))
        params = {"period": "2025-06", "as_of": AS_OF.isoformat(), "actor": "analyst"}
        job_id = jobs.enqueue(s, SNAPSHOT, params, actor="analyst", max_attempts=1).id
    assert Worker(engine, "w").run_once() is True
    with unit_of_work(engine) as s:
        done = jobs.get_job(s, job_id)
        assert done.status == "succeeded", done.error
        result = done.result or {}
        items = {i["code"]: i for i in service.dashboard(s)}
        assert result["indicators"] == len(items)
        assert result["computed"] + result["not_computable"] == len(items)
        sdg = items["SDG_1_3_1"]
        latest = sdg["latest"]
        assert (latest["period"], latest["value"], latest["numerator"], latest["denominator"]) == (
            "2025-06",
            0.4,
            4,
            10,
        )
        by = {(d["by"], d["group"]): d["value"] for d in latest["disaggregation"]}
        assert by[("sex", "female")] == 0.2 and by[("sex", "male")] == 0.6
        assert sdg["disaggregations"] == ["sex", "age_group", "area"]
        assert [p["value"] for p in sdg["points"]] == [0.4]
        grm = items["GRIEVANCE_WITHIN_STANDARD"]["latest"]
        assert grm["status"] == "not_computable" and "grievance" in grm["reason"]
