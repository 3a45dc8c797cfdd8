"""DCI queries (``idtype-value``, ``expression``, ``predicate``) parsed into a small tree.

Parsing checks the *shape* a query type requires (a wrong shape is a malformed
request, :class:`BadRequest`) and then the *content* against the data mapping:
only whitelisted attributes and operators, values coerced to the attribute's
type. Content problems are :class:`QueryRejected` and become a ``rjct`` item with
a reason code; nothing here builds SQL (the repository compiles the tree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from solidarity.interop.errors import BadRequest
from solidarity.interop.mapping import Attribute, DataMapping

Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
PREDICATE_OPERATORS = frozenset({"gt", "lt", "eq", "ge", "le", "in"})
_MONGO = {
    "$eq": "eq",
    "$ne": "ne",
    "$lt": "lt",
    "$lte": "le",
    "$gt": "gt",
    "$gte": "ge",
    "$in": "in",
}


class QueryRejected(Exception):
    """A well-formed query the registry cannot answer (an item is rejected).

    Attributes:
        reason_code: The DCI ``status_reason_code``.
        message: What was wrong.
    """

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message[:999]


@dataclass(frozen=True)
class Condition:
    """``attribute op value``."""

    attribute: Attribute
    op: Operator
    value: Any


@dataclass(frozen=True)
class Combined:
    """``and`` / ``or`` of parts, or ``not`` of one part."""

    op: Literal["and", "or", "not"]
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class IdentifierMatch:
    """A person (or household) by identifier; ``id_type`` is the registry's type."""

    id_type: str
    value: str


Node = Condition | Combined | IdentifierMatch


