"""Compile a checked rule to Polars expressions for whole populations.

A household-level rule becomes one expression over the household frame (one row
per household) plus the aggregations it needs over the members frame; the
aggregations run in a single ``group_by(household_id)`` and are joined back, so
a population is evaluated in a few vectorised passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

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
    constant_date,
)

Frame = pl.DataFrame | pl.LazyFrame

_AGG_FILL: dict[str, Any] = {"count": 0, "sum": 0, "any": False, "all": True}


def _literal(value: Any) -> pl.Expr:
    if value is None:
        return pl.lit(None)
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, int):
        return pl.lit(value, dtype=pl.Int64)
    if isinstance(value, float):
        return pl.lit(value, dtype=pl.Float64)
    if isinstance(value, date):
        return pl.lit(value, dtype=pl.Date)
    return pl.lit(value, dtype=pl.String)


def _never_null(node: Node) -> bool:
    if isinstance(node, Binary):
        return node.op not in ("+", "-", "*", "/", "%")
    if isinstance(node, Aggregate):
        return node.func in ("count", "any", "all")
    if isinstance(node, ComputedRef):
        return _never_null(node.expansion)
    return isinstance(node, Unary | In) and not (isinstance(node, Unary) and node.op == "-")


def _reads_fields(node: Node) -> bool:
    if isinstance(node, FieldRef | ComputedRef):
        return True
    children = [v for v in vars(node).values() if isinstance(v, Node)]
    children += [
        item
        for v in vars(node).values()
        if isinstance(v, tuple)
        for item in v
        if isinstance(item, Node)
    ]
    return any(_reads_fields(c) for c in children)


def _year_day(d: pl.Expr | date) -> tuple[pl.Expr, pl.Expr]:
    """Year and ``month * 100 + day``; folded to literals for a constant date."""
    if isinstance(d, date):
        return pl.lit(d.year, dtype=pl.Int32), pl.lit(d.month * 100 + d.day, dtype=pl.Int32)
    # Int32 holds both and is what ``dt.year`` returns: no widening pass per row.
    return d.dt.year(), d.dt.month().cast(pl.Int32) * 100 + d.dt.day().cast(pl.Int32)


@dataclass(frozen=True)
class PolarsPlan:
    """The compiled form of one or more rules for Polars.

    Attributes:
        outputs: Each rule's result, by name: an expression over the household
            frame (after the aggregations are joined) or over the person frame.
        aggregations: Named aggregations over the active members, by household,
            shared by all the rules (an aggregate two rules use is computed once).
        household_columns: At person level, household fields the rules read.
    """

    outputs: tuple[tuple[str, pl.Expr], ...]
    aggregations: tuple[pl.Expr, ...]
    household_columns: tuple[str, ...]

    @property
    def expression(self) -> pl.Expr:
        """The result of a plan of one rule."""
        (_, expression), *rest = self.outputs
        if rest:
            raise RuleEvaluationError("this plan has several rules: use their names")
        return expression

    def apply(
        self,
        frame: Frame,
        *,
        members: Frame | None = None,
        households: Frame | None = None,
        key: str = "household_id",
        alias: str | None = None,
    ) -> pl.LazyFrame:
        """Add each rule's result as a column to ``frame``.

        The members are grouped once, for every aggregate of every rule.

        Args:
            frame: Households (one row each, with ``key``) or, at person level, persons.
            members: Persons with ``key``; needed when a rule aggregates over members.
                Rows whose ``status`` column is set and not ``active`` are ignored.
            households: At person level, the households read by ``household.<field>``.
            key: The household id column in every frame.
            alias: For a plan of one rule, the name of its column (default: its name).

        Returns:
            A lazy frame: ``frame`` with one column per rule.
        """
        lf = frame.lazy()
        names = [f"__agg{i}" for i in range(len(self.aggregations))]
        if self.aggregations:
            if members is None:
                raise RuleEvaluationError("this rule aggregates over members: pass members")
            persons = members.lazy()
            if "status" in persons.collect_schema().names():
                persons = persons.filter(
                    pl.col("status").is_null() | (pl.col("status") == "active")
                )
            grouped = persons.group_by(key).agg(self.aggregations)
            lf = lf.join(grouped, on=key, how="left", maintain_order="left")
        if self.household_columns:
            if households is None:
                raise RuleEvaluationError("this rule reads household fields: pass households")
            parents = households.lazy().select(
                pl.col(key), *(pl.col(c).alias(f"household.{c}") for c in self.household_columns)
            )
            lf = lf.join(parents, on=key, how="left", maintain_order="left")
        outputs = [(alias, self.expression)] if alias is not None else self.outputs
        lf = lf.with_columns(expression.alias(name) for name, expression in outputs)
        dropped = names + [f"household.{c}" for c in self.household_columns]
        return lf.drop(dropped) if dropped else lf


class _Compiler:
    def __init__(self, parameters: Mapping[str, Any], as_of: date) -> None:
        self.parameters = parameters
        self.as_of = as_of
        self.aggregates: list[pl.Expr] = []
        self.household_columns: list[str] = []

    def param(self, ref: ParamRef) -> Any:
        if ref.name not in self.parameters:
            raise RuleEvaluationError(
                f"parameter '{ref.name}' has no value", line=ref.line, column=ref.column
            )
        return self.parameters[ref.name]

    def cond(self, node: Node) -> pl.Expr:
        expr = self.expr(node)
        return expr if _never_null(node) else expr.fill_null(False)

    def field(self, ref: FieldRef) -> pl.Expr:
        name = ref.name
        if ref.scope == "parent":
            if name not in self.household_columns:
                self.household_columns.append(name)
            name = f"household.{name}"
        col = pl.col(name)
        if ref.storage == "integer":
            return col.cast(pl.Int64)
        if ref.storage == "number":
            return col.cast(pl.Float64)
        return col

    def expr(self, node: Node) -> pl.Expr:
        match node:
            case Literal(value=value):
                return _literal(value)
            case FieldRef() as ref:
                return self.field(ref)
            case ComputedRef(expansion=expansion):
                return self.expr(expansion)
            case ParamRef() as ref:
                return _literal(self.param(ref))
            case Today():
                return _literal(self.as_of)
            case Unary(op="!", operand=operand):
                return ~self.cond(operand)
            case Unary(operand=operand):
                return -self.expr(operand)
            case Binary(op="&&", left=left, right=right):
                return self.cond(left) & self.cond(right)
            case Binary(op="||", left=left, right=right):
                return self.cond(left) | self.cond(right)
            case Binary(op=op, left=left, right=right) if op in ("==", "!="):
                return self.equality(op, left, right)
            case Binary(op=op, left=left, right=right) if op in ("<", "<=", ">", ">="):
                a, b = self.expr(left), self.expr(right)
                compared = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
                return compared.fill_null(False)
            case Binary(op=op, left=left, right=right):
                return self.arithmetic(op, left, right)
            case In(item=item, options=options):
                return self.membership(item, options)
            case Conditional(condition=condition, then=then, otherwise=otherwise):
                return (
                    pl.when(self.cond(condition))
                    .then(self.expr(then))
                    .otherwise(self.expr(otherwise))
                )
            case Call(name=name, args=args):
                return self.call(name, args)
            case Aggregate() as agg:
                return self.aggregate(agg)
        raise RuleEvaluationError(f"cannot compile {node!r}")  # pragma: no cover

    def equality(self, op: str, left: Node, right: Node) -> pl.Expr:
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Literal) and side.value is None:
                tested = self.expr(other)
                return tested.is_null() if op == "==" else tested.is_not_null()
        a, b = self.expr(left), self.expr(right)
        return (a == b if op == "==" else a != b).fill_null(False)

    def arithmetic(self, op: str, left: Node, right: Node) -> pl.Expr:
        a, b = self.expr(left), self.expr(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        quotient = a.cast(pl.Float64) / b
        result = quotient if op == "/" else a - b * quotient.floor()
        if isinstance(right, Literal):  # the checker refused a literal zero
            return result
        return pl.when(b == 0).then(None).otherwise(result)

    def membership(self, item: Node, options: Node) -> pl.Expr:
        values: list[pl.Expr]
        if isinstance(options, ListExpr):
            values = [self.expr(o) for o in options.items]
        else:
            values = [_literal(v) for v in self.param(options)]  # type: ignore[arg-type]
        if not values:
            return pl.lit(False)
        subject = self.expr(item)
        result = (subject == values[0]).fill_null(False)
        for value in values[1:]:
            result = result | (subject == value).fill_null(False)
        return result

    def call(self, name: str, args: tuple[Node, ...]) -> pl.Expr:
        if name == "coalesce":
            return pl.coalesce([self.expr(a) for a in args])
        xs = [self.expr(a) for a in args]
        match name:
            case "min" | "max":
                either_null = xs[0].is_null() | xs[1].is_null()
                pick = pl.min_horizontal(xs) if name == "min" else pl.max_horizontal(xs)
                return pl.when(either_null).then(None).otherwise(pick)
            case "abs":
                return xs[0].abs()
            case "floor":
                return xs[0].cast(pl.Float64).floor()
            case "ceil":
                return xs[0].cast(pl.Float64).ceil()
            case "round":
                digits = args[1].value if len(args) > 1 and isinstance(args[1], Literal) else 0
                factor = float(10 ** int(digits))  # type: ignore[arg-type]
                x = xs[0].cast(pl.Float64)
                magnitude = (x.abs() * factor + 0.5).floor() / factor
                return pl.when(x < 0).then(-magnitude).otherwise(magnitude)
            case "years_between":
                ends = [constant_date(a, self.as_of) for a in args]
                (y1, md1), (y2, md2) = (
                    _year_day(end if end is not None else x)
                    for end, x in zip(ends, xs, strict=True)
                )
                return (y2 - y1 - (md2 < md1).cast(pl.Int32)).cast(pl.Int64)
            case "days_between":
                return (xs[1] - xs[0]).dt.total_days()
        raise RuleEvaluationError(f"unknown function {name}")  # pragma: no cover

    def aggregate(self, agg: Aggregate) -> pl.Expr:
        if agg.expr is None:
            expr = pl.len().cast(pl.Int64)
        elif agg.func in ("count", "any", "all"):
            cond = self.member_wide(agg.expr, self.cond(agg.expr))
            reduced = {"count": cond.sum(), "any": cond.any(), "all": cond.all()}[agg.func]
            expr = reduced.cast(pl.Int64) if agg.func == "count" else reduced
        else:
            inner = self.member_wide(agg.expr, self.expr(agg.expr))
            expr = {
                "sum": inner.sum(),
                "avg": inner.mean(),
                "min": inner.min(),
                "max": inner.max(),
            }[agg.func]
        # The same aggregate, with the same values, in any of the rules: computed once.
        for index, known in enumerate(self.aggregates):
            if known.meta.eq(expr):
                return self.aggregate_column(index, agg)
        self.aggregates.append(expr)
        return self.aggregate_column(len(self.aggregates) - 1, agg)

    @staticmethod
    def member_wide(node: Node, expr: pl.Expr) -> pl.Expr:
        """One value per member even when nothing is read, as in ``count(members, true)``."""
        return expr if _reads_fields(node) else pl.repeat(expr, pl.len())

    @staticmethod
    def aggregate_column(index: int, agg: Aggregate) -> pl.Expr:
        col = pl.col(f"__agg{index}")
        fill = _AGG_FILL.get(agg.func)
        return col if fill is None else col.fill_null(fill)


def to_polars(
    rule: CheckedRule,
    *,
    as_of: date | None = None,
    parameters: Mapping[str, Value | list[Value]] | None = None,
) -> PolarsPlan:
    """Compile a checked rule to Polars.

    Args:
        rule: A checked rule.
        as_of: The evaluation date (``today()`` and ages); defaults to today.
        parameters: Overrides the parameters bound to the rule.

    Returns:
        The plan; call ``plan.apply(households, members=members, alias=...)``.
    """
    rules = {"result": (rule, parameters)} if parameters is not None else {"result": rule}
    return to_polars_all(rules, as_of=as_of)


def to_polars_all(
    rules: Mapping[str, CheckedRule | tuple[CheckedRule, Mapping[str, Any]]],
    *,
    as_of: date | None = None,
) -> PolarsPlan:
    """Compile several rules of one level into one plan that groups the members once.

    Args:
        rules: Each rule by the name of its result column; a ``(rule, parameters)``
            pair overrides the parameters bound to that rule.
        as_of: The evaluation date (``today()`` and ages); defaults to today.

    Returns:
        The plan; ``plan.apply(households, members=members)`` adds one column per rule.
    """
    compiler = _Compiler({}, as_of or date.today())
    outputs = []
    for name, entry in rules.items():
        rule, parameters = entry if isinstance(entry, tuple) else (entry, entry.parameters)
        compiler.parameters = parameters
        compile_ = compiler.cond if rule.type == "boolean" else compiler.expr
        outputs.append((name, compile_(rule.tree).alias(name)))
    aggregations = tuple(e.alias(f"__agg{i}") for i, e in enumerate(compiler.aggregates))
    return PolarsPlan(tuple(outputs), aggregations, tuple(compiler.household_columns))
