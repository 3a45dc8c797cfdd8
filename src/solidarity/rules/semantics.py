"""Value semantics shared by the Python evaluator and explanations.

The Polars and SQL back-ends implement the same definitions (see docs/rules.md):
comparisons with null are false (``== null`` tests for null), arithmetic with null
is null, division by zero is null, ``%`` is floored (``a - b * floor(a / b)``),
``round`` is half away from zero, and aggregates skip nulls.
"""

from __future__ import annotations

import math
from datetime import date

from solidarity.rules.nodes import Value

Number = int | float


def compare(op: str, a: Value, b: Value) -> bool:
    """``a op b`` where any null makes the comparison false."""
    if a is None or b is None:
        return False
    match op:
        case "==":
            return a == b
        case "!=":
            return a != b
        case "<":
            return a < b  # type: ignore[operator]
        case "<=":
            return a <= b  # type: ignore[operator]
        case ">":
            return a > b  # type: ignore[operator]
        case ">=":
            return a >= b  # type: ignore[operator]
    raise ValueError(op)  # pragma: no cover


def arithmetic(op: str, a: Number | None, b: Number | None) -> Number | None:
    """``a op b`` with null for a null operand or a zero divisor."""
    if a is None or b is None:
        return None
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            return None if b == 0 else a / b
        case "%":
            return None if b == 0 else a - b * math.floor(a / b)
    raise ValueError(op)  # pragma: no cover


def round_half_away(x: Number, digits: int) -> float:
    """Round half away from zero, by the formula the SQL and Polars back-ends use."""
    factor = float(10**digits)
    magnitude = math.floor(abs(x) * factor + 0.5) / factor
    return -magnitude if x < 0 else magnitude


def years_between(start: date, end: date) -> int:
    """Whole years from ``start`` to ``end`` (an age); negative when ``end`` is earlier."""
    years = end.year - start.year
    if end.month * 100 + end.day < start.month * 100 + start.day:
        years -= 1
    return years


def years_before(on: date, years: int) -> date:
    """The day ``years`` years before ``on``, 29 February going to the 28th.

    The inverse of :func:`years_between`: ``years_between(d, on) >= years`` exactly
    when ``d <= years_before(on, years)``, so an age bound is a bound on a date.

    Raises:
        ValueError: The day would be outside years 1 to 9999.
    """
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February in a year without one
        return on.replace(year=on.year - years, day=28)