def _coerce(attribute: Attribute, value: Any, mapping: DataMapping) -> Any:
    if isinstance(value, list):
        return [_coerce(attribute, v, mapping) for v in value]
    kind = attribute.type
    try:
        if kind in {"number"}:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind in {"age", "group_size"}:
            number = float(value)
            return int(number) if number == int(number) else number
        if kind == "date":
            return date.fromisoformat(str(value)[:10])
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError
            return text in {"true", "1", "yes"}
        if kind == "code" and attribute.codes:
            return mapping.from_dci(attribute.codes, value)
        if isinstance(value, (dict, list)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        raise QueryRejected(
            "rjct.search_criteria.invalid",
            f"{value!r} is not a valid {kind} value for attribute {attribute.name!r}",
        ) from None


def condition(mapping: DataMapping, name: Any, op: str, value: Any) -> Condition:
    """A checked condition on a whitelisted attribute.

    Raises:
        QueryRejected: Unknown attribute, or a value of the wrong type.
    """
    attribute = mapping.attributes.get(str(name))
    if attribute is None:
        raise QueryRejected(
            "rjct.search_criteria.invalid",
            f"unknown attribute {name!r}: use one of {', '.join(sorted(mapping.attributes))}",
        )
    if op == "in" and not isinstance(value, list):
        value = [v.strip() for v in str(value).split(",")] if isinstance(value, str) else [value]
    if op != "in" and isinstance(value, (list, dict)):
        raise QueryRejected(
            "rjct.search_criteria.invalid", f"operator {op!r} needs one value for {name!r}"
        )
    return Condition(attribute, op, _coerce(attribute, value, mapping))  # type: ignore[arg-type]


def parse_identifier(query: Any, mapping: DataMapping) -> IdentifierMatch:
    """An ``idtype-value`` query.

    Raises:
        BadRequest: Not ``{type, value}``.
        QueryRejected: An identifier type the mapping does not know.
    """
    if not isinstance(query, Mapping) or not isinstance(query.get("type"), str):
        raise BadRequest('an idtype-value query must be {"type": <id type>, "value": ...}')
    if "value" not in query or query["value"] is None or isinstance(query["value"], (list, dict)):
        raise BadRequest("an idtype-value query needs a scalar value")
    registry_type = mapping.registry_identifier_type(query["type"])
    if registry_type is None:
        raise QueryRejected(
            "rjct.search_criteria.invalid",
            f"unknown identifier type {query['type']!r}: "
            f"use one of {', '.join(mapping.identifier_types)}",
        )
    value = query["value"]
    return IdentifierMatch(registry_type, str(value).strip())


def _mongo(doc: Any, mapping: DataMapping, depth: int = 0) -> Node:
    if depth > 20:
        raise QueryRejected("rjct.search_criteria.invalid", "the expression is nested too deeply")
    if not isinstance(doc, Mapping) or not doc:
        raise QueryRejected(
            "rjct.search_criteria.invalid", "an expression must be a non-empty object"
        )
    parts: list[Node] = []
    for key, value in doc.items():
        if key in {"$and", "$or"}:
            if not isinstance(value, list) or not value:
                raise QueryRejected("rjct.search_criteria.invalid", f"{key} needs a list")
            sub = tuple(_mongo(v, mapping, depth + 1) for v in value)
            parts.append(Combined("and" if key == "$and" else "or", sub))
        elif key == "$not":
            parts.append(Combined("not", (_mongo(value, mapping, depth + 1),)))
        elif str(key).startswith("$"):
            raise QueryRejected("rjct.search_criteria.invalid", f"unknown operator {key!r}")
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                if op not in _MONGO:
                    raise QueryRejected(
                        "rjct.search_criteria.invalid",
                        f"unknown operator {op!r}: use one of {', '.join(_MONGO)}",
                    )
                parts.append(condition(mapping, key, _MONGO[op], operand))
        else:
            parts.append(condition(mapping, key, "eq", value))
    return parts[0] if len(parts) == 1 else Combined("and", tuple(parts))


def parse_expression(query: Any, mapping: DataMapping) -> tuple[Node, str | None]:
    """An ``expression`` query, and the collection it names (``Group``/``Member``), if any.

    Raises:
        BadRequest: Not ``{type, value: {...}}``.
        QueryRejected: Unknown attributes or operators.
    """
    if not isinstance(query, Mapping) or not isinstance(query.get("value"), Mapping):
        raise BadRequest('an expression query must be {"type": ..., "value": {"expression": ...}}')
    value = query["value"]
    expression = value.get("expression", value)
    collection = None
    doc = expression
    if isinstance(expression, Mapping) and "query" in expression:
        collection = expression.get("collection")
        doc = expression["query"]
    if isinstance(collection, str) and collection not in {"Group", "Member"}:
        raise QueryRejected(
            "rjct.search_criteria.invalid", f"unknown collection {collection!r}: Group or Member"
        )
    return _mongo(doc, mapping), collection if isinstance(collection, str) else None


def _predicate_expression(raw: Any, where: str, mapping: DataMapping) -> Condition:
    if not isinstance(raw, Mapping):
        raise BadRequest(f"{where} must be {{attribute_name, operator, attribute_value}}")
    missing = [k for k in ("attribute_name", "operator", "attribute_value") if k not in raw]
    if missing:
        raise BadRequest(f"{where} lacks {', '.join(missing)}")
    if raw["operator"] not in PREDICATE_OPERATORS:
        raise BadRequest(
            f"{where}.operator must be one of {', '.join(sorted(PREDICATE_OPERATORS))}"
        )
    return condition(mapping, raw["attribute_name"], raw["operator"], raw["attribute_value"])


def parse_predicate(query: Any, mapping: DataMapping) -> Node:
    """A ``predicate`` query: items AND-ed in ``seq_num`` order.

    Raises:
        BadRequest: Not a list of predicate items, or an operator outside the enum.
        QueryRejected: Unknown attributes or values of the wrong type.
    """
    if isinstance(query, Mapping):
        query = [query]
    if not isinstance(query, list) or not query:
        raise BadRequest("a predicate query must be a non-empty list of predicates")
    items = []
    for index, item in enumerate(query):
        if not isinstance(item, Mapping):
            raise BadRequest(f"query[{index}] must be an object")
        seq = item.get("seq_num", index)
        if isinstance(seq, bool) or not isinstance(seq, (int, float)):
            raise BadRequest(f"query[{index}].seq_num must be a number")
        first = _predicate_expression(
            item.get("expression1"), f"query[{index}].expression1", mapping
        )
        node: Node = first
        condition_word = item.get("condition")
        if item.get("expression2") is not None:
            if condition_word not in {"and", "or", "not"}:
                raise BadRequest(f"query[{index}].condition must be and, or or not")
            second = _predicate_expression(
                item["expression2"], f"query[{index}].expression2", mapping
            )
            if condition_word == "not":
                node = Combined("and", (first, Combined("not", (second,))))
            else:
                node = Combined(condition_word, (first, second))
        elif condition_word is not None and condition_word not in {"and", "or", "not"}:
            raise BadRequest(f"query[{index}].condition must be and, or or not")
        items.append((float(seq), node))
    items.sort(key=lambda pair: pair[0])
    nodes = tuple(n for _, n in items)
    return nodes[0] if len(nodes) == 1 else Combined("and", nodes)


def parse_query(query_type: str, query: Any, mapping: DataMapping) -> tuple[Node, str | None]:
    """The tree of a query of ``query_type`` and the collection it names, if any."""
    if query_type == "idtype-value":
        return parse_identifier(query, mapping), None
    if query_type == "expression":
        return parse_expression(query, mapping)
    if query_type == "predicate":
        return parse_predicate(query, mapping), None
    raise BadRequest(f"unknown query_type {query_type!r}")
