"""The rule language: a small, safe, CEL-like language for eligibility, benefits and scores.

Parse and check once, then run the same rule three ways: over a whole population
in Polars, pushed down into SQL, or for one household in Python, with the same
null semantics everywhere, and explain any single decision. See docs/rules.md.
"""

from solidarity.rules.checker import CheckedRule, check
from solidarity.rules.errors import (
    RuleError,
    RuleEvaluationError,
    RuleSyntaxError,
    RuleTypeError,
    RuleVersionError,
)
from solidarity.rules.evaluate import evaluate
from solidarity.rules.explain import Explanation, explain
from solidarity.rules.format import format_rule
from solidarity.rules.parser import parse
from solidarity.rules.polars_backend import PolarsPlan, to_polars, to_polars_all
from solidarity.rules.sql_backend import SqlTables, registry_tables, to_sql, to_sql_grouped
from solidarity.rules.versions import (
    RuleSet,
    RuleTestCase,
    RuleVersion,
    TestCaseResult,
    load_rule_set,
    resolve_parameters,
    run_test_cases,
)
from solidarity.rules.vocabulary import (
    HOUSEHOLD_COMPUTED,
    PERSON_COMPUTED,
    Vocabulary,
    default_vocabulary,
    vocabulary_from,
)

__all__ = [
    "HOUSEHOLD_COMPUTED",
    "PERSON_COMPUTED",
    "CheckedRule",
    "Explanation",
    "PolarsPlan",
    "RuleError",
    "RuleEvaluationError",
    "RuleSet",
    "RuleSyntaxError",
    "RuleTestCase",
    "RuleTypeError",
    "RuleVersion",
    "RuleVersionError",
    "SqlTables",
    "TestCaseResult",
    "Vocabulary",
    "check",
    "default_vocabulary",
    "evaluate",
    "explain",
    "format_rule",
    "load_rule_set",
    "parse",
    "registry_tables",
    "resolve_parameters",
    "run_test_cases",
    "to_polars",
    "to_polars_all",
    "to_sql",
    "to_sql_grouped",
    "vocabulary_from",
]
