"""An output channel that renders every reply for the channel it goes out on.

Actions may mark a reply `visibility="public"` or `"private"` (a public X reply that moves the
conversation to DM, then the DM); anything unmarked goes where the customer wrote. Each connector
subclasses :class:`ConnectorOutput` (rendering, plus the reply ledger that keeps a reply from being
sent twice) and implements :meth:`deliver`; replay collects instead.

A move to private is two messages tagged ``move_to_private`` by the handoff action: the private
line first (``"dm"``), then the public reply (``"public"``), whose wording depends on what
became of the private line. Rasa runs the action before anything is sent, so only the output
knows: the public reply says "we've sent you a private message" only when the platform took the
private line, and otherwise is the action's ``if_no_dm`` text with ``{link}`` replaced by the
connector's :meth:`RenderingOutputChannel.private_link` (the brand's DM compose link on X, the
bot's ``/start`` link on Telegram). See :mod:`bot.channels.private_links` for the ticket's record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasa.core.channels.channel import OutputChannel

from bot import metrics
from bot.channels import deliveries
from bot.channels.private_links import DELIVERED, REFUSED, UNKNOWN, MoveToPrivate, record_move
from bot.channels.workers import ReplyLedger
from bot.render.received import IF_NO_DM_KEY, MOVE_DM, MOVE_KEY, MOVE_PUBLIC, as_received

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from bot.channels.inbox import Inbox

logger = logging.getLogger(__name__)

#: Records sent replies right away: the shorter the wait, the fewer replies a crash repeats.
_LEDGER_WRITER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reply-ledger")


LINK_PLACEHOLDER = "{link}"


#: What became of the private line: the platform took it, refused it, or an earlier attempt of
#: this message handled it and its outcome is not known now (counted as not delivered).
@dataclass(frozen=True)
class Reply:
    """One message exactly as it is sent."""

    public: bool
    text: str


def render_reply(channel: str, text: str, *, public: bool, handle: str | None) -> list[Reply]:
    """Renders one bot message for a channel; public text never carries personal data."""
    return [
        Reply(public=public, text=part)
        for part in as_received(channel, text, public=public, handle=handle)
    ]


class RenderingOutputChannel(OutputChannel):
    """Renders replies for `channel`, then hands each part to :meth:`deliver`."""

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        self.channel = channel
        self.public = public
        self.handle = handle
        self.move = MoveToPrivate()

    @classmethod
    def name(cls) -> str:
        """Rasa's name for the channel (used for channel-specific response variations)."""
        return "rendering"

    def visibility(self, kwargs: dict[str, Any]) -> bool:
        """Whether a reply is public: as marked by the action, else like the customer's message."""
        marked = kwargs.get("visibility")
        if marked in ("public", "private"):
            return marked == "public" and self.public
        return self.public

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Renders and delivers a text reply (a move to private's public reply: see the module)."""
        move = kwargs.get(MOVE_KEY)
        if move == MOVE_PUBLIC:
            chosen = await self._public_move_text(recipient_id, text, kwargs)
            if chosen is None:
                await self.moved(recipient_id, kwargs)  # the private line's fate, at least
                return
            text = chosen
        mark = self.delivery_mark()
        replies = render_reply(
            self.channel, text, public=self.visibility(kwargs), handle=self.handle
        )
        for reply in replies:
            await self.emit(recipient_id, reply)
        if move == MOVE_DM:
            self.move.private = [reply.text for reply in replies]
            self.move.dm = self.outcome_since(mark)
        elif move == MOVE_PUBLIC:
            sent = self.outcome_since(mark) == DELIVERED
            self.move.public = [reply.text for reply in replies] if sent else []
            await self.moved(recipient_id, kwargs)

    async def _public_move_text(
        self, recipient_id: str, text: str, kwargs: dict[str, Any]
    ) -> str | None:
        """The public reply's wording: a DM is claimed only when one was delivered."""
        if self.move.dm == DELIVERED:
            return text
        alternative = kwargs.get(IF_NO_DM_KEY)
        link = await self.private_link(recipient_id, kwargs) if alternative else None
        if not alternative or not link or LINK_PLACEHOLDER not in str(alternative):
            # Never claim a private message that did not go out; nothing true to say instead.
            logger.warning("%s: no private link; the public move reply was not sent", self.channel)
            self.not_sent("no_conversation", "public reply: no private link to offer")
            return None
        self.move.link = link
        return str(alternative).replace(LINK_PLACEHOLDER, link)

    def delivery_mark(self) -> tuple[int, ...]:
        """A mark of the delivery counters, for :meth:`outcome_since`."""
        return ()

    def outcome_since(self, mark: tuple[int, ...]) -> str:
        """What became of the parts sent since ``mark``: here (collecting) all were delivered."""
        return DELIVERED

    def not_sent(self, reason: str, note: str) -> None:
        """Notes a reply not sent (connectors keep it as a refusal)."""

    async def private_link(self, recipient_id: str, kwargs: dict[str, Any]) -> str | None:
        """A link that opens a private conversation with the brand (None: the channel has none).

        Args:
            recipient_id: The conversation.
            kwargs: The public reply's metadata (``ticket``, ...).
        """
        return None

    async def moved(self, recipient_id: str, kwargs: dict[str, Any]) -> None:
        """Records on the ticket where the conversation went (see :mod:`private_links`).

        Called once a move to private's public reply was handled; replay records too, so its
        tickets hold what it reports as sent.
        """
        ticket = kwargs.get("ticket")
        if ticket is None or not str(ticket).isdigit():
            return
        await asyncio.to_thread(record_move, int(ticket), self.channel, self.move)

    async def emit(self, recipient_id: str, reply: Reply) -> None:
        """Hands one rendered part on; connectors add their bookkeeping around ``deliver``."""
        await self.deliver(recipient_id, reply)

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Sends one rendered part; connectors override this."""
        raise NotImplementedError


class CollectingRenderingChannel(RenderingOutputChannel):
    """Keeps the rendered replies instead of sending them (replay, tests)."""

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        super().__init__(channel, public=public, handle=handle)
        self.replies: list[Reply] = []

    @classmethod
    def name(cls) -> str:
        """Replay renders like the real channel, but is not one."""
        return "replay"

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Collects the reply."""
        self.replies.append(reply)


class DeliveryRefused(RuntimeError):
    """An answer from the desk was not sent (recorded under its delivery id).

    Raised so that Rasa answers the desk's request with an error and does not keep the answer in
    the conversation as if the customer had it.
    """


def recipient_of(recipient_id: str, channel: str) -> str:
    """The channel's own address in a Rasa sender id: ``telegram:123`` gives ``123``."""
    prefix = f"{channel}:"
    return recipient_id[len(prefix) :] if recipient_id.startswith(prefix) else recipient_id


class ConnectorOutput(RenderingOutputChannel):
    """A connector's output channel: renders (see RenderingOutputChannel), then ``deliver``.

    Keeps what it sent and what it could not send and why (the customer blocked the bot, the
    number opted out): the inbox entry records it. Transient failures raise
    :class:`DeliveryError` after retrying, so the message is redelivered.

    Replies to an inbound message are numbered in the order the bot says them; once bound to the
    message's inbox entry (:meth:`bind`), each reply is recorded in the reply ledger as soon as
    the platform took it, and a reply an earlier attempt already sent is skipped.
    """

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        """See :class:`RenderingOutputChannel`."""
        super().__init__(channel, public=public, handle=handle)
        self.sent: list[Reply] = []
        self.undelivered: list[str] = []
        self.skipped = 0
        self._ledger: ReplyLedger | None = None
        self._entry_id: int | None = None
        self._already_sent: set[int] = set()
        self._next_index = 0
        # Why each `undelivered` note was refused, as a code of deliveries.REASONS.
        self.refusals: list[str] = []
        self._deliveries: Callable[[], Awaitable[Inbox]] | None = None

    @classmethod
    def name(cls) -> str:
        """Subclasses return their channel's name."""
        return "connector"

    def track_deliveries(self, inbox: Callable[[], Awaitable[Inbox]]) -> None:
        """Records the outcome of answers that carry a ``delivery_id`` in ``inbox``'s database.

        Args:
            inbox: Opens the input channel's inbox (:meth:`ChannelConnector.inbox`).
        """
        self._deliveries = inbox

    def refuse(self, reason: str, note: str) -> None:
        """Keeps a reply refused for good: ``note`` in ``undelivered``, ``reason`` a code.

        Args:
            reason: One of :data:`bot.channels.deliveries.REASONS`.
            note: The connector's note (recorded on the inbox entry, without personal data).
        """
        self.undelivered.append(note)
        self.refusals.append(reason)

    def not_sent(self, reason: str, note: str) -> None:
        """A reply the output chose not to send is kept like a refusal."""
        self.refuse(reason, note)

    def delivery_mark(self) -> tuple[int, ...]:
        """The counters of sent, refused and skipped parts, for :meth:`outcome_since`."""
        return (len(self.sent), len(self.refusals), self.skipped)

    def outcome_since(self, mark: tuple[int, ...]) -> str:
        """What became of the parts sent since ``mark``.

        ``refused`` when one was refused; ``unknown`` when an earlier attempt of this message
        handled one (skipped now); ``delivered`` when all went out.
        """
        sent, refused, skipped = mark
        if len(self.refusals) > refused:
            return REFUSED
        if self.skipped > skipped or len(self.sent) == sent:
            return UNKNOWN
        return DELIVERED

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Sends a bot message; one from the desk (``delivery_id``) has its outcome recorded.

        Rasa merges the bot event's metadata into ``message``, so the desk's ``delivery_id``
        arrives here. Delivered means every rendered part went out.

        Raises:
            DeliveryRefused: A desk answer was refused for good (recorded as failed).
        """
        delivery_id = message.get("delivery_id")
        if not delivery_id or self._deliveries is None:
            await super().send_response(recipient_id, message)
            return
        refused, sent = len(self.refusals), len(self.sent)
        try:
            await super().send_response(recipient_id, message)
        except Exception as error:
            # The client's retries are spent: the answer did not go out (or not all of it).
            detail = f"{type(error).__name__}; parts sent: {len(self.sent) - sent}"
            await self._record_delivery(str(delivery_id), "failed", "platform_error", detail)
            raise
        if len(self.refusals) > refused:
            reason = self.refusals[refused]
            detail = f"{reason}; parts sent: {len(self.sent) - sent}"
            await self._record_delivery(str(delivery_id), "failed", reason, detail)
            raise DeliveryRefused(f"{self.channel}: the answer was not sent ({reason})")
        await self._record_delivery(str(delivery_id), "delivered")

    async def _record_delivery(
        self, delivery_id: str, state: str, reason: str | None = None, detail: str | None = None
    ) -> None:
        """Writes the outcome off the event loop (the desk reads it back)."""
        assert self._deliveries is not None
        inbox = await self._deliveries()
        await asyncio.to_thread(
            deliveries.record, inbox.engine, delivery_id, self.channel, state, reason, detail
        )

    def bind(self, ledger: ReplyLedger, entry_id: int, already_sent: set[int]) -> None:
        """Ties the replies to an inbox entry: ``already_sent`` are the indexes to skip."""
        self._ledger, self._entry_id, self._already_sent = ledger, entry_id, set(already_sent)

    async def emit(self, recipient_id: str, reply: Reply) -> None:
        """Delivers one reply unless an earlier attempt did; records it once the platform took it.

        A reply that could not be delivered for good (opted out, blocked) is recorded too: it
        is not tried again. One that failed for now raises and stays unrecorded.
        """
        index, self._next_index = self._next_index, self._next_index + 1
        if index in self._already_sent:
            self.skipped += 1
            logger.info(
                "%s: reply %s of message %s was sent before; not sent again",
                self.channel,
                index,
                self._entry_id,
            )
            return
        record = None
        if self._ledger is not None and self._entry_id is not None:
            record = functools.partial(self._ledger.record, self._entry_id, index)
        refused = len(self.undelivered)
        try:
            await self.deliver_and_record(recipient_id, reply, record)
        except Exception as error:
            metrics.delivery_failed(self.channel, error=error)
            raise
        for note in self.undelivered[refused:]:
            metrics.delivery_failed(self.channel, note=note)

    async def deliver_and_record(
        self, recipient_id: str, reply: Reply, record: Callable[[], None] | None
    ) -> None:
        """Delivers one reply, then calls ``record`` (blocking; None: nothing to record).

        ``record`` writes the reply ledger; the sooner it runs after the platform took the
        reply, the fewer replies a crash makes go out twice. This default records once
        :meth:`deliver` returned, on a thread of its own; a connector whose client can call it
        the moment the platform answered overrides this. ``record`` must also run when the
        reply was refused for good (it is not to be tried again), and must not run when
        delivery failed for now (:class:`DeliveryError`).
        """
        await self.deliver(recipient_id, reply)
        if record is not None:
            # Its own thread: not queued behind the inbox's other work in the default pool.
            await asyncio.get_running_loop().run_in_executor(_LEDGER_WRITER, record)
