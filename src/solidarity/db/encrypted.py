"""A column type that encrypts on write and decrypts on read, and refuses comparisons.

Values are sealed by the field key ring (:mod:`solidarity.governance.encryption`)
with the column's field name as associated data. Any SQL comparison, pattern match
or ordering on such a column would compare ciphertexts (random nonces: never
equal, meaningless order), so the column's comparator raises instead: search
through the blind-index columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement, operators
from sqlalchemy.types import TypeDecorator

_ALLOWED = {operators.is_, operators.is_not}


def _is_column(other: Any) -> bool:
    return isinstance(other, ColumnElement) or hasattr(other, "__clause_element__")


class EncryptedComparisonError(TypeError):
    """A query compared, matched or sorted an encrypted column (a programming error)."""


class EncryptedText(TypeDecorator[str]):
    """Text encrypted at rest under the field key ring (``field`` is the associated data)."""

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


def encrypted_columns(table: Any) -> dict[str, str]:
    """``{column name: field}`` of the encrypted columns of a Table."""
    return {c.name: c.type.field for c in table.columns if isinstance(c.type, EncryptedText)}
