"""Compile a checked rule to a SQLAlchemy Core expression for push-down.

The result is a ``ColumnElement`` over the household table (household level) or
the person table (person level); aggregates become correlated scalar subqueries
over the active members. Values enter as bound parameters; no SQL text is ever
built from rule text. Works on PostgreSQL and SQLite (3.35+, with math functions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Float,
    FromClause,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import column as sql_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
    constant_date,
)
from solidarity.rules.semantics import years_before

Column = ColumnElement[Any]


class _DaysBetween(FunctionElement[int]):
    """Whole days from the first date to the second."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(_DaysBetween)
def _days_between_default(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    later, earlier = compiler.process(end, **kw), compiler.process(start, **kw)
    return f"(CAST({later} AS DATE) - CAST({earlier} AS DATE))"


@compiles(_DaysBetween, "sqlite")
def _days_between_sqlite(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)}) AS INTEGER)"
    )


class _AsDate(FunctionElement[date]):
    """A JSON text value read as a date (SQLite keeps dates as ISO text already)."""

    type = Date()
    inherit_cache = True
    name = "as_date"


@compiles(_AsDate)
def _as_date_default(element: _AsDate, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"CAST({compiler.process(value, **kw)} AS DATE)"


@compiles(_AsDate, "sqlite")
def _as_date_sqlite(element: _AsDate, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return str(compiler.process(value, **kw))


class _Floor(FunctionElement[float]):
    """``floor`` that is null for null (SQLAlchemy's SQLite ``floor`` fails on NULL)."""

    type = Float()
    inherit_cache = True
    name = "floor"


@compiles(_Floor)
def _floor_default(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"floor({compiler.process(value, **kw)})"


@compiles(_Floor, "sqlite")
def _floor_sqlite(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    text = compiler.process(value, **kw)
    again = compiler.process(value, **kw)
    return f"(CASE WHEN {text} IS NULL THEN NULL ELSE floor({again}) END)"


@dataclass(frozen=True)
class SqlTables:
    """The tables a rule reads; defaults to the registry's ``household`` and ``person``.

    Attributes:
        household: The household table (or an alias).
        person: The person table (or an alias).
        household_id: The household table's key column.
        member_household_id: The person table's column pointing at the household.
        status: The person status column (members count when null or ``active``).
    """

    household: FromClause
    person: FromClause
    household_id: str = "id"
    member_household_id: str = "household_id"
    status: str | None = "status"


def registry_tables() -> SqlTables:
    """The registry's own ``household`` and ``person`` tables."""
    from solidarity.registry.models import Household, Person

    return SqlTables(Household.__table__, Person.__table__)


def _literal(value: Any) -> Column:
    if value is None:
        return null()
    if isinstance(value, bool):
        return literal(value, Boolean())
    if isinstance(value, int):
        return literal(value, BigInteger())
    if isinstance(value, float):
        return literal(value, Float())
    if isinstance(value, date):
        return literal(value, Date())
    return literal(value, String())


def _never_null(node: Node) -> bool:
    if isinstance(node, Binary):
        return node.op not in ("+", "-", "*", "/", "%")
    if isinstance(node, Aggregate):
        return node.func in ("count", "any", "all")
    if isinstance(node, ComputedRef):
        return _never_null(node.expansion)
    return isinstance(node, Unary | In) and not (isinstance(node, Unary) and node.op == "-")


class _Year(FunctionElement[int]):
    """The year of a date."""

    type = Integer()
    inherit_cache = True
    name = "year_of"


class _MonthDay(FunctionElement[int]):
    """``month * 100 + day`` of a date."""

    type = Integer()
    inherit_cache = True
    name = "month_day_of"


@compiles(_Year)
def _year_default(element: _Year, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"CAST(EXTRACT(YEAR FROM {compiler.process(value, **kw)}) AS INTEGER)"


@compiles(_MonthDay)
def _month_day_default(element: _MonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    text = compiler.process(value, **kw)
    return (
        f"(CAST(EXTRACT(MONTH FROM {text}) AS INTEGER) * 100"
        f" + CAST(EXTRACT(DAY FROM {text}) AS INTEGER))"
    )


# SQLite keeps dates as ISO text: cutting it is several times cheaper than strftime.
@compiles(_Year, "sqlite")
def _year_sqlite(element: _Year, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"CAST(substr({compiler.process(value, **kw)}, 1, 4) AS INTEGER)"


@compiles(_MonthDay, "sqlite")
def _month_day_sqlite(element: _MonthDay, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    text = compiler.process(value, **kw)
    return f"CAST(substr({text}, 6, 2) || substr({text}, 9, 2) AS INTEGER)"


def _expanded(node: Node) -> Node:
    """A computed field's definition (``age``: ``years_between(birth_date, today())``)."""
    while isinstance(node, ComputedRef):
        node = node.expansion
    return node


def _year_day(d: Column | date) -> tuple[Column, Column]:
    """Year and ``month * 100 + day``; literals for a date known when compiling."""
    if isinstance(d, date):
        return literal(d.year, Integer()), literal(d.month * 100 + d.day, Integer())
    return _Year(d), _MonthDay(d)


class _Compiler:
    def __init__(
        self,
        tables: SqlTables,
        parameters: Mapping[str, Any],
        as_of: date,
        grouped: list[Column] | None = None,
        members: FromClause | None = None,
    ) -> None:
        self.tables = tables
        self.parameters = parameters
        self.as_of = as_of
        #: When set, aggregates are collected here as columns of one GROUP BY over the
        #: members, and read from ``members`` (that GROUP BY, once built) by position.
        self.grouped = grouped
        self.members = members

    def param(self, ref: ParamRef) -> Any:
        if ref.name not in self.parameters:
            raise RuleEvaluationError(
                f"parameter '{ref.name}' has no value", line=ref.line, column=ref.column
            )
        return self.parameters[ref.name]

    def cond(self, node: Node) -> Column:
        expr = self.expr(node)
        return expr if _never_null(node) else func.coalesce(expr, false())

    def field(self, ref: FieldRef) -> Column:
        t = self.tables
        if ref.scope == "parent":
            household = t.household
            value = self.column(household, ref)
            person = t.person
            return (
                select(value)
                .where(household.c[t.household_id] == person.c[t.member_household_id])
                .correlate(person)
                .scalar_subquery()
            )
        table = t.household if ref.scope == "household" else t.person
        return self.column(table, ref)

    @staticmethod
    def column(table: FromClause, ref: FieldRef) -> Column:
        if not ref.extra:
            return table.c[ref.name]
        element = table.c["extra"][ref.name]
        value: Column
        if ref.type == "boolean":
            value = element.as_boolean()
        elif ref.type == "number":
            value = element.as_integer() if ref.storage == "integer" else element.as_float()
        elif ref.type == "date":
            value = _AsDate(element.as_string())
        else:
            value = element.as_string()
        return value

    def expr(self, node: Node) -> Column:
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
                return not_(self.cond(operand))
            case Unary(operand=operand):
                return -self.expr(operand)
            case Binary(op="&&", left=left, right=right):
                return and_(self.cond(left), self.cond(right))
            case Binary(op="||", left=left, right=right):
                return or_(self.cond(left), self.cond(right))
            case Binary(op=op, left=left, right=right) if op in ("==", "!="):
                return self.equality(op, left, right)
            case Binary(op=op, left=left, right=right) if op in ("<", "<=", ">", ">="):
                by_date = self.whole_years(op, left, right)
                if by_date is not None:
                    return by_date
                a, b = self.expr(left), self.expr(right)
                compared = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
                return func.coalesce(compared, false())
            case Binary(op=op, left=left, right=right):
                return self.arithmetic(op, left, right)
            case In(item=item, options=options):
                return self.membership(item, options)
            case Conditional(condition=condition, then=then, otherwise=otherwise):
                return case((self.cond(condition), self.expr(then)), else_=self.expr(otherwise))
            case Call(name=name, args=args):
                return self.call(name, args)
            case Aggregate() as agg:
                return self.aggregate(agg)
        raise RuleEvaluationError(f"cannot compile {node!r}")  # pragma: no cover

    def whole_years(self, op: str, left: Node, right: Node) -> Column | None:
        """``years_between(date column, known date) <op> whole number`` as one date comparison.

        Whole years since a date change only on its anniversaries, so comparing them
        with a whole number is comparing the date with one cut-off: a plain
        comparison per row (``m.age < 18`` over millions of members) instead of
        date arithmetic. None when the comparison is not of that shape.
        """
        mirrored = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
        for years, bound, o in ((left, right, op), (right, left, mirrored[op])):
            call = _expanded(years)
            if not (isinstance(call, Call) and call.name == "years_between"):
                continue
            start, on = _expanded(call.args[0]), constant_date(call.args[1], self.as_of)
            n = self.whole_number(bound)
            if on is None or n is None or not isinstance(start, FieldRef) or start.extra:
                return None
            # years >= n exactly when the date is on or before the day n years back.
            try:
                cutoff = years_before(on, n + 1 if o in (">", "<=") else n)
            except ValueError:  # beyond the calendar: compare the years themselves
                return None
            column, day = self.field(start), literal(cutoff, Date())
            return func.coalesce(column <= day if o in (">", ">=") else column > day, false())
        return None

    def whole_number(self, node: Node) -> int | None:
        """The value of a literal or parameter that is a whole number, else None."""
        if isinstance(node, ParamRef):
            value = self.param(node)
        elif isinstance(node, Literal):
            value = node.value
        else:
            return None
        if isinstance(value, bool):
            return None
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        return None

    def equality(self, op: str, left: Node, right: Node) -> Column:
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Literal) and side.value is None:
                tested = self.expr(other)
                return tested.is_(None) if op == "==" else tested.is_not(None)
        a, b = self.expr(left), self.expr(right)
        return func.coalesce(a == b if op == "==" else a != b, false())

    def arithmetic(self, op: str, left: Node, right: Node) -> Column:
        a, b = self.expr(left), self.expr(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        quotient = cast(a, Float) / func.nullif(b, 0)
        if op == "/":
            return quotient
        return a - b * _Floor(quotient)

    def membership(self, item: Node, options: Node) -> Column:
        if isinstance(options, ListExpr):
            values = [self.expr(o) for o in options.items]
        else:
            values = [_literal(v) for v in self.param(options)]  # type: ignore[arg-type]
        if not values:
            return false()
        subject = self.expr(item)
        return or_(*(func.coalesce(subject == v, false()) for v in values))

    def call(self, name: str, args: tuple[Node, ...]) -> Column:
        if name == "coalesce":
            return func.coalesce(*(self.expr(a) for a in args))
        xs = [self.expr(a) for a in args]
        match name:
            case "min" | "max":
                a, b = xs
                first = a <= b if name == "min" else a >= b
                return case((or_(a.is_(None), b.is_(None)), null()), (first, a), else_=b)
            case "abs":
                return func.abs(xs[0])
            case "floor":
                return _Floor(cast(xs[0], Float))
            case "ceil":
                return func.ceil(cast(xs[0], Float))
            case "round":
                digits = args[1].value if len(args) > 1 and isinstance(args[1], Literal) else 0
                factor = float(10 ** int(digits))  # type: ignore[arg-type]
                x = cast(xs[0], Float)
                magnitude = _Floor(func.abs(x) * factor + 0.5) / factor
                return case((x < 0, -magnitude), else_=magnitude)
            case "years_between":
                ends = [constant_date(a, self.as_of) or x for a, x in zip(args, xs, strict=True)]
                (y1, md1), (y2, md2) = _year_day(ends[0]), _year_day(ends[1])
                return y2 - y1 - case((md2 < md1, 1), else_=0)
            case "days_between":
                return _DaysBetween(xs[0], xs[1])
        raise RuleEvaluationError(f"unknown function {name}")  # pragma: no cover

    def aggregate(self, agg: Aggregate) -> Column:
        if self.grouped is not None:
            return self.grouped_aggregate(agg)
        t = self.tables
        household, person = t.household, t.person
        where: list[Column] = [
            person.c[t.member_household_id] == household.c[t.household_id],
        ]
        if t.status is not None:
            status = person.c[t.status]
            where.append(or_(status.is_(None), status == "active"))
        if agg.expr is None:
            return self.scalar(select(func.count()).select_from(person).where(*where))
        if agg.func == "count":
            chosen = select(func.count()).select_from(person)
            return self.scalar(chosen.where(*where, self.cond(agg.expr)))
        if agg.func == "any":
            return (
                exists().select_from(person).where(*where, self.cond(agg.expr)).correlate(household)
            )
        if agg.func == "all":
            failing = exists().select_from(person).where(*where, not_(self.cond(agg.expr)))
            return not_(failing.correlate(household))
        value = self.expr(agg.expr)
        if agg.func == "sum":
            return func.coalesce(self.scalar(select(func.sum(value)).where(*where)), 0)
        if agg.func == "avg":
            return self.scalar(select(cast(func.avg(value), Float)).where(*where))
        reduce = func.min(value) if agg.func == "min" else func.max(value)
        return self.scalar(select(reduce).where(*where))

    def grouped_aggregate(self, agg: Aggregate) -> Column:
        """The aggregate as a column of the members' GROUP BY (see :func:`to_sql_grouped`)."""
        assert self.grouped is not None
        if agg.expr is None:
            value: Column = func.count()
        elif agg.func in ("count", "any", "all"):
            hit = case((self.cond(agg.expr), 1), else_=0)
            value = {"count": func.sum(hit), "any": func.max(hit), "all": func.min(hit)}[agg.func]
        else:
            member = self.expr(agg.expr)
            value = {
                "sum": func.sum(member),
                "avg": cast(func.avg(member), Float),
                "min": func.min(member),
                "max": func.max(member),
            }[agg.func]
        # The same aggregate, with the same values, in any of the rules: computed once.
        index = next((i for i, known in enumerate(self.grouped) if known.compare(value)), None)
        if index is None:
            index = len(self.grouped)
            self.grouped.append(value)
        column: Column = (
            self.members.c[f"agg{index}"]
            if self.members is not None
            else sql_column(f"agg{index}", value.type)  # first pass: only collecting
        )
        # A household without active members is not in the GROUP BY.
        match agg.func if agg.expr is not None else "count":
            case "count" | "sum":
                return func.coalesce(column, 0)
            case "any":
                return func.coalesce(column, 0) == 1
            case "all":
                return func.coalesce(column, 1) == 1
        return column

    def scalar(self, query: Any) -> Column:
        scalar: Column = query.correlate(self.tables.household).scalar_subquery()
        return scalar


def to_sql(
    rule: CheckedRule,
    *,
    as_of: date | None = None,
    parameters: Mapping[str, Any] | None = None,
    tables: SqlTables | None = None,
) -> Column:
    """Compile a checked rule to a SQLAlchemy column expression.

    Args:
        rule: A checked rule.
        as_of: The evaluation date (``today()`` and ages); defaults to today.
        parameters: Overrides the parameters bound to the rule.
        tables: The tables to read; defaults to the registry's.

    Returns:
        An expression over ``tables.household`` (household level) or
        ``tables.person`` (person level), e.g. for
        ``select(household.c.id, expr.label("eligible"))``.
    """
    compiler = _Compiler(
        tables or registry_tables(),
        parameters if parameters is not None else rule.parameters,
        as_of or date.today(),
    )
    if rule.type == "boolean":
        return type_coerce(compiler.cond(rule.tree), Boolean())
    return compiler.expr(rule.tree)


def to_sql_grouped(
    rules: Mapping[str, CheckedRule],
    *,
    as_of: date | None = None,
    tables: SqlTables | None = None,
) -> tuple[dict[str, Column], FromClause]:
    """Compile household rules for a whole population: members grouped once, not per household.

    :func:`to_sql` turns each aggregate into a correlated subquery, which suits one
    household; over a population the database would run it once per household.
    Here every aggregate of every rule is a column of one ``GROUP BY`` over the
    active members, to be joined to the households.

    Returns:
        ``(results, members)``: each rule's expression by name, over
        ``tables.household`` and ``members``; ``members`` is the grouped subquery
        (``household_id`` and the aggregates), to ``LEFT JOIN`` on the household key.
    """
    t = tables or registry_tables()
    when = as_of or date.today()
    collected: list[Column] = []
    for rule in rules.values():  # first pass: which aggregates
        compiler = _Compiler(t, rule.parameters, when, grouped=collected)
        compiler.cond(rule.tree) if rule.type == "boolean" else compiler.expr(rule.tree)
    person = t.person
    query = select(
        person.c[t.member_household_id].label("household_id"),
        *(value.label(f"agg{i}") for i, value in enumerate(collected)),
    )
    if t.status is not None:
        status = person.c[t.status]
        query = query.where(or_(status.is_(None), status == "active"))
    members = query.group_by(person.c[t.member_household_id]).subquery("rule_members")
    results: dict[str, Column] = {}
    again: list[Column] = []
    for name, rule in rules.items():  # second pass: the same aggregates, in the same order
        compiler = _Compiler(t, rule.parameters, when, grouped=again, members=members)
        if rule.type == "boolean":
            results[name] = type_coerce(compiler.cond(rule.tree), Boolean())
        else:
            results[name] = compiler.expr(rule.tree)
    return results, members


__all__ = ["SqlTables", "registry_tables", "to_sql", "to_sql_grouped"]
