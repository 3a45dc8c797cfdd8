"""linkage tables

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _stamps() -> list[sa.Column[object]]:
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
        "linkage_model",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("link_type", sa.String(length=16), nullable=False),
        sa.Column("exclude_same_household", sa.Boolean(), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("report", JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_model")),
        sa.UniqueConstraint("kind", "source", "version", name="uq_linkage_model_version"),
    )
    op.create_table(
        "linkage_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("thresholds", JSON, nullable=False),
        sa.Column("stats", JSON, nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_run")),
    )
    op.create_index(op.f("ix_linkage_run_model_id"), "linkage_run", ["model_id"])
    op.create_table(
        "linkage_pair",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("person_id_l", sa.Integer(), nullable=False),
        sa.Column("person_id_r", sa.Integer(), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("match_key", sa.String(length=16), nullable=True),
        sa.Column("agreement", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_pair")),
    )
    op.create_index(op.f("ix_linkage_pair_run_id"), "linkage_pair", ["run_id"])
    op.create_index("ix_linkage_pair_persons", "linkage_pair", ["person_id_l", "person_id_r"])
    op.create_index("ix_linkage_pair_queue", "linkage_pair", ["status", "match_weight"])
    op.create_table(
        "linkage_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id_l", sa.Integer(), nullable=False),
        sa.Column("person_id_r", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_decision")),
        sa.UniqueConstraint("person_id_l", "person_id_r", name="uq_linkage_decision_pair"),
    )
    op.create_table(
        "linkage_merge",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("survivor_before", JSON, nullable=False),
        sa.Column("merged_before", JSON, nullable=False),
        sa.Column("fields_taken", JSON, nullable=False),
        sa.Column("identifiers_moved", JSON, nullable=False),
        sa.Column("memberships", JSON, nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=128), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_merge")),
    )
    op.create_index(op.f("ix_linkage_merge_survivor_id"), "linkage_merge", ["survivor_id"])
    op.create_index(op.f("ix_linkage_merge_merged_id"), "linkage_merge", ["merged_id"])
    op.create_table(
        "linkage_link",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_record_id", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("match_weight", sa.Float(), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("agreement", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_link")),
    )
    op.create_index(op.f("ix_linkage_link_run_id"), "linkage_link", ["run_id"])
    op.create_index("ix_linkage_link_source_record", "linkage_link", ["source", "source_record_id"])
    op.create_index("ix_linkage_link_source_person", "linkage_link", ["source", "person_id"])
    op.create_table(
        "linkage_person_key",
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "key", name=op.f("pk_linkage_person_key")),
    )
    op.create_index("ix_linkage_person_key_key", "linkage_person_key", ["key"])


def downgrade() -> None:
    for index, table in (
        ("ix_linkage_person_key_key", "linkage_person_key"),
        ("ix_linkage_link_source_person", "linkage_link"),
        ("ix_linkage_link_source_record", "linkage_link"),
        ("ix_linkage_link_run_id", "linkage_link"),
        ("ix_linkage_merge_merged_id", "linkage_merge"),
        ("ix_linkage_merge_survivor_id", "linkage_merge"),
        ("ix_linkage_pair_queue", "linkage_pair"),
        ("ix_linkage_pair_persons", "linkage_pair"),
        ("ix_linkage_pair_run_id", "linkage_pair"),
        ("ix_linkage_run_model_id", "linkage_run"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "linkage_person_key",
        "linkage_link",
        "linkage_merge",
        "linkage_decision",
        "linkage_pair",
        "linkage_run",
        "linkage_model",
    ):
        op.drop_table(table)
