"""What every channel connector shares (the shape follows Rasa's own `slack.py`).

A webhook request goes through the same steps on every channel:

1. **verify** it first — a secret token or a signature, compared in constant time
   (:func:`secrets_match`, :func:`signature_matches`); a forged one is a 403;
2. **bound** it — an oversized body is a 413 (:func:`check_size`), malformed JSON a 400
   (:func:`parse_json_object`); every rejection is logged with its reason, never with a secret;
3. **record** it in the :class:`~bot.channels.inbox.Inbox` before acknowledging, keyed by the
   platform's own id, so a retried or replayed delivery is dropped
   (:meth:`ChannelConnector.accept`);
4. **acknowledge** at once: processing runs in an asyncio task kept in a set until it finishes;
5. **process**: the :class:`~bot.inbound.Inbound` becomes Rasa's ``UserMessage`` (sender id
   ``<channel>:<sender>``, metadata as in DEVELOPERS.md), the bot decides, the connector's output
   channel renders and sends; the entry is then marked done, or failed and redelivered later.

When the server starts, entries recorded but never finished are processed again
(:meth:`ChannelConnector.redeliver`; then every ``redeliver_every`` seconds): at least once.
Connectors subclass :class:`ChannelConnector` (input) and :class:`ConnectorOutput` (output).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics, turns
from bot.channels.config import Secret
from bot.channels.dbretry import database_down, retrying_call_async
from bot.channels.inbox import Inbox
from bot.channels.output import ConnectorOutput, recipient_of
from bot.channels.tasks import TaskSet
from bot.channels.verify import (
    DEFAULT_MAX_BODY_BYTES,
    Rejected,
    check_size,
    parse_json_object,
    protect_secrets,
    redact,
    reveal,
    secrets_match,
    signature_matches,
)
from bot.channels.workers import process_owner
from bot.inbound import Inbound, clean_text

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_REDELIVER_EVERY",
    "ChannelConnector",
    "ConnectorOutput",
    "DeliveryError",
    "OnNewMessage",
    "Rejected",
    "TaskSet",
    "check_size",
    "parse_json_object",
    "protect_secrets",
    "recipient_of",
    "redact",
    "reveal",
    "secrets_match",
    "signature_matches",
]

#: How long an attempt may run before the entry counts as abandoned and is redelivered (an
#: attempt whose process stopped beating is abandoned sooner: see bot/channels/workers.py).
DEFAULT_REDELIVER_AFTER = 120.0
#: How often entries due for another attempt are looked for (a cheap indexed query).
DEFAULT_REDELIVER_EVERY = 2.0
#: How often this process beats and renews the leases of the messages it holds.
HEARTBEAT_SECONDS = 2.0
#: After a server the bot depends on failed, how long new attempts wait (with some jitter).
PAUSE_SECONDS = 2.0
#: Exponential backoff of a message that failed by the bot's own fault: 2, 4, 8, ... s.
ERROR_BACKOFF_SECONDS = 2.0
#: Messages processed at once per channel. Rasa's work is mostly CPU in the server's event loop:
#: more in flight adds no throughput, only latency to every step of every message, including
#: the step from a platform accepting a reply to the reply ledger recording it (the window in
#: which a crash makes a reply go out twice: 8 in flight gave 6 such replies in a 40-message
#: fault run, 2 gave 2; `afterhours bench faults`).
DEFAULT_MAX_IN_FLIGHT = 4
#: How long a stopping server lets messages in flight finish (the rest are redelivered later).
STOP_GRACE_SECONDS = 10.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class DeliveryError(RuntimeError):
    """A reply could not be sent after the transient-error retries (the message is redelivered)."""


class NotDurable(RuntimeError):
    """Rasa finished a message whose effect is not stored (a failed action, a refused save)."""


class ChannelConnector(InputChannel):
    """Base of the project's input channels: verification helpers, inbox, tasks, redelivery.

    Subclasses set :attr:`channel`, add their routes in :meth:`add_routes`, build their output in
    :meth:`output_for` and :meth:`get_output_channel`, and may start and stop things (a webhook
    registration, a poller) in :meth:`on_start` and :meth:`on_stop`.
    """

    #: The channel's name: Rasa's input channel name, the metadata's `channel`, the sender prefix.
    channel: ClassVar[str] = ""

    def __init__(
        self,
        *,
        inbox_url: Secret | str | None = None,
        inbox: Inbox | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        redeliver_after: float = DEFAULT_REDELIVER_AFTER,
        redeliver_every: float = DEFAULT_REDELIVER_EVERY,
    ) -> None:
        """Common options (all may be set in credentials.yml).

        Args:
            inbox_url: The inbox's database; default the queue's (``AFTERHOURS_DB_URL``).
            inbox: An inbox already open (tests, the benchmark).
            max_body_bytes: Larger webhook bodies get a 413.
            max_in_flight: Messages handed to Rasa at once; the rest wait, already recorded
                and acknowledged (the model's work shares the event loop with the webhooks).
            redeliver_after: Seconds before an unfinished attempt is redelivered.
            redeliver_every: Seconds between looks for unfinished entries (0: at start only).
        """
        self._inbox = inbox
        self._owns_inbox = inbox is None
        self._inbox_url = inbox_url
        self._inbox_lock: asyncio.Lock | None = None
        self.max_body_bytes = int(max_body_bytes)
        self.redeliver_after = dt.timedelta(seconds=float(redeliver_after))
        self.redeliver_every = float(redeliver_every)
        self.tasks = TaskSet()
        self._in_flight: set[int] = set()
        self.max_in_flight = max(1, int(max_in_flight))
        self._semaphore: asyncio.Semaphore | None = None
        self._loops = TaskSet()  # long-running: redelivery sweep, pollers
        self._on_new_message: OnNewMessage | None = None
        self._app: Any = None
        # Until when (monotonic) new attempts wait: a server the bot depends on just failed.
        self._paused_until = 0.0

    @classmethod
    def name(cls) -> str:
        """Rasa's name for the channel: also what `output_channel=latest` matches."""
        return cls.channel

    # -- hooks for subclasses ----------------------------------------------------------------

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        """Adds the channel's webhook routes."""

    def output_for(self, inbound: Inbound) -> OutputChannel:
        """The output channel for the replies to one inbound message."""
        raise NotImplementedError

    async def on_start(self, app: Any) -> None:
        """Runs once the server listens (register a webhook, start a poller)."""

    async def on_stop(self, app: Any) -> None:
        """Runs when the server stops (close clients)."""

    def _slots(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
        return self._semaphore

    # -- the inbox ---------------------------------------------------------------------------

    async def inbox(self) -> Inbox:
        """The inbox, opened (and migrated) on first use, off the event loop."""
        if self._inbox is not None:
            return self._inbox
        if self._inbox_lock is None:
            self._inbox_lock = asyncio.Lock()
        async with self._inbox_lock:
            if self._inbox is None:
                from bot.settings import database_url

                url = reveal(self._inbox_url) or database_url()
                self._inbox = await asyncio.to_thread(Inbox.from_url, url, True)
        return self._inbox

    # -- the request path --------------------------------------------------------------------

    def reject(self, request: Request, rejection: Rejected) -> HTTPResponse:
        """Logs a refused request with its reason (no header values) and answers it."""
        logger.warning(
            "%s: rejected %s %s from %s: %s %s",
            self.channel,
            request.method,
            request.path,
            request.ip or "?",
            rejection.status,
            rejection.reason,
        )
        return response.json({"ok": False, "error": rejection.reason}, status=rejection.status)

    def user_message(self, inbound: Inbound, output: OutputChannel, message_id: str) -> UserMessage:
        """Rasa's message for an inbound one (sender id ``<channel>:<sender>``)."""
        return UserMessage(
            text=clean_text(inbound.text),
            output_channel=output,
            sender_id=inbound.conversation_id,
            input_channel=self.name(),
            message_id=message_id,
            metadata=inbound.metadata(),
        )

    async def accept(
        self,
        platform_id: str,
        inbound: Inbound,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
        *,
        process: Callable[[int, Inbound], Coroutine[Any, Any, Any]] | None = None,
    ) -> int | None:
        """Records a delivery, then processes it in the background.

        Call it before acknowledging the platform: once it returns, the message is safe.

        Args:
            platform_id: The platform's id of the delivery.
            inbound: The message.
            payload: What the platform sent (stored for the record and for redelivery).
            on_new_message: Rasa's handler.
            process: Processes the recorded entry instead of :meth:`process` (e.g. an SMS
                keyword that never reaches Rasa).

        Returns:
            The inbox entry's id, or None for a duplicate (dropped, logged).
        """
        inbox = await self.inbox()
        entry_id = await asyncio.to_thread(
            inbox.record, self.channel, str(platform_id), inbound, payload, process_owner()
        )
        if entry_id is None:
            logger.info("%s: dropped duplicate delivery %s", self.channel, platform_id)
            return None
        metrics.MESSAGES_IN.labels(self.channel).inc()
        work = (
            process(entry_id, inbound)
            if process
            else self.process(entry_id, inbound, on_new_message)
        )
        self.spawn_entry(entry_id, work)
        return entry_id

    def spawn_entry(self, entry_id: int, work: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Runs the work on a recorded entry in the background, holding its lease meanwhile.

        While the task lives (waiting for a slot or running) the entry's lease is renewed, so
        no redelivery sweep — here or on another server — takes it however long it waits.
        """
        self._in_flight.add(entry_id)

        async def tracked() -> None:
            try:
                await work
            finally:
                self._in_flight.discard(entry_id)

        return self.tasks.spawn(tracked(), name=f"{self.channel}-{entry_id}")

    async def process(
        self,
        entry_id: int,
        inbound: Inbound,
        on_new_message: OnNewMessage,
        *,
        redelivery: bool = False,
    ) -> None:
        """Hands one recorded message to Rasa; marks the entry done only once its effect is stored.

        Done means: Rasa's turn is in the tracker store with every custom action's events (the
        tracker store reports on the turn, see :mod:`bot.turns`), and every reply went out or
        was refused for good. Otherwise the entry is marked failed and redelivered: soon when a
        server the bot depends on failed (and new attempts pause briefly meanwhile), with a
        growing backoff when the bot itself failed.

        Args:
            entry_id: The inbox entry.
            inbound: The message.
            on_new_message: Rasa's handler.
            redelivery: An earlier attempt may have gone some way: skip the replies it sent,
                and finish at once if it had stored the whole turn.
        """
        started = time.monotonic()
        inbox = await self.inbox()
        output = self.output_for(inbound)
        message_id = f"{self.channel}-{entry_id}"
        message = self.user_message(inbound, output, message_id)
        try:
            async with self._slots():
                if self.paused():
                    await self._give_back(inbox, entry_id)
                    return
                if redelivery and await self._finished_before(
                    inbox, entry_id, inbound.conversation_id, message_id
                ):
                    return
                if isinstance(output, ConnectorOutput):
                    sent = await self._write(inbox.replies.sent, entry_id) if redelivery else set()
                    output.bind(inbox.replies, entry_id, sent)
                with turns.watching(message_id) as turn:
                    await on_new_message(message)
                if turn.problem:
                    raise NotDurable(turn.problem)
        except asyncio.CancelledError:
            # The server is stopping: the entry stays "received" and is redelivered later.
            raise
        except turns.StoreUnavailable as error:  # not an Exception: see bot/turns.py
            await self._failed(inbox, entry_id, error)
            return
        except Exception as error:  # noqa: BLE001 - recorded, redelivered later
            await self._failed(inbox, entry_id, error)
            return
        undelivered = getattr(output, "undelivered", None)
        note = redact("; ".join(undelivered)) if undelivered else None
        await self._write(inbox.mark_done, entry_id, note)
        metrics.turn_done(self.channel, time.monotonic() - started, turn.decision, turn.reason)

    async def _write(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs an inbox call off the event loop, waiting out a database restart."""
        return await retrying_call_async(asyncio.to_thread, function, *args, **kwargs)

    async def _finished_before(
        self, inbox: Inbox, entry_id: int, conversation_id: str, message_id: str
    ) -> bool:
        """Marks the entry done if an earlier attempt stored its whole turn (and died after)."""
        if not await self._already_stored(conversation_id, message_id):
            return False
        await self._write(inbox.mark_done, entry_id, "stored by an earlier attempt")
        return True

    async def _failed(self, inbox: Inbox, entry_id: int, error: BaseException) -> None:
        """Records a failed attempt: retried soon if a server was down, else with a backoff."""
        reason = redact(f"{type(error).__name__}: {error}")
        transient = isinstance(
            error, (NotDurable, DeliveryError, turns.StoreUnavailable)
        ) or database_down(error)
        metrics.TURNS.labels(self.channel, "transient" if transient else "error").inc()
        if transient:
            self.pause()
            # Our own words only: an exception's text may quote what the customer sent.
            logger.warning(
                "%s: message %s not finished (%s); retried soon",
                self.channel,
                entry_id,
                type(error).__name__ if database_down(error) else redact(str(error)),
            )
            retry_in = self._jittered(PAUSE_SECONDS)
        else:
            logger.error(
                "%s: message %s failed (%s), to be redelivered",
                self.channel,
                entry_id,
                type(error).__name__,
            )
            logger.debug("%s: message %s failed", self.channel, entry_id, exc_info=error)
            entry = await self._write(inbox.get, entry_id)
            retry_in = self._jittered(ERROR_BACKOFF_SECONDS * 2 ** (entry.errors if entry else 0))
        await self._write(
            inbox.mark_failed, entry_id, reason, retry_in=retry_in, transient=transient
        )

    @staticmethod
    def _jittered(seconds: float) -> float:
        """``seconds`` plus up to half again: servers retrying together do not move in step."""
        return seconds * (1.0 + random.random() / 2)  # noqa: S311 - not for security

    def pause(self) -> None:
        """Holds new attempts back for a moment: a server the bot depends on just failed."""
        self._paused_until = time.monotonic() + self._jittered(PAUSE_SECONDS)

    def paused(self) -> bool:
        """Whether new attempts are being held back (see :meth:`pause`)."""
        return time.monotonic() < self._paused_until

    async def _give_back(self, inbox: Inbox, entry_id: int) -> None:
        """Returns an entry untried while paused: it is taken again when the pause ends."""
        await self._write(
            inbox.mark_failed, entry_id, "waiting: a server the bot needs just failed",
            retry_in=max(0.1, self._paused_until - time.monotonic()), transient=True, ran=False,
        )  # fmt: skip

    async def _already_stored(self, conversation_id: str, message_id: str) -> bool:
        """Whether the tracker store holds this message's turn (an attempt died after saving)."""
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None:
            return False
        tracker = await store.retrieve_full_tracker(conversation_id)
        if tracker is None:
            return False
        return any(
            getattr(event, "message_id", None) == message_id
            for event in tracker.events
            if event.type_name == "user"
        )

    async def finish(self, entry_id: int, note: str | None = None) -> None:
        """Marks an entry done without Rasa (a keyword, an ignored kind of message)."""
        inbox = await self.inbox()
        await asyncio.to_thread(inbox.mark_done, entry_id, note)

    # -- start, stop, redelivery -------------------------------------------------------------

    async def redeliver(self, on_new_message: OnNewMessage, older_than: dt.timedelta) -> int:
        """Processes again the entries due for another attempt, all of them.

        Due: failed ones whose retry time has come, and unfinished ones whose attempt was
        abandoned (its lease ran out, or its process stopped beating). Nothing is taken while
        new attempts are paused.

        Args:
            on_new_message: Rasa's handler.
            older_than: How old an unfinished attempt must be (the lease).

        Returns:
            How many entries were taken (each claimed first, so two servers never share one).
        """
        inbox = await self.inbox()
        owner = process_owner()
        taken = 0
        while not self.paused():
            entries = await asyncio.to_thread(inbox.pending, older_than, channel=self.channel)
            metrics.INBOX_BACKLOG.labels(self.channel).set(len(entries))
            fresh = [entry for entry in entries if entry.id not in self._in_flight]
            claimed = 0
            for entry in fresh:
                if not await asyncio.to_thread(inbox.claim, entry.id, older_than, owner):
                    continue
                claimed += 1
                metrics.REDELIVERIES.labels(self.channel).inc()
                logger.info(
                    "%s: redelivering message %s (attempt %s)",
                    self.channel,
                    entry.id,
                    entry.attempts + 1,
                )
                await self.redeliver_entry(entry.id, entry.inbound, entry.payload, on_new_message)
            taken += claimed
            if claimed == 0 or len(entries) < 500:
                break
        return taken

    async def redeliver_entry(
        self,
        entry_id: int,
        inbound: Inbound,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
    ) -> None:
        """Processes one redelivered entry; connectors with keywords override it."""
        self.spawn_entry(entry_id, self.process(entry_id, inbound, on_new_message, redelivery=True))

    def _agent_ready(self) -> bool:
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        return agent is None or bool(agent.is_ready())

    async def _redelivery_loop(self, on_new_message: OnNewMessage) -> None:
        first = True
        while True:
            try:
                if self._agent_ready():
                    await self.redeliver(on_new_message, self.redeliver_after)
                    first = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the sweep must survive a database hiccup
                logger.exception("%s: redelivery sweep failed", self.channel)
            if self.redeliver_every <= 0 and not first:
                return
            await asyncio.sleep(self.redeliver_every if self.redeliver_every > 0 else 1.0)

    async def _renewal_loop(self) -> None:
        """Beats for this process, and renews the leases of the messages it holds."""
        while True:
            try:
                inbox = await self.inbox()
                await asyncio.to_thread(inbox.workers.beat, process_owner(), self.channel)
                metrics.INBOX_IN_FLIGHT.labels(self.channel).set(len(self._in_flight))
                if self._in_flight:
                    await asyncio.to_thread(inbox.renew, sorted(self._in_flight))
                await asyncio.to_thread(inbox.workers.reap, inbox.stale_after * 4)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next tick
                logger.exception("%s: could not beat or renew leases", self.channel)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def start(self, app: Any) -> None:
        """Opens the inbox, runs :meth:`on_start`, starts the redelivery sweep."""
        self._app = app
        inbox = await self.inbox()
        # Beat before taking anything: an owner that never beat counts as gone.
        await asyncio.to_thread(inbox.workers.beat, process_owner(), self.channel)
        await asyncio.to_thread(inbox.workers.reap, inbox.stale_after * 4)
        await self.on_start(app)
        if self._on_new_message is not None:
            self._loops.spawn(
                self._redelivery_loop(self._on_new_message), name=f"{self.channel}-redelivery"
            )
            self._loops.spawn(self._renewal_loop(), name=f"{self.channel}-leases")
        logger.info("%s: channel started", self.channel)

    async def stop(self, app: Any) -> None:
        """Stops the loops, lets messages in flight finish (briefly), runs :meth:`on_stop`."""
        await self._loops.drain(0)
        await self.tasks.drain(STOP_GRACE_SECONDS)
        await self.on_stop(app)
        if self._inbox is not None:
            try:  # what this process leaves unfinished is free for the others at once
                await asyncio.to_thread(self._inbox.workers.leave, process_owner())
            except Exception:  # noqa: BLE001 - a stopping server must stop
                logger.warning("%s: could not sign off from the inbox", self.channel)
        if self._inbox is not None and self._owns_inbox:
            self._inbox.dispose()
            self._inbox = None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The channel's routes and its start and stop listeners."""
        self._on_new_message = on_new_message
        bp = Blueprint(f"afterhours_{self.channel}_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": self.channel})

        self.add_routes(bp, on_new_message)

        @bp.listener("after_server_start")
        async def started(app: Any, _loop: Any) -> None:
            await self.start(app)

        @bp.listener("before_server_stop")
        async def stopping(app: Any, _loop: Any) -> None:
            await self.stop(app)

        return bp
