"""Rule versions as data: dated expressions with their parameters, legal basis and tests.

A rule file (YAML) holds a rule set: a name and versions, each valid over
``[valid_from, valid_to)``. ``RuleSet.for_date`` picks the version in force; each
version carries test cases (a household in, the expected result out) that
``run_test_cases`` runs, as the CLI's ``solidarity rules test`` does.
"""

from __future__ import annotations

import itertools
import math
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from solidarity.rules.checker import CheckedRule, check
from solidarity.rules.errors import RuleError, RuleVersionError
from solidarity.rules.evaluate import evaluate
from solidarity.rules.explain import explain
from solidarity.rules.nodes import Value


def resolve_parameters(parameters: dict[str, Any], when: date) -> dict[str, Any]:
    """Parameter values at a date.

    A value given as a mapping of dates to values (``{2024-01-01: 50, 2025-01-01: 55}``)
    takes the value of the latest date on or before ``when``; other values are constant.
    """
    resolved: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, dict):
            dated = sorted(
                (date.fromisoformat(str(k)), v) for k, v in value.items() if str(k) <= str(when)
            )
            if not dated:
                raise RuleVersionError(f"parameter '{name}' has no value on {when.isoformat()}")
            resolved[name] = dated[-1][1]
        else:
            resolved[name] = value
    return resolved


class RuleTestCase(BaseModel):
    """One test of a rule version: the input records and the expected result."""

    model_config = ConfigDict(extra="forbid")

    name: str
    household: dict[str, Any] = Field(default_factory=dict)
    members: list[dict[str, Any]] = Field(default_factory=list)
    person: dict[str, Any] | None = None
    as_of: date | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    expected: Any


class RuleVersion(BaseModel):
    """One version of a rule, in force over ``[valid_from, valid_to)``."""

    model_config = ConfigDict(extra="forbid")

    expression: str
    level: Literal["household", "person"] = "household"
    valid_from: date
    valid_to: date | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    legal_reference: str = ""
    test_cases: list[RuleTestCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates_in_order(self) -> RuleVersion:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self

    def in_force(self, when: date) -> bool:
        """Whether this version applies on ``when``."""
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)

    def checked(self, when: date | None = None) -> CheckedRule:
        """The checked rule with the parameter values at ``when`` (default ``valid_from``).

        Raises:
            RuleSyntaxError: The expression does not parse.
            RuleTypeError: The expression does not type-check.
        """
        values = resolve_parameters(self.parameters, when or self.valid_from)
        return check(self.expression, self.level, parameters=values)


class RuleSet(BaseModel):
    """A named rule and its versions over time."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    kind: Literal["eligibility", "benefit", "score", "validation"] | None = None
    versions: list[RuleVersion]

    @model_validator(mode="after")
    def _no_overlap(self) -> RuleSet:
        ordered = sorted(self.versions, key=lambda v: v.valid_from)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.valid_to is None or earlier.valid_to > later.valid_from:
                raise ValueError(
                    f"versions from {earlier.valid_from} and {later.valid_from} overlap"
                )
        self.versions = ordered
        return self

    def for_date(self, when: date) -> RuleVersion:
        """The version in force on ``when``.

        Raises:
            RuleVersionError: No version is in force then.
        """
        for version in self.versions:
            if version.in_force(when):
                return version
        raise RuleVersionError(f"no version of rule '{self.name}' is in force on {when}")


def load_rule_set(path: Path) -> RuleSet:
    """Load and check a rule file (a rule set, or a single version at the top level).

    Raises:
        RuleVersionError: The file cannot be read or is malformed.
        RuleSyntaxError: A version's expression does not parse.
        RuleTypeError: A version's expression does not type-check.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleVersionError(f"cannot read rule file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleVersionError(f"{path}: a rule file holds a mapping")
    if "versions" not in data:
        data = {"name": path.stem, "versions": [data]}
    try:
        rule_set = RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise RuleVersionError(f"{path}: {problems}") from exc
    for version in rule_set.versions:
        version.checked()
    return rule_set


class TestCaseResult(BaseModel):
    """The outcome of one test case."""

    __test__ = False  # not a pytest class

    rule: str
    valid_from: date
    name: str
    expected: Any
    actual: Any = None
    passed: bool
    error: str | None = None
    explanation: str = ""


def _same(expected: Any, actual: Value) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(actual, date) and isinstance(expected, str):
        return actual.isoformat() == expected
    return bool(expected == actual)


def run_test_cases(rule_set: RuleSet) -> list[TestCaseResult]:
    """Run every version's test cases with the Python evaluator."""
    results: list[TestCaseResult] = []
    for version in rule_set.versions:
        for case in version.test_cases:
            when = case.as_of or version.valid_from
            base = {"rule": rule_set.name, "valid_from": version.valid_from, "name": case.name}
            try:
                rule = version.checked(when)
                parameters = {**rule.parameters, **case.parameters}
                record = case.person if version.level == "person" else case.household
                kwargs: dict[str, Any] = {
                    "members": case.members,
                    "household": case.household if version.level == "person" else None,
                    "as_of": when,
                    "parameters": parameters,
                }
                actual = evaluate(rule, record or {}, **kwargs)
                passed = _same(case.expected, actual)
                text = "" if passed else explain(rule, record or {}, **kwargs).render()
                results.append(
                    TestCaseResult(
                        **base,
                        expected=case.expected,
                        actual=actual,
                        passed=passed,
                        explanation=text,
                    )
                )
            except (RuleError, ValueError, TypeError) as exc:
                detail = exc.detail if isinstance(exc, RuleError) else str(exc)
                results.append(
                    TestCaseResult(**base, expected=case.expected, passed=False, error=detail)
                )
    return results
