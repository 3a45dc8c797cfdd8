"""Typed errors of the rule language: each names the line, column and token at fault."""

from __future__ import annotations

from solidarity.errors import SolidarityError


class RuleError(SolidarityError):
    """A rule cannot be used; the message says where and why."""

    status_code = 422
    title = "Invalid rule"
    exit_code = 3

    def __init__(
        self,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        token: str | None = None,
    ) -> None:
        where = f"line {line}, column {column}: " if line is not None else ""
        near = f" (at {token!r})" if token else ""
        super().__init__(f"{where}{reason}{near}", line=line, column=column, token=token)
        self.reason = reason
        self.line = line
        self.column = column
        self.token = token


class RuleSyntaxError(RuleError):
    """The rule text does not follow the grammar."""

    title = "Rule syntax error"


class RuleTypeError(RuleError):
    """The rule is grammatical but refers to unknown names or mixes incompatible types."""

    title = "Rule type error"


class RuleEvaluationError(RuleError):
    """A rule could not be evaluated on the data it was given (e.g. a missing parameter)."""

    title = "Rule evaluation error"


class RuleVersionError(RuleError):
    """A rule version file is malformed, or no version is in force at a date."""

    title = "Rule version error"
