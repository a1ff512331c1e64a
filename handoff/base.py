"""What both sides of the queue share: the engine, short transactions, a ticket's lock and lines.

Every method of the queue runs in its own short transaction and returns detached objects
(transcript loaded) that stay usable after the session closed. Writes that race are settled by the
database: a conditional ``UPDATE`` for claims, a partial unique index for "one waiting ticket per
conversation", and a row lock (the first ``UPDATE`` of a transaction) before transcript positions
are numbered. The bot's side is :mod:`handoff.bot_side`, the desk's :mod:`handoff.desk_side`.
This package knows nothing of Rasa or channels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from handoff.clock import as_utc  # re-exported: the queue's modules take it from here
from handoff.db import make_engine, session_factory
from handoff.db import migrate as migrate_schema
from handoff.models import Ticket, TranscriptEntry
from handoff.transcript import Entry

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "ClaimConflict",
    "HandoffError",
    "QueueBase",
    "TicketClosed",
    "TicketNotFound",
    "as_utc",
]

#: How long a claim holds without activity before another agent may take the ticket.
DEFAULT_CLAIM_TTL = dt.timedelta(minutes=30)

Q = TypeVar("Q", bound="QueueBase")


class HandoffError(Exception):
    """Base class of the queue's errors."""


class TicketNotFound(HandoffError, LookupError):
    """No ticket has that id."""


class TicketClosed(HandoffError):
    """The ticket is resolved: nothing more can be added to it."""


class ClaimConflict(HandoffError):
    """Another agent holds a live claim on the ticket."""


class QueueBase:
    """The handoff queue on one database: what the bot's side and the desk's side share.

    Args:
        engine: The queue's engine (see :func:`handoff.db.make_engine`); its schema must be
            migrated (:func:`handoff.db.migrate` or :meth:`from_url`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @classmethod
    def from_url(cls: type[Q], url: str, migrate: bool = True) -> Q:
        """Create a queue on the database at ``url``.

        Args:
            url: A SQLAlchemy URL.
            migrate: Bring the schema up to date first.

        Returns:
            The queue.
        """
        engine = make_engine(url)
        if migrate:
            migrate_schema(engine)
        return cls(engine)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @staticmethod
    def _lock(session: Session, ticket_id: int, now: dt.datetime) -> Ticket:
        """Lock a ticket for this transaction and load it, transcript included.

        An ``UPDATE`` as the first statement takes PostgreSQL's row lock and SQLite's write lock
        before anything is read, so transcript positions cannot be numbered twice.
        """
        result = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise TicketNotFound(f"no ticket {ticket_id}")
        ticket = session.execute(
            select(Ticket)
            .where(Ticket.id == ticket_id)
            .options(selectinload(Ticket.transcript))
            .execution_options(populate_existing=True)
        ).scalar_one()
        return ticket

    @staticmethod
    def _add_entries(ticket: Ticket, entries: Sequence[Entry]) -> list[TranscriptEntry]:
        position = max((e.position for e in ticket.transcript), default=-1)
        added = []
        for entry in entries:
            position += 1
            row = TranscriptEntry(
                position=position,
                at=as_utc(entry.at, "entry.at"),
                author=entry.author,
                text=entry.text,
                personal_data=[dict(span) for span in entry.personal_data],
                meta=dict(entry.metadata),
            )
            ticket.transcript.append(row)
            added.append(row)
            if entry.author == "customer":
                ticket.last_customer_message_at = max(ticket.last_customer_message_at, row.at)
        return added

    def get(self, ticket_id: int) -> Ticket | None:
        """Return a ticket with its transcript, or None."""
        with self._transaction() as session:
            return session.execute(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.transcript))
            ).scalar_one_or_none()

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
