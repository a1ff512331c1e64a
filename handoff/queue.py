"""The human queue: tickets opened by the bot, claimed, answered and resolved by agents.

Every method runs in its own short transaction and returns detached objects (transcript loaded)
that stay usable after the session closed. Writes that race are settled by the database:
a conditional ``UPDATE`` for claims, a partial unique index for "one waiting ticket per
conversation", and a row lock (the first ``UPDATE`` of a transaction) before transcript positions
are numbered. This module knows nothing of Rasa or channels.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import String, case, cast, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, noload, selectinload

from handoff import priority
from handoff.db import make_engine, session_factory
from handoff.db import migrate as migrate_schema
from handoff.models import OPEN_STATUSES, STATUSES, Ticket, TranscriptEntry
from handoff.transcript import Entry

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "ClaimConflict",
    "HandoffError",
    "HandoffQueue",
    "TicketClosed",
    "TicketNotFound",
]

#: How long a claim holds without activity before another agent may take the ticket.
DEFAULT_CLAIM_TTL = dt.timedelta(minutes=30)
# Attempts of open_ticket when another writer opened the conversation's ticket at the same time.
_OPEN_ATTEMPTS = 3


class HandoffError(Exception):
    """Base class of the queue's errors."""


class TicketNotFound(HandoffError, LookupError):
    """No ticket has that id."""


class TicketClosed(HandoffError):
    """The ticket is resolved: nothing more can be added to it."""


class ClaimConflict(HandoffError):
    """Another agent holds a live claim on the ticket."""


def _utc(value: dt.datetime | None, name: str) -> dt.datetime:
    """Return ``value`` (or now) as aware UTC; naive datetimes are refused."""
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value.isoformat()}")
    return value.astimezone(dt.timezone.utc)


def _check_need(need: int) -> int:
    if isinstance(need, bool) or not isinstance(need, int) or not 1 <= need <= 4:
        raise ValueError(f"need must be 1 (most urgent) .. 4, not {need!r}")
    return need


def _check_reasons(reasons: Sequence[str]) -> list[str]:
    if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) for r in reasons):
        raise ValueError(f"reasons must be a non-empty list of strings, not {reasons!r}")
    return list(dict.fromkeys(reasons))  # drop repeats, keep order (the first is primary)


