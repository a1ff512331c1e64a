"""Telegram's output, and the private chat a group conversation moves to (issue 18).

In a group, a conversation is one customer in one group (``telegram:<group>/<user>``); its replies
are public and threaded under the customer's message. A reply the action marked private goes to
the customer's private chat with the bot (a private chat's id is the user's id), which Telegram
allows only once the customer started the bot. When it refuses, the public reply carries the
bot's ``https://t.me/<bot>?start=<token>`` link (:meth:`TelegramOutput.private_link`; the token
is stored with the conversation: :mod:`bot.channels.private_links`). The private chat that starts
with that token joins the group conversation (:class:`PrivateChats`): the undelivered private line
is sent there, the ticket records it, and the chat's later messages go to the same Rasa
conversation (so the same ticket), their replies staying in the private chat.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.channels.base import ConnectorOutput, recipient_of
from bot.channels.ledger_write import LedgerWrite
from bot.channels.output import DELIVERED, Reply
from bot.channels.private_links import (
    Redeemed,
    conversation_of_chat,
    create_token,
    record_on_ticket,
    redeem,
)
from bot.channels.telegram_client import PermanentDeliveryError, TelegramClient
from bot.inbound import Inbound
from handoff.transcript import Entry

if TYPE_CHECKING:
    from bot.channels.inbox import Inbox

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
#: A start parameter as :func:`bot.channels.private_links.create_token` makes them.
START_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
UTC = dt.timezone.utc

InboxOpener = Callable[[], Awaitable["Inbox"]]


def split_recipient(recipient_id: str) -> tuple[str, str | None]:
    """``telegram:123`` → ("123", None); a group's ``telegram:-100/7`` → ("-100", "7")."""
    address = recipient_of(recipient_id, CHANNEL)
    chat, _, user = address.partition("/")
    return chat, (user or None)


