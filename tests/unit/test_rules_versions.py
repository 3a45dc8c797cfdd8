"""Rule versions as data: dated versions and parameters, YAML files, test cases, the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from solidarity.rules import (
    RuleSet,
    RuleSyntaxError,
    RuleVersion,
    RuleVersionError,
    load_rule_set,
    resolve_parameters,
    run_test_cases,
)
from solidarity.rules.cli import app

CHILD_GRANT = """
name: child_grant
description: Monthly grant for poor households with children
kind: benefit
versions:
  - valid_from: 2023-01-01
    valid_to: 2024-07-01
    legal_reference: Social Assistance Act 2022, s. 12
    expression: >
      children >= 1 && per_capita_income < params.poverty_line
        ? min(children, params.max_children) * params.child_amount
        : 0
    parameters:
      poverty_line: 1000
      max_children: 3
      child_amount: {2023-01-01: 40, 2024-01-01: 50}
    test_cases:
      - name: two children, poor
        as_of: 2024-03-01
        members:
          - {birth_date: 1985-01-01, sex: female, relationship: head, income: 900}
          - {birth_date: 2015-01-01, sex: male, relationship: child}
          - {birth_date: 2018-01-01, sex: female, relationship: child}
        expected: 100
      - name: same household in 2023 gets the older amount
        as_of: 2023-06-01
        members:
          - {birth_date: 1985-01-01, sex: female, relationship: head, income: 900}
          - {birth_date: 2015-01-01, sex: male, relationship: child}
        expected: 40
  - valid_from: 2024-07-01
    expression: "children >= 1 ? min(children, params.max_children) * params.child_amount : 0"
    parameters: {max_children: 4, child_amount: 60}
    test_cases:
      - name: universal from July 2024
        members:
          - {birth_date: 1985-01-01, sex: female, relationship: head, income: 50000}
          - {birth_date: 2015-01-01, sex: male, relationship: child}
        expected: 60
"""


@pytest.fixture
def grant_file(tmp_path: Path) -> Path:
    path = tmp_path / "child_grant.yaml"
    path.write_text(CHILD_GRANT)
    return path


def test_version_in_force_and_dated_parameters(grant_file: Path) -> None:
    rules = load_rule_set(grant_file)
    assert rules.for_date(date(2024, 6, 30)).valid_from == date(2023, 1, 1)
    assert rules.for_date(date(2024, 7, 1)).parameters["child_amount"] == 60
    with pytest.raises(RuleVersionError, match="no version of rule 'child_grant'"):
        rules.for_date(date(2022, 12, 31))
    first = rules.versions[0]
    assert first.checked(date(2023, 5, 1)).parameters["child_amount"] == 40
    assert first.checked(date(2024, 5, 1)).parameters["child_amount"] == 50
    assert resolve_parameters({"x": {"2024-01-01": 1}, "y": 2}, date(2024, 1, 1)) == {
        "x": 1,
        "y": 2,
    }


def test_test_cases_run_and_report(grant_file: Path) -> None:
    results = run_test_cases(load_rule_set(grant_file))
    assert [(r.name, r.passed, r.actual) for r in results] == [
        ("two children, poor", True, 100),
        ("same household in 2023 gets the older amount", True, 40),
        ("universal from July 2024", True, 60),
    ]


def test_failing_test_case_comes_with_an_explanation() -> None:
    version = RuleVersion.model_validate(
        {
            "expression": "size >= 2",
            "valid_from": "2024-01-01",
            "test_cases": [{"name": "single", "members": [{"sex": "male"}], "expected": True}],
        }
    )
    (result,) = run_test_cases(RuleSet(name="r", versions=[version]))
    assert not result.passed
    assert "Household size: 1 (at least 2 required): not met" in result.explanation


def test_overlapping_versions_and_bad_expressions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overlap"):
        RuleSet.model_validate(
            {
                "name": "r",
                "versions": [
                    {"expression": "true", "valid_from": "2024-01-01"},
                    {"expression": "false", "valid_from": "2024-06-01"},
                ],
            }
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text("expression: 'size >'\nvalid_from: 2024-01-01\n")
    with pytest.raises(RuleSyntaxError):
        load_rule_set(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("expression: size > 1\n")
    with pytest.raises(RuleVersionError, match="valid_from"):
        load_rule_set(broken)


def test_cli_check_prints_normal_form_or_error() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "children>=1 and per_capita_income<params.x"])
    assert ok.exit_code == 0
    assert "children >= 1 && per_capita_income < params.x" in ok.output
    person = runner.invoke(app, ["check", "age >= 65", "--level", "person"])
    assert person.exit_code == 0
    bad = runner.invoke(app, ["check", "per_capita_incom < 10"])
    assert bad.exit_code != 0
    assert "line 1, column 1" in bad.output
    assert "did you mean 'per_capita_income'" in bad.output


def test_cli_test_runs_a_rule_file(grant_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["test", str(grant_file)])
    assert result.exit_code == 0, result.output
    assert "All 3 test case(s) passed" in result.output
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        "expression: size >= 2\nvalid_from: 2024-01-01\n"
        "test_cases:\n  - {name: single, members: [{sex: male}], expected: true}\n"
    )
    result = runner.invoke(app, ["test", str(failing)])
    assert result.exit_code == 1
    assert "1 of 1 test case(s) failed" in result.output
