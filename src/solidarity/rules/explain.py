"""Explain a decision for one household: each condition, the values seen, and the outcome.

The tree mirrors the rule; ``render()`` gives plain English a case worker can read,
e.g. "Per-capita income is 812.5, which is below the threshold income_threshold
(1000): condition met".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from solidarity.rules.checker import CheckedRule
from solidarity.rules.evaluate import Evaluator, Record, Scope, scope_for
from solidarity.rules.format import format_rule
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

_PHRASE = {
    "<": "below",
    "<=": "at most",
    ">": "above",
    ">=": "at least",
    "==": "equal to",
    "!=": "different from",
}
_COUNT_PHRASE = {
    "<": "fewer than",
    "<=": "at most",
    ">": "more than",
    ">=": "at least",
    "==": "exactly",
    "!=": "other than",
}
_AGG_WORDS = {"avg": "average", "min": "lowest", "max": "highest"}


@dataclass(frozen=True)
class Explanation:
    """One step of a decision.

    Attributes:
        text: A plain-English sentence.
        source: The part of the rule it explains (normalised text).
        value: The value of that part for this household.
        held: For a condition, whether it held; ``None`` for a value.
        children: The steps it depends on.
    """

    text: str
    source: str
    value: Value
    held: bool | None = None
    children: tuple[Explanation, ...] = field(default=())

    def render(self, indent: int = 0) -> str:
        """The explanation as indented lines."""
        lines = ["  " * indent + ("- " if indent else "") + self.text]
        lines += [child.render(indent + 1) for child in self.children]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (dates as ISO text)."""
        value = self.value.isoformat() if isinstance(self.value, date) else self.value
        return {
            "text": self.text,
            "source": self.source,
            "value": value,
            "held": self.held,
            "children": [c.to_dict() for c in self.children],
        }


