"""Rule coherence: age bands read from eligibility rules, hand-over gaps, contradictions.

Each eligibility rule is parsed and checked by the rule language; its syntax tree
is walked for comparisons of a number field with a constant (a literal or a bound
parameter). Inside one conjunction (``&&``) those comparisons narrow an interval
of the field; an empty interval is a condition that can never hold. Comparisons on
``age`` (of the person, or of members inside an aggregate such as
``count(members, m.age < 15) >= 1``) give the programme's age band in whole years,
``[low, high)``. For a declared hand-over A → B the gap is ``[high_A, low_B)``
(ages covered by neither) and the overlap ``[low_B, high_A)`` (covered by both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from solidarity.rules.checker import CheckedRule
from solidarity.rules.nodes import (
    Aggregate,
    Binary,
    ComputedRef,
    FieldRef,
    Literal,
    Node,
    ParamRef,
    Unary,
)

FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass
class Interval:
    """An interval of a number field, ``[low, high)`` for whole numbers; ``None`` is unbounded.

    Real-valued fields keep the constants as written (``[low, high]``), so only a
    strictly inverted interval counts as empty for them.
    """

    low: float | None = None
    high: float | None = None
    integer: bool = True

    def narrow(self, op: str, value: float) -> None:
        """Intersect with ``field op value``."""
        if op == "==":
            self.narrow(">=", value)
            self.narrow("<=", value)
            return
        if op in (">=", ">"):
            if self.integer:
                bound = float(math.ceil(value)) if op == ">=" else float(math.floor(value) + 1)
            else:
                bound = value
            self.low = bound if self.low is None else max(self.low, bound)
        else:
            if self.integer:
                bound = float(math.ceil(value)) if op == "<" else float(math.floor(value) + 1)
            else:
                bound = value
            self.high = bound if self.high is None else min(self.high, bound)

    @property
    def empty(self) -> bool:
        """Whether no value satisfies the interval."""
        if self.low is None or self.high is None:
            return False
        return self.low >= self.high if self.integer else self.low > self.high

    def text(self) -> str:
        """``15-19`` style text in whole years (``65+``, ``under 15``)."""
        if self.low is None and self.high is None:
            return "any"
        if self.high is None:
            return f"{_num(self.low)}+"
        if self.low is None:
            return f"under {_num(self.high)}"
        if self.integer and self.high - self.low == 1:
            return _num(self.low)
        return f"{_num(self.low)}-{_num(self.high - 1)}"


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


@dataclass
class RuleFacts:
    """What the walk found in one rule."""

    intervals: dict[str, Interval] = field(default_factory=dict)
    contradictions: list[str] = field(default_factory=list)

    @property
    def age(self) -> Interval | None:
        """The age band, if the rule bounds an age."""
        return self.intervals.get("age")


def _constant(node: Node, parameters: dict[str, Any]) -> float | None:
    if (
        isinstance(node, Literal)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ParamRef):
        value = parameters.get(node.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    if isinstance(node, Unary) and node.op == "-":
        inner = _constant(node.operand, parameters)
        return -inner if inner is not None else None
    return None


def _field(node: Node) -> tuple[str, bool] | None:
    """The field a comparison side names, and whether it takes whole numbers only."""
    if isinstance(node, ComputedRef) and node.type == "number":
        return node.name, node.name in ("age", "size", "children", "elderly", "head_age")
    if isinstance(node, FieldRef) and node.type == "number":
        return node.name, node.storage == "integer"
    return None


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Binary) and node.op == "&&":
        return [*_conjuncts(node.left), *_conjuncts(node.right)]
    return [node]


def _scan(node: Node, parameters: dict[str, Any], facts: RuleFacts, where: str) -> None:
    """Narrow intervals over the conjunction rooted at ``node``; recurse into sub-expressions."""
    local: dict[str, Interval] = {}
    for part in _conjuncts(node):
        if isinstance(part, Binary) and part.op in ("<", "<=", ">", ">=", "=="):
            for left, right, op in (
                (part.left, part.right, part.op),
                (part.right, part.left, FLIP[part.op]),
            ):
                found = _field(left)
                value = _constant(right, parameters)
                if found is not None and value is not None:
                    local.setdefault(found[0], Interval(integer=found[1])).narrow(op, value)
                    break
        _descend(part, parameters, facts)
    for name, interval in local.items():
        if interval.empty:
            facts.contradictions.append(
                f"{where}: {name} must be at least {_num(interval.low)} and below "
                f"{_num(interval.high)}, which no value satisfies"
            )
        if name == "age" and not interval.empty:
            current = facts.intervals.get("age")
            facts.intervals["age"] = (
                interval
                if current is None
                else Interval(
                    None
                    if current.low is None or interval.low is None
                    else min(current.low, interval.low),
                    None
                    if current.high is None or interval.high is None
                    else max(current.high, interval.high),
                )
            )
        elif name not in facts.intervals:
            facts.intervals[name] = interval


def _descend(node: Node, parameters: dict[str, Any], facts: RuleFacts) -> None:
    if isinstance(node, Aggregate) and node.expr is not None:
        _scan(node.expr, parameters, facts, "a member condition")
    elif isinstance(node, ComputedRef) and node.name in ("children", "elderly"):
        _scan(node.expansion, parameters, facts, f"the computed field {node.name}")
    elif isinstance(node, Binary) and node.op == "||":
        _scan(node.left, parameters, facts, "an alternative")
        _scan(node.right, parameters, facts, "an alternative")
    elif isinstance(node, Binary):
        _descend(node.left, parameters, facts)
        _descend(node.right, parameters, facts)
    elif isinstance(node, Unary):
        _descend(node.operand, parameters, facts)


def facts_of(rule: CheckedRule) -> RuleFacts:
    """Intervals and contradictions of a checked rule."""
    facts = RuleFacts()
    _scan(rule.tree, dict(rule.parameters or {}), facts, "the rule")
    return facts


@dataclass(frozen=True)
class HandOver:
    """A hand-over A → B with the ages left to neither, or given to both."""

    programme_a: str
    programme_b: str
    band_a: str
    band_b: str
    gap: str | None
    gap_years: int
    overlap: str | None
    overlap_years: int


def hand_over(a: str, age_a: Interval, b: str, age_b: Interval) -> HandOver:
    """Compare A's upper age bound with B's lower one."""
    gap = overlap = None
    gap_years = overlap_years = 0
    if age_a.high is not None and age_b.low is not None:
        if age_a.high < age_b.low:
            gap_years = int(age_b.low - age_a.high)
            gap = Interval(age_a.high, age_b.low).text()
        elif age_a.high > age_b.low:
            overlap_years = int(age_a.high - age_b.low)
            overlap = Interval(age_b.low, age_a.high).text()
    return HandOver(a, b, age_a.text(), age_b.text(), gap, gap_years, overlap, overlap_years)
