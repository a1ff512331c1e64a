"""The desk: internal notes on cases (agents only, never sent to the customer).

Revision ID: desk0002
Revises: desk0001
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "desk0002"
down_revision = "desk0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``desk_notes``."""
    op.create_table(
        "desk_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_desk_notes"),
    )
    op.create_index("ix_desk_notes_ticket_id", "desk_notes", ["ticket_id"])


def downgrade() -> None:
    """Drop ``desk_notes``."""
    op.drop_index("ix_desk_notes_ticket_id", table_name="desk_notes")
    op.drop_table("desk_notes")
