"""Incidents: the incidents, the reports counted to detect them, linked customers, posts, notices.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 00:42:58.983806
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the incident tables."""
    op.create_table(
        "handoff_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_update", sa.Text(), nullable=True),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_update_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_report_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_handoff_incidents_status")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["handoff_tickets.id"],
            name=op.f("fk_handoff_incidents_ticket_id_handoff_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_incidents")),
    )
    with op.batch_alter_table("handoff_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_handoff_incidents_opened_at", ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_handoff_incidents_status"), ["status"], unique=False)

    op.create_table(
        "handoff_incident_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("customer", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["handoff_incidents.id"],
            name=op.f("fk_handoff_incident_links_incident_id_handoff_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["handoff_tickets.id"],
            name=op.f("fk_handoff_incident_links_ticket_id_handoff_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_incident_links")),
        sa.UniqueConstraint(
            "incident_id", "conversation_id", name="uq_handoff_incident_links_conversation"
        ),
    )
    op.create_table(
        "handoff_incident_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_handoff_incident_notices_state"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["handoff_incidents.id"],
            name=op.f("fk_handoff_incident_notices_incident_id_handoff_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_incident_notices")),
        sa.UniqueConstraint(
            "incident_id", "conversation_id", "sequence", name="uq_handoff_incident_notices_once"
        ),
    )
    with op.batch_alter_table("handoff_incident_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_handoff_incident_notices_state", ["state", "channel"], unique=False
        )

    op.create_table(
        "handoff_incident_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("posted_by", sa.String(length=128), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('update', 'resolved')", name=op.f("ck_handoff_incident_posts_kind")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["handoff_incidents.id"],
            name=op.f("fk_handoff_incident_posts_incident_id_handoff_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_incident_posts")),
        sa.UniqueConstraint("incident_id", "sequence", name="uq_handoff_incident_posts_sequence"),
    )
    op.create_table(
        "handoff_incident_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("customer", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["handoff_incidents.id"],
            name=op.f("fk_handoff_incident_reports_incident_id_handoff_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_incident_reports")),
    )
    with op.batch_alter_table("handoff_incident_reports", schema=None) as batch_op:
        batch_op.create_index("ix_handoff_incident_reports_at", ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_handoff_incident_reports_conversation_id"),
            ["conversation_id"],
            unique=False,
        )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("handoff_incident_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoff_incident_reports_conversation_id"))
        batch_op.drop_index("ix_handoff_incident_reports_at")

    op.drop_table("handoff_incident_reports")
    op.drop_table("handoff_incident_posts")
    with op.batch_alter_table("handoff_incident_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_incident_notices_state")

    op.drop_table("handoff_incident_notices")
    op.drop_table("handoff_incident_links")
    with op.batch_alter_table("handoff_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoff_incidents_status"))
        batch_op.drop_index("ix_handoff_incidents_opened_at")

    op.drop_table("handoff_incidents")
