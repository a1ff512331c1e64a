"""Where a case stands: its conversation state, whether it is overdue, what caused the handoff.

One home for these rules, so the queue's badges, its counter, the digest and the case page agree:

* **state** -- ``waiting`` (nobody holds it, no agent answered), ``claimed`` (an agent holds it,
  no agent answered yet), ``awaiting_customer`` (an agent wrote last), ``customer_replied`` (the
  customer wrote after the agent's last answer), ``resolved``.
* **overdue** -- still waiting for the desk (open or claimed), its promised time
  (``reply_eta``) has passed, and no agent has answered yet. :func:`is_overdue` says it for one
  loaded ticket; :func:`overdue_clause` is the same rule as SQL, for counting a long queue.
* **trigger** -- the customer's message that made the bot step back: the last one written at or
  before the handoff (a ticket's transcript may start long before it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handoff.models import OPEN_STATUSES, Ticket, TranscriptEntry

__all__ = [
    "STATES",
    "STATE_LABELS",
    "agent_of",
    "conversation_state",
    "earlier_agent_replies",
    "is_overdue",
    "overdue_clause",
    "trigger_entry",
    "unanswered",
]

#: A case's conversation states, in the order a case usually goes through them.
STATES: tuple[str, ...] = (
    "waiting",
    "claimed",
    "awaiting_customer",
    "customer_replied",
    "resolved",
)
#: How the desk names each state.
STATE_LABELS: dict[str, str] = {
    "waiting": "waiting",
    "claimed": "claimed",
    "awaiting_customer": "awaiting customer",
    "customer_replied": "customer replied",
    "resolved": "resolved",
}


def agent_of(entry: TranscriptEntry, earlier: Mapping[str, str] | None = None) -> str | None:
    """The agent who wrote a transcript line, or None when a customer or the bot wrote it.

    An agent's answer recorded by the desk is an ``agent`` line. The same answer also reaches
    Rasa's tracker as a bot event, so a later ticket of the customer, built from the tracker,
    holds it as a ``bot`` line: such a line is the agent's when its metadata says so
    (``source: desk`` with ``agent``) or when its text is an earlier ticket's agent answer
    (``earlier``, from :func:`earlier_agent_replies`).

    Args:
        entry: The line.
        earlier: Agent answers of the customer's earlier tickets: text -> agent.

    Returns:
        The agent's username, ``"agent"`` when an agent line names nobody, or None.
    """
    meta = entry.meta or {}
    if entry.author == "agent":
        return str(meta.get("agent") or "agent")
    if entry.author == "bot":
        if meta.get("source") == "desk" and meta.get("agent"):
            return str(meta["agent"])
        if earlier and entry.text in earlier:
            return earlier[entry.text]
    return None


def earlier_agent_replies(tickets: Iterable[Ticket]) -> dict[str, str]:
    """The agent answers of a customer's earlier tickets, by text (see :func:`agent_of`).

    Args:
        tickets: The earlier tickets, transcripts loaded.

    Returns:
        text -> the agent who wrote it.
    """
    found: dict[str, str] = {}
    for ticket in tickets:
        for entry in ticket.transcript:
            if entry.author == "agent":
                found.setdefault(entry.text, str((entry.meta or {}).get("agent") or "agent"))
    return found


def _last_index(transcript: Sequence[TranscriptEntry], author: str) -> int:
    """The position in ``transcript`` of the last line by ``author``, or -1."""
    for index in range(len(transcript) - 1, -1, -1):
        if transcript[index].author == author:
            return index
    return -1


def conversation_state(ticket: Ticket) -> str:
    """Where the conversation stands (one of :data:`STATES`), from the ticket and its transcript.

    Only this ticket's ``agent`` lines count as the desk's answers: the bot's promise is not one.

    Args:
        ticket: The ticket, transcript loaded.

    Returns:
        The state.
    """
    if ticket.status == "resolved":
        return "resolved"
    transcript = list(ticket.transcript)
    last_agent = _last_index(transcript, "agent")
    if last_agent < 0:
        return "claimed" if ticket.status == "claimed" else "waiting"
    if _last_index(transcript, "customer") > last_agent:
        return "customer_replied"
    return "awaiting_customer"


def unanswered(ticket: Ticket) -> bool:
    """Whether the customer's last message has no agent answer after it.

    Args:
        ticket: The ticket, transcript loaded.

    Returns:
        True when the customer wrote and no agent line follows their last message.
    """
    transcript = list(ticket.transcript)
    last_customer = _last_index(transcript, "customer")
    return last_customer >= 0 and _last_index(transcript, "agent") < last_customer


def is_overdue(ticket: Ticket, now: dt.datetime) -> bool:
    """Whether a loaded ticket is overdue (the rule of :func:`overdue_clause`).

    Args:
        ticket: The ticket, transcript loaded.
        now: The time it is judged at (aware).

    Returns:
        True when it still waits for the desk, its promised time has passed, and no agent has
        answered it.
    """
    return (
        ticket.status in OPEN_STATUSES
        and ticket.reply_eta < now
        and not any(e.author == "agent" for e in ticket.transcript)
    )


def overdue_clause(now: dt.datetime) -> Any:
    """The SQL condition of :func:`is_overdue`, on ``Ticket`` (for counts and lists).

    Args:
        now: The time it is judged at (aware UTC).

    Returns:
        A SQLAlchemy condition.
    """
    # "No agent has answered": the ticket has no first agent reply, which the database keeps
    # on the ticket from its transcript (migration 0004) -- no look-up in the transcript per row.
    unanswered_yet = Ticket.first_reply_at.is_(None)
    return Ticket.status.in_(OPEN_STATUSES) & (Ticket.reply_eta < now) & unanswered_yet


def trigger_entry(ticket: Ticket) -> TranscriptEntry | None:
    """The customer's message that caused the handoff.

    The ticket is opened at the time of the message the bot stepped back on, and its transcript
    may hold the whole conversation before it: the trigger is the customer's last line written
    at or before the handoff; failing that (clocks disagree), the ticket's first customer line.

    Args:
        ticket: The ticket, transcript loaded.

    Returns:
        The line, or None when the customer wrote nothing.
    """
    customer = [e for e in ticket.transcript if e.author == "customer"]
    before = [e for e in customer if e.at <= ticket.created_at]
    if before:
        return before[-1]
    return customer[0] if customer else None
