"""A column type that encrypts on write and decrypts on read, and refuses comparisons.

Values are sealed by the field key ring (:mod:`solidarity.governance.encryption`)
with the column's field name as associated data. Any SQL comparison, pattern match
or ordering on such a column would compare ciphertexts (random nonces: never
equal, meaningless order), so the column's comparator raises instead: search
through the blind-index columns.

:class:`EncryptedJSON` does the same for JSON documents that copy names, phones
or identifiers (change-request payloads, merge snapshots, shared referral
records): the document is serialised, then sealed as one value; it is read back
whole and never queried inside in SQL.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement, operators
from sqlalchemy.types import TypeDecorator

_ALLOWED = {operators.is_, operators.is_not}


def _is_column(other: Any) -> bool:
    return isinstance(other, ColumnElement) or hasattr(other, "__clause_element__")


class EncryptedComparisonError(TypeError):
    """A query compared, matched or sorted an encrypted column (a programming error)."""


T = TypeVar("T")


class _Sealed(TypeDecorator[T]):
    """Common part of the encrypted column types: the field name and the comparator."""

    impl = Text
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    class comparator_factory(Text.Comparator[str]):
        """Allows IS [NOT] NULL and column-to-column comparisons, refuses values."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            # SQLAlchemy itself compares column objects (e.g. when matching result
            # columns of a cached statement): only values and orderings are refused.
            if op in _ALLOWED or (other and all(_is_column(o) for o in other)):
                return super().operate(op, *other, **kwargs)
            raise EncryptedComparisonError(
                f"{self.expr} is encrypted: compare its blind index instead ({op.__name__})"
            )

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            raise EncryptedComparisonError(f"{self.expr} is encrypted: compare its blind index")


class EncryptedText(_Sealed[str]):
    """Text encrypted at rest under the field key ring (``field`` is the associated data)."""

    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        from solidarity.governance.encryption import key_ring

        return key_ring().encrypt(value, self.field)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        from solidarity.governance.encryption import key_ring

        return key_ring().decrypt(value, self.field)

    def copy(self, **kw: Any) -> EncryptedText:
        return EncryptedText(self.field)


class EncryptedJSON(_Sealed[Any]):
    """A JSON document encrypted at rest as one value (``field`` is the associated data).

    Stored as the sealed compact JSON text, so key rotation re-seals it like any
    :class:`EncryptedText` value. Reassign the attribute to change it (no in-place
    mutation tracking, as with the plain JSON columns).
    """

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        from solidarity.governance.encryption import key_ring

        document = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return key_ring().encrypt(document, self.field)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        from solidarity.governance.encryption import key_ring

        document = key_ring().decrypt(value, self.field)
        return None if document is None else json.loads(document)

    def copy(self, **kw: Any) -> EncryptedJSON:
        return EncryptedJSON(self.field)


def encrypted_columns(table: Any) -> dict[str, str]:
    """``{column name: field}`` of the encrypted columns (text and JSON) of a Table."""
    return {c.name: c.type.field for c in table.columns if isinstance(c.type, _Sealed)}
