"""members' age and income read from one index (household rules over a population)

Household rules aggregate over the active members, most often their age and
their income (a child count, a per-capita income). A whole-population
enrolment groups every active member by household: with
``ix_person_member_birth`` (household, status, birth date) SQLite found the
members in the index but read each member's row for the income. The index now
ends with the income too (``ix_person_member_age_income``), so such rules are
answered from the index alone: the child benefit's evaluation over 4.1M members
6.0 -> 3.8 s in SQLite. Searches by members' age use it as they used the old one.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_person_member_age_income", "person", ["household_id", "status", "birth_date", "income"]
    )
    op.drop_index("ix_person_member_birth", table_name="person")


def downgrade() -> None:
    op.create_index("ix_person_member_birth", "person", ["household_id", "status", "birth_date"])
    op.drop_index("ix_person_member_age_income", table_name="person")
