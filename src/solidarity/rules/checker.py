"""Type-check a parsed rule against the field catalogue and resolve its names.

The checker turns ``Name`` nodes into ``FieldRef`` / ``ParamRef`` / ``ComputedRef``
and aggregate calls into ``Aggregate``; everything the back-ends compile has
passed through here, so they never meet an unknown column or function.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from solidarity.rules.errors import RuleTypeError
from solidarity.rules.format import format_rule
from solidarity.rules.nodes import (
    AGGREGATES,
    ARITHMETIC,
    COMPARISON,
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
    Scope,
    Today,
    Type,
    Unary,
)
from solidarity.rules.parser import parse
from solidarity.rules.vocabulary import FUNCTIONS, Level, Vocabulary, default_vocabulary

_TYPE_WORDS: dict[str, str] = {
    "number": "a number",
    "boolean": "a yes/no value",
    "string": "a text",
    "date": "a date",
    "null": "null",
    "list": "a list",
    "any": "a value",
}


@dataclass(frozen=True)
class CheckedRule:
    """A rule that passed the checker, ready for any back-end.

    Attributes:
        source: The rule text as written.
        level: ``household`` or ``person``.
        parsed: The tree as parsed (names unresolved).
        tree: The resolved tree the back-ends compile.
        type: The type of the rule's result.
        parameters: Parameter values bound to the rule (``params.<name>``).
    """

    source: str
    level: Level
    parsed: Node
    tree: Node
    type: Type
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def normalised(self) -> str:
        """The canonical text of the rule."""
        return format_rule(self.parsed)


def value_type(value: Any) -> Type:
    """The rule type of a Python value (a parameter value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        return "list"
    raise RuleTypeError(f"unsupported parameter value {value!r}")


@dataclass(frozen=True)
class _Ctx:
    level: Level
    # What bare names resolve to; None inside an aggregate written by the user.
    bare: Scope | None
    in_aggregate: bool = False


def _err(node: Node, reason: str) -> RuleTypeError:
    return RuleTypeError(
        reason, line=node.line or None, column=node.column or None, token=node.token
    )


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _compatible(a: Type, b: Type) -> bool:
    return a == b or "any" in (a, b)


def _is(t: Type, *wanted: Type) -> bool:
    return t in wanted or t == "any"


class _Checker:
    def __init__(
        self, vocabulary: Vocabulary, parameters: Mapping[str, Any] | None, level: Level
    ) -> None:
        self.vocabulary = vocabulary
        self.parameters = parameters
        self.level = level

    # --- names -----------------------------------------------------------------------

    def _computed(self, node: Name, name: str, scope: Scope) -> tuple[Node, Type]:
        voc = self.vocabulary
        if scope in ("household",):
            comp = voc.household_computed[name]
            ctx = _Ctx("household", "household")
        else:
            comp = voc.person_computed[name]
            ctx = _Ctx("person", scope, in_aggregate=scope == "member")
        expansion, type_ = self.check(parse(comp.definition), ctx)
        ref = ComputedRef(
            scope, name, type_, comp.label, expansion,
            line=node.line, column=node.column, token=node.token,
        )  # fmt: skip
        return ref, type_

    def _field(self, node: Name, name: str, scope: Scope) -> tuple[Node, Type]:
        voc = self.vocabulary
        level_fields = voc.household if scope in ("household", "parent") else voc.person
        info = level_fields.get(name)
        if info is not None:
            ref = FieldRef(
                scope, name, info.type, info.label, info.extra, info.codes, info.storage,
                line=node.line, column=node.column, token=node.token,
            )  # fmt: skip
            return ref, info.type
        computed = voc.household_computed if scope == "household" else voc.person_computed
        if scope == "parent" and name in voc.household_computed:
            raise _err(
                node,
                f"computed household field '{name}' is not available at person level; "
                "use the stored household fields",
            )
        if name in computed:
            return self._computed(node, name, scope)
        candidates = list(level_fields) + ([] if scope == "parent" else list(computed))
        what = {"household": "household", "parent": "household", "person": "person"}.get(
            scope, "member"
        )
        raise _err(node, f"unknown {what} field '{name}'{_suggest(name, candidates)}")

    def _name(self, node: Name, ctx: _Ctx) -> tuple[Node, Type]:
        parts = node.parts
        head = parts[0]
        if head == "params":
            if len(parts) != 2:
                raise _err(node, "write a parameter as params.<name>")
            return self._param(node, parts[1])
        if head == "members":
            raise _err(
                node,
                "'members' can only be the first argument of an aggregate, "
                "e.g. count(members, m.age < 18)",
            )
        if head == "m" and len(parts) == 2:
            if not ctx.in_aggregate or ctx.bare not in (None, "member"):
                raise _err(
                    node,
                    "the member variable 'm' can only be used inside an aggregate "
                    "such as count(members, m.age < 18)",
                )
            return self._field(node, parts[1], "member")
        if head == "household" and len(parts) == 2:
            if ctx.in_aggregate and ctx.bare is None:
                raise _err(
                    node,
                    "inside an aggregate only member fields (m.<field>), parameters and "
                    "literals can be used",
                )
            scope: Scope = "household" if ctx.level == "household" else "parent"
            return self._field(node, parts[1], scope)
        if len(parts) != 1:
            raise _err(node, f"unknown name '{'.'.join(parts)}'")
        if ctx.bare is None:
            raise _err(
                node,
                f"inside an aggregate write member fields as m.{head}; household fields "
                "cannot be used there",
            )
        return self._field(node, head, ctx.bare)

    def _param(self, node: Name, name: str) -> tuple[Node, Type]:
        if self.parameters is None:
            return ParamRef(
                name, "any", line=node.line, column=node.column, token=node.token
            ), "any"
        if name not in self.parameters:
            known = list(self.parameters)
            raise _err(node, f"unknown parameter '{name}'{_suggest(name, known)}")
        type_ = value_type(self.parameters[name])
        return ParamRef(name, type_, line=node.line, column=node.column, token=node.token), type_

    # --- expressions -----------------------------------------------------------------

    def check(self, node: Node, ctx: _Ctx) -> tuple[Node, Type]:
        match node:
            case Literal(value=value):
                return node, value_type(value)
            case Name():
                return self._name(node, ctx)
            case Unary(op="!", operand=operand):
                inner, t = self.check(operand, ctx)
                if not _is(t, "boolean"):
                    raise _err(node, f"'!' needs a yes/no value, not {_TYPE_WORDS[t]}")
                return replace(node, operand=inner), "boolean"
            case Unary(operand=operand):
                inner, t = self.check(operand, ctx)
                self._number_operand(node, t)
                return replace(node, operand=inner), "number"
            case Binary(op=op) if op in ("&&", "||"):
                return self._logical(node, ctx)
            case Binary(op=op) if op in ARITHMETIC:
                return self._arithmetic(node, ctx)
            case Binary(op=op) if op in COMPARISON:
                return self._comparison(node, ctx)
            case In():
                return self._membership(node, ctx)
            case Conditional():
                return self._conditional(node, ctx)
            case Call():
                return self._call(node, ctx)
            case ListExpr():
                raise _err(node, "a list can only follow 'in', e.g. sex in ['female', 'other']")
        raise _err(node, "unsupported expression")  # pragma: no cover

    def _number_operand(self, node: Node, t: Type) -> None:
        if t == "boolean":
            raise _err(node, "arithmetic on yes/no values is not allowed")
        if t == "date":
            raise _err(
                node, "dates cannot be used in arithmetic; use days_between or years_between"
            )
        if t == "null":
            raise _err(node, "arithmetic with null is always null; use coalesce(x, 0)")
        if not _is(t, "number"):
            raise _err(node, f"arithmetic needs numbers, not {_TYPE_WORDS[t]}")

    def _logical(self, node: Binary, ctx: _Ctx) -> tuple[Node, Type]:
        left, lt = self.check(node.left, ctx)
        right, rt = self.check(node.right, ctx)
        for side, t in ((node.left, lt), (node.right, rt)):
            if not _is(t, "boolean"):
                raise _err(
                    node,
                    f"'{node.op}' needs yes/no values on both sides; "
                    f"'{format_rule(side)}' is {_TYPE_WORDS[t]}",
                )
        return replace(node, left=left, right=right), "boolean"

    def _arithmetic(self, node: Binary, ctx: _Ctx) -> tuple[Node, Type]:
        left, lt = self.check(node.left, ctx)
        right, rt = self.check(node.right, ctx)
        self._number_operand(node, lt)
        self._number_operand(node, rt)
        if node.op in ("/", "%") and isinstance(node.right, Literal) and node.right.value == 0:
            raise _err(node, "division by zero")
        return replace(node, left=left, right=right), "number"

    def _check_code(self, ref: Node, other: Node) -> None:
        if (
            isinstance(ref, FieldRef)
            and ref.codes
            and isinstance(other, Literal)
            and other.value is not None
            and other.value not in ref.codes
        ):
            codes = ", ".join(str(c) for c in ref.codes)
            raise _err(
                other,
                f"{format_value_short(other.value)} is not a code of {ref.name}; "
                f"expected one of {codes}",
            )

    def _comparison(self, node: Binary, ctx: _Ctx) -> tuple[Node, Type]:
        left, lt = self.check(node.left, ctx)
        right, rt = self.check(node.right, ctx)
        if "null" in (lt, rt):
            for side, t in ((node.left, lt), (node.right, rt)):
                if t == "null" and not isinstance(side, Literal):
                    raise _err(node, "test for null by comparing with the literal null")
            if node.op not in ("==", "!="):
                raise _err(node, f"'{node.op}' with null is always false; use == null or != null")
            return replace(node, left=left, right=right), "boolean"
        if not _compatible(lt, rt):
            raise _err(node, f"cannot compare {_TYPE_WORDS[lt]} with {_TYPE_WORDS[rt]}")
        if node.op not in ("==", "!=") and not _is(lt, "number", "date"):
            raise _err(
                node, f"'{node.op}' compares numbers or dates, not {_TYPE_WORDS[lt]}; use == or !="
            )
        if lt == "list":
            raise _err(node, "a list cannot be compared; use 'in'")
        if node.op in ("==", "!="):
            # An ordered comparison with a numeric code (wg_seeing >= 3, 0 < wg_seeing) is
            # meaningful for any number; only equality with a value outside the list is a slip.
            self._check_code(left, right)
            self._check_code(right, left)
        return replace(node, left=left, right=right), "boolean"

    def _membership(self, node: In, ctx: _Ctx) -> tuple[Node, Type]:
        item, it = self.check(node.item, ctx)
        if it in ("list", "null"):
            raise _err(node, f"the left side of 'in' cannot be {_TYPE_WORDS[it]}")
        options = node.options
        if isinstance(options, ListExpr):
            items: list[Node] = []
            for option in options.items:
                checked, ot = self.check(option, ctx)
                if not _compatible(it, ot):
                    raise _err(
                        option,
                        f"the list holds {_TYPE_WORDS[ot]} but the left side is {_TYPE_WORDS[it]}",
                    )
                self._check_code(item, checked)
                items.append(checked)
            return replace(node, item=item, options=replace(options, items=tuple(items))), "boolean"
        checked_options, ot = self.check(options, ctx)
        if not isinstance(checked_options, ParamRef) or not _is(ot, "list"):
            raise _err(node, "'in' needs a list, e.g. [1, 2] or a list parameter")
        if self.parameters is not None:
            for value in self.parameters[checked_options.name]:
                vt = value_type(value)
                if not _compatible(it, vt):
                    raise _err(
                        options,
                        f"parameter '{checked_options.name}' holds {_TYPE_WORDS[vt]} "
                        f"but the left side is {_TYPE_WORDS[it]}",
                    )
                self._check_code(item, Literal(value))
        return replace(node, item=item, options=checked_options), "boolean"

    def _conditional(self, node: Conditional, ctx: _Ctx) -> tuple[Node, Type]:
        cond, ct = self.check(node.condition, ctx)
        if not _is(ct, "boolean"):
            raise _err(node, f"the condition before '?' must be yes/no, not {_TYPE_WORDS[ct]}")
        then, tt = self.check(node.then, ctx)
        other, ot = self.check(node.otherwise, ctx)
        if "list" in (tt, ot):
            raise _err(node, "a list cannot be a result")
        if tt != "null" and ot != "null" and not _compatible(tt, ot):
            raise _err(
                node,
                f"both results of '? :' must have one type; got {_TYPE_WORDS[tt]} "
                f"and {_TYPE_WORDS[ot]}",
            )
        result = ot if tt in ("null", "any") else tt
        return replace(node, condition=cond, then=then, otherwise=other), result

    def _call(self, node: Call, ctx: _Ctx) -> tuple[Node, Type]:
        name = node.name
        is_members = (
            bool(node.args)
            and isinstance(node.args[0], Name)
            and node.args[0].parts == ("members",)
        )
        if name in AGGREGATES and (is_members or name not in FUNCTIONS):
            return self._aggregate(node, ctx)
        if name not in FUNCTIONS:
            known = sorted(set(FUNCTIONS) | set(AGGREGATES))
            raise _err(node, f"unknown function '{name}'{_suggest(name, known)}")
        low, high = FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise _err(node, f"{name}() takes {wanted} argument(s), got {len(node.args)}")
        checked = [self.check(a, ctx) for a in node.args]
        args = tuple(c[0] for c in checked)
        types = [c[1] for c in checked]
        if name == "today":
            return Today(line=node.line, column=node.column, token=node.token), "date"
        if name in ("abs", "floor", "ceil"):
            self._number_operand(node.args[0], types[0])
            return replace(node, args=args), "number"
        if name == "round":
            self._number_operand(node.args[0], types[0])
            if len(args) == 2:
                digits = node.args[1]
                if not (
                    isinstance(digits, Literal)
                    and type(digits.value) is int
                    and 0 <= digits.value <= 10
                ):
                    raise _err(digits, "round's second argument must be a whole number 0 to 10")
            return replace(node, args=args), "number"
        if name in ("years_between", "days_between"):
            for arg, t in zip(node.args, types, strict=True):
                if not _is(t, "date"):
                    raise _err(arg, f"{name}() needs dates, not {_TYPE_WORDS[t]}")
            return replace(node, args=args), "number"
        if name in ("min", "max"):
            for arg, t in zip(node.args, types, strict=True):
                if not _is(t, "number", "date"):
                    raise _err(arg, f"{name}() needs numbers or dates, not {_TYPE_WORDS[t]}")
            if not _compatible(types[0], types[1]):
                raise _err(node, f"{name}() needs two values of one type")
            return replace(node, args=args), types[0] if types[0] != "any" else types[1]
        # coalesce
        concrete = [t for t in types if t not in ("null", "any")]
        if "list" in concrete:
            raise _err(node, "coalesce() cannot take a list")
        if any(not _compatible(concrete[0], t) for t in concrete):
            raise _err(node, "coalesce() needs values of one type")
        return replace(node, args=args), concrete[0] if concrete else (
            "any" if "any" in types else "null"
        )

    def _aggregate(self, node: Call, ctx: _Ctx) -> tuple[Node, Type]:
        name = node.name
        if ctx.level == "person":
            raise _err(
                node, f"the aggregate {name}(members, ...) can only be used at household level"
            )
        if ctx.in_aggregate:
            raise _err(node, "aggregates cannot be nested")
        if (
            not node.args
            or not isinstance(node.args[0], Name)
            or node.args[0].parts != ("members",)
        ):
            raise _err(node, f"the first argument of {name}() must be members")
        if len(node.args) == 1 and name == "count":
            return Aggregate("count", None, line=node.line, column=node.column, token=node.token), (
                "number"
            )
        if len(node.args) != 2:
            raise _err(node, f"{name}() takes 2 arguments: members and an expression over m")
        inner, t = self.check(node.args[1], _Ctx("household", None, in_aggregate=True))
        if name in ("count", "any", "all") and not _is(t, "boolean"):
            raise _err(node.args[1], f"{name}() needs a yes/no condition, not {_TYPE_WORDS[t]}")
        if name in ("sum", "avg") and not _is(t, "number"):
            raise _err(node.args[1], f"{name}() needs numbers, not {_TYPE_WORDS[t]}")
        if name in ("min", "max") and not _is(t, "number", "date"):
            raise _err(node.args[1], f"{name}() needs numbers or dates, not {_TYPE_WORDS[t]}")
        result: Type = "boolean" if name in ("any", "all") else "number"
        if name in ("min", "max"):
            result = t
        aggregate = Aggregate(name, inner, line=node.line, column=node.column, token=node.token)
        return aggregate, result


def format_value_short(value: Any) -> str:
    """A literal value for an error message."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def check(
    rule: str | Node,
    level: Level = "household",
    *,
    parameters: Mapping[str, Any] | None = None,
    vocabulary: Vocabulary | None = None,
) -> CheckedRule:
    """Parse (if needed) and type-check a rule.

    Args:
        rule: Rule text or an already parsed tree.
        level: ``household`` (bare names are household fields, aggregates over
            members allowed) or ``person`` (bare names are person fields).
        parameters: Parameter values; ``None`` accepts any ``params.<name>``
            without checking its type (values must then be bound before evaluation).
        vocabulary: Fields available; defaults to the built-in catalogue.

    Returns:
        The checked rule.

    Raises:
        RuleSyntaxError: The text does not parse.
        RuleTypeError: Unknown names, wrong arity or incompatible types.
    """
    if level not in ("household", "person"):
        raise RuleTypeError(f"unknown level '{level}'; use household or person")
    parsed = parse(rule) if isinstance(rule, str) else rule
    checker = _Checker(vocabulary or default_vocabulary(), parameters, level)
    tree, type_ = checker.check(parsed, _Ctx(level, level))
    if type_ == "list":
        raise _err(parsed, "a rule cannot produce a list")
    source = rule if isinstance(rule, str) else format_rule(rule)
    return CheckedRule(source, level, parsed, tree, type_, dict(parameters or {}))
