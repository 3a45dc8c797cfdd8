"""Evaluate a checked rule in Python for one household or person (intake, explanations)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from solidarity.rules.checker import CheckedRule
from solidarity.rules.errors import RuleEvaluationError
from solidarity.rules.nodes import (
    Aggregate,
    Binary,
    Call,
    ComputedRef,
    Conditional,
    FieldRef,
    In,
    ListExpr,
    Literal,
    Node,
    ParamRef,
    Today,
    Unary,
    Value,
)
from solidarity.rules.semantics import arithmetic, compare, round_half_away, years_between

Record = Mapping[str, Any]


def is_active(member: Record) -> bool:
    """Members without a status, or with status ``active``, count in aggregates."""
    return member.get("status") in (None, "active")


def _field_value(record: Record | None, ref: FieldRef) -> Value:
    if record is None:
        return None
    if ref.name in record:
        value = record[ref.name]
    else:
        extra = record.get("extra") or {}
        value = extra.get(ref.name)
    if ref.type == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if ref.type == "number" and isinstance(value, bool):
        return int(value)
    return value  # type: ignore[no-any-return]


@dataclass
class Scope:
    """The records a rule sees: the record itself, its household or members, one member."""

    record: Record | None
    members: Sequence[Record] = ()
    household: Record | None = None
    member: Record | None = None
    memo: dict[int, Value] = field(default_factory=dict)


class Evaluator:
    """Evaluates resolved nodes with the language's null semantics."""

    def __init__(self, parameters: Mapping[str, Any], as_of: date) -> None:
        self.parameters = parameters
        self.as_of = as_of

    def param(self, ref: ParamRef) -> Any:
        """The value bound to ``params.<name>``."""
        if ref.name not in self.parameters:
            raise RuleEvaluationError(
                f"parameter '{ref.name}' has no value", line=ref.line, column=ref.column
            )
        return self.parameters[ref.name]

    def truth(self, node: Node, scope: Scope) -> bool:
        """A condition: null counts as false."""
        return self.value(node, scope) is True

    def value(self, node: Node, scope: Scope) -> Value:
        """The value of ``node`` in ``scope``."""
        match node:
            case Literal(value=value):
                return value
            case FieldRef(scope="member") as ref:
                return _field_value(scope.member, ref)
            case FieldRef(scope="parent") as ref:
                return _field_value(scope.household, ref)
            case FieldRef() as ref:
                return _field_value(scope.record, ref)
            case ComputedRef(expansion=expansion):
                return self.value(expansion, scope)
            case ParamRef() as ref:
                return self.param(ref)  # type: ignore[no-any-return]
            case Today():
                return self.as_of
            case Unary(op="!", operand=operand):
                return not self.truth(operand, scope)
            case Unary(operand=operand):
                v = self.value(operand, scope)
                return None if v is None else -v  # type: ignore[operator]
            case Binary(op="&&", left=left, right=right):
                return self.truth(left, scope) and self.truth(right, scope)
            case Binary(op="||", left=left, right=right):
                return self.truth(left, scope) or self.truth(right, scope)
            case Binary(op=op, left=left, right=right) if op in ("==", "!="):
                if isinstance(left, Literal) and left.value is None:
                    return (self.value(right, scope) is None) == (op == "==")
                if isinstance(right, Literal) and right.value is None:
                    return (self.value(left, scope) is None) == (op == "==")
                return compare(op, self.value(left, scope), self.value(right, scope))
            case Binary(op=op, left=left, right=right) if op in ("<", "<=", ">", ">="):
                return compare(op, self.value(left, scope), self.value(right, scope))
            case Binary(op=op, left=left, right=right):
                return arithmetic(op, self.value(left, scope), self.value(right, scope))  # type: ignore[arg-type]
            case In(item=item, options=options):
                v = self.value(item, scope)
                return any(compare("==", v, o) for o in self.options(options, scope))
            case Conditional(condition=condition, then=then, otherwise=otherwise):
                branch = then if self.truth(condition, scope) else otherwise
                return self.value(branch, scope)
            case Call(name=name, args=args):
                return self.call(name, [self.value(a, scope) for a in args])
            case Aggregate():
                return self.aggregate(node, scope)
        raise RuleEvaluationError(f"cannot evaluate {node!r}")  # pragma: no cover

    def options(self, options: Node, scope: Scope) -> list[Value]:
        """The values right of ``in``."""
        if isinstance(options, ListExpr):
            return [self.value(o, scope) for o in options.items]
        return list(self.param(options))  # type: ignore[arg-type]

    def call(self, name: str, args: list[Value]) -> Value:
        """A scalar function; null in gives null out (except ``coalesce``)."""
        if name == "coalesce":
            return next((a for a in args if a is not None), None)
        if any(a is None for a in args):
            return None
        match name:
            case "min":
                return min(args)  # type: ignore[type-var]
            case "max":
                return max(args)  # type: ignore[type-var]
            case "abs":
                return abs(args[0])  # type: ignore[arg-type]
            case "floor":
                return math.floor(args[0])  # type: ignore[arg-type]
            case "ceil":
                return math.ceil(args[0])  # type: ignore[arg-type]
            case "round":
                return round_half_away(args[0], int(args[1]) if len(args) > 1 else 0)  # type: ignore[arg-type]
            case "years_between":
                return years_between(args[0], args[1])  # type: ignore[arg-type]
            case "days_between":
                start, end = args
                assert isinstance(start, date) and isinstance(end, date)
                return (end - start).days
        raise RuleEvaluationError(f"unknown function {name}")  # pragma: no cover

    def member_values(self, node: Aggregate, scope: Scope) -> list[Value]:
        """The aggregate's expression for each active member."""
        assert node.expr is not None
        return [self.value(node.expr, Scope(None, member=m)) for m in scope.members if is_active(m)]

    def aggregate(self, node: Aggregate, scope: Scope) -> Value:
        """An aggregate over the active members; nulls are skipped."""
        if node.expr is None:
            return sum(1 for m in scope.members if is_active(m))
        values = self.member_values(node, scope)
        if node.func == "count":
            return sum(1 for v in values if v is True)
        if node.func == "any":
            return any(v is True for v in values)
        if node.func == "all":
            return all(v is True for v in values)
        present = [v for v in values if v is not None]
        if node.func == "sum":
            return sum(present)  # type: ignore[arg-type]
        if not present:
            return None
        if node.func == "avg":
            return sum(present) / len(present)  # type: ignore[arg-type]
        return min(present) if node.func == "min" else max(present)  # type: ignore[type-var]


def scope_for(
    rule: CheckedRule,
    record: Record,
    members: Sequence[Record] = (),
    household: Record | None = None,
) -> Scope:
    """The scope a rule of ``rule.level`` sees for one record."""
    if rule.level == "household":
        return Scope(record, members=members)
    return Scope(record, household=household)


def evaluate(
    rule: CheckedRule,
    record: Record,
    *,
    members: Sequence[Record] = (),
    household: Record | None = None,
    as_of: date | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Value:
    """Evaluate a rule for one household (with its members) or one person.

    Args:
        rule: A checked rule.
        record: The household's fields (household level) or the person's.
        members: The household's members (household level); members whose
            ``status`` is set and not ``active`` are ignored.
        household: The person's household (person level, for ``household.<field>``).
        as_of: The evaluation date (``today()``, ages); defaults to today.
        parameters: Overrides the parameters bound to the rule.

    Returns:
        The value; a boolean rule always gives ``True`` or ``False``.
    """
    evaluator = Evaluator(
        parameters if parameters is not None else rule.parameters, as_of or date.today()
    )
    scope = scope_for(rule, record, members, household)
    if rule.type == "boolean":
        return evaluator.truth(rule.tree, scope)
    return evaluator.value(rule.tree, scope)
