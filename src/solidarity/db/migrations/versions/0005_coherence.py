"""coherence: agency profiles, delivery functions, coordination bodies, memoranda,
focal persons, data dictionaries, programme relations, declared targets, admin costs,
results framework, scorecard assessments and the action plan

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coherence_action",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("finding", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("responsible_person", sa.String(length=200), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_action")),
        sa.UniqueConstraint("code", name=op.f("uq_coherence_action_code")),
    )
    op.create_table(
        "coherence_admin_cost",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme_code", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_admin_cost")),
        sa.UniqueConstraint("programme_code", "year", name="uq_admin_cost"),
    )
    op.create_table(
        "coherence_agency_profile",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("mandate", sa.Text(), nullable=False),
        sa.Column(
            "aliases",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_agency_profile")),
        sa.UniqueConstraint("agency_code", name=op.f("uq_coherence_agency_profile_agency_code")),
    )
    op.create_table(
        "coherence_assessment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("area_code", sa.String(length=64), nullable=True),
        sa.Column("assessor", sa.String(length=128), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_assessment")),
    )
    op.create_table(
        "coherence_body",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("mandate", sa.Text(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_body")),
        sa.UniqueConstraint("code", name=op.f("uq_coherence_body_code")),
    )
    op.create_table(
        "coherence_data_definition",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme_code", sa.String(length=32), nullable=False),
        sa.Column("concept", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_data_definition")),
        sa.UniqueConstraint("programme_code", "concept", name="uq_data_definition"),
    )
    op.create_table(
        "coherence_declared_target",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme_code", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("expression", sa.Text(), nullable=True),
        sa.Column("share", sa.Float(), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_declared_target")),
    )
    with op.batch_alter_table("coherence_declared_target", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_declared_target_programme_code"),
            ["programme_code"],
            unique=False,
        )

    op.create_table(
        "coherence_delivery_function",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("programme_code", sa.String(length=32), nullable=False),
        sa.Column("function", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_delivery_function")),
        sa.UniqueConstraint(
            "programme_code", "function", "agency_code", name="uq_delivery_function"
        ),
    )
    with op.batch_alter_table("coherence_delivery_function", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_delivery_function_programme_code"),
            ["programme_code"],
            unique=False,
        )

    op.create_table(
        "coherence_focal_person",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_focal_person")),
    )
    with op.batch_alter_table("coherence_focal_person", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_focal_person_agency_code"), ["agency_code"], unique=False
        )

    op.create_table(
        "coherence_indicator",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("formula", sa.String(length=200), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("responsible_agency", sa.String(length=64), nullable=False),
        sa.Column("baseline_value", sa.Float(), nullable=True),
        sa.Column("baseline_year", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_indicator")),
        sa.UniqueConstraint("code", name=op.f("uq_coherence_indicator_code")),
    )
    op.create_table(
        "coherence_memorandum",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "parties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_memorandum")),
        sa.UniqueConstraint("code", name=op.f("uq_coherence_memorandum_code")),
    )
    op.create_table(
        "coherence_programme_relation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("programme_a", sa.String(length=32), nullable=False),
        sa.Column("programme_b", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("legal_reference", sa.String(length=500), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_programme_relation")),
        sa.UniqueConstraint("kind", "programme_a", "programme_b", name="uq_programme_relation"),
    )
    op.create_table(
        "coherence_action_note",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("noted_on", sa.Date(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["coherence_action.id"],
            name=op.f("fk_coherence_action_note_action_id_coherence_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_action_note")),
    )
    with op.batch_alter_table("coherence_action_note", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_action_note_action_id"), ["action_id"], unique=False
        )

    op.create_table(
        "coherence_assessment_score",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("suggested_score", sa.Integer(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["coherence_assessment.id"],
            name=op.f("fk_coherence_assessment_score_assessment_id_coherence_assessment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_assessment_score")),
        sa.UniqueConstraint("assessment_id", "dimension", name="uq_assessment_score"),
    )
    with op.batch_alter_table("coherence_assessment_score", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_assessment_score_assessment_id"),
            ["assessment_id"],
            unique=False,
        )

    op.create_table(
        "coherence_body_member",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["coherence_body.id"],
            name=op.f("fk_coherence_body_member_body_id_coherence_body"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_body_member")),
        sa.UniqueConstraint("body_id", "agency_code", name="uq_body_member"),
    )
    with op.batch_alter_table("coherence_body_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_body_member_body_id"), ["body_id"], unique=False
        )

    op.create_table(
        "coherence_indicator_target",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["coherence_indicator.id"],
            name=op.f("fk_coherence_indicator_target_indicator_id_coherence_indicator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_indicator_target")),
        sa.UniqueConstraint("indicator_id", "year", name="uq_indicator_target"),
    )
    with op.batch_alter_table("coherence_indicator_target", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_indicator_target_indicator_id"), ["indicator_id"], unique=False
        )

    op.create_table(
        "coherence_indicator_value",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["coherence_indicator.id"],
            name=op.f("fk_coherence_indicator_value_indicator_id_coherence_indicator"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_indicator_value")),
    )
    with op.batch_alter_table("coherence_indicator_value", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coherence_indicator_value_indicator_id"), ["indicator_id"], unique=False
        )

    op.create_table(
        "coherence_meeting",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column(
            "attendees",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("decisions", sa.Text(), nullable=False),
        sa.Column("minutes_reference", sa.String(length=500), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["coherence_body.id"],
            name=op.f("fk_coherence_meeting_body_id_coherence_body"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coherence_meeting")),
    )
    with op.batch_alter_table("coherence_meeting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coherence_meeting_body_id"), ["body_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coherence_meeting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_meeting_body_id"))

    op.drop_table("coherence_meeting")
    with op.batch_alter_table("coherence_indicator_value", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_indicator_value_indicator_id"))

    op.drop_table("coherence_indicator_value")
    with op.batch_alter_table("coherence_indicator_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_indicator_target_indicator_id"))

    op.drop_table("coherence_indicator_target")
    with op.batch_alter_table("coherence_body_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_body_member_body_id"))

    op.drop_table("coherence_body_member")
    with op.batch_alter_table("coherence_assessment_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_assessment_score_assessment_id"))

    op.drop_table("coherence_assessment_score")
    with op.batch_alter_table("coherence_action_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_action_note_action_id"))

    op.drop_table("coherence_action_note")
    op.drop_table("coherence_programme_relation")
    op.drop_table("coherence_memorandum")
    op.drop_table("coherence_indicator")
    with op.batch_alter_table("coherence_focal_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_focal_person_agency_code"))

    op.drop_table("coherence_focal_person")
    with op.batch_alter_table("coherence_delivery_function", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_delivery_function_programme_code"))

    op.drop_table("coherence_delivery_function")
    with op.batch_alter_table("coherence_declared_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coherence_declared_target_programme_code"))

    op.drop_table("coherence_declared_target")
    op.drop_table("coherence_data_definition")
    op.drop_table("coherence_body")
    op.drop_table("coherence_assessment")
    op.drop_table("coherence_agency_profile")
    op.drop_table("coherence_admin_cost")
    op.drop_table("coherence_action")
