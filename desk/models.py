"""The desk's own tables: agents, sessions, the audit log, canned answers, labels, notices, notes.

They live in the queue's database beside ``handoff_*`` (prefix ``desk_``) and are created by the
desk's own Alembic migrations (``desk/migrations``, version table ``desk_alembic_version``). No
foreign key points at the queue's tables, so either schema can be migrated first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, declarative_base

from handoff.models import NAMING_CONVENTION, UTCDateTime

__all__ = [
    "ROLES",
    "Agent",
    "AuditEvent",
    "Base",
    "CannedAnswer",
    "DeskSession",
    "Note",
    "Notice",
    "TrainingExample",
]

#: Who may do what: agents take cases; supervisors see and reassign everything and edit canned
#: answers; trainers see resolved cases and their labels.
ROLES: tuple[str, ...] = ("agent", "supervisor", "trainer")

Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class Agent(Base):
    """A person who signs in to the desk."""

    __tablename__ = "desk_agents"
    __table_args__ = (CheckConstraint("role IN ('agent', 'supervisor', 'trainer')", name="role"),)

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = Column(String(64), nullable=False, unique=True)
    display_name: Mapped[str] = Column(String(128), nullable=False)
    role: Mapped[str] = Column(String(16), nullable=False)
    password_hash: Mapped[str] = Column(String(255), nullable=False)
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = Column(Integer, nullable=False, default=0)
    locked_until: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)


class DeskSession(Base):
    """A signed-in browser. Only a SHA-256 of the cookie's token is stored."""

    __tablename__ = "desk_sessions"

    token_hash: Mapped[str] = Column(String(64), primary_key=True)
    agent_id: Mapped[int] = Column(
        Integer, ForeignKey("desk_agents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token: Mapped[str] = Column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)


class AuditEvent(Base):
    """Something an agent did that must be accountable (every reveal of personal data above all)."""

    __tablename__ = "desk_audit_log"
    __table_args__ = (Index("ix_desk_audit_log_ticket_id", "ticket_id"),)

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    username: Mapped[str] = Column(String(64), nullable=False)
    action: Mapped[str] = Column(String(32), nullable=False, index=True)
    ticket_id: Mapped[int | None] = Column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)


class CannedAnswer(Base):
    """A ready answer in one language that agents insert and adapt."""

    __tablename__ = "desk_canned_answers"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    language: Mapped[str] = Column(String(16), nullable=False, index=True)
    title: Mapped[str] = Column(String(128), nullable=False)
    body: Mapped[str] = Column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = Column(String(64), nullable=False)


class TrainingExample(Base):
    """A customer message labelled by the agent who resolved its case (material for trainers).

    ``text`` has the personal data masked (``[iban]``): training data must not carry it.
    ``review`` is ``pending`` until a trainer accepts (perhaps under another intent) or excludes it.
    """

    __tablename__ = "desk_training_examples"
    __table_args__ = (
        CheckConstraint("review IN ('pending', 'accepted', 'excluded')", name="review"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = Column(Integer, nullable=False, index=True)
    intent: Mapped[str] = Column(String(128), nullable=False)
    proposed: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    language: Mapped[str] = Column(String(16), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    labelled_by: Mapped[str] = Column(String(64), nullable=False)
    labelled_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    # A trainer's (or supervisor's) review: only accepted examples are exported by default,
    # under ``reviewed_intent`` when they changed it; excluded ones never.
    review: Mapped[str] = Column(
        String(16), nullable=False, default="pending", server_default="pending", index=True
    )
    reviewed_intent: Mapped[str | None] = Column(String(128), nullable=True)
    reviewed_by: Mapped[str | None] = Column(String(64), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)


class Notice(Base):
    """A message posted on the desk: the morning digest, or a reminder about one case."""

    __tablename__ = "desk_notices"
    __table_args__ = (CheckConstraint("kind IN ('digest', 'reminder')", name="kind"),)

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    kind: Mapped[str] = Column(String(16), nullable=False)
    ticket_id: Mapped[int | None] = Column(Integer, nullable=True, index=True)
    text: Mapped[str] = Column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = Column(JSON, nullable=False, default=dict)


class Note(Base):
    """An internal note on a case: for agents only, never sent to the customer.

    ``ticket_id`` has no foreign key (the queue's tables may be migrated separately).
    """

    __tablename__ = "desk_notes"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = Column(Integer, nullable=False, index=True)
    at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    username: Mapped[str] = Column(String(64), nullable=False)
    body: Mapped[str] = Column(Text, nullable=False)
