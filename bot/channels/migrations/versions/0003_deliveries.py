"""Truthful delivery: the channels each worker serves, and the outcome of each desk answer.

Revision ID: c0003
Revises: c0002
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds ``channel_workers.channels`` and the ``channel_deliveries`` table."""
    with op.batch_alter_table("channel_workers") as batch:
        batch.add_column(sa.Column("channels", sa.Text(), nullable=True))
    op.create_table(
        "channel_deliveries",
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('delivered', 'failed', 'queued')", name="ck_channel_deliveries_state"
        ),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_channel_deliveries"),
    )


def downgrade() -> None:
    """Drops them."""
    op.drop_table("channel_deliveries")
    with op.batch_alter_table("channel_workers") as batch:
        batch.drop_column("channels")
