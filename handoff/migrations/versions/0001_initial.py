"""The handoff queue: tickets and transcript entries.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('open', 'claimed')")


def upgrade() -> None:
    op.create_table(
        "handoff_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("customer", sa.String(length=255), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("need", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=True),
        sa.Column("suggested_answer", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply_eta", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_intent", sa.String(length=128), nullable=True),
        sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'claimed', 'resolved')", name="ck_handoff_tickets_status"
        ),
        sa.CheckConstraint("need BETWEEN 1 AND 4", name="ck_handoff_tickets_need"),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_tickets"),
    )
    op.create_index(
        "ix_handoff_tickets_conversation_id", "handoff_tickets", ["conversation_id"]
    )
    op.create_index("ix_handoff_tickets_status", "handoff_tickets", ["status"])
    op.create_index(
        "uq_handoff_tickets_open_conversation",
        "handoff_tickets",
        ["conversation_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_table(
        "handoff_transcript_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("personal_data", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "author IN ('customer', 'bot', 'agent')",
            name="ck_handoff_transcript_entries_author",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["handoff_tickets.id"],
            name="fk_handoff_transcript_entries_ticket_id_handoff_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_transcript_entries"),
        sa.UniqueConstraint(
            "ticket_id", "position", name="uq_handoff_transcript_entries_position"
        ),
    )


def downgrade() -> None:
    op.drop_table("handoff_transcript_entries")
    op.drop_index("uq_handoff_tickets_open_conversation", table_name="handoff_tickets")
    op.drop_index("ix_handoff_tickets_status", table_name="handoff_tickets")
    op.drop_index("ix_handoff_tickets_conversation_id", table_name="handoff_tickets")
    op.drop_table("handoff_tickets")
