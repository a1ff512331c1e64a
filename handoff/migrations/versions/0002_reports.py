"""Supervisors' reports: indexes for the ticket aggregates, and the customers' CSAT scores.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the report indexes and the CSAT table."""
    op.create_index("ix_handoff_tickets_created_at", "handoff_tickets", ["created_at"])
    op.create_index(
        "ix_handoff_transcript_entries_first_reply",
        "handoff_transcript_entries",
        ["ticket_id", "author", "at"],
    )
    op.create_table(
        "handoff_csat",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_handoff_csat_score"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["handoff_tickets.id"],
            name="fk_handoff_csat_ticket_id_handoff_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_csat"),
    )
    op.create_index("ix_handoff_csat_answered_at", "handoff_csat", ["answered_at"])
    op.create_index("ix_handoff_csat_ticket_id", "handoff_csat", ["ticket_id"], unique=True)


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_handoff_csat_ticket_id", table_name="handoff_csat")
    op.drop_index("ix_handoff_csat_answered_at", table_name="handoff_csat")
    op.drop_table("handoff_csat")
    op.drop_index(
        "ix_handoff_transcript_entries_first_reply", table_name="handoff_transcript_entries"
    )
    op.drop_index("ix_handoff_tickets_created_at", table_name="handoff_tickets")
