"""The desk: a trainer's review of each labelled example (pending, accepted, excluded).

Revision ID: desk0003
Revises: desk0002
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "desk0003"
down_revision = "desk0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the review columns to ``desk_training_examples``; existing labels start pending."""
    # Batch mode: SQLite cannot add a CHECK constraint to an existing table in place.
    with op.batch_alter_table("desk_training_examples") as batch:
        batch.add_column(
            sa.Column("review", sa.String(length=16), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("reviewed_intent", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_desk_training_examples_review"),
            "review IN ('pending', 'accepted', 'excluded')",
        )
        batch.create_index("ix_desk_training_examples_review", ["review"])


def downgrade() -> None:
    """Drop the review columns."""
    with op.batch_alter_table("desk_training_examples") as batch:
        batch.drop_index("ix_desk_training_examples_review")
        batch.drop_constraint(op.f("ck_desk_training_examples_review"), type_="check")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("reviewed_intent")
        batch.drop_column("review")
