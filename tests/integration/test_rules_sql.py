"""The SQL back-end agrees with Python and Polars on the migrated registry tables.

Runs on SQLite and PostgreSQL (the ``engine`` fixture), with the random rules and
households of the unit property test, plus person-level push-down.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given
from sqlalchemy import Engine, select

from solidarity.registry.models import Household, Person
from solidarity.rules import check, evaluate, to_sql
from solidarity.rules.nodes import Node
from tests.unit.test_rules_property import (
    POPULATION,
    RULES,
    agree,
    load,
    property_settings,
)


def test_backends_agree_on_each_database(engine: Engine) -> None:
    @property_settings(100)
    @given(rule=RULES, population=POPULATION)
    def run(rule: Node, population: list[dict[str, Any]]) -> None:
        agree(rule, population, engine)

    run()


def test_person_level_rule_reads_the_household(engine: Engine) -> None:
    member = {
        "sex": "female",
        "relationship": "head",
        "income": None,
        "school_enrolled": None,
        "pregnant": None,
        "status": "active",
        **dict.fromkeys(
            ["wg_seeing", "wg_hearing", "wg_walking", "wg_cognition", "wg_selfcare"], None
        ),
        "wg_communication": None,
    }
    population = [
        {
            "urban_rural": "rural",
            "members": [
                member | {"birth_date": date(1950, 1, 1)},
                member | {"birth_date": date(2000, 1, 1), "relationship": "child"},
            ],
        },
        {"urban_rural": "urban", "members": [member | {"birth_date": date(1940, 5, 5)}]},
    ]
    load(engine, population)
    rule = check("age >= 65 && household.urban_rural == 'rural'", "person")
    person = Person.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(person.c.id, to_sql(rule, as_of=date(2024, 1, 1)).label("ok")).order_by(
                person.c.id
            )
        ).all()
    assert [r.ok for r in rows] == [True, False, False]
    expected = [
        evaluate(rule, m, household=hh, as_of=date(2024, 1, 1))
        for hh in population
        for m in hh["members"]
    ]
    assert expected == [True, False, False]


def test_rule_filters_households_in_the_database(engine: Engine) -> None:
    member = {"sex": "male", "relationship": "head", "status": "active"}
    population = [
        {"members": [member | {"birth_date": date(2020, 1, 1)}]},
        {"members": [member | {"birth_date": date(1980, 1, 1), "income": 5000.0}]},
        {"members": []},
    ]
    load(engine, population)
    rule = check("children >= 1 && per_capita_income < params.limit", parameters={"limit": 100})
    household = Household.__table__
    query = select(household.c.id).where(to_sql(rule, as_of=date(2024, 1, 1)))
    with engine.connect() as conn:
        assert conn.execute(query.order_by(household.c.id)).scalars().all() == [1]


def test_age_compared_with_a_whole_number_on_anniversaries(engine: Engine) -> None:
    """``age <op> n`` becomes one date comparison in SQL: it must agree on every boundary."""
    member = {"sex": "female", "relationship": "head", "status": "active"}
    # Leap days, the days either side of them, and a year's end, for four dates of reckoning.
    births = [
        date(y, m, d)
        for y in (2006, 2007, 2008, 2009, 2010)
        for m, d in ((2, 28), (2, 29), (3, 1), (12, 31), (1, 1))
        if (m, d) != (2, 29) or y == 2008
    ]
    load(engine, [{"members": [member | {"birth_date": b}]} for b in births])
    person = Person.__table__
    checked = 0
    for as_of in (date(2026, 2, 28), date(2028, 2, 29), date(2027, 3, 1), date(2025, 12, 31)):
        for text in ("age < 18", "age <= 18", "age > 18", "age >= 18", "19 > age", "age >= 18.0"):
            rule = check(text, "person")
            with engine.connect() as conn:
                got = conn.execute(
                    select(person.c.birth_date, to_sql(rule, as_of=as_of).label("ok")).order_by(
                        person.c.id
                    )
                ).all()
            for row in got:
                expected = evaluate(rule, {**member, "birth_date": row.birth_date}, as_of=as_of)
                assert bool(row.ok) == bool(expected), (text, as_of, row.birth_date)
                checked += 1
    assert checked == 4 * 6 * len(births) == 4 * 6 * 21