class HandoffQueue:
    """The handoff queue on one database.

    Args:
        engine: The queue's engine (see :func:`handoff.db.make_engine`); its schema must be
            migrated (:func:`handoff.db.migrate` or :meth:`from_url`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @classmethod
    def from_url(cls, url: str, migrate: bool = True) -> HandoffQueue:
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
                at=_utc(entry.at, "entry.at"),
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

    @staticmethod
    def _new_entries(ticket: Ticket, entries: Sequence[Entry]) -> list[Entry]:
        """Keep the entries written after the ticket's last line (a whole tracker may be passed)."""
        if not ticket.transcript:
            return list(entries)
        last_at = max(e.at for e in ticket.transcript)
        seen_at_last = {(e.author, e.text) for e in ticket.transcript if e.at == last_at}
        fresh = []
        for entry in entries:
            at = _utc(entry.at, "entry.at")
            if at > last_at or (at == last_at and (entry.author, entry.text) not in seen_at_last):
                fresh.append(entry)
        return fresh

    # -- the bot's side -----------------------------------------------------------------------

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
        created = _utc(created_at, "created_at")
        eta = _utc(reply_eta, "reply_eta")
        for entry in transcript:
            _utc(entry.at, "entry.at")
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
                        _utc(e.at, "entry.at") for e in transcript if e.author == "customer"
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

    def open_ticket_for(self, conversation_id: str) -> Ticket | None:
        """Return the conversation's open or claimed ticket, or None.

        Args:
            conversation_id: The conversation.

        Returns:
            The waiting ticket with its transcript, or None.
        """
        with self._transaction() as session:
            return session.execute(
                select(Ticket)
                .where(
                    Ticket.conversation_id == conversation_id,
                    Ticket.status.in_(OPEN_STATUSES),
                )
                .options(selectinload(Ticket.transcript))
            ).scalar_one_or_none()

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
            _utc(entry.at, "entry.at")
        with self._transaction() as session:
            ticket = self._lock(session, ticket_id, _utc(None, "now"))
            if ticket.status not in OPEN_STATUSES:
                raise TicketClosed(f"ticket {ticket_id} is {ticket.status}")
            if need is not None:
                ticket.need = min(ticket.need, need)
            self._add_entries(ticket, entries)
            return ticket

    # -- the desk's side ----------------------------------------------------------------------

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
        at = _utc(now, "now")
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
        at = _utc(now, "now")
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
        when = _utc(at, "at")
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
        when = _utc(at, "at")
        with self._transaction() as session:
            ticket = self._take(session, ticket_id, agent, when, ttl)
            ticket.status = "resolved"
            ticket.resolved_at = when
            ticket.resolved_intent = intent
            ticket.updated_at = when
            return ticket

    # -- added for the agent desk (desk/) ------------------------------------------------------

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
        at = _utc(now, "now")
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

    def reassign(self, ticket_id: int, agent: str, now: dt.datetime | None = None) -> Ticket:
        """Give a waiting ticket to ``agent``, whoever holds it (a supervisor's decision).

        Args:
            ticket_id: The ticket.
            agent: The agent who takes it over.
            now: The time (aware); now by default; the new claim starts then.

        Returns:
            The ticket.

        Raises:
            TicketNotFound: No such ticket.
            TicketClosed: The ticket is resolved.
        """
        at = _utc(now, "now")
        with self._transaction() as session:
            result = session.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id, Ticket.status.in_(OPEN_STATUSES))
                .values(status="claimed", claimed_by=agent, claimed_at=at, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            ticket = session.execute(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.transcript))
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if ticket is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            if result.rowcount != 1:
                raise TicketClosed(f"ticket {ticket_id} is {ticket.status}")
            return ticket

    def history(
        self,
        conversation_id: str,
        *,
        channel: str | None = None,
        customer: str | None = None,
        exclude: int | None = None,
        limit: int = 20,
    ) -> list[Ticket]:
        """The customer's tickets, newest first: same conversation, or same channel and customer.

        Args:
            conversation_id: The conversation.
            channel: With ``customer``: also tickets of this customer on this channel.
            customer: The customer's handle, chat id or number.
            exclude: A ticket to leave out (the one being looked at).
            limit: At most this many.

        Returns:
            The tickets with their transcripts.
        """
        same = Ticket.conversation_id == conversation_id
        if channel is not None and customer is not None:
            same = or_(same, (Ticket.channel == channel) & (Ticket.customer == customer))
        query = (
            select(Ticket)
            .where(same)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(max(limit, 0))
            .options(selectinload(Ticket.transcript))
        )
        if exclude is not None:
            query = query.where(Ticket.id != exclude)
        with self._transaction() as session:
            return list(session.execute(query).scalars())

    def _ordered(
        self,
        statuses: tuple[str, ...],
        department: str | None,
        language: str | None,
        channel: str | None,
        reason: str | None,
        when: dt.datetime,
    ) -> tuple[Any, Any]:
        """Build the SQL of the desk's order (:func:`priority.sort_key`, then id) and its filter.

        Effective priority ages one level per 12 hours waited, never above 1; ``need`` is at most
        4, so three thresholds on ``created_at`` say exactly how many levels a ticket aged.
        """
        aging_hours = 12.0  # priority.effective_priority's default, which list_tickets uses
        step = dt.timedelta(hours=aging_hours)
        aged = case(
            (Ticket.created_at <= when - 3 * step, 3),
            (Ticket.created_at <= when - 2 * step, 2),
            (Ticket.created_at <= when - step, 1),
            else_=0,
        )
        effective = case((Ticket.need - aged < 1, 1), else_=Ticket.need - aged)
        where = [Ticket.status.in_(statuses)]
        if department is not None:
            where.append(Ticket.department == department)
        if language is not None:
            where.append(Ticket.language == language)
        if channel is not None:
            where.append(Ticket.channel == channel)
        if reason is not None:
            # The JSON list as text holds '"<reason>"' (reasons are plain names like "private").
            where.append(cast(Ticket.reasons, String).contains(f'"{reason}"', autoescape=True))
        order = (effective, Ticket.reply_eta, Ticket.created_at, Ticket.id)
        return where, order

    def list_page(
        self,
        status: Sequence[str] | str = OPEN_STATUSES,
        department: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        reason: str | None = None,
        now: dt.datetime | None = None,
        limit: int = 100,
    ) -> tuple[list[Ticket], int]:
        """One page of :meth:`list_tickets` (same order), and how many tickets match.

        The database orders and counts, so a queue of many thousands stays fast: only the page's
        tickets and transcripts are loaded (the desk's queue page).

        Args:
            status: Statuses to include.
            department: Only this department.
            language: Only this language.
            channel: Only this channel.
            reason: Only tickets with this reason (primary or not).
            now: The time waiting is judged at (aware); now by default.
            limit: The page's size.

        Returns:
            The first ``limit`` tickets in :meth:`list_tickets` order (transcripts loaded), and
            the number of matching tickets.
        """
        statuses = (status,) if isinstance(status, str) else tuple(status)
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; use {STATUSES}")
        when = _utc(now, "now")
        where, order = self._ordered(statuses, department, language, channel, reason, when)
        with self._transaction() as session:
            total = session.execute(select(func.count(Ticket.id)).where(*where)).scalar_one()
            tickets = list(
                session.execute(
                    select(Ticket)
                    .where(*where)
                    .order_by(*order)
                    .limit(max(limit, 0))
                    .options(selectinload(Ticket.transcript))
                ).scalars()
            )
            return tickets, int(total)

    def summary(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """:meth:`counts`, computed with aggregates in the database (fast on a long queue).

        Args:
            now: The time overdue is judged at (aware); now by default.

        Returns:
            The same dictionary as :meth:`counts`.
        """
        when = _utc(now, "now")
        waiting = Ticket.status.in_(OPEN_STATUSES)
        answered = exists().where(
            TranscriptEntry.ticket_id == Ticket.id, TranscriptEntry.author == "agent"
        )
        by_status: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        by_department: Counter[str] = Counter()
        with self._transaction() as session:
            for status, n in session.execute(
                select(Ticket.status, func.count()).where(waiting).group_by(Ticket.status)
            ):
                by_status[status] += n
            for department, n in session.execute(
                select(Ticket.department, func.count()).where(waiting).group_by(Ticket.department)
            ):
                by_department[department] += n
            # Few distinct reason lists: group by the list, take each one's primary reason here.
            as_text = cast(Ticket.reasons, String)
            for text_, n in session.execute(
                select(as_text, func.count()).where(waiting).group_by(as_text)
            ):
                reasons = json.loads(text_) if text_ else []
                by_reason[reasons[0] if reasons else "unknown"] += n
            overdue = session.execute(
                select(func.count(Ticket.id)).where(waiting, Ticket.reply_eta < when, ~answered)
            ).scalar_one()
        return {
            "open": by_status["open"],
            "claimed": by_status["claimed"],
            "waiting": sum(by_status.values()),
            "overdue": int(overdue),
            "by_reason": dict(by_reason),
            "by_department": dict(by_department),
        }

    def overdue(self, now: dt.datetime | None = None) -> list[Ticket]:
        """Waiting tickets past their promised time that no agent has answered, oldest first.

        Args:
            now: The time overdue is judged at (aware); now by default.

        Returns:
            The tickets (transcripts not loaded: read only their columns).
        """
        when = _utc(now, "now")
        answered = exists().where(
            TranscriptEntry.ticket_id == Ticket.id, TranscriptEntry.author == "agent"
        )
        query = (
            select(Ticket)
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.reply_eta < when, ~answered)
            .order_by(Ticket.reply_eta, Ticket.id)
            .options(noload(Ticket.transcript))
        )
        with self._transaction() as session:
            return list(session.execute(query).scalars())

    # -- end of the desk's additions -----------------------------------------------------------

    def get(self, ticket_id: int) -> Ticket | None:
        """Return a ticket with its transcript, or None."""
        with self._transaction() as session:
            return session.execute(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.transcript))
            ).scalar_one_or_none()

    def list_tickets(
        self,
        status: Sequence[str] | str = OPEN_STATUSES,
        department: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        reason: str | None = None,
        now: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[Ticket]:
        """List tickets in the order the desk should take them (:func:`priority.sort_key`).

        Args:
            status: Statuses to include.
            department: Only this department.
            language: Only this language.
            channel: Only this channel.
            reason: Only tickets with this reason (primary or not).
            now: The time waiting is judged at (aware); now by default.
            limit: At most this many.

        Returns:
            The tickets with their transcripts.
        """
        statuses = (status,) if isinstance(status, str) else tuple(status)
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; use {STATUSES}")
        when = _utc(now, "now")
        query = select(Ticket).where(Ticket.status.in_(statuses)).order_by(Ticket.id)
        if department is not None:
            query = query.where(Ticket.department == department)
        if language is not None:
            query = query.where(Ticket.language == language)
        if channel is not None:
            query = query.where(Ticket.channel == channel)
        with self._transaction() as session:
            tickets = list(session.execute(query).scalars())
            if reason is not None:
                # JSON containment is not portable; the queue is small enough to filter here.
                tickets = [t for t in tickets if reason in t.reasons]
            tickets.sort(key=lambda t: priority.sort_key(t, when))
            if limit is not None:
                tickets = tickets[: max(limit, 0)]
            if tickets:
                # Load transcripts only for the tickets returned.
                session.execute(
                    select(Ticket)
                    .where(Ticket.id.in_([t.id for t in tickets]))
                    .options(selectinload(Ticket.transcript))
                    .execution_options(populate_existing=True)
                ).scalars().all()
            return tickets

    def counts(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Summarise the waiting queue.

        Args:
            now: The time overdue is judged at (aware); now by default.

        Returns:
            ``{"open": n, "claimed": n, "waiting": open + claimed, "overdue": n,
            "by_reason": {primary reason: n}, "by_department": {department: n}}``; a ticket is
            overdue when its promised time has passed and no agent has answered it.
        """
        when = _utc(now, "now")
        answered = (
            exists()
            .where(TranscriptEntry.ticket_id == Ticket.id, TranscriptEntry.author == "agent")
            .correlate(Ticket)
            .label("answered")
        )
        query = select(
            Ticket.status, Ticket.reasons, Ticket.department, Ticket.reply_eta, answered
        ).where(Ticket.status.in_(OPEN_STATUSES))
        by_status: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        by_department: Counter[str] = Counter()
        overdue = 0
        with self._transaction() as session:
            for status, reasons, department, reply_eta, has_answer in session.execute(query):
                by_status[status] += 1
                by_reason[reasons[0] if reasons else "unknown"] += 1
                by_department[department] += 1
                if reply_eta < when and not has_answer:
                    overdue += 1
        return {
            "open": by_status["open"],
            "claimed": by_status["claimed"],
            "waiting": sum(by_status.values()),
            "overdue": overdue,
            "by_reason": dict(by_reason),
            "by_department": dict(by_department),
        }

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
