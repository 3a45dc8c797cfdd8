"""a trigram index on the person name blind index (PostgreSQL)

Name search matches whole name tokens in ``person.name_index`` with ``LIKE
'%token%'`` (decision 0003); without an index that is a scan of every person.
On PostgreSQL a GIN trigram index (``pg_trgm``, shipped with PostgreSQL and
trusted, so the database owner can create it) serves those patterns. SQLite has
no such index; its scan stays.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_person_name_index_trgm "
        "ON person USING gin (name_index gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_person_name_index_trgm")
