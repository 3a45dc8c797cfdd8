"""audit entries are written first and chained shortly after (decision 0005)

``audit_entry.sequence``, ``previous_hash`` and ``hash`` become nullable: a
request writes its entry without them and the sequencer chains the waiting
entries in batches, found through a partial index on ``sequence IS NULL``.
The downgrade chains any waiting entry first, so the columns can be required
again.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINED = ("sequence", sa.Integer()), ("previous_hash", sa.String(64)), ("hash", sa.String(64))


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        for name, kind in CHAINED:
            batch.alter_column(name, existing_type=kind, nullable=True)
    op.create_index(
        "ix_audit_entry_unchained",
        "audit_entry",
        ["id"],
        sqlite_where=sa.text("sequence IS NULL"),
        postgresql_where=sa.text("sequence IS NULL"),
    )


def downgrade() -> None:
    from solidarity.governance.audit import chain_pending

    chain_pending(Session(bind=op.get_bind()))
    op.drop_index("ix_audit_entry_unchained", table_name="audit_entry")
    with op.batch_alter_table("audit_entry") as batch:
        for name, kind in CHAINED:
            batch.alter_column(name, existing_type=kind, nullable=False)
