"""The rule language: syntax, normal form, type errors with positions, semantics, explanations."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from solidarity.rules import (
    RuleSyntaxError,
    RuleTypeError,
    check,
    evaluate,
    explain,
    parse,
    to_polars,
)
from solidarity.rules.nodes import Binary, Call, Conditional, In, ListExpr, Literal, Name, Unary

AS_OF = date(2024, 6, 30)
HEAD = {"birth_date": date(1980, 3, 1), "sex": "female", "relationship": "head", "income": 1200.0}
CHILD = {"birth_date": date(2016, 7, 1), "sex": "male", "relationship": "child", "income": None}
BABY = {"birth_date": date(2023, 1, 1), "sex": "female", "relationship": "child"}


def value(rule: str, household: dict[str, Any] | None = None, **params: Any) -> Any:
    checked = check(rule, parameters=params)
    return evaluate(checked, household or {}, members=[HEAD, CHILD, BABY], as_of=AS_OF)


# --- syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("42", Literal(42)),
        ("2.5", Literal(2.5)),
        ("'rural'", Literal("rural")),
        ('"it\\"s"', Literal('it"s')),
        ("true", Literal(True)),
        ("null", Literal(None)),
        ("date('2024-01-31')", Literal(date(2024, 1, 31))),
        ("household.size", Name(("household", "size"))),
        ("-x", Unary("-", Name(("x",)))),
        ("not a", Unary("!", Name(("a",)))),
        ("a and b or c", Binary("||", Binary("&&", Name(("a",)), Name(("b",))), Name(("c",)))),
        ("1 + 2 * 3", Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))),
        ("(1 + 2) % 3", Binary("%", Binary("+", Literal(1), Literal(2)), Literal(3))),
        ("x in [1, 2]", In(Name(("x",)), ListExpr((Literal(1), Literal(2))))),
        ("a ? 1 : 2", Conditional(Name(("a",)), Literal(1), Literal(2))),
        ("round(x, 2)", Call("round", (Name(("x",)), Literal(2)))),
    ],
)
def test_constructs_parse(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_normal_form_is_canonical_and_round_trips() -> None:
    rule = check("(children>=1) and not (electricity == true) or size   > 6")
    assert rule.normalised == "children >= 1 && !(electricity == true) || size > 6"
    assert parse(rule.normalised) == rule.parsed
    assert check("size - (children - elderly)").normalised == "size - (children - elderly)"
    assert check("(size - children) - elderly").normalised == "size - children - elderly"


@pytest.mark.parametrize(
    ("text", "line", "column", "token"),
    [
        ("size >", 1, 7, None),
        ("size > > 2", 1, 8, ">"),
        ("size @ 2", 1, 6, "@"),
        ("size > 2 &&\n  (children > 1", 2, 16, None),
        ("a < b < c", 1, 7, "<"),
        ("date('2024-02-30') < registration_date", 1, 6, "'2024-02-30'"),
    ],
)
def test_syntax_errors_carry_position(text: str, line: int, column: int, token: str | None) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    if token:
        assert info.value.token == token


# --- type errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "column", "token", "reason"),
    [
        (
            "per_capita_incom < 10",
            "household",
            1,
            "per_capita_incom",
            "did you mean 'per_capita_income'",
        ),
        (
            "sizee > 2",
            "household",
            1,
            "sizee",
            "unknown household field 'sizee'; did you mean 'size'",
        ),
        ("foo(1) > 2", "household", 1, "foo", "unknown function 'foo'"),
        ("round(1, 2, 3) > 0", "household", 1, "round", "takes 1 to 2 argument(s), got 3"),
        ("abs() > 0", "household", 1, "abs", "takes 1 argument(s), got 0"),
        ("registration_date > 3", "household", 19, ">", "cannot compare a date with a number"),
        ("electricity + 1 > 0", "household", 13, "+", "arithmetic on yes/no values"),
        ("size / 0 > 1", "household", 6, "/", "division by zero"),
        ("urban_rural == 'town'", "household", 16, "'town'", "not a code of urban_rural"),
        ("sex in ['female', 'f']", "person", 19, "'f'", "not a code of sex"),
        ("count(members, m.age < 18) > 0", "person", 1, "count", "only be used at household level"),
        ("m.age > 18", "household", 1, "m.age", "member variable 'm' can only be used inside"),
        ("count(members, size > 1) > 0", "household", 16, "size", "write member fields as m.size"),
        ("count(members, count(members) > 1) > 0", "household", 16, "count", "cannot be nested"),
        ("members > 1", "household", 1, "members", "first argument of an aggregate"),
        ("size > 1 && 3", "household", 10, "&&", "needs yes/no values"),
        ("age > 1", "household", 1, "age", "unknown household field 'age'"),
        ("household.size > 1", "person", 1, "household.size", "not available at person level"),
        ("params.amont > 1", "household", 1, "params.amont", "did you mean 'amount'"),
        ("sum(members, m.sex) > 1", "household", 14, "m.sex", "sum() needs numbers"),
        ("size > 1 ? 'a' : 2", "household", 6, ">", "must have one type"),
        ("size < null", "household", 6, "<", "use == null or != null"),
        ("sex > 'female'", "person", 5, ">", "compares numbers or dates"),
    ],
)
def test_type_errors_name_line_column_token_and_reason(
    text: str, level: str, column: int, token: str, reason: str
) -> None:
    with pytest.raises(RuleTypeError) as info:
        check(text, level, parameters={"amount": 10})  # type: ignore[arg-type]
    err = info.value
    assert reason in err.reason
    assert (err.line, err.column, err.token) == (1, column, token)
    assert f"line 1, column {column}" in err.detail


def test_unknown_parameter_types_are_accepted_without_values() -> None:
    assert check("size > params.anything").type == "boolean"


# --- semantics ----------------------------------------------------------------------


def test_computed_fields() -> None:
    assert value("size") == 3
    assert value("children") == 2
    assert value("head_age") == 44
    assert value("female_headed") is True
    assert value("total_income") == 1200.0
    assert value("per_capita_income") == 400.0
    assert value("count(members, m.age < 1)") == 0
    assert value("years_between(date('2020-02-29'), date('2021-02-28'))") == 0
    assert value("days_between(date('2024-01-01'), today())") == 181


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("land_hectares > 1", False),  # comparisons with null are false
        ("!(land_hectares > 1)", True),
        ("land_hectares == null", True),
        ("land_hectares != null", False),
        ("electricity", False),  # a null condition counts as false
        ("land_hectares + 1", None),  # arithmetic with null is null
        ("coalesce(land_hectares, 0) + 1", 1),
        ("min(land_hectares, 2)", None),
        ("avg(members, m.income)", 1200.0),  # aggregates skip nulls
        ("sum(members, m.income * 0)", 0.0),
        ("size / (size - 3)", None),  # division by zero is null
        ("7 % -3", -2),  # floored modulo
        ("round(2.5) + round(-2.5)", 0.0),  # half away from zero
        ("round(2.345, 2)", 2.35),
        ("land_hectares in [1, 2]", False),
        ("electricity ? 1 : 2", 2),
    ],
)
def test_null_and_arithmetic_semantics(rule: str, expected: Any) -> None:
    assert value(rule) == expected


def test_empty_household_aggregates() -> None:
    for rule, expected in [
        ("size", 0),
        ("count(members, m.age < 18)", 0),
        ("sum(members, m.income)", 0),
        ("any(members, m.is_head)", False),
        ("all(members, m.is_head)", True),
        ("max(members, m.age)", None),
        ("per_capita_income", None),
    ]:
        assert evaluate(check(rule), {}, members=[], as_of=AS_OF) == expected, rule


def test_inactive_members_are_ignored() -> None:
    removed = CHILD | {"status": "removed"}
    assert evaluate(check("size"), {}, members=[HEAD, removed], as_of=AS_OF) == 1


def test_parameters_and_lists() -> None:
    assert value("urban_rural in params.areas", {"urban_rural": "rural"}, areas=["rural"]) is True
    assert value("min(children, 3) * params.amount", amount=50) == 100


def test_polars_plan_on_a_frame() -> None:
    rule = check("children >= 1 && per_capita_income < params.limit", parameters={"limit": 500})
    households = pl.DataFrame({"household_id": [1, 2, 3]})
    members = pl.DataFrame(
        {
            "household_id": [1, 1, 2],
            "birth_date": [date(1980, 1, 1), date(2020, 1, 1), date(1990, 1, 1)],
            "income": [600.0, None, 100.0],
        }
    )
    out = to_polars(rule, as_of=AS_OF).apply(households, members=members).collect()
    assert out["result"].to_list() == [True, False, False]
    assert out.columns == ["household_id", "result"]


# --- explanations -------------------------------------------------------------------


def test_explanation_of_a_means_test() -> None:
    rule = check(
        "count(members, m.age < 18) >= 1 && per_capita_income < params.income_threshold",
        parameters={"income_threshold": 1000},
    )
    tree = explain(rule, {}, members=[HEAD, CHILD, BABY], as_of=AS_OF)
    assert tree.held is True
    assert tree.text == "All of these conditions: met"
    assert [c.text for c in tree.children] == [
        "Members with age below 18: 2 (at least 1 required): met",
        "Per-capita income is 400, which is below the threshold income_threshold (1000): "
        "condition met",
    ]
    assert "Per-capita income is 400" in tree.render()
    assert tree.to_dict()["children"][0]["held"] is True


def test_explanation_of_a_failed_condition_and_missing_data() -> None:
    rule = check("children >= 3 || land_hectares < 2")
    tree = explain(rule, {}, members=[HEAD, CHILD], as_of=AS_OF)
    assert tree.held is False
    assert tree.children[0].text == "Children under 18: 1 (at least 3 required): not met"
    assert tree.children[1].text == "Land (hectares) is missing, so the condition is not met"


def test_explanation_of_a_benefit_amount() -> None:
    rule = check("female_headed ? params.amount : 0", parameters={"amount": 75})
    tree = explain(rule, {}, members=[HEAD], as_of=AS_OF)
    assert tree.value == 75
    assert tree.text.startswith("Since female-headed household, the value is params.amount = 75")


def test_code_lists_bind_equality_but_not_ordering() -> None:
    from solidarity.rules import check as check_rule
    from solidarity.rules.errors import RuleTypeError as TypeErr

    assert check_rule("count(members, 0 < m.wg_seeing) >= 1").type == "boolean"
    assert check_rule("count(members, m.wg_seeing >= 3) >= 1").type == "boolean"
    with pytest.raises(TypeErr, match="0 is not a code of wg_seeing"):
        check_rule("count(members, m.wg_seeing == 0) >= 1")
