"""Privacy: the opt-outs of erased customers, kept only as keyed hashes of their numbers.

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the ``channel_opt_out_hashes`` table."""
    op.create_table(
        "channel_opt_out_hashes",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender_hash", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "sender_hash", name="pk_channel_opt_out_hashes"),
    )


def downgrade() -> None:
    """Drops it."""
    op.drop_table("channel_opt_out_hashes")
