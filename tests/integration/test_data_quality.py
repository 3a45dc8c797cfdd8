"""Data quality dimensions on the ten hand-built households with known defects.

Defects planted (as of 2025-06-30): h2's head born in 2030 (validity: future birth;
consistency: a head under 12); a second head aged 5 added to h3 (consistency: head
under 12, and two heads); h4's man marked pregnant; h5 without urban/rural and h6
without consumption (completeness); h7 with consumption -5 (validity); the persons
of h7 and h9 share name, sex and birth date (uniqueness); h1-h5 updated in March
2025, h6-h10 in 2020 (timeliness). h1-h5 were last changed by alice, h6-h10 by bob
(source 'census').
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from solidarity.monitoring import quality
from solidarity.registry.models import Household, Person
from tests.integration.test_simulation import build

AS_OF = date(2025, 6, 30)


def defects(session: Session) -> dict[str, int]:
    ids = build(session)

    def head(hh: str) -> Person:
        return session.query(Person).filter(Person.household_id == ids[hh]).one()

    head("h2").birth_date = date(2030, 1, 1)
    head("h4").pregnant = True
    h3 = head("h3")
    session.add(
        Person(
            household_id=h3.household_id,
            area_id=h3.area_id,
            given_name="Kid",
            family_name="T",
            sex="male",
            birth_date=date(2020, 1, 1),
            relationship="head",
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        )
    )
    head("h9").given_name = "P7"  # name, sex and birth date of h7's member
    first = [ids[f"h{i}"] for i in range(1, 6)]
    last = [ids[f"h{i}"] for i in range(6, 11)]
    session.execute(
        update(Household)
        .where(Household.id.in_(first))
        .values(valid_from=datetime(2025, 3, 1, tzinfo=UTC), changed_by="alice")
    )
    session.execute(
        update(Household).where(Household.id.in_(last)).values(changed_by="bob", source="census")
    )
    session.execute(update(Household).where(Household.id == ids["h5"]).values(urban_rural=None))
    session.execute(
        update(Household).where(Household.id == ids["h6"]).values(consumption_per_capita=None)
    )
    session.execute(
        update(Household).where(Household.id == ids["h7"]).values(consumption_per_capita=-5.0)
    )
    session.flush()
    return ids


def test_each_dimension_scores_the_known_defects(session: Session) -> None:
    ids = defects(session)
    report = quality.assess(session, AS_OF)
    by_dim = {
        s["group"]: (s["checked"], s["failed"]) for s in report["scores"] if s["by"] == "dimension"
    }
    # 11 persons, 10 households.
    assert by_dim == {
        "completeness": (3 * 11 + 2 * 10, 2),
        "validity": (2 * 11 + 10, 2),
        "consistency": (2 * 11 + 10, 4),
        "uniqueness": (11, 2),
        "timeliness": (10, 5),
    }
    assert report["failed"] == 15
    assert report["overall"] == round(1 - 15 / report["checked"], 6)

    fields = {
        (s["dimension"], s["group"]): s["score"] for s in report["scores"] if s["by"] == "field"
    }
    assert fields[("completeness", "urban_rural")] == 0.9
    areas = {
        (s["dimension"], s["group"]): (s["checked"], s["failed"])
        for s in report["scores"]
        if s["by"] == "area"
    }
    assert areas[("timeliness", "D1")] == (5, 0) and areas[("timeliness", "D2")] == (5, 5)
    who = {
        (s["dimension"], s["group"]): s["failed"]
        for s in report["scores"]
        if s["by"] == "enumerator"
    }
    assert who[("timeliness", "bob")] == 5 and who[("timeliness", "alice")] == 0
    source = {
        (s["dimension"], s["group"]): s["failed"] for s in report["scores"] if s["by"] == "source"
    }
    assert source[("timeliness", "census")] == 5

    failing = {(f["level"], f["household_id"], f["check"]) for f in report["failing"]}
    assert ("household", ids["h5"], "settlement type given") in failing
    assert ("household", ids["h6"], "consumption given") in failing
    assert ("household", ids["h7"], "consumption not negative") in failing
    assert ("person", ids["h2"], "birth date not in the future") in failing
    assert ("person", ids["h2"], "head at least 12") in failing
    assert ("person", ids["h3"], "head at least 12") in failing
    assert ("household", ids["h3"], "exactly one head") in failing
    assert ("person", ids["h4"], "pregnancy only for women") in failing
    assert ("person", ids["h9"], "no duplicate person") in failing
    assert len(failing) == 15

    assert quality.consistency_feed(report) == {
        "birth_date": 0.0,
        "consumption_per_capita": 0.1,
        "relationship": 0.0,
        "sex": 0.0,
        "urban_rural": 0.1,
    }


def test_failing_records_page_and_filter_and_the_worst_groups(session: Session) -> None:
    ids = defects(session)
    everything = quality.assess(session, AS_OF)
    pages = [
        quality.assess(session, AS_OF, failing_limit=4, failing_offset=offset)["failing"]
        for offset in (0, 4, 8, 12)
    ]
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert [f for p in pages for f in p] == everything["failing"]

    stale = quality.assess(session, AS_OF, failing_where={"dimension": "timeliness"})
    assert stale["failing_total"] == 15 and stale["failing_matching"] == 5
    assert {f["household_id"] for f in stale["failing"]} == {ids[f"h{i}"] for i in range(6, 11)}
    one = quality.assess(session, AS_OF, failing_where={"check": "settlement type given"})
    assert [f["record_id"] for f in one["failing"]] == [ids["h5"]]

    # D2 holds h6-h10: 5 stale households, h6 and h7's consumption, h7/h9's duplicate.
    areas = quality.worst(everything, "area")
    assert [a["group"] for a in areas] == ["D2", "D1"]
    d1, d2 = areas[1], areas[0]
    assert d1["checked"] + d2["checked"] == everything["checked"]
    assert d1["failed"] + d2["failed"] == 15
    assert d2["score"] == round((d2["checked"] - d2["failed"]) / d2["checked"], 6)
    fields = quality.worst(everything, "field", top=2)
    assert fields[0]["group"] == "valid_from"  # timeliness: 5 of 10 fail
    assert fields[0]["score"] == 0.5 and len(fields) == 2


def test_the_plan_lists_every_check_with_threshold_owner_and_frequency() -> None:
    plan = quality.plan()
    assert len(plan) == len(quality.CHECKS)
    assert [p["dimension"] for p in plan] == sorted(
        (p["dimension"] for p in plan), key=quality.DIMENSIONS.index
    )
    fresh = next(p for p in plan if p["check"] == "updated within a year")
    assert fresh["rule"] == "days_since_update <= params.max_days"
    assert fresh["parameters"] == "max_days = 365"
    assert (fresh["threshold"], fresh["owner"], fresh["frequency"]) == (
        0.95,
        "data steward",
        "monthly",
    )
    document = quality.plan_html(plan)
    assert "Data quality assurance plan" in document and "updated within a year" in document
