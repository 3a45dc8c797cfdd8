"""Property: the Python, Polars and SQL back-ends agree on random households and rules.

Random well-typed rules are generated as syntax trees, printed in normal form,
re-parsed (the printer round-trips) and checked, then evaluated on random
households by all three back-ends. ``agree`` is reused by the integration test
on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, insert, select

from solidarity.registry.fields import codelists
from solidarity.registry.models import Household, Person
from solidarity.rules import (
    check,
    evaluate,
    format_rule,
    parse,
    to_polars,
    to_polars_all,
    to_sql,
    to_sql_grouped,
)
from solidarity.rules.errors import RuleTypeError
from solidarity.rules.nodes import (
    Binary,
    Call,
    Conditional,
    In,
    ListExpr,
    Literal,
    Name,
    Node,
    Unary,
)

# Printing the nested strategies is slow and not useful; the failing example is printed.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

AS_OF = date(2024, 6, 30)
PARAMS: dict[str, Any] = {
    "amount": 150,
    "rate": 0.5,
    "regions": ["urban"],
    "cutoff": date(2015, 1, 1),
}

HH_NUM = [
    "land_hectares",
    "livestock_cattle",
    "size",
    "total_income",
    "per_capita_income",
    "children",
    "elderly",
    "head_age",
    "disabled_members",
]
HH_BOOL = ["electricity", "asset_radio", "female_headed"]
HH_CODE = {"urban_rural": codelists()["urban_rural"], "roof": codelists()["roof"]}
HH_DATE = ["registration_date"]
M_NUM = ["income", "age", "wg_seeing", "wg_walking"]
M_BOOL = ["school_enrolled", "pregnant", "disability", "is_head", "is_female"]
M_CODE = {"sex": codelists()["sex"], "relationship": codelists()["relationship"]}
M_DATE = ["birth_date"]
WG = ["wg_seeing", "wg_hearing", "wg_walking", "wg_cognition", "wg_selfcare", "wg_communication"]


def _name(scope: str, field: str) -> Name:
    return Name(("m", field)) if scope == "member" else Name((field,))


@cache
def _numbers(scope: str, depth: int) -> st.SearchStrategy[Node]:
    fields = M_NUM if scope == "member" else HH_NUM
    leaves = st.one_of(
        st.integers(0, 60).map(Literal),
        st.integers(0, 40).map(lambda i: Literal(i * 0.25)),
        st.sampled_from(fields).map(lambda f: _name(scope, f)),
        st.sampled_from([Name(("params", "amount")), Name(("params", "rate"))]),
    )
    if depth == 0:
        return leaves
    sub = _numbers(scope, depth - 1)
    options: list[st.SearchStrategy[Node]] = [
        leaves,
        st.builds(Binary, st.sampled_from(["+", "-", "*"]), sub, sub),
        st.builds(lambda a: Unary("-", a), sub),
        st.builds(Conditional, _booleans(scope, depth - 1), sub, sub),
        st.builds(
            lambda f, a, b: Call(f, (a, b)), st.sampled_from(["min", "max", "coalesce"]), sub, sub
        ),
        st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(["abs", "floor", "ceil"]), sub),
        st.builds(lambda a, n: Call("round", (a, Literal(n))), sub, st.integers(0, 2)),
        st.builds(
            lambda f, a, b: Call(f, (a, b)),
            st.sampled_from(["years_between", "days_between"]),
            _dates(scope),
            _dates(scope),
        ),
    ]
    if scope == "household":
        options += [
            st.builds(Binary, st.sampled_from(["/", "%"]), sub, sub).filter(
                lambda b: not (isinstance(b.right, Literal) and b.right.value == 0)
            ),
            st.builds(
                lambda f, e: Call(f, (Name(("members",)), e)),
                st.sampled_from(["sum", "avg", "min", "max"]),
                _numbers("member", depth - 1),
            ),
            st.builds(
                lambda p: Call("count", (Name(("members",)), p)), _booleans("member", depth - 1)
            ),
        ]
    return st.one_of(*options)


@cache
def _dates(scope: str) -> st.SearchStrategy[Node]:
    fields = M_DATE if scope == "member" else HH_DATE
    return st.one_of(
        st.dates(date(1990, 1, 1), date(2024, 12, 31)).map(Literal),
        st.sampled_from(fields).map(lambda f: _name(scope, f)),
        st.just(Name(("params", "cutoff"))),
        st.just(Call("today", ())),
    )


@cache
def _booleans(scope: str, depth: int) -> st.SearchStrategy[Node]:
    bools = M_BOOL if scope == "member" else HH_BOOL
    codes = M_CODE if scope == "member" else HH_CODE
    code_tests = st.sampled_from(sorted(codes)).flatmap(
        lambda f: st.one_of(
            st.builds(
                lambda op, v: Binary(op, _name(scope, f), Literal(v)),
                st.sampled_from(["==", "!="]),
                st.sampled_from(codes[f]),
            ),
            st.lists(st.sampled_from(codes[f]), max_size=3).map(
                lambda vs: In(_name(scope, f), ListExpr(tuple(Literal(v) for v in vs)))
            ),
        )
    )
    nums = _numbers(scope, max(depth - 1, 0))
    leaves = st.one_of(
        st.booleans().map(Literal),
        st.sampled_from(bools).map(lambda f: _name(scope, f)),
        code_tests,
        st.builds(Binary, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), nums, nums),
        st.builds(Binary, st.sampled_from(["<", ">=", "=="]), _dates(scope), _dates(scope)),
        st.builds(
            lambda op, f: Binary(op, _name(scope, f), Literal(None)),
            st.sampled_from(["==", "!="]),
            st.sampled_from(bools + list(codes)),
        ),
    )
    if scope == "household":
        leaves = st.one_of(leaves, st.just(In(Name(("urban_rural",)), Name(("params", "regions")))))
    if depth == 0:
        return leaves
    sub = _booleans(scope, depth - 1)
    options = [
        leaves,
        st.builds(Binary, st.sampled_from(["&&", "||"]), sub, sub),
        st.builds(lambda a: Unary("!", a), sub),
    ]
    if scope == "household":
        options.append(
            st.builds(
                lambda f, p: Call(f, (Name(("members",)), p)),
                st.sampled_from(["any", "all"]),
                _booleans("member", depth - 1),
            )
        )
    return st.one_of(*options)


RULES = st.one_of(_booleans("household", 3), _numbers("household", 3))

_maybe_quarter = st.one_of(st.none(), st.integers(0, 40).map(lambda i: i * 0.25))
_dates_opt = st.one_of(st.none(), st.dates(date(1995, 1, 1), date(2024, 12, 31)))

MEMBER = st.fixed_dictionaries(
    {
        "birth_date": st.dates(date(1930, 1, 1), date(2024, 6, 30)),
        "sex": st.sampled_from(codelists()["sex"]),
        "relationship": st.sampled_from(["head", "spouse", "child", "parent"]),
        "income": st.one_of(st.none(), st.integers(0, 80).map(lambda i: i * 25.0)),
        "school_enrolled": st.one_of(st.none(), st.booleans()),
        "pregnant": st.one_of(st.none(), st.booleans()),
        "status": st.sampled_from(["active", "active", "active", "removed"]),
        **{wg: st.one_of(st.none(), st.integers(1, 4)) for wg in WG},
    }
)
HOUSEHOLD = st.fixed_dictionaries(
    {
        "land_hectares": _maybe_quarter,
        "livestock_cattle": st.one_of(st.none(), st.integers(0, 20)),
        "electricity": st.one_of(st.none(), st.booleans()),
        "asset_radio": st.one_of(st.none(), st.booleans()),
        "urban_rural": st.one_of(st.none(), st.sampled_from(codelists()["urban_rural"])),
        "roof": st.one_of(st.none(), st.sampled_from(codelists()["roof"])),
        "registration_date": _dates_opt,
        "members": st.lists(MEMBER, max_size=5),
    }
)
POPULATION = st.lists(HOUSEHOLD, min_size=1, max_size=6)

HOUSEHOLD_SCHEMA = {
    "household_id": pl.Int64,
    "land_hectares": pl.Float64,
    "livestock_cattle": pl.Int64,
    "electricity": pl.Boolean,
    "asset_radio": pl.Boolean,
    "urban_rural": pl.String,
    "roof": pl.String,
    "registration_date": pl.Date,
}
MEMBER_SCHEMA = {
    "household_id": pl.Int64,
    "birth_date": pl.Date,
    "sex": pl.String,
    "relationship": pl.String,
    "income": pl.Float64,
    "school_enrolled": pl.Boolean,
    "pregnant": pl.Boolean,
    "status": pl.String,
    **{wg: pl.Int64 for wg in WG},
}


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, bool) or value is None or isinstance(value, date):
        return value
    return float(value)


def same(a: Any, b: Any) -> bool:
    """Equal values, floats within a relative 1e-9."""
    a, b = _normal(a), _normal(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b) and type(a) is type(b)


def _frames(population: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    households = [
        {k: v for k, v in hh.items() if k != "members"} | {"household_id": i + 1}
        for i, hh in enumerate(population)
    ]
    members = [
        m | {"household_id": i + 1} for i, hh in enumerate(population) for m in hh["members"]
    ]
    return (
        pl.DataFrame(households, schema=HOUSEHOLD_SCHEMA),
        pl.DataFrame(members, schema=MEMBER_SCHEMA),
    )


def load(engine: Engine, population: list[dict[str, Any]]) -> None:
    """Replace the household and person rows with ``population``."""
    hh_rows, person_rows = [], []
    for i, hh in enumerate(population, start=1):
        hh_rows.append({k: v for k, v in hh.items() if k != "members"} | {"id": i, "area_id": 1})
        for m in hh["members"]:
            person_rows.append(
                m | {"household_id": i, "area_id": 1, "given_name": "A", "family_name": "B"}
            )
    keys = {k for row in person_rows for k in row}
    person_rows = [dict.fromkeys(keys) | row for row in person_rows]
    with engine.begin() as conn:
        conn.execute(delete(Person.__table__))
        conn.execute(delete(Household.__table__))
        conn.execute(insert(Household.__table__), hh_rows)
        if person_rows:
            conn.execute(insert(Person.__table__), person_rows)


def agree(rule_tree: Node, population: list[dict[str, Any]], engine: Engine) -> None:
    """Assert that Python, Polars and SQL (on ``engine``) give the same result per household."""
    text = format_rule(rule_tree)
    assert parse(text) == rule_tree, text
    try:
        rule = check(text, parameters=PARAMS)
    except RuleTypeError as exc:
        # The generator may compare a coded field with a value outside its code list
        # (wg_seeing == 0); the checker rightly refuses that, and there is nothing to agree on.
        assume("is not a code of" not in str(exc))
        raise
    python = [evaluate(rule, hh, members=hh["members"], as_of=AS_OF) for hh in population]
    households, members = _frames(population)
    plan = to_polars(rule, as_of=AS_OF)
    polars = plan.apply(households, members=members).collect()["result"].to_list()
    load(engine, population)
    table = Household.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id, to_sql(rule, as_of=AS_OF).label("r")).order_by(table.c.id)
        ).all()
        results, members = to_sql_grouped({"r": rule}, as_of=AS_OF)
        grouped = conn.execute(
            select(table.c.id, results["r"].label("r"))
            .select_from(table.outerjoin(members, members.c.household_id == table.c.id))
            .order_by(table.c.id)
        ).all()
    sql = [r.r for r in rows]
    population_sql = [r.r for r in grouped]
    for i, (p, q, s, g) in enumerate(zip(python, polars, sql, population_sql, strict=True)):
        assert same(p, q), f"{text}\nhousehold {i}: python {p!r} polars {q!r}"
        assert same(p, s), f"{text}\nhousehold {i}: python {p!r} sql {s!r}"
        assert same(p, g), f"{text}\nhousehold {i}: python {p!r} grouped sql {g!r}"


_SQLITE: list[Engine] = []


def memory_engine() -> Engine:
    """A shared in-memory SQLite database with the household and person tables."""
    if not _SQLITE:
        engine = create_engine("sqlite://")
        Household.__table__.create(engine)
        Person.__table__.create(engine)
        _SQLITE.append(engine)
    return _SQLITE[0]


def property_settings(examples: int = 150) -> Callable[[Any], Any]:
    """Bounded hypothesis settings for the agreement tests."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@property_settings()
