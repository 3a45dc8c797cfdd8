"""Referral statistics (sent, accepted, served, days to service, by sector and area) feed
the coherence diagnostics and the monitoring indicators: checked against hand counts
on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from solidarity.coherence import plan
from solidarity.coherence import service as diagnostics
from solidarity.db.engine import unit_of_work
from solidarity.grievances import referrals
from solidarity.grievances import service as grievances
from solidarity.grievances.schemas import ReferralIn
from solidarity.monitoring import service as monitoring
from tests.integration.test_referrals import World, person, world  # noqa: F401

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AS_OF = date(2026, 4, 1)


def _day(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _referrals(w: World) -> None:
    """R1 SCH okello served after 4 days; R2 NUT okello declined; R3 HIE mwangi served
    after 10 days; R4 HIE okello still sent."""
    reg = w.reg
    plan_ = [
        ("SCH", reg.okello, 0, ["receive", "accept", "serve"], 4),
        ("NUT", reg.okello, 0, ["receive", "decline"], 2),
        ("HIE", reg.mwangi, 1, ["receive", "accept", "serve"], 11),
        ("HIE", reg.okello, 2, [], 0),
    ]
    for service, household, sent_day, steps, done_day in plan_:
        with unit_of_work(w.engine) as s:
            officer = person(s, "steward")
            sent = referrals.send_referral(
                s,
                officer,
                ReferralIn(service_code=service, household_id=household, consent_evidence="form"),
                now=_day(sent_day),
            )
            agency = {"SCH": "moe.desk", "NUT": "moh.desk", "HIE": "moh.desk"}[service]
            version = sent.version
            for step in steps:
                when = _day(done_day) if step in ("serve", "decline") else _day(sent_day + 0.5)
                version = referrals.step(
                    s,
                    person(s, agency),
                    sent.id,
                    step,
                    version,
                    reason="full" if step == "decline" else None,
                    now=when,
                ).version


def test_statistics_by_sector_and_area_match_hand_counts(world: World) -> None:  # noqa: F811
    _referrals(world)
    with unit_of_work(world.engine) as s:
        rows = [
            (
                r.sector,
                r.area_code,
                r.sent,
                r.accepted,
                r.declined,
                r.served,
                r.median_days_to_service,
            )
            for r in grievances.referral_statistics(s, None)
        ]
        assert rows == [
            ("education", "R01-D01", 1, 1, 0, 1, 4.0),
            ("health", "R01-D01", 2, 0, 1, 0, None),
            ("health", "R01-D02", 1, 1, 0, 1, 10.0),
        ]
        district = grievances.referral_statistics(s, [_path(s, "R01-D02")])
        assert [(r.sector, r.sent) for r in district] == [("health", 1)]


def _path(session: object, code: str) -> str:
    from solidarity.registry import service as registry

    return registry.get_area(session, code).path  # type: ignore[arg-type]


def test_coherence_reads_cross_sectoral_linkage_from_the_grievances_service(
    world: World,  # noqa: F811
) -> None:
    _referrals(world)
    with unit_of_work(world.engine) as s:
        linkage = diagnostics.referrals_of(diagnostics.Context(s, AS_OF))
        assert (linkage.sent, linkage.accepted, linkage.declined, linkage.served) == (4, 2, 1, 2)
        assert linkage.acceptance_share == 0.5 and linkage.served_share == 0.5
        assert linkage.median_days_to_service == 7.0  # median of 4 and 10
        assert len(linkage.by_sector_area) == 3
        south = diagnostics.referrals_of(diagnostics.Context(s, AS_OF, "R01-D02"))
        assert (south.sent, south.served, south.median_days_to_service) == (1, 1, 10.0)
        # As of the first day only R1 and R2 had been sent.
        first = diagnostics.referrals_of(diagnostics.Context(s, T0.date()))
        assert first.sent == 2
        figures = plan.metrics(diagnostics.Context(s, AS_OF))
        assert figures["referrals.sent"] == 4.0 and figures["referrals.served_share"] == 0.5
        score, evidence = plan.suggest(figures, 0)["grievance"]
        assert score == 3  # served share 0.5: band 3 (>= 0.5)
        assert evidence["referrals.median_days_to_service"] == 7.0


def test_standard_referral_indicators_match_hand_counts(world: World) -> None:  # noqa: F811
    _referrals(world)
    with unit_of_work(world.engine) as s:
        monitoring.load_standard(s, "tester")
        served = monitoring.compute(s, monitoring.indicator(s, "REFERRAL_SERVED"), AS_OF)
        assert (served.value, served.numerator, served.denominator) == (0.5, 2.0, 4.0)
        split = {(d["by"], d["group"]): d["value"] for d in served.disaggregation}
        assert split == {
            ("sector", "education"): 1.0,
            ("sector", "health"): round(1 / 3, 6),
            ("area", "R01-D01"): round(1 / 3, 6),
            ("area", "R01-D02"): 1.0,
        }
        accepted = monitoring.compute(s, monitoring.indicator(s, "REFERRAL_ACCEPTANCE"), AS_OF)
        assert accepted.value == 0.5
        days = monitoring.compute(s, monitoring.indicator(s, "REFERRAL_DAYS_TO_SERVICE"), AS_OF)
        assert days.value == 7.0 and days.denominator == 2.0
        assert {d["group"]: d["value"] for d in days.disaggregation} == {
            "education": 4.0,
            "health": 10.0,
        }
        later = monitoring.compute(s, monitoring.indicator(s, "REFERRAL_SERVED"), date(2027, 6, 1))
        assert later.status == "not_computable"  # nothing sent in the 12 months to then


def test_the_coherence_dashboard_shows_the_referral_figures(
    world: World,  # noqa: F811
    client_as: Any,
) -> None:
    _referrals(world)
    analyst = client_as("analyst")
    page = analyst.get("/coherence", params={"as_of": AS_OF.isoformat()})
    assert page.status_code == 200, page.text
    section = page.text.split('id="referrals-title"', 1)[1].split("</section>", 1)[0]
    assert "Referrals sent</dt><dd>4</dd>" in section
    assert "Median days to service</dt><dd>7.0</dd>" in section
    analyst.cookies.set("solidarity_lang", "fr")
    french = analyst.get("/coherence", params={"as_of": AS_OF.isoformat()})
    assert "Orientations entre secteurs" in french.text
