"""The desk's side of the queue: claim, release, reassign, answer and resolve tickets.

What ``desk/`` uses (:class:`DeskQueue`, which also reads the queue: :class:`QueueViews`). The
errors and :data:`DEFAULT_CLAIM_TTL` are exported here too, so the desk imports from one place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from handoff.base import (
    DEFAULT_CLAIM_TTL,
    ClaimConflict,
    HandoffError,
    TicketClosed,
    TicketNotFound,
    as_utc,
)
from handoff.models import OPEN_STATUSES, Ticket, TranscriptEntry
from handoff.transcript import Entry
from handoff.views import QueueViews

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "ClaimConflict",
    "DeskQueue",
    "HandoffError",
    "Reassigned",
    "TicketClosed",
    "TicketNotFound",
]


class Reassigned(NamedTuple):
    """What :meth:`DeskQueue.reassign` did: the ticket, and who held it before (or None)."""

    ticket: Ticket
    previous: str | None


class DeskQueue(QueueViews):
    """The desk's side of the handoff queue (see :class:`handoff.base.QueueBase`)."""

    @staticmethod
    def _claimable(agent: str, cutoff: dt.datetime) -> Any:
        """Build the SQL condition: the ticket is free, already the agent's, or its claim lapsed."""
        return or_(
            Ticket.status == "open",
            (Ticket.status == "claimed")
            & or_(
                Ticket.claimed_by == agent,
                Ticket.claimed_at.is_(None),
                Ticket.claimed_at < cutoff,
            ),
        )

    def claim(
        self,
        ticket_id: int,
        agent: str,
        now: dt.datetime | None = None,
        ttl: dt.timedelta = DEFAULT_CLAIM_TTL,
    ) -> bool:
        """Claim a ticket for an agent; of agents claiming at once exactly one wins.

        A claim lapses ``ttl`` after it was taken (or last refreshed by a reply); a lapsed claim
        may be taken by another agent. Claiming one's own ticket again refreshes the claim.

        Args:
            ticket_id: The ticket.
            agent: The agent's name or id.
            now: The time of the claim (aware); now by default.
            ttl: How long a claim holds.

        Returns:
            True if the agent now holds the ticket; False if another agent does, the ticket is
            resolved or it does not exist.
        """
        at = as_utc(now, "now")
        with self._transaction() as session:
            # One conditional UPDATE: the database serialises concurrent ones on the row and
            # re-checks the condition, so only the first claimant matches.
            result = session.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id, self._claimable(agent, at - ttl))
                .values(status="claimed", claimed_by=agent, claimed_at=at, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)

    def release_claim(self, ticket_id: int, agent: str, now: dt.datetime | None = None) -> bool:
        """Give a claimed ticket back to the queue.

        Args:
            ticket_id: The ticket.
            agent: The agent holding it.
            now: The time (aware); now by default.

        Returns:
            True if the agent held it and it is open again.
        """
        at = as_utc(now, "now")
        with self._transaction() as session:
            result = session.execute(
                update(Ticket)
                .where(
                    Ticket.id == ticket_id,
                    Ticket.status == "claimed",
                    Ticket.claimed_by == agent,
                )
                .values(status="open", claimed_by=None, claimed_at=None, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)

    def _take(
        self, session: Session, ticket_id: int, agent: str, at: dt.datetime, ttl: dt.timedelta
    ) -> Ticket:
        """Claim (or refresh the claim on) a ticket inside a transaction, then load it locked."""
        result = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, self._claimable(agent, at - ttl))
            .values(status="claimed", claimed_by=agent, claimed_at=at, updated_at=at)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            return self._lock(session, ticket_id, at)
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        if ticket.status not in OPEN_STATUSES:
            raise TicketClosed(f"ticket {ticket_id} is {ticket.status}")
        raise ClaimConflict(f"ticket {ticket_id} is claimed by {ticket.claimed_by}")

    def reply(
        self,
        ticket_id: int,
        agent: str,
        text: str,
        at: dt.datetime | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        ttl: dt.timedelta = DEFAULT_CLAIM_TTL,
    ) -> TranscriptEntry:
        """Record an agent's answer in the ticket's transcript.

        Replying claims the ticket for the agent (or refreshes their claim). Sending the answer
        to the customer is the caller's job.

        Args:
            ticket_id: The ticket.
            agent: The agent answering.
            text: The answer.
            at: When it was sent (aware); now by default.
            metadata: Extra facts to keep with the line; the agent is always recorded.
            ttl: How long another agent's claim holds against this reply.

        Returns:
            The new transcript entry.

        Raises:
            TicketNotFound: No such ticket.
            TicketClosed: The ticket is resolved.
            ClaimConflict: Another agent holds the ticket.
        """
        when = as_utc(at, "at")
        with self._transaction() as session:
            ticket = self._take(session, ticket_id, agent, when, ttl)
            entry = Entry(
                at=when, author="agent", text=text, metadata={**(metadata or {}), "agent": agent}
            )
            (row,) = self._add_entries(ticket, [entry])
            session.flush()
            return row

    def resolve(
        self,
        ticket_id: int,
        agent: str,
        intent: str | None,
        at: dt.datetime | None = None,
        *,
        ttl: dt.timedelta = DEFAULT_CLAIM_TTL,
    ) -> Ticket:
        """Close a ticket, saying which intent it really was (material for trainers).

        Args:
            ticket_id: The ticket.
            agent: The agent resolving it.
            intent: The intent the conversation really was, if the agent says.
            at: When (aware); now by default.
            ttl: How long another agent's claim holds against this.

        Returns:
            The resolved ticket.

        Raises:
            TicketNotFound: No such ticket.
            TicketClosed: It is already resolved.
            ClaimConflict: Another agent holds the ticket.
        """
        when = as_utc(at, "at")
        with self._transaction() as session:
            ticket = self._take(session, ticket_id, agent, when, ttl)
            ticket.status = "resolved"
            ticket.resolved_at = when
            ticket.resolved_intent = intent
            ticket.updated_at = when
            return ticket

    @staticmethod
    def _free(cutoff: dt.datetime) -> Any:
        """Build the SQL condition: nobody holds the ticket (open, or its claim lapsed)."""
        return or_(
            Ticket.status == "open",
            (Ticket.status == "claimed")
            & or_(Ticket.claimed_at.is_(None), Ticket.claimed_at < cutoff),
        )

    def claim_next(
        self,
        agent: str,
        now: dt.datetime | None = None,
        ttl: dt.timedelta = DEFAULT_CLAIM_TTL,
        *,
        department: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        reason: str | None = None,
        batch: int = 25,
    ) -> int | None:
        """Claim the most urgent ticket nobody holds (the desk's "next case" button).

        The database orders the candidates like :meth:`list_tickets`. On PostgreSQL the first
        free one is locked with ``FOR UPDATE SKIP LOCKED``, so agents asking at once do not wait
        behind each other's row locks but each take the next free case; the claim itself is
        still the conditional ``UPDATE`` of :meth:`claim`, so a ticket never has two winners.

        Args:
            agent: The agent's name or id.
            now: The time of the claim (aware); now by default.
            ttl: How long a claim holds; older claims count as free.
            department: Only this department.
            language: Only this language.
            channel: Only this channel.
            reason: Only tickets with this reason.
            batch: Candidates tried per transaction where there are no row locks (SQLite).

        Returns:
            The id of the claimed ticket, or None when no ticket is free.
        """
        at = as_utc(now, "now")
        free = self._free(at - ttl)
        where, order = self._ordered(OPEN_STATUSES, department, language, channel, reason, at)
        postgres = self.engine.dialect.name == "postgresql"
        while True:
            with self._transaction() as session:
                query = (
                    select(Ticket.id)
                    .where(*where, free)
                    .order_by(*order)
                    .limit(1 if postgres else max(batch, 1))
                )
                if postgres:
                    # The most urgent free case that nobody is claiming at this very moment.
                    query = query.with_for_update(skip_locked=True)
                candidates = list(session.execute(query).scalars())
                if not candidates:
                    return None
                for ticket_id in candidates:
                    result = session.execute(
                        update(Ticket)
                        .where(Ticket.id == ticket_id, free)
                        .values(status="claimed", claimed_by=agent, claimed_at=at, updated_at=at)
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount == 1:
                        return int(ticket_id)
            # Every candidate was taken in the meantime: they are no longer free, look again.

    def reassign(self, ticket_id: int, agent: str, now: dt.datetime | None = None) -> Reassigned:
        """Give a waiting ticket to ``agent``, whoever holds it (a supervisor's decision).

        Args:
            ticket_id: The ticket.
            agent: The agent who takes it over.
            now: The time (aware); now by default; the new claim starts then.

        Returns:
            The ticket, and who held it before: the agent of its claim, lapsed or not, or None
            when it was open (the desk's audit records it as "from").

        Raises:
            TicketNotFound: No such ticket.
            TicketClosed: The ticket is resolved.
        """
        at = as_utc(now, "now")
        with self._transaction() as session:
            # Lock first: the holder read here is the one this transaction replaces.
            ticket = self._lock(session, ticket_id, at)
            if ticket.status not in OPEN_STATUSES:
                raise TicketClosed(f"ticket {ticket_id} is {ticket.status}")
            previous = ticket.claimed_by if ticket.status == "claimed" else None
            ticket.status, ticket.claimed_by, ticket.claimed_at = "claimed", agent, at
            ticket.updated_at = at
            return Reassigned(ticket, previous)
