"""The queue's tables: tickets, their transcripts, and the customers' satisfaction scores.

Portable types only, so the same schema runs on SQLite and PostgreSQL. Every datetime is stored
in UTC and comes back as an aware UTC datetime on every database (:class:`UTCDateTime`).
The schema itself is created by the Alembic migrations in ``handoff/migrations``; keep both in step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, declarative_base, relationship
from sqlalchemy.types import TypeDecorator

from handoff.transcript import mask

__all__ = [
    "Base",
    "Csat",
    "Incident",
    "IncidentLink",
    "IncidentNotice",
    "IncidentPost",
    "IncidentReport",
    "STATUSES",
    "OPEN_STATUSES",
    "Ticket",
    "TranscriptEntry",
    "UTCDateTime",
]

#: Ticket statuses.
STATUSES: tuple[str, ...] = ("open", "claimed", "resolved")
#: Statuses of a ticket that still waits for the desk (one per conversation at most).
OPEN_STATUSES: tuple[str, ...] = ("open", "claimed")

# Named constraints keep migrations reproducible across databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base: Any = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC; naive datetimes are refused.

    PostgreSQL gets ``timestamp with time zone``; SQLite, which has no time zones, gets the naive
    UTC wall time, which also sorts correctly as text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Convert an aware datetime to UTC for storage."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_OPEN_WHERE = text(_in_list("status", OPEN_STATUSES))


class Ticket(Base):
    """A conversation handed to the desk.

    ``reasons`` is a list of handoff reasons, the primary first. ``need`` is 1 (most urgent) .. 4.
    ``reply_eta`` is the time the customer was promised an answer.
    """

    __tablename__ = "handoff_tickets"
    __table_args__ = (
        CheckConstraint(_in_list("status", STATUSES), name="status"),
        CheckConstraint("need BETWEEN 1 AND 4", name="need"),
        # One waiting ticket per conversation, enforced by the database so that two servers
        # handing off the same conversation at once cannot both open one.
        Index(
            "uq_handoff_tickets_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=_OPEN_WHERE,
            postgresql_where=_OPEN_WHERE,
        ),
        # The supervisors' reports select tickets by when they were opened.
        Index("ix_handoff_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = Column(String(32), nullable=False)
    conversation_id: Mapped[str] = Column(String(255), nullable=False, index=True)
    customer: Mapped[str] = Column(String(255), nullable=False)
    public: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    language: Mapped[str] = Column(String(16), nullable=False)
    locale: Mapped[str] = Column(String(32), nullable=False)
    reasons: Mapped[list[str]] = Column(JSON, nullable=False)
    need: Mapped[int] = Column(Integer, nullable=False)
    department: Mapped[str] = Column(String(64), nullable=False)
    topic: Mapped[str | None] = Column(String(128), nullable=True)
    suggested_answer: Mapped[str | None] = Column(Text, nullable=True)
    status: Mapped[str] = Column(String(16), nullable=False, default="open", index=True)
    created_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    reply_eta: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    claimed_by: Mapped[str | None] = Column(String(128), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    resolved_intent: Mapped[str | None] = Column(String(128), nullable=True)
    last_customer_message_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    # The first agent line of the transcript: its time and ``metadata.agent``, for the reports.
    # Written by the database's triggers (migration 0004) whenever an agent line is written,
    # changed or deleted, never by the application: read them, do not set them.
    first_reply_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    first_replier: Mapped[str | None] = Column(String(128), nullable=True)

    transcript: Mapped[list[TranscriptEntry]] = relationship(
        "TranscriptEntry",
        back_populates="ticket",
        order_by="TranscriptEntry.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def primary_reason(self) -> str | None:
        """The first (main) handoff reason."""
        return self.reasons[0] if self.reasons else None

    def __repr__(self) -> str:
        return (
            f"<Ticket {self.id} {self.status} {self.channel}:{self.conversation_id} "
            f"need={self.need} reasons={self.reasons}>"
        )


class TranscriptEntry(Base):
    """One line of a ticket's transcript.

    The ``metadata`` column is mapped as ``meta`` (``metadata`` is reserved by SQLAlchemy).
    ``text`` is stored as written; show :attr:`masked_text` by default.
    """

    __tablename__ = "handoff_transcript_entries"
    __table_args__ = (
        UniqueConstraint("ticket_id", "position", name="uq_handoff_transcript_entries_position"),
        CheckConstraint("author IN ('customer', 'bot', 'agent')", name="author"),
        # The reports' first agent reply of each ticket, read from the index alone.
        Index("ix_handoff_transcript_entries_first_reply", "ticket_id", "author", "at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = Column(
        Integer, ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = Column(Integer, nullable=False)
    at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    author: Mapped[str] = Column(String(16), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    personal_data: Mapped[list[dict[str, Any]]] = Column(JSON, nullable=False, default=list)
    meta: Mapped[dict[str, Any]] = Column("metadata", JSON, nullable=False, default=dict)

    ticket: Mapped[Ticket] = relationship("Ticket", back_populates="transcript")

    @property
    def masked_text(self) -> str:
        """The text with its personal data replaced by labels such as ``[iban]``."""
        return mask(self.text, self.personal_data or ())

    def __repr__(self) -> str:
        return f"<TranscriptEntry {self.ticket_id}#{self.position} {self.author} {self.at}>"


class Csat(Base):
    """A customer's satisfaction score (1..5) for a case an agent handled.

    Written when the customer answers the survey sent after a case is resolved; read by the
    supervisors' reports (:mod:`handoff.reports`).
    """

    __tablename__ = "handoff_csat"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        Index("ix_handoff_csat_answered_at", "answered_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    # One score a case (record_csat replaces it; the index makes a race fail, not double count).
    ticket_id: Mapped[int] = Column(
        Integer,
        ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        unique=True,
    )
    agent: Mapped[str | None] = Column(String(128), nullable=True)
    score: Mapped[int] = Column(Integer, nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    language: Mapped[str] = Column(String(16), nullable=False)
    answered_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)

    def __repr__(self) -> str:
        return f"<Csat {self.ticket_id} {self.agent} {self.score}>"


# -- Incidents: many reports of one failure, one parent case (handoff/incidents.py) ----------------

#: Incident statuses.
INCIDENT_STATUSES: tuple[str, ...] = ("open", "resolved")
#: States of one notice to one customer: claimed before it is sent, so it goes out once.
NOTICE_STATES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "skipped")


class Incident(Base):
    """One failure many customers reported (an outage in a town at night).

    ``kind`` is the failing service (``internet``, ``tv``, ``mobile``, ``outage`` for a general
    one); ``area`` the town when the reports named one. ``ticket_id`` is the parent case.
    """

    __tablename__ = "handoff_incidents"
    __table_args__ = (
        CheckConstraint(_in_list("status", INCIDENT_STATUSES), name="status"),
        Index("ix_handoff_incidents_opened_at", "opened_at"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = Column(String(32), nullable=False)
    area: Mapped[str | None] = Column(String(64), nullable=True)
    status: Mapped[str] = Column(String(16), nullable=False, default="open", index=True)
    opened_by: Mapped[str] = Column(String(128), nullable=False)
    opened_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    resolved_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    last_update: Mapped[str | None] = Column(Text, nullable=True)
    last_update_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    next_update_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    first_report_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    last_report_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    ticket_id: Mapped[int | None] = Column(
        Integer, ForeignKey("handoff_tickets.id", ondelete="SET NULL"), nullable=True
    )

    @property
    def ref(self) -> str:
        """The id customers' lines and replay report (``INC-7``)."""
        return f"INC-{self.id}"


