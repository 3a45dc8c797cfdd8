"""The normalised form of a rule: canonical text with minimal parentheses.

Two spellings of one rule (``and`` or ``&&``, extra parentheses, other quotes or
spacing) print the same; parsing the printed text gives back an equal tree.
"""

from __future__ import annotations

from datetime import date

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
    Name,
    Node,
    ParamRef,
    Today,
    Unary,
    Value,
)

_BINARY_PRECEDENCE = {
    "||": 2,
    "&&": 3,
    "==": 5,
    "!=": 5,
    "<": 5,
    "<=": 5,
    ">": 5,
    ">=": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "%": 7,
}
_ATOM = 9


def format_value(value: Value) -> str:
    """A literal value as rule text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"date('{value.isoformat()}')"
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace("'", "\\'")
            .replace("\n", "\\n")
            .replace("\t", "\\t")
        )
        return f"'{escaped}'"
    return repr(value)


def _scoped(scope: str, name: str) -> str:
    if scope == "member":
        return f"m.{name}"
    if scope == "parent":
        return f"household.{name}"
    return name


def _precedence(node: Node) -> int:
    if isinstance(node, Conditional):
        return 1
    if isinstance(node, Binary):
        return _BINARY_PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return 4 if node.op == "!" else 8
    if isinstance(node, In):
        return 5
    if isinstance(node, Literal) and isinstance(node.value, int | float) and node.value < 0:
        return 8
    return _ATOM


def _fmt(node: Node, minimum: int) -> str:
    text = _text(node)
    return f"({text})" if _precedence(node) < minimum else text


def _text(node: Node) -> str:
    match node:
        case Literal(value=value):
            return format_value(value)
        case Name(parts=parts):
            return ".".join(parts)
        case FieldRef(scope=scope, name=name) | ComputedRef(scope=scope, name=name):
            return _scoped(scope, name)
        case ParamRef(name=name):
            return f"params.{name}"
        case Today():
            return "today()"
        case Aggregate(func=func, expr=None):
            return f"{func}(members)"
        case Aggregate(func=func, expr=expr) if expr is not None:
            return f"{func}(members, {_fmt(expr, 1)})"
        case Unary(op="!", operand=operand):
            return f"!{_fmt(operand, _ATOM)}"
        case Unary(op=_, operand=operand):
            return f"-{_fmt(operand, _ATOM)}"
        case Binary(op=op, left=left, right=right):
            level = _BINARY_PRECEDENCE[op]
            if level == 5:  # comparisons do not chain
                return f"{_fmt(left, 6)} {op} {_fmt(right, 6)}"
            return f"{_fmt(left, level)} {op} {_fmt(right, level + 1)}"
        case In(item=item, options=options):
            return f"{_fmt(item, 6)} in {_fmt(options, 6)}"
        case ListExpr(items=items):
            return "[" + ", ".join(_fmt(i, 1) for i in items) + "]"
        case Conditional(condition=condition, then=then, otherwise=otherwise):
            return f"{_fmt(condition, 2)} ? {_fmt(then, 1)} : {_fmt(otherwise, 1)}"
        case Call(name=name, args=args):
            return f"{name}(" + ", ".join(_fmt(a, 1) for a in args) + ")"
    raise TypeError(f"cannot format {node!r}")  # pragma: no cover


def format_rule(node: Node) -> str:
    """Canonical text of a (parsed or checked) rule tree."""
    return _text(node)
