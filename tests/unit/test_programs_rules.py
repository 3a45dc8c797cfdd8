"""Programme rules checked on save, test cases, entitlement formulas, pain.001 documents."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from solidarity.errors import ValidationFailed
from solidarity.programs import pain001
from solidarity.programs.rules import check_rule, validate_version
from solidarity.rules import RuleSyntaxError, RuleTypeError, evaluate

DAY = date(2025, 1, 1)
HEAD = {"birth_date": date(1980, 1, 1), "relationship": "head", "sex": "female", "income": 90}


def kids(n: int) -> list[dict[str, object]]:
    return [HEAD] + [{"birth_date": date(2018, 1, 1), "relationship": "child"}] * n


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("children >=", RuleSyntaxError),
        ("chidren >= 1", RuleTypeError),
        ("size / 0 > 1", RuleTypeError),
        ("registration_date > 3", RuleTypeError),
    ],
)
def test_bad_rules_are_refused_with_line_and_column(expression: str, error: type) -> None:
    with pytest.raises(error) as caught:
        validate_version("eligibility", expression, {}, DAY, None, [])
    assert caught.value.line == 1 and caught.value.column >= 1


def test_a_benefit_rule_must_give_a_number() -> None:
    with pytest.raises(ValidationFailed):
        validate_version("benefit", "size > 1", {}, DAY, None, [])


def test_a_failing_test_case_is_reported_with_its_explanation() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_version(
            "eligibility",
            "children >= 2",
            {},
            DAY,
            None,
            [{"name": "one child", "members": kids(1), "expected": True}],
        )
    assert "one child" in caught.value.errors[0]["message"]
    assert "Children" in caught.value.errors[0]["explanation"]


@pytest.mark.parametrize(
    ("expression", "params", "children", "unmet", "expected"),
    [
        ("params.amount", {"amount": 50}, 1, 0, 50),  # fixed
        ("min(size, params.cap) * params.amount", {"cap": 3, "amount": 10}, 4, 0, 30),  # capped
        (
            "children <= 1 ? 20 : (children <= 3 ? 35 : 45)",  # tiered
            {},
            3,
            0,
            35,
        ),
        (
            "params.base + (disabled_members > 0 ? params.top_up : 0)",  # top-up
            {"base": 40, "top_up": 15},
            1,
            0,
            40,
        ),
        (
            "max(params.amount - unmet_conditions * params.deduction, 0)",  # conditional
            {"amount": 40, "deduction": 15},
            1,
            3,
            0,
        ),
        (
            "params.amount * children",  # dated parameter
            {"amount": {"2024-01-01": 10, "2025-01-01": 12}},
            2,
            0,
            24,
        ),
    ],
)
def test_entitlement_formulas(
    expression: str, params: dict[str, object], children: int, unmet: int, expected: float
) -> None:
    rule = check_rule(expression, params, DAY)
    value = evaluate(rule, {"unmet_conditions": unmet}, members=kids(children), as_of=DAY)
    assert value == expected


def _document() -> bytes:
    frame = pl.DataFrame(
        {
            "payment_reference": ["CG-2025-07-1", "CG-2025-07-2"],
            "amount": [40.0, 12.5],
            "beneficiary_name": ["Amina Diallo", "Fatou Ba"],
            "account": ["+221700000001", "HH2"],
            "scheme": ["MOBILE", "REGISTRY"],
        }
    )
    return pain001.build(
        "CG-2025-07",
        datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
        date(2025, 7, 5),
        pain001.Debtor("Ministry of Social Affairs", "CG"),
        "XOF",
        frame,
        "Child grant 2025-07",
    )


def test_pain001_document_is_valid_against_the_schema() -> None:
    document = _document()
    pain001.validate(document)
    assert b"<CtrlSum>52.50</CtrlSum>" in document


def test_a_broken_pain001_document_fails_validation() -> None:
    broken = _document().replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CASH</PmtMtd>")
    with pytest.raises(ValidationFailed) as caught:
        pain001.validate(broken)
    assert caught.value.errors
