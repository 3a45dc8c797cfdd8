"""Programme rules: the vocabulary they may use, checking on save, test cases, compilation.

A programme rule is a household-level rule of the rules package. Besides the
registry's fields it may read ``unmet_conditions`` (conditions of the programme
not met by the household in the payment period), so conditional deductions are
written in the benefit formula itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from solidarity.errors import ValidationFailed
from solidarity.programs.models import ProgrammeRule
from solidarity.rules import (
    CheckedRule,
    RuleError,
    RuleTestCase,
    Vocabulary,
    check,
    default_vocabulary,
    evaluate,
    explain,
    resolve_parameters,
)
from solidarity.rules.nodes import Aggregate, ComputedRef, FieldRef, Node
from solidarity.rules.vocabulary import FieldInfo

UNMET = "unmet_conditions"


@lru_cache(maxsize=1)
def programme_vocabulary() -> Vocabulary:
    """The registry vocabulary plus ``unmet_conditions`` at household level."""
    base = default_vocabulary()
    return Vocabulary(
        household={
            **base.household,
            UNMET: FieldInfo(UNMET, "number", "Conditions not met this period", storage="integer"),
        },
        person=base.person,
        household_computed=base.household_computed,
        person_computed=base.person_computed,
    )


def check_rule(expression: str, parameters: dict[str, Any], when: date) -> CheckedRule:
    """Check a programme rule with its parameter values at ``when``.

    Raises:
        RuleSyntaxError: The text does not parse.
        RuleTypeError: Unknown field, incompatible types, division by a literal zero...
        RuleVersionError: A dated parameter has no value on ``when``.
    """
    values = resolve_parameters(parameters, when)
    return check(expression, "household", parameters=values, vocabulary=programme_vocabulary())


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(actual, date) and isinstance(expected, str):
        return actual.isoformat() == expected
    return bool(expected == actual)


def run_cases(
    expression: str, parameters: dict[str, Any], valid_from: date, cases: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run YAML test cases; returns one failure per failing case (empty when all pass)."""
    failures: list[dict[str, Any]] = []
    for index, raw in enumerate(cases):
        try:
            case = RuleTestCase.model_validate(raw)
        except ValueError as exc:
            failures.append({"row": index + 1, "field": "test_cases", "message": str(exc)})
            continue
        when = case.as_of or valid_from
        try:
            rule = check_rule(expression, parameters, when)
            params = {**rule.parameters, **case.parameters}
            record = {UNMET: 0, **case.household}
            actual = evaluate(rule, record, members=case.members, as_of=when, parameters=params)
            if not _same(case.expected, actual):
                text = explain(
                    rule, record, members=case.members, as_of=when, parameters=params
                ).render()
                failures.append(
                    {
                        "row": index + 1,
                        "field": "test_cases",
                        "message": f"test '{case.name}' expected {case.expected!r}, got {actual!r}",
                        "explanation": text,
                    }
                )
        except RuleError as exc:
            failures.append(
                {"row": index + 1, "field": "test_cases", "message": f"{case.name}: {exc.detail}"}
            )
    return failures


def validate_version(
    kind: str,
    expression: str,
    parameters: dict[str, Any],
    valid_from: date,
    valid_to: date | None,
    cases: list[dict[str, Any]],
) -> CheckedRule:
    """Refuse a rule version that does not check, has the wrong type, or fails a test.

    Raises:
        RuleError: The expression does not parse or type-check (line, column, reason).
        ValidationFailed: Wrong result type, bad dates, or failing test cases.
    """
    if valid_to is not None and valid_to <= valid_from:
        raise ValidationFailed(
            "valid_to must be after valid_from",
            [{"field": "valid_to", "message": "valid_to must be after valid_from"}],
        )
    rule = check_rule(expression, parameters, valid_from)
    wanted = "boolean" if kind == "eligibility" else "number"
    if rule.type not in (wanted, "any", "null"):
        raise ValidationFailed(
            f"a {kind} rule must give a {'yes/no' if wanted == 'boolean' else 'number'}, "
            f"this one gives a {rule.type}",
            [{"field": "expression", "message": f"result type is {rule.type}, not {wanted}"}],
        )
    failures = run_cases(expression, parameters, valid_from, cases)
    if failures:
        raise ValidationFailed(f"{len(failures)} test case(s) failed", failures)
    return rule


@dataclass(frozen=True)
class BoundRule:
    """A stored rule version checked with its parameter values at an evaluation date."""

    version: ProgrammeRule
    rule: CheckedRule


def bind(version: ProgrammeRule, when: date) -> BoundRule:
    """Check a stored version with its parameters at ``when``."""
    return BoundRule(version, check_rule(version.expression, dict(version.parameters), when))


def field_refs(node: Node) -> list[FieldRef]:
    """Every field reference of a rule (computed fields expanded, aggregates entered)."""
    found: list[FieldRef] = []

    def walk(n: Any) -> None:
        if isinstance(n, FieldRef):
            found.append(n)
            return
        if isinstance(n, ComputedRef):
            walk(n.expansion)
            return
        if isinstance(n, Aggregate):
            if n.expr is not None:
                walk(n.expr)
            return
        for value in vars(n).values():
            if isinstance(value, Node):
                walk(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        walk(item)

    walk(node)
    return found


def fields_read(node: Node) -> tuple[set[str], set[str]]:
    """Household and person fields a rule reads (computed fields expanded)."""
    household: set[str] = set()
    person: set[str] = set()
    for ref in field_refs(node):
        (household if ref.scope in ("household", "parent") else person).add(ref.name)
    household.discard(UNMET)
    return household, person
