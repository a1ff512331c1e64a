"""The channels' inbox, cursors and opt-outs.

Revision ID: c0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Creates the inbox, the cursors and the opt-outs."""
    op.create_table(
        "channel_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=255), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'done', 'failed')", name="ck_channel_inbox_status"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_channel_inbox"),
        sa.UniqueConstraint("channel", "platform_id", name="uq_channel_inbox_platform_id"),
    )
    op.create_index("ix_channel_inbox_pending", "channel_inbox", ["status", "attempted_at"])
    op.create_index("ix_channel_inbox_conversation_id", "channel_inbox", ["conversation_id"])
    op.create_table(
        "channel_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_channel_cursors"),
    )
    op.create_table(
        "channel_opt_outs",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "sender", name="pk_channel_opt_outs"),
    )


def downgrade() -> None:
    """Drops them."""
    op.drop_table("channel_opt_outs")
    op.drop_table("channel_cursors")
    op.drop_index("ix_channel_inbox_conversation_id", table_name="channel_inbox")
    op.drop_index("ix_channel_inbox_pending", table_name="channel_inbox")
    op.drop_table("channel_inbox")
