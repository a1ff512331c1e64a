"""Reading the queue: its order, a page of it, counts, overdue tickets, a customer's history.

The desk's queue page, the morning digest, the CLI and the demo read the queue through these;
nothing here writes (:class:`QueueViews`, the base of :class:`handoff.desk_side.DeskQueue`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import String, case, cast, func, or_, select
from sqlalchemy.orm import noload, selectinload

from handoff import priority
from handoff.base import QueueBase, as_utc
from handoff.models import OPEN_STATUSES, STATUSES, Ticket, TranscriptEntry
from handoff.state import overdue_clause
from handoff.transcript import mask

__all__ = ["MAX_SEARCH", "QueueViews", "SearchPage"]

#: The longest search the desk runs (longer ones are cut): LIKE scans stay cheap.
MAX_SEARCH = 100
# The most matching transcript lines a search looks at (newest cases first).
_SEARCH_CANDIDATES = 2000


class SearchPage(NamedTuple):
    """One page of :meth:`QueueViews.search`: the tickets, how many matched, and whether more."""

    tickets: list[Ticket]
    total: int
    more: bool


def _like(term: str) -> str:
    """A LIKE pattern that finds ``term`` anywhere, its wildcards and escapes taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class QueueViews(QueueBase):
    """The queue's reads, in the desk's order (:func:`handoff.priority.sort_key`)."""

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
        claimed_by: str | None = None,
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
        if claimed_by is not None:
            where.append(Ticket.claimed_by == claimed_by)
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
        claimed_by: str | None = None,
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
            claimed_by: Only tickets this agent holds or held (the desk's "my cases").

        Returns:
            The first ``limit`` tickets in :meth:`list_tickets` order (transcripts loaded), and
            the number of matching tickets.
        """
        statuses = (status,) if isinstance(status, str) else tuple(status)
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; use {STATUSES}")
        when = as_utc(now, "now")
        where, order = self._ordered(
            statuses, department, language, channel, reason, when, claimed_by
        )
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
        when = as_utc(now, "now")
        waiting = Ticket.status.in_(OPEN_STATUSES)
        by_status: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        by_department: Counter[str] = Counter()
        # One pass: a group per status, department and reason list (a few dozen), each with its
        # overdue tickets counted by the rule of handoff.state (the primary reason is taken here).
        as_text = cast(Ticket.reasons, String)
        overdue = 0
        with self._transaction() as session:
            groups = session.execute(
                select(
                    Ticket.status,
                    Ticket.department,
                    as_text,
                    func.count(),
                    func.sum(case((overdue_clause(when), 1), else_=0)),
                )
                .where(waiting)
                .group_by(Ticket.status, Ticket.department, as_text)
            ).all()
        for status, department, text_, n, late in groups:
            by_status[status] += n
            by_department[department] += n
            reasons = json.loads(text_) if text_ else []
            by_reason[reasons[0] if reasons else "unknown"] += n
            overdue += int(late or 0)
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
        when = as_utc(now, "now")
        query = (
            select(Ticket)
            .where(overdue_clause(when))
            .order_by(Ticket.reply_eta, Ticket.id)
            .options(noload(Ticket.transcript))
        )
        with self._transaction() as session:
            return list(session.execute(query).scalars())

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
        when = as_utc(now, "now")
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
        """Summarise the waiting queue (the same answer as :meth:`summary`).

        Args:
            now: The time overdue is judged at (aware); now by default.

        Returns:
            ``{"open": n, "claimed": n, "waiting": open + claimed, "overdue": n,
            "by_reason": {primary reason: n}, "by_department": {department: n}}``; overdue as
            :func:`handoff.state.is_overdue` says.
        """
        return self.summary(now)

    def search(self, query: str, *, page: int = 1, per_page: int = 50) -> SearchPage:
        """Find cases, waiting or resolved, newest first: by number, customer or text.

        ``#123`` or ``123`` finds case 123; the same words also find customers (a handle or chat
        id containing them; an SMS number only by its shown end, e.g. ``678``) and transcript
        lines containing them. Personal data is matched only as the desk shows it, masked: a
        search for an IBAN finds ``[iban]``, not whose IBAN it is.

        Args:
            query: What the agent typed; cut to :data:`MAX_SEARCH` characters.
            page: The page, from 1.
            per_page: Cases per page.

        Returns:
            The page's tickets (transcripts loaded), the number of matches, whether more follow.
        """
        term = " ".join(query.split())[:MAX_SEARCH]
        if not term:
            return SearchPage([], 0, False)
        number = term.lstrip("#")
        ids: set[int] = set()
        lowered = term.lower()
        with self._transaction() as session:
            if number.isdigit() and len(number) < 12:
                ids.update(
                    session.execute(select(Ticket.id).where(Ticket.id == int(number))).scalars()
                )
            digits = term.replace("+", "").replace(" ", "").lstrip("…")
            by_customer = (Ticket.channel != "sms") & Ticket.customer.ilike(
                _like(term), escape="\\"
            )
            if digits.isdigit() and len(digits) >= 3:
                # Only the end of a number is shown (customer_label): match that much.
                by_customer = by_customer | (
                    (Ticket.channel == "sms") & Ticket.customer.like(f"%{digits[-3:]}")
                )
            ids.update(session.execute(select(Ticket.id).where(by_customer)).scalars())
            lines = session.execute(
                select(
                    TranscriptEntry.ticket_id, TranscriptEntry.text, TranscriptEntry.personal_data
                )
                .where(TranscriptEntry.text.ilike(_like(term), escape="\\"))
                .order_by(TranscriptEntry.ticket_id.desc())
                .limit(_SEARCH_CANDIDATES)
            )
            for ticket_id, text_, spans in lines:
                if ticket_id not in ids and lowered in mask(text_, spans or ()).lower():
                    ids.add(ticket_id)
            ordered = sorted(ids, reverse=True)
            first = (max(page, 1) - 1) * per_page
            chosen = ordered[first : first + per_page]
            tickets = (
                list(
                    session.execute(
                        select(Ticket)
                        .where(Ticket.id.in_(chosen))
                        .order_by(Ticket.id.desc())
                        .options(selectinload(Ticket.transcript))
                    ).scalars()
                )
                if chosen
                else []
            )
        return SearchPage(tickets, len(ordered), first + per_page < len(ordered))
