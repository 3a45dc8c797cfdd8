"""interop: DCI partners, received messages (transactions, replay guard), outbox of
callbacks and notifications, subscriptions, registry events, CRVS events and review list

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crvs_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("event_date", sa.String(length=32), nullable=True),
        sa.Column(
            "record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.Column(
            "match",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crvs_event")),
        sa.UniqueConstraint("source", "event_type", "external_id", name="uq_crvs_event_external"),
    )
    with op.batch_alter_table("crvs_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crvs_event_status"), ["status"], unique=False)

    op.create_table(
        "dci_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=256), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=99), nullable=True),
        sa.Column("correlation_id", sa.String(length=99), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("sender_uri", sa.String(length=1000), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_message")),
        sa.UniqueConstraint("correlation_id", name=op.f("uq_dci_message_correlation_id")),
        sa.UniqueConstraint("sender_id", "message_id", name="uq_dci_message_sender"),
    )
    with op.batch_alter_table("dci_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dci_message_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "dci_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("correlation_id", sa.String(length=99), nullable=True),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_outbox")),
    )
    with op.batch_alter_table("dci_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dci_outbox_correlation_id"), ["correlation_id"], unique=False
        )
        batch_op.create_index("ix_dci_outbox_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "dci_partner",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_id", sa.String(length=256), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("signature_required", sa.Boolean(), nullable=False),
        sa.Column("signature_format", sa.String(length=16), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("jwks_url", sa.String(length=1000), nullable=True),
        sa.Column("callback_prefix", sa.String(length=1000), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_partner")),
        sa.UniqueConstraint("sender_id", name=op.f("uq_dci_partner_sender_id")),
    )
    with op.batch_alter_table("dci_partner", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dci_partner_client_id"), ["client_id"], unique=False)

    op.create_table(
        "dci_registry_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("change_request_id", sa.Integer(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_registry_event")),
    )
    with op.batch_alter_table("dci_registry_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dci_registry_event_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "dci_subscription",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=99), nullable=False),
        sa.Column("server", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=256), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("callback_uri", sa.String(length=1000), nullable=False),
        sa.Column("reg_type", sa.String(length=128), nullable=True),
        sa.Column("reg_event_type", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("filter_type", sa.String(length=16), nullable=True),
        sa.Column(
            "filter",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("notify_record_type", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=3), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=99), nullable=True),
        sa.Column("reference_id", sa.String(length=99), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dci_subscription")),
        sa.UniqueConstraint("code", name=op.f("uq_dci_subscription_code")),
    )
    with op.batch_alter_table("dci_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dci_subscription_event"), ["event"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dci_subscription_sender_id"), ["sender_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dci_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_subscription_sender_id"))
        batch_op.drop_index(batch_op.f("ix_dci_subscription_event"))

    op.drop_table("dci_subscription")
    with op.batch_alter_table("dci_registry_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_registry_event_processed_at"))

    op.drop_table("dci_registry_event")
    with op.batch_alter_table("dci_partner", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_partner_client_id"))

    op.drop_table("dci_partner")
    with op.batch_alter_table("dci_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_dci_outbox_due")
        batch_op.drop_index(batch_op.f("ix_dci_outbox_correlation_id"))

    op.drop_table("dci_outbox")
    with op.batch_alter_table("dci_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dci_message_transaction_id"))

    op.drop_table("dci_message")
    with op.batch_alter_table("crvs_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crvs_event_status"))

    op.drop_table("crvs_event")