class IncidentReport(Base):
    """A customer's report of a failure, kept for detection (and as the parent case's sample).

    ``text`` is stored masked (personal data replaced by labels).
    """

    __tablename__ = "handoff_incident_reports"
    __table_args__ = (Index("ix_handoff_incident_reports_at", "at"),)

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = Column(String(255), nullable=False, index=True)
    customer: Mapped[str] = Column(String(255), nullable=False)
    kind: Mapped[str] = Column(String(32), nullable=False)
    area: Mapped[str | None] = Column(String(64), nullable=True)
    channel: Mapped[str] = Column(String(32), nullable=False)
    public: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    language: Mapped[str] = Column(String(16), nullable=False)
    text: Mapped[str] = Column(Text, nullable=False)
    at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    incident_id: Mapped[int | None] = Column(
        Integer, ForeignKey("handoff_incidents.id", ondelete="CASCADE"), nullable=True
    )


class IncidentLink(Base):
    """A customer's conversation linked to an incident (once); ``ticket_id`` if handed off too."""

    __tablename__ = "handoff_incident_links"
    __table_args__ = (
        UniqueConstraint(
            "incident_id", "conversation_id", name="uq_handoff_incident_links_conversation"
        ),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = Column(
        Integer, ForeignKey("handoff_incidents.id", ondelete="CASCADE"), nullable=False
    )
    conversation_id: Mapped[str] = Column(String(255), nullable=False)
    customer: Mapped[str] = Column(String(255), nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    public: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    language: Mapped[str] = Column(String(16), nullable=False)
    message_id: Mapped[str | None] = Column(String(255), nullable=True)
    linked_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)
    ticket_id: Mapped[int | None] = Column(
        Integer, ForeignKey("handoff_tickets.id", ondelete="SET NULL"), nullable=True
    )


class IncidentPost(Base):
    """An update or the resolution an agent posted; ``texts`` maps a language (or ``*``) to it."""

    __tablename__ = "handoff_incident_posts"
    __table_args__ = (
        UniqueConstraint("incident_id", "sequence", name="uq_handoff_incident_posts_sequence"),
        CheckConstraint("kind IN ('update', 'resolved')", name="kind"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = Column(
        Integer, ForeignKey("handoff_incidents.id", ondelete="CASCADE"), nullable=False
    )
    sequence: Mapped[int] = Column(Integer, nullable=False)
    kind: Mapped[str] = Column(String(16), nullable=False)
    texts: Mapped[dict[str, str]] = Column(JSON, nullable=False, default=dict)
    posted_by: Mapped[str] = Column(String(128), nullable=False)
    posted_at: Mapped[dt.datetime] = Column(UTCDateTime, nullable=False)


class IncidentNotice(Base):
    """One post to one linked customer: claimed (``sending``) before it goes out, then marked."""

    __tablename__ = "handoff_incident_notices"
    __table_args__ = (
        UniqueConstraint(
            "incident_id", "conversation_id", "sequence", name="uq_handoff_incident_notices_once"
        ),
        CheckConstraint(_in_list("state", NOTICE_STATES), name="state"),
        Index("ix_handoff_incident_notices_state", "state", "channel"),
    )

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = Column(
        Integer, ForeignKey("handoff_incidents.id", ondelete="CASCADE"), nullable=False
    )
    conversation_id: Mapped[str] = Column(String(255), nullable=False)
    channel: Mapped[str] = Column(String(32), nullable=False)
    sequence: Mapped[int] = Column(Integer, nullable=False)
    kind: Mapped[str] = Column(String(16), nullable=False)
    state: Mapped[str] = Column(String(16), nullable=False, default="pending")
    delivery_id: Mapped[str | None] = Column(String(64), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = Column(UTCDateTime, nullable=True)
    reason: Mapped[str | None] = Column(String(64), nullable=True)
