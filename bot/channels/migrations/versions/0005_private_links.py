"""Moving to private: start tokens that join a private chat to a group conversation.

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-06 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the ``channel_private_links`` table."""
    op.create_table(
        "channel_private_links",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token", name="pk_channel_private_links"),
    )
    op.create_index(
        "ix_channel_private_links_used_by", "channel_private_links", ["used_by"], unique=False
    )


def downgrade() -> None:
    """Drops it."""
    op.drop_index("ix_channel_private_links_used_by", table_name="channel_private_links")
    op.drop_table("channel_private_links")
