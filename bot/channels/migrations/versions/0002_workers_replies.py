"""Exact redelivery: the attempt's owner, retry time and error count; workers; reply ledger.

Revision ID: c0002
Revises: c0001
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the columns and the two tables."""
    with op.batch_alter_table("channel_inbox") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("errors", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "channel_replies",
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "idx", name="pk_channel_replies"),
    )
    op.create_table(
        "channel_workers",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_channel_workers"),
    )


def downgrade() -> None:
    """Drops them."""
    op.drop_table("channel_workers")
    op.drop_table("channel_replies")
    with op.batch_alter_table("channel_inbox") as batch:
        batch.drop_column("errors")
        batch.drop_column("retry_at")
        batch.drop_column("owner")