@given(rule=RULES, population=POPULATION)
def test_backends_agree_on_sqlite_in_memory(rule: Node, population: list[dict[str, Any]]) -> None:
    agree(rule, population, memory_engine())


@property_settings(80)
@given(first=RULES, second=RULES, population=POPULATION)
def test_rules_compiled_into_one_plan_give_each_its_own_result(
    first: Node, second: Node, population: list[dict[str, Any]]
) -> None:
    rules = {}
    for name, tree in (("a", first), ("b", second)):
        try:
            rules[name] = check(format_rule(tree), parameters=PARAMS)
        except RuleTypeError as exc:
            assume("is not a code of" not in str(exc))
            raise
    households, members = _frames(population)
    together = to_polars_all(rules, as_of=AS_OF).apply(households, members=members).collect()
    for name, rule in rules.items():
        alone = to_polars(rule, as_of=AS_OF).apply(households, members=members).collect()
        for i, (p, q) in enumerate(zip(alone["result"], together[name], strict=True)):
            assert same(p, q), f"{format_rule(rule.tree)}\nhousehold {i}: alone {p!r} with {q!r}"


def test_an_aggregate_two_rules_share_is_computed_once() -> None:
    children = "count(members, m.age < 18)"
    plan = to_polars_all(
        {
            "eligible": check(f"{children} >= 1"),
            "benefit": check(f"10 * min({children}, 3) + 2 * count(members, m.age >= 60)"),
        },
        as_of=AS_OF,
    )
    assert len(plan.aggregations) == 2  # children once, elderly once
    assert [name for name, _ in plan.outputs] == ["eligible", "benefit"]
    results, members = to_sql_grouped(
        {"eligible": check(f"{children} >= 1"), "benefit": check(f"{children} * 10")}, as_of=AS_OF
    )
    assert list(results) == ["eligible", "benefit"]
    assert [c.name for c in members.c] == ["household_id", "agg0"]  # children once
