"""field encryption: names, phones and identifier values encrypted at rest, blind indexes

Existing plaintext rows are encrypted on upgrade and decrypted on downgrade with the
configured field key ring (SOLIDARITY_KEY_FILE / SOLIDARITY_FIELD_KEYS, see
docs/decisions/0003-field-encryption.md). A database without such rows needs no keys.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000

#: table -> (primary key, {column: (field name, former VARCHAR length)})
ENCRYPTED: dict[str, tuple[str, dict[str, tuple[str, int]]]] = {
    "person": (
        "id",
        {
            "given_name": ("given_name", 200),
            "family_name": ("family_name", 200),
            "other_names": ("other_names", 200),
            "phone": ("phone", 32),
        },
    ),
    "person_history": (
        "history_id",
        {
            "given_name": ("given_name", 200),
            "family_name": ("family_name", 200),
            "other_names": ("other_names", 200),
            "phone": ("phone", 32),
        },
    ),
    "identifier": ("id", {"value": ("identifier_value", 128)}),
    "grievance": (
        "id",
        {
            "complainant_name": ("complainant_name", 200),
            "complainant_contact": ("complainant_contact", 200),
        },
    ),
}
NAME_COLUMNS = ("given_name", "family_name", "other_names")


def _ring() -> Any:
    from solidarity.governance.encryption import key_ring

    return key_ring()


def _convert(
    table: str,
    key: str,
    columns: Sequence[str],
    rewrite: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    """Rewrite every row of ``table`` in primary-key batches: read, ``rewrite``, update."""
    conn = op.get_bind()
    listed = ", ".join(columns)
    select = sa.text(
        f"SELECT {key}, {listed} FROM {table} WHERE {key} > :last ORDER BY {key} LIMIT :n"
    )
    last = -1
    while True:
        rows = [dict(r._mapping) for r in conn.execute(select, {"last": last, "n": BATCH})]
        if not rows:
            return
        last = rows[-1][key]
        updated = rewrite(rows)
        targets = [c for c in updated[0] if c != key]
        assignments = ", ".join(f"{c} = :{c}" for c in targets)
        conn.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :{key}"), updated)


def _encrypt_rows(table: str) -> None:
    key, fields = ENCRYPTED[table]
    columns = list(fields)

    def rewrite(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ring = _ring()
        out = [{key: r[key]} for r in rows]
        if table in ("person", "person_history"):
            indexes = ring.name_index_many(*[[r[c] for r in rows] for c in NAME_COLUMNS])
            for row, index in zip(out, indexes, strict=True):
                row["name_index"] = index
        if table == "identifier":
            for row, index in zip(
                out, ring.identifier_index_many([r["value"] for r in rows]), strict=True
            ):
                row["value_index"] = index
        for column, (field, _length) in fields.items():
            sealed = ring.encrypt_many([r[column] for r in rows], field)
            for row, value in zip(out, sealed, strict=True):
                row[column] = value
        return out

    _convert(table, key, columns, rewrite)


def _decrypt_rows(table: str) -> None:
    key, fields = ENCRYPTED[table]

    def rewrite(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ring = _ring()
        out = [{key: r[key]} for r in rows]
        for column, (field, _length) in fields.items():
            for row, value in zip(
                out, ring.decrypt_many([r[column] for r in rows], field), strict=True
            ):
                row[column] = value
        return out

    _convert(table, key, list(fields), rewrite)


def _retype(to_text: bool) -> None:
    # SQLite ignores VARCHAR lengths: only PostgreSQL needs room for the ciphertext.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (_key, fields) in ENCRYPTED.items():
        for column, (_field, length) in fields.items():
            op.alter_column(
                table,
                column,
                type_=sa.Text() if to_text else sa.String(length=length),
                existing_type=sa.String(length=length) if to_text else sa.Text(),
                postgresql_using=None,
            )


def upgrade() -> None:
    op.add_column("person", sa.Column("name_index", sa.Text(), nullable=True))
    op.add_column("person_history", sa.Column("name_index", sa.Text(), nullable=True))
    op.add_column("identifier", sa.Column("value_index", sa.String(length=64), nullable=True))
    op.drop_index(
        "uq_identifier_active_type_value",
        table_name="identifier",
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    _retype(to_text=True)
    for table in ENCRYPTED:
        _encrypt_rows(table)
    op.create_index(
        "uq_identifier_active_type_value_index",
        "identifier",
        ["id_type", "value_index"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_identifier_active_type_value_index",
        table_name="identifier",
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    for table in ENCRYPTED:
        _decrypt_rows(table)
    _retype(to_text=False)
    # SQLite >= 3.35 drops a column in place (no table copy that could lose partial indexes).
    op.drop_column("identifier", "value_index")
    op.drop_column("person_history", "name_index")
    op.drop_column("person", "name_index")
    op.create_index(
        "uq_identifier_active_type_value",
        "identifier",
        ["id_type", "value"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