def show(value: Any) -> str:
    """A value as a case worker reads it."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text if text != "-0" else "0"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value)
    return str(value)


def _outcome(held: bool) -> str:
    return "condition met" if held else "condition not met"


def describe(node: Node) -> str:
    """A noun phrase for a part of a rule ("per-capita income", "members with age below 18")."""
    match node:
        case FieldRef(label=label) | ComputedRef(label=label):
            return label
        case ParamRef(name=name):
            return f"the parameter {name}"
        case Literal(value=value):
            return show(value)
        case Today():
            return "the evaluation date"
        case Aggregate(func="count", expr=None):
            return "Number of members"
        case Aggregate(func="count", expr=expr) if expr is not None:
            return f"Members with {_lower(describe(expr))}"
        case Aggregate(func="any", expr=expr) if expr is not None:
            return f"Some member with {_lower(describe(expr))}"
        case Aggregate(func="all", expr=expr) if expr is not None:
            return f"Every member with {_lower(describe(expr))}"
        case Aggregate(func="sum", expr=expr) if expr is not None:
            return f"Total {_lower(describe(expr))} of the members"
        case Aggregate(func=func, expr=expr) if expr is not None:
            return f"{_AGG_WORDS[func].capitalize()} {_lower(describe(expr))} among the members"
        case Binary(op=op, left=left, right=right) if op in _PHRASE:
            return f"{describe(left)} {_PHRASE[op]} {_lower(describe(right))}"
    return format_rule(node)


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _rhs(node: Node, value: Value) -> str:
    if isinstance(node, Literal):
        return show(value)
    if isinstance(node, ParamRef):
        return f"the threshold {node.name} ({show(value)})"
    return f"{_lower(describe(node))} ({show(value)})"


def _counts(node: Node) -> bool:
    if isinstance(node, ComputedRef):
        return _counts(node.expansion)
    return isinstance(node, Aggregate) and node.func == "count"


class _Explainer:
    def __init__(self, evaluator: Evaluator, scope: Scope) -> None:
        self.ev = evaluator
        self.scope = scope

    def condition(self, node: Node) -> Explanation:
        ev, scope = self.ev, self.scope
        held = ev.truth(node, scope)
        source = format_rule(node)
        match node:
            case Binary(op=op) if op in ("&&", "||"):
                parts = self._flatten(node, op)
                children = tuple(self.condition(p) for p in parts)
                head = "All of" if op == "&&" else "At least one of"
                return Explanation(
                    f"{head} these conditions: {'met' if held else 'not met'}",
                    source,
                    held,
                    held,
                    children,
                )
            case Unary(op="!", operand=operand):
                child = self.condition(operand)
                return Explanation(
                    f"The following must not hold: {'met' if held else 'not met'}",
                    source,
                    held,
                    held,
                    (child,),
                )
            case Binary(op=op, left=left, right=right) if op in ("==", "!="):
                if isinstance(right, Literal) and right.value is None:
                    return self._null_test(node, left, op, held)
                if isinstance(left, Literal) and left.value is None:
                    return self._null_test(node, right, op, held)
                return self._comparison(node, op, left, right, held)
            case Binary(op=op, left=left, right=right) if op in _PHRASE:
                return self._comparison(node, op, left, right, held)
            case In(item=item, options=options):
                value = ev.value(item, scope)
                listed = (
                    [ev.value(o, scope) for o in options.items]
                    if isinstance(options, ListExpr)
                    else ev.param(options)  # type: ignore[arg-type]
                )
                text = (
                    f"{describe(item)} is {show(value)}, "
                    f"{'which is' if held else 'which is not'} one of {show(listed)}: "
                    f"{_outcome(held)}"
                )
                return Explanation(text, source, held, held)
            case Conditional():
                return self.value(node, held_too=True)
        value = ev.value(node, scope)
        text = f"{describe(node)}: {show(value)}: {_outcome(held)}"
        return Explanation(text, source, value, held)

    @staticmethod
    def _flatten(node: Node, op: str) -> list[Node]:
        if isinstance(node, Binary) and node.op == op:
            return _Explainer._flatten(node.left, op) + _Explainer._flatten(node.right, op)
        return [node]

    def _null_test(self, node: Node, subject: Node, op: str, held: bool) -> Explanation:
        value = self.ev.value(subject, self.scope)
        state = "missing" if value is None else f"recorded ({show(value)})"
        wanted = "missing" if op == "==" else "recorded"
        text = f"{describe(subject)} is {state} (must be {wanted}): {_outcome(held)}"
        return Explanation(text, format_rule(node), held, held)

    def _comparison(self, node: Node, op: str, left: Node, right: Node, held: bool) -> Explanation:
        lv = self.ev.value(left, self.scope)
        rv = self.ev.value(right, self.scope)
        children = tuple(self.value(side) for side in (left, right) if _worth_explaining(side))
        if _counts(left) and lv is not None and isinstance(right, Literal | ParamRef):
            text = f"{describe(left)}: {show(lv)} ({_COUNT_PHRASE[op]} {show(rv)} required): " + (
                "met" if held else "not met"
            )
        elif lv is None or rv is None:
            missing = describe(left) if lv is None else _lower(describe(right))
            text = f"{missing} is missing, so the condition is not met"
        else:
            which = "which is" if held else "which is not"
            text = f"{describe(left)} is {show(lv)}, {which} {_PHRASE[op]} {_rhs(right, rv)}: "
            text += _outcome(held)
        return Explanation(text, format_rule(node), held, held, children)

    def value(self, node: Node, held_too: bool = False) -> Explanation:
        ev, scope = self.ev, self.scope
        value = ev.value(node, scope)
        held = (value is True) if held_too else None
        source = format_rule(node)
        children: tuple[Explanation, ...] = ()
        match node:
            case Conditional(condition=condition, then=then, otherwise=otherwise):
                chosen = ev.truth(condition, scope)
                branch = then if chosen else otherwise
                children = (self.condition(condition), self.value(branch))
                text = (
                    f"{'Since' if chosen else 'Since not'} {_lower(describe(condition))}, "
                    f"the value is {format_rule(branch)} = {show(value)}"
                )
                return Explanation(text, source, value, held, children)
            case Binary(left=left, right=right):
                children = tuple(self.value(s) for s in (left, right) if _worth_explaining(s))
            case Unary(operand=operand):
                children = tuple(self.value(s) for s in (operand,) if _worth_explaining(s))
            case Call(args=args):
                children = tuple(self.value(a) for a in args if _worth_explaining(a))
        text = f"{describe(node)} is {show(value)}"
        return Explanation(text, source, value, held, children)


def _worth_explaining(node: Node) -> bool:
    return not isinstance(node, Literal | ParamRef | Today | FieldRef | ComputedRef | Aggregate)


def explain(
    rule: CheckedRule,
    record: Record,
    *,
    members: Sequence[Record] = (),
    household: Record | None = None,
    as_of: date | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Explanation:
    """Evaluate a rule for one household (or person) and explain each step.

    Args:
        rule: A checked rule.
        record: The household's fields (or the person's at person level).
        members: The household's members.
        household: The person's household (person level).
        as_of: The evaluation date; defaults to today.
        parameters: Overrides the parameters bound to the rule.

    Returns:
        The explanation tree; ``.held`` of the root is the decision for a condition.
    """
    evaluator = Evaluator(
        parameters if parameters is not None else rule.parameters, as_of or date.today()
    )
    explainer = _Explainer(evaluator, scope_for(rule, record, members, household))
    if rule.type == "boolean":
        return explainer.condition(rule.tree)
    return explainer.value(rule.tree)
