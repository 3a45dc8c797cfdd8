"""Parse rule text (CEL-like syntax) into the typed syntax tree with Lark (LALR)."""

from __future__ import annotations

import math
from datetime import date
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from solidarity.rules.errors import RuleSyntaxError
from solidarity.rules.nodes import (
    Binary,
    Call,
    Conditional,
    In,
    ListExpr,
    Literal,
    Name,
    Node,
    Unary,
)

GRAMMAR = r"""
?start: expr

?expr: or_expr "?" expr ":" expr   -> conditional
     | or_expr

?or_expr: or_expr (OR | OR_WORD) and_expr      -> logical
        | and_expr

?and_expr: and_expr (AND | AND_WORD) not_expr   -> logical
         | not_expr

?not_expr: (NOT | NOT_WORD) not_expr            -> negation
         | comparison

?comparison: sum COMP_OP sum       -> binary
           | sum IN sum            -> membership
           | sum

?sum: sum ADD_OP product           -> binary
    | product

?product: product MUL_OP unary     -> binary
        | unary

?unary: MINUS unary                -> minus
      | atom

?atom: NUMBER                      -> number
     | STRING                      -> string
     | TRUE                        -> true
     | FALSE                       -> false
     | NULL                        -> null
     | name
     | NAME "(" [expr ("," expr)*] ")"   -> call
     | "[" [expr ("," expr)*] "]"        -> list
     | "(" expr ")"

name: NAME ("." NAME)*

OR: "||"
OR_WORD: "or"
AND: "&&"
AND_WORD: "and"
NOT: "!"
NOT_WORD: "not"
IN: "in"
TRUE: "true"
FALSE: "false"
NULL: "null"
COMP_OP: "==" | "!=" | "<=" | ">=" | "<" | ">"
ADD_OP: "+" | MINUS
MINUS: "-"
MUL_OP: "*" | "/" | "%"
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /'([^'\\\n]|\\.)*'/ | /"([^"\\\n]|\\.)*"/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
COMMENT: /#[^\n]*/

%import common.WS
%ignore WS
%ignore COMMENT
"""

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}

_TERMINAL_WORDS = {
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "COLON": "':'",
    "QMARK": "'?'",
    "DOT": "'.'",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "MINUS": "'-'",
    "AND": "'&&'",
    "AND_WORD": "'and'",
    "OR_WORD": "'or'",
    "NOT_WORD": "'not'",
    "OR": "'||'",
    "NOT": "'!'",
    "IN": "'in'",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "$END": "the end of the rule",
}


#: The longest number literal a rule may hold (digits, point and exponent).
MAX_NUMBER_LENGTH = 64


