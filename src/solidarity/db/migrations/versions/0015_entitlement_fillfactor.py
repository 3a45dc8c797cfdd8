"""room in each entitlement page for its rows' status updates (PostgreSQL)

Approving a cycle and writing its payroll each move every entitlement of the
cycle to a new status, and accepting a reconciliation does it again. PostgreSQL
writes an updated row as a new version; when the page it is on is full, the
version goes to another page and every one of the table's five indexes gets a
new entry: 3.6 s per 250,000 entitlements, most of a payroll's time. With half
of each page left free (``fillfactor = 50``) the new version stays on its page
and no index is touched (a heap-only update): 0.5 s. The table takes about twice
the space. Existing pages keep their layout until the table is rewritten
(``VACUUM FULL entitlement``, see operations.md). SQLite updates in place and has
no such setting.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE entitlement SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE entitlement RESET (fillfactor)")
