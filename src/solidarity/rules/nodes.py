"""The typed syntax tree of the rule language.

The parser builds the *parsed* nodes (``Literal`` ... ``Call``); the checker
replaces names by *resolved* nodes (``FieldRef``, ``ParamRef``, ``ComputedRef``,
``Aggregate``, ``Today``) that the back-ends compile. Positions are kept for
error messages but ignored by equality, so two spellings of one rule compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal as TypingLiteral

#: A value of the language at run time.
Value = int | float | str | bool | date | None

#: The static types of the language; ``list`` only appears right of ``in``.
Type = TypingLiteral["number", "boolean", "string", "date", "null", "list", "any"]

#: Where a field lives: the household (or the person at person level), a member
#: inside an aggregate, or the household of the person at person level.
Scope = TypingLiteral["household", "person", "member", "parent"]

ARITHMETIC = ("+", "-", "*", "/", "%")
COMPARISON = ("==", "!=", "<", "<=", ">", ">=")
LOGICAL = ("&&", "||")

AGGREGATES = ("count", "any", "all", "sum", "min", "max", "avg")


@dataclass(frozen=True)
class Node:
    """Base of every node; ``line``/``column`` are 1-based, ``token`` is the source text."""

    line: int = field(default=0, compare=False, kw_only=True, repr=False)
    column: int = field(default=0, compare=False, kw_only=True, repr=False)
    token: str = field(default="", compare=False, kw_only=True, repr=False)


@dataclass(frozen=True)
class Literal(Node):
    """A number, string, boolean, date or ``null``."""

    value: Value


@dataclass(frozen=True)
class Name(Node):
    """A dotted name as written: ``age``, ``household.size``, ``m.income``, ``params.x``."""

    parts: tuple[str, ...]


@dataclass(frozen=True)
class Unary(Node):
    """``-x`` or ``!x``."""

    op: TypingLiteral["-", "!"]
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    """Arithmetic, comparison, ``&&`` or ``||``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class ListExpr(Node):
    """``[a, b, c]``, only as the right side of ``in``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class In(Node):
    """``item in [..]`` or ``item in params.list``."""

    item: Node
    options: Node


@dataclass(frozen=True)
class Conditional(Node):
    """``condition ? then : otherwise``."""

    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call(Node):
    """A whitelisted function call (aggregates are resolved to ``Aggregate``)."""

    name: str
    args: tuple[Node, ...]


# --- resolved nodes (built by the checker) -------------------------------------------


@dataclass(frozen=True)
class FieldRef(Node):
    """A stored field of the catalogue."""

    scope: Scope
    name: str
    type: Type
    label: str
    extra: bool = False
    codes: tuple[str | int, ...] | None = None
    storage: str = ""


@dataclass(frozen=True)
class ParamRef(Node):
    """A named parameter of the rule version, bound to a value at compile time."""

    name: str
    type: Type


@dataclass(frozen=True)
class ComputedRef(Node):
    """A computed field (``age``, ``size`` ...) with the expression that defines it."""

    scope: Scope
    name: str
    type: Type
    label: str
    expansion: Node


@dataclass(frozen=True)
class Today(Node):
    """The evaluation date (``today()``): the as-of date of the run, not the wall clock."""


@dataclass(frozen=True)
class Aggregate(Node):
    """``count|any|all|sum|min|max|avg(members, expr)`` over the active members."""

    func: str
    expr: Node | None


def constant_date(node: Node, as_of: date) -> date | None:
    """The value of a date known when compiling (a literal or ``today()``), else None."""
    if isinstance(node, Today):
        return as_of
    if isinstance(node, Literal) and isinstance(node.value, date):
        return node.value
    return None