def _unquote(text: str, token: Token) -> str:
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise RuleSyntaxError(
                    f"unknown escape '\\{nxt}' in a string",
                    line=token.line,
                    column=(token.column or 0) + i + 1,
                    token=text,
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _pos(item: Token | Node) -> dict[str, Any]:
    if isinstance(item, Token):
        return {"line": item.line or 0, "column": item.column or 0, "token": str(item)}
    return {"line": item.line, "column": item.column, "token": item.token}


@v_args(inline=True)
class _ToNodes(Transformer[Token, Node]):
    def number(self, tok: Token) -> Literal:
        text = str(tok)
        if len(text) > MAX_NUMBER_LENGTH:  # int() refuses thousands of digits; no rule needs them
            raise RuleSyntaxError(
                f"a number of {len(text)} characters is too long (at most {MAX_NUMBER_LENGTH})",
                line=tok.line,
                column=tok.column,
                token=text[:20] + "...",
            )
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise RuleSyntaxError(
                f"the number {text} is too large", line=tok.line, column=tok.column, token=text
            )
        return Literal(value, **_pos(tok))

    def string(self, tok: Token) -> Literal:
        return Literal(_unquote(str(tok), tok), **_pos(tok))

    def true(self, tok: Token) -> Literal:
        return Literal(True, **_pos(tok))

    def false(self, tok: Token) -> Literal:
        return Literal(False, **_pos(tok))

    def null(self, tok: Token) -> Literal:
        return Literal(None, **_pos(tok))

    def name(self, *parts: Token) -> Name:
        pos = _pos(parts[0])
        pos["token"] = ".".join(str(p) for p in parts)
        return Name(tuple(str(p) for p in parts), **pos)

    def call(self, name: Token, *args: Node | None) -> Node:
        arguments = tuple(a for a in args if a is not None)
        if str(name) == "date":
            return _date_literal(name, arguments)
        pos = _pos(name)
        return Call(str(name), arguments, **pos)

    def list(self, *items: Node | None) -> ListExpr:
        nodes = tuple(i for i in items if i is not None)
        pos = _pos(nodes[0]) if nodes else {}
        return ListExpr(nodes, **pos)

    def minus(self, op: Token, operand: Node) -> Node:
        return Unary("-", operand, **_pos(op))

    def negation(self, op: Token, operand: Node) -> Unary:
        return Unary("!", operand, **_pos(op))

    def binary(self, left: Node, op: Token, right: Node) -> Binary:
        return Binary(str(op), left, right, **_pos(op))

    def logical(self, left: Node, op: Token, right: Node) -> Binary:
        symbol = "&&" if op.type in ("AND", "AND_WORD") else "||"
        return Binary(symbol, left, right, **_pos(op))

    def membership(self, item: Node, op: Token, options: Node) -> In:
        return In(item, options, **_pos(op))

    def conditional(self, condition: Node, then: Node, otherwise: Node) -> Conditional:
        return Conditional(condition, then, otherwise, **_pos(condition))


def _date_literal(name: Token, args: tuple[Node, ...]) -> Literal:
    if len(args) != 1 or not isinstance(args[0], Literal) or not isinstance(args[0].value, str):
        raise RuleSyntaxError(
            "date() takes one quoted ISO date, e.g. date('2024-01-31')",
            line=name.line,
            column=name.column,
            token="date",
        )
    text = args[0].value
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise RuleSyntaxError(
            f"'{text}' is not a valid date (expected YYYY-MM-DD)",
            line=args[0].line,
            column=args[0].column,
            token=args[0].token,
        ) from None
    return Literal(value, **_pos(name))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TERMINAL_WORDS.get(t, t) for t in getattr(exc, "expected", set()) or ()})
    return f"; expected {', '.join(names)}" if names else ""


def parse(text: str) -> Node:
    """Parse rule text into a syntax tree.

    Args:
        text: The rule, e.g. ``"count(members, m.age < 18) >= 1"``.

    Returns:
        The root node.

    Raises:
        RuleSyntaxError: With the line, column and token where parsing stopped.
    """
    if not text.strip():
        raise RuleSyntaxError("the rule is empty", line=1, column=1)
    try:
        tree: Tree[Token] = _parser().parse(text)
        return _ToNodes().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, RuleSyntaxError):
            raise exc.orig_exc from None
        raise
    except UnexpectedEOF as exc:
        lines = text.splitlines() or [""]
        raise RuleSyntaxError(
            f"the rule ends too early{_expected(exc)}",
            line=len(lines),
            column=len(lines[-1]) + 1,
        ) from None
    except UnexpectedCharacters as exc:
        raise RuleSyntaxError(
            f"unexpected character {exc.char!r}", line=exc.line, column=exc.column, token=exc.char
        ) from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if token is not None and token.type == "$END":
            lines = text.splitlines() or [""]
            raise RuleSyntaxError(
                f"the rule ends too early{_expected(exc)}",
                line=len(lines),
                column=len(lines[-1]) + 1,
            ) from None
        raise RuleSyntaxError(
            f"unexpected {str(token)!r}{_expected(exc)}",
            line=exc.line,
            column=exc.column,
            token=str(token) if token is not None else None,
        ) from None
