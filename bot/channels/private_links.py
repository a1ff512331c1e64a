"""Where a conversation moved to private went: the ticket's record, and Telegram's start links.

A move to private (see :mod:`bot.channels.output`) is recorded on the ticket once the output
knows what happened, as transcript lines whose metadata carries a ``route``:

- ``dm_delivered`` / ``dm_refused`` / ``dm_unknown``: the private line, and what became of it;
- ``public_post``: the public reply that says a private message was sent;
- ``link_sent``: the public reply that carries a private link instead (nothing was delivered);
- ``first_private_message``: the customer's first private message (the handoff action marks it);
- ``private_chat_opened``: a Telegram customer opened the bot's chat with the link's token.

The desk shows the route beside each line. A Telegram group cannot be left for a private chat
the bot opens itself: the bot may write to a user only after they started it. The public reply
then carries ``https://t.me/<bot>?start=<token>``; the token (random, single use, expiring) is
stored here with the group conversation, its ticket and the private line that could not be
delivered, and the private chat that starts with it joins that conversation.

Plain SQLAlchemy Core, blocking: async code calls these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import desc, insert, select, update
from sqlalchemy.engine import Engine

from bot.channels.dbretry import retrying_call
from bot.channels.schema import channel_private_links
from handoff.clock import naive_is_utc
from handoff.transcript import Entry

if TYPE_CHECKING:
    from handoff.bot_side import BotQueue

__all__ = [
    "DELIVERED",
    "REFUSED",
    "UNKNOWN",
    "MoveToPrivate",
    "ROUTES",
    "TOKEN_TTL",
    "Redeemed",
    "conversation_of_chat",
    "create_token",
    "move_entries",
    "record_move",
    "record_on_ticket",
    "redeem",
]

DELIVERED, REFUSED, UNKNOWN = "delivered", "refused", "unknown"


@dataclass
class MoveToPrivate:
    """What one output sent of a move to private (for the ticket's record and the tests).

    Attributes:
        private: The private line's parts as rendered.
        dm: ``delivered``, ``refused`` or ``unknown`` (None until the private line was tried).
        public: The public reply's parts as sent (empty when none went out).
        link: The private link the public reply carried, if any.
    """

    private: list[str] = field(default_factory=list)
    dm: str | None = None
    public: list[str] = field(default_factory=list)
    link: str | None = None


logger = logging.getLogger(__name__)
UTC = dt.timezone.utc

ROUTES = (
    "dm_delivered",
    "dm_refused",
    "dm_unknown",
    "public_post",
    "link_sent",
    "first_private_message",
    "private_chat_opened",
)
#: How long a start link works: long enough for a customer who reads it the next morning.
TOKEN_TTL = dt.timedelta(days=7)
#: Telegram's start parameter allows 1-64 characters A-Z a-z 0-9 _ -.
_TOKEN_BYTES = 12

_queues: dict[str, BotQueue] = {}
_queues_lock = threading.Lock()


def _queue() -> BotQueue:
    """The handoff queue of this process (the same database the handoff action writes)."""
    from bot.settings import database_url
    from handoff.bot_side import BotQueue

    url = database_url()
    with _queues_lock:
        if url not in _queues:
            # The action server migrated it before it opened the ticket recorded on.
            _queues[url] = BotQueue.from_url(url, migrate=False)
        return _queues[url]


def record_on_ticket(ticket_id: int, entries: Sequence[Entry]) -> bool:
    """Appends lines to a ticket; False (logged, never raised) when that was not possible.

    The route is a record for the desk: a ticket resolved meanwhile, or a database that stays
    down, must not make the customer's message fail (its replies are already out).
    """
    try:
        _queue().append(ticket_id, entries)
    except Exception as error:  # noqa: BLE001 - see above
        logger.warning("ticket %s: route not recorded (%s)", ticket_id, type(error).__name__)
        return False
    return True


def move_entries(move: MoveToPrivate, *, at: dt.datetime | None = None) -> list[Entry]:
    """The transcript lines of a move to private, as the output sent (or could not send) them."""
    moment = at or dt.datetime.now(UTC)
    entries = [
        Entry(
            at=moment,
            author="bot",
            text=text,
            metadata={"visibility": "private", "route": f"dm_{move.dm or 'unknown'}"},
        )
        for text in move.private
    ]
    route = "link_sent" if move.link else "public_post"
    entries += [
        Entry(at=moment, author="bot", text=text, metadata={"visibility": "public", "route": route})
        for text in move.public
    ]
    return entries


def record_move(ticket_id: int, channel: str, move: MoveToPrivate) -> bool:
    """Records a move to private on its ticket (see :func:`move_entries`)."""
    entries = move_entries(move)
    if not entries:
        return True
    logger.info(
        "%s: ticket %s moved to private (%s)",
        channel,
        ticket_id,
        ", ".join(str(e.metadata["route"]) for e in entries),
    )
    return record_on_ticket(ticket_id, entries)


# --- Telegram start tokens ------------------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    """A start token taken by a private chat.

    Attributes:
        conversation_id: The group conversation it joins (``telegram:<group>/<user>``).
        ticket_id: Its ticket, if one was open.
        pending: The private line that could not be delivered, to send now.
        first: True the first time; False when the same chat opened the link again.
    """

    conversation_id: str
    ticket_id: int | None
    pending: str | None
    first: bool


def create_token(
    engine: Engine,
    channel: str,
    conversation_id: str,
    *,
    ticket_id: int | None,
    pending: str | None,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = TOKEN_TTL,
) -> str:
    """Stores a new start token for a conversation and returns it (random, URL-safe).

    Args:
        engine: The inbox's database.
        channel: The channel (``telegram``).
        conversation_id: The conversation the private chat joins.
        ticket_id: The conversation's ticket.
        pending: The private line not delivered yet (sent when the chat opens).
        now: The time (default now).
        ttl: How long the token works.
    """
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    moment = now or dt.datetime.now(UTC)
    values = {
        "token": token,
        "channel": channel[:32],
        "conversation_id": conversation_id[:255],
        "ticket_id": ticket_id,
        "pending": pending,
        "created_at": moment,
        "expires_at": moment + ttl,
    }

    def write() -> None:
        with engine.begin() as connection:
            connection.execute(insert(channel_private_links).values(**values))

    retrying_call(write)
    return token


def redeem(
    engine: Engine,
    channel: str,
    token: str,
    chat: str,
    *,
    now: dt.datetime | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> Redeemed | None:
    """Takes a start token for a private chat: single use, and only before it expires.

    The same chat opening the link again gets the conversation back (``first`` False); another
    chat, an expired or unknown token gets None, and so does a conversation ``allowed`` refuses
    for this chat (the link is posted in public: only its customer may take it).
    """
    table = channel_private_links
    moment = now or dt.datetime.now(UTC)
    with engine.begin() as connection:
        row = connection.execute(
            select(table).where(table.c.token == token[:64], table.c.channel == channel)
        ).first()
        if row is None:
            return None
        if allowed is not None and not allowed(row.conversation_id):
            return None
        if row.used_by is not None:
            if row.used_by != chat:
                return None
            return Redeemed(row.conversation_id, row.ticket_id, None, first=False)
        if naive_is_utc(row.expires_at) <= moment:
            return None
        taken = connection.execute(
            update(table)
            .where(table.c.token == row.token, table.c.used_by.is_(None))
            .values(used_by=chat[:64], used_at=moment)
        ).rowcount
        if not taken:  # another attempt took it at the same moment
            return None
    return Redeemed(row.conversation_id, row.ticket_id, row.pending, first=True)


def conversation_of_chat(engine: Engine, channel: str, chat: str) -> str | None:
    """The conversation a private chat joined with its latest start token, if any."""
    table = channel_private_links
    with engine.begin() as connection:
        return connection.execute(
            select(table.c.conversation_id)
            .where(table.c.channel == channel, table.c.used_by == chat)
            .order_by(desc(table.c.used_at))
            .limit(1)
        ).scalar_one_or_none()
