"""The desk: agents, sessions, audit log, canned answers, training examples, notices.

Revision ID: desk0001
Revises:
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "desk0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the desk's tables."""
    op.create_table(
        "desk_agents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('agent', 'supervisor', 'trainer')", name="ck_desk_agents_role"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_desk_agents"),
        sa.UniqueConstraint("username", name="uq_desk_agents_username"),
    )
    op.create_table(
        "desk_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["desk_agents.id"],
            name="fk_desk_sessions_agent_id_desk_agents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_desk_sessions"),
    )
    op.create_index("ix_desk_sessions_agent_id", "desk_sessions", ["agent_id"])
    op.create_table(
        "desk_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_desk_audit_log"),
    )
    op.create_index("ix_desk_audit_log_action", "desk_audit_log", ["action"])
    op.create_index("ix_desk_audit_log_ticket_id", "desk_audit_log", ["ticket_id"])
    op.create_table(
        "desk_canned_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_desk_canned_answers"),
    )
    op.create_index("ix_desk_canned_answers_language", "desk_canned_answers", ["language"])
    op.create_table(
        "desk_training_examples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("proposed", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("labelled_by", sa.String(length=64), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_desk_training_examples"),
    )
    op.create_index("ix_desk_training_examples_ticket_id", "desk_training_examples", ["ticket_id"])
    op.create_table(
        "desk_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('digest', 'reminder')", name="ck_desk_notices_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_desk_notices"),
    )
    op.create_index("ix_desk_notices_ticket_id", "desk_notices", ["ticket_id"])


def downgrade() -> None:
    """Drop the desk's tables."""
    op.drop_table("desk_notices")
    op.drop_table("desk_training_examples")
    op.drop_table("desk_canned_answers")
    op.drop_table("desk_audit_log")
    op.drop_table("desk_sessions")
    op.drop_table("desk_agents")
