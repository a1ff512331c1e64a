"""The bot's side of the queue: open a ticket for a conversation, add lines to it, find it.

What ``actions/`` uses when the bot hands a conversation to a person (:class:`BotQueue`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from handoff.base import QueueBase, TicketClosed, TicketNotFound, as_utc
from handoff.models import OPEN_STATUSES, Csat, Ticket
from handoff.transcript import Entry

__all__ = ["BotQueue"]

# Attempts of open_ticket when another writer opened the conversation's ticket at the same time.
_OPEN_ATTEMPTS = 3


def _check_need(need: int) -> int:
    """Return ``need`` if it is 1 (most urgent) .. 4; raise ValueError otherwise."""
    if isinstance(need, bool) or not isinstance(need, int) or not 1 <= need <= 4:
        raise ValueError(f"need must be 1 (most urgent) .. 4, not {need!r}")
    return need


def _check_reasons(reasons: Sequence[str]) -> list[str]:
    """Return the reasons without repeats (the first is primary); raise ValueError if none."""
    if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) for r in reasons):
        raise ValueError(f"reasons must be a non-empty list of strings, not {reasons!r}")
    return list(dict.fromkeys(reasons))  # drop repeats, keep order (the first is primary)


class BotQueue(QueueBase):
    """The bot's side of the handoff queue (see :class:`handoff.base.QueueBase`)."""

    @staticmethod
    def _new_entries(ticket: Ticket, entries: Sequence[Entry]) -> list[Entry]:
        """Keep the entries written after the ticket's last line (a whole tracker may be passed)."""
        if not ticket.transcript:
            return list(entries)
        last_at = max(e.at for e in ticket.transcript)
        seen_at_last = {(e.author, e.text) for e in ticket.transcript if e.at == last_at}
        fresh = []
        for entry in entries:
            at = as_utc(entry.at, "entry.at")
            if at > last_at or (at == last_at and (entry.author, entry.text) not in seen_at_last):
                fresh.append(entry)
        return fresh

    def open_ticket(
        self,
        *,
        channel: str,
        conversation_id: str,
        customer: str,
        public: bool,
        language: str,
        locale: str,
        reasons: Sequence[str],
        need: int,
        department: str,
        topic: str | None = None,
        suggested_answer: str | None = None,
        reply_eta: dt.datetime,
        created_at: dt.datetime | None = None,
        transcript: Sequence[Entry] = (),
    ) -> Ticket:
        """Hand a conversation to the desk, or add to its waiting ticket.

        A conversation has at most one open or claimed ticket. If it has one, the entries newer
        than its last line are appended, new reasons added, its need raised if this one is more
        urgent, its promised time kept unless this one is earlier, and that ticket is returned.

        Args:
            channel: ``"x"``, ``"telegram"``, ``"sms"``, ...
            conversation_id: The conversation (e.g. the Rasa sender id).
            customer: The customer's handle, chat id or number.
            public: Whether the message was public.
            language: ISO 639-1 code of the customer's language.
            locale: Babel locale to write dates to them.
            reasons: Handoff reasons, the primary first.
            need: 1 (most urgent) .. 4, see :func:`handoff.priority.need_for`.
            department: The desk team, see :func:`handoff.departments.department_for`.
            topic: The intent or topic, if known.
            suggested_answer: The bot's suggested reply.
            reply_eta: When the customer was promised an answer (aware).
            created_at: When the handoff happened (aware); now by default.
            transcript: The conversation so far, oldest first.

        Returns:
            The ticket, with its transcript.
        """
        reasons = _check_reasons(reasons)
        need = _check_need(need)
        created = as_utc(created_at, "created_at")
        eta = as_utc(reply_eta, "reply_eta")
        for entry in transcript:
            as_utc(entry.at, "entry.at")
        for attempt in range(1, _OPEN_ATTEMPTS + 1):
            try:
                with self._transaction() as session:
                    existing_id = session.execute(
                        select(Ticket.id).where(
                            Ticket.conversation_id == conversation_id,
                            Ticket.status.in_(OPEN_STATUSES),
                        )
                    ).scalar_one_or_none()
                    if existing_id is not None:
                        ticket = self._lock(session, existing_id, created)
                        if ticket.status in OPEN_STATUSES:
                            self._merge(ticket, reasons, need, topic, suggested_answer, eta)
                            ticket.language, ticket.locale = language, locale
                            self._add_entries(ticket, self._new_entries(ticket, transcript))
                            return ticket
                        # Resolved between our read and the lock: open a new one below.
                    customer_times = [
                        as_utc(e.at, "entry.at") for e in transcript if e.author == "customer"
                    ]
                    ticket = Ticket(
                        channel=channel,
                        conversation_id=conversation_id,
                        customer=customer,
                        public=bool(public),
                        language=language,
                        locale=locale,
                        reasons=reasons,
                        need=need,
                        department=department,
                        topic=topic,
                        suggested_answer=suggested_answer,
                        status="open",
                        created_at=created,
                        updated_at=created,
                        reply_eta=eta,
                        last_customer_message_at=max(customer_times, default=created),
                        transcript=[],
                    )
                    session.add(ticket)
                    self._add_entries(ticket, transcript)
                    session.flush()
                    return ticket
            except IntegrityError:
                # Another writer opened this conversation's ticket first: append to it instead.
                if attempt == _OPEN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _merge(
        ticket: Ticket,
        reasons: list[str],
        need: int,
        topic: str | None,
        suggested_answer: str | None,
        eta: dt.datetime,
    ) -> None:
        """Fold a further handoff of the same conversation into its ticket."""
        ticket.reasons = list(dict.fromkeys([*ticket.reasons, *reasons]))
        ticket.need = min(ticket.need, need)
        # The customer keeps the earliest promise they were given.
        ticket.reply_eta = min(ticket.reply_eta, eta)
        if topic and not ticket.topic:
            ticket.topic = topic
        if suggested_answer:
            ticket.suggested_answer = suggested_answer

    def append(self, ticket_id: int, entries: Sequence[Entry], need: int | None = None) -> Ticket:
        """Append transcript lines to a waiting ticket.

        Args:
            ticket_id: The ticket.
            entries: The new lines, oldest first (all are appended).
            need: A new need; the ticket keeps the more urgent of the two.

        Returns:
            The ticket with its whole transcript.

        Raises:
            TicketNotFound: No such ticket.
            TicketClosed: The ticket is resolved.
        """
        if need is not None:
            _check_need(need)
        for entry in entries:
            as_utc(entry.at, "entry.at")
        with self._transaction() as session:
            ticket = self._lock(session, ticket_id, as_utc(None, "now"))
            if ticket.status not in OPEN_STATUSES:
                raise TicketClosed(f"ticket {ticket_id} is {ticket.status}")
            if need is not None:
                ticket.need = min(ticket.need, need)
            self._add_entries(ticket, entries)
            return ticket

    def record_csat(
        self,
        ticket_id: int,
        score: int,
        *,
        agent: str | None,
        channel: str,
        language: str,
        at: dt.datetime,
    ) -> Csat:
        """Records the customer's satisfaction score for a resolved case.

        One score a case: answering again (or the action retried after a lost reply) replaces it.

        Args:
            ticket_id: The case the question was about.
            score: 1 (bad) .. 5 (great).
            agent: Who resolved the case (the desk said so when asking).
            channel: Where the customer answered.
            language: The customer's language.
            at: When the customer answered.

        Raises:
            ValueError: The score is not 1..5.
            TicketNotFound: No such ticket.
        """
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError(f"score must be 1..5, not {score!r}")
        when = as_utc(at, "at")
        with self._transaction() as session:
            if session.get(Ticket, ticket_id) is None:
                raise TicketNotFound(ticket_id)
            row = session.scalars(select(Csat).where(Csat.ticket_id == ticket_id)).first()
            if row is None:
                row = Csat(ticket_id=ticket_id)
                session.add(row)
            row.score, row.agent, row.channel = score, agent, channel
            row.language, row.answered_at = language, when
            session.flush()
            session.expunge(row)
            return row
