"""simulation and monitoring: scenario versions, cached results, indicator versions, snapshots

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _stamps() -> list[Any]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "simulation_scenario",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("baseline_date", sa.Date(), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("base_rules", _json(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_scenario")),
        sa.UniqueConstraint("name", "version", name="uq_simulation_scenario_version"),
    )
    with op.batch_alter_table("simulation_scenario", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulation_scenario_name"), ["name"], unique=False)

    op.create_table(
        "simulation_result",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=False),
        sa.Column("result", _json(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["simulation_scenario.id"],
            name=op.f("fk_simulation_result_scenario_id_simulation_scenario"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_result")),
        sa.UniqueConstraint("scenario_id", "as_of", "snapshot", name="uq_simulation_result_key"),
    )
    with op.batch_alter_table("simulation_result", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_simulation_result_scenario_id"), ["scenario_id"], unique=False
        )

    op.create_table(
        "monitoring_indicator",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_indicator")),
        sa.UniqueConstraint("code", "version", name="uq_monitoring_indicator_version"),
    )
    with op.batch_alter_table("monitoring_indicator", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_indicator_code"), ["code"], unique=False)

    op.create_table(
        "monitoring_snapshot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("indicator_version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("disaggregation", _json(), nullable=False),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_snapshot")),
    )
    with op.batch_alter_table("monitoring_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_snapshot_period_code", ["period", "indicator_code"], unique=False
        )


def downgrade() -> None:
    op.drop_table("monitoring_snapshot")
    op.drop_table("monitoring_indicator")
    op.drop_table("simulation_result")
    op.drop_table("simulation_scenario")
