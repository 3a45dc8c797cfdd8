"""field encryption of JSON documents that copy names, phones or identifiers

Change-request payloads and results, linkage merge snapshots and the records
shared with a referral are sealed whole by the field key ring (see
docs/decisions/0003-field-encryption.md, addendum). Existing rows are encrypted on
upgrade and decrypted on downgrade, in primary-key batches; on PostgreSQL the
columns go from JSONB to TEXT (and back). A database without such rows needs no keys.

Revision ID: 0010
Revises: 0009
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000

#: table -> (primary key, {column: field name (associated data)})
ENCRYPTED: dict[str, tuple[str, dict[str, str]]] = {
    "change_request": (
        "id",
        {"payload": "change_request_payload", "result": "change_request_result"},
    ),
    "linkage_merge": (
        "id",
        {"survivor_before": "merge_survivor_before", "merged_before": "merge_merged_before"},
    ),
    "referral": ("id", {"shared_record": "referral_shared_record"}),
}


def _ring() -> Any:
    from solidarity.governance.encryption import key_ring

    return key_ring()


def _convert(
    table: str, key: str, columns: Sequence[str], rewrite: Callable[[str | None, str], str | None]
) -> None:
    """Rewrite every non-null value of ``columns`` in primary-key batches."""
    conn = op.get_bind()
    listed = ", ".join(columns)
    select = sa.text(
        f"SELECT {key}, {listed} FROM {table} WHERE {key} > :last ORDER BY {key} LIMIT :n"
    )
    assignments = ", ".join(f"{c} = :{c}" for c in columns)
    update = sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :{key}")
    last = -1
    while True:
        rows = [dict(r._mapping) for r in conn.execute(select, {"last": last, "n": BATCH})]
        if not rows:
            return
        last = rows[-1][key]
        conn.execute(
            update, [{key: r[key], **{c: rewrite(r[c], c) for c in columns}} for r in rows]
        )


def _as_text(value: Any) -> str | None:
    """The stored JSON as compact text (a driver may already have parsed it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))


def _retype(to_text: bool) -> None:
    # SQLite stores JSON as text already: only PostgreSQL changes JSONB <-> TEXT.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (_key, fields) in ENCRYPTED.items():
        for column in fields:
            if to_text:
                op.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT USING {column}::text"
                )
            else:
                op.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE JSONB USING {column}::jsonb"
                )


def upgrade() -> None:
    _retype(to_text=True)
    for table, (key, fields) in ENCRYPTED.items():

        def seal(value: str | None, column: str, fields: dict[str, str] = fields) -> str | None:
            text = _as_text(value)
            return None if text is None else _ring().encrypt(text, fields[column])

        _convert(table, key, list(fields), seal)


def downgrade() -> None:
    for table, (key, fields) in ENCRYPTED.items():

        def open_(value: str | None, column: str, fields: dict[str, str] = fields) -> str | None:
            return None if value is None else _ring().decrypt(value, fields[column])

        _convert(table, key, list(fields), open_)
    _retype(to_text=False)