class TelegramOutput(ConnectorOutput):
    """Sends the rendered replies to a chat, in a group threaded under the customer's message."""

    def __init__(
        self,
        client: TelegramClient,
        *,
        reply_to: int | None = None,
        private_chat: bool = False,
        inbox: InboxOpener | None = None,
    ) -> None:
        """Builds the output for one message (or, without ``reply_to``, for a later reply).

        Args:
            client: The Bot API client.
            reply_to: The customer's message to thread under (in a group).
            private_chat: The message came from the private chat a group conversation moved
                to: every reply goes there, not to the group.
            inbox: Opens the inbox's database (start tokens); None: no private link.
        """
        super().__init__(CHANNEL, public=False, handle=None)
        self.client = client
        self.reply_to = reply_to
        self.private_chat = private_chat
        self._inbox = inbox

    @classmethod
    def name(cls) -> str:
        """Rasa's name of the channel."""
        return CHANNEL

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Renders as public in a group (others read it), privately in a private chat."""
        in_group = split_recipient(recipient_id)[1] is not None
        self.public = in_group and not self.private_chat
        await super().send_text_message(recipient_id, text, **kwargs)

    async def private_link(self, recipient_id: str, kwargs: dict[str, Any]) -> str | None:
        """The bot's start link with a new token for this conversation (None without one)."""
        if self._inbox is None or split_recipient(recipient_id)[1] is None:
            return None
        username = await self.client.username()
        if not username:
            return None
        inbox = await self._inbox()
        ticket = kwargs.get("ticket")
        pending = "\n\n".join(self.move.private) if self.move.dm != DELIVERED else None
        token = await asyncio.to_thread(
            create_token,
            inbox.engine,
            CHANNEL,
            recipient_id,
            ticket_id=int(ticket) if ticket is not None and str(ticket).isdigit() else None,
            pending=pending or None,
        )
        return f"https://t.me/{username}?start={token}"

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Sends one part; a refusal is kept, a persistent failure raised (redelivered)."""
        await self.deliver_and_record(recipient_id, reply, None)

    async def deliver_and_record(
        self, recipient_id: str, reply: Reply, record: Callable[[], None] | None
    ) -> None:
        """Sends one part and records it from the sender loop the moment Telegram took it.

        A part Telegram refused for good, or for an address that is no chat, is kept in
        ``undelivered`` and recorded (from here: it is not tried again); one that kept failing
        raises unrecorded (redelivered).
        """
        chat, user = split_recipient(recipient_id)
        # A part the action marked private, in a group, goes to the customer's private chat.
        target = user if user is not None and not reply.public else chat
        reply_to = self.reply_to if target == chat else None
        ledger = LedgerWrite(record)
        try:
            await self.client.send(
                int(target), reply.text, reply_to=reply_to, on_sent=ledger.on_sent
            )
        except PermanentDeliveryError as error:
            logger.warning("telegram: reply not delivered to %s: %s", recipient_id, error)
            # "Forbidden: bot was blocked by the user" (or kicked from the group, or the
            # customer never started the bot).
            code = "blocked" if str(error).startswith("Forbidden") else "platform_error"
            self.refuse(code, f"not delivered: {error}")
            await ledger.now()
            return
        except ValueError:
            self.refuse("no_conversation", f"not a Telegram chat: {recipient_id}")
            await ledger.now()
            return
        self.sent.append(reply)
        ledger.check()


class PrivateChats:
    """Joins private chats to the group conversations they were opened from."""

    def __init__(self, client: TelegramClient, inbox: InboxOpener) -> None:
        """Uses the connector's client and inbox."""
        self.client = client
        self._inbox = inbox

    async def route(self, inbound: Inbound) -> tuple[Inbound | None, Redeemed | None]:
        """A private chat's message as the conversation it belongs to.

        ``/start <token>`` takes the token (single use, before it expires) and returns the
        message as the group conversation's, with what was redeemed; a start link that is
        unknown, expired or another chat's gives None (ignored: its token means nothing to the
        bot). A later message of a chat that joined a group conversation is that
        conversation's. Anything else is unchanged.
        """
        platform = inbound.platform or {}
        if platform.get("chat_type") != "private":
            return inbound, None
        chat = str(platform.get("chat_id"))
        inbox = await self._inbox()
        redeemed: Redeemed | None = None
        if platform.get("command") == "start" and START_TOKEN.match(inbound.text):
            # The link is posted in the group: only the customer it was made for may take it.
            redeemed = await asyncio.to_thread(
                partial(
                    redeem, allowed=lambda conversation: split_recipient(conversation)[1] == chat
                ),
                inbox.engine,
                CHANNEL,
                inbound.text,
                chat,
            )
            if redeemed is None:
                logger.info("telegram: a start link was unknown, expired or used by another chat")
                return None, None
        found = (
            redeemed.conversation_id
            if redeemed is not None
            else await asyncio.to_thread(conversation_of_chat, inbox.engine, CHANNEL, chat)
        )
        if found is None:
            return inbound, None
        sender = recipient_of(found, CHANNEL)
        extra: dict[str, Any] = {"private_chat": int(chat) if chat.lstrip("-").isdigit() else chat}
        if redeemed is not None:
            extra["opened_private_chat"] = True
        joined = dataclasses.replace(
            inbound,
            sender=sender,
            text="/start" if redeemed is not None else inbound.text,
            platform={**platform, **extra},
        )
        return joined, redeemed

    async def opened(self, inbound: Inbound, redeemed: Redeemed) -> None:
        """The customer opened the private chat: the private line they missed goes now.

        The ticket records the opening (``route: private_chat_opened``) and the line as sent.
        """
        chat = int((inbound.platform or {})["private_chat"])
        entries = [
            Entry(
                at=inbound.at,
                author="customer",
                text="/start",
                metadata={
                    "channel": CHANNEL,
                    "public": False,
                    "route": "private_chat_opened",
                    "at": inbound.at.isoformat(),
                },
            )
        ]
        if redeemed.first and redeemed.pending:
            try:
                await self.client.send(chat, redeemed.pending)
            except (PermanentDeliveryError, ValueError) as error:
                logger.warning("telegram: the private line was not delivered: %s", error)
            else:
                entries.append(
                    Entry(
                        at=dt.datetime.now(UTC),
                        author="bot",
                        text=redeemed.pending,
                        metadata={"visibility": "private", "route": "dm_delivered"},
                    )
                )
        if redeemed.first and redeemed.ticket_id is not None:
            await asyncio.to_thread(record_on_ticket, redeemed.ticket_id, entries)
