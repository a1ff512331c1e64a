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
import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.config import Secret
from bot.channels.inbox import Inbox
from bot.channels.output import RenderingOutputChannel, Reply
from bot.inbound import Inbound, clean_text

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
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

#: Larger webhook bodies are refused (413): no platform sends one message this big.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
#: How long an attempt may run before the entry counts as abandoned and is redelivered.
DEFAULT_REDELIVER_AFTER = 120.0
#: How often recorded-but-unfinished entries are looked for after start-up.
DEFAULT_REDELIVER_EVERY = 60.0
#: Messages processed at once per channel. Rasa's work is mostly CPU in the server's event loop:
#: more in flight adds no throughput, only delays the webhooks' acknowledgements.
DEFAULT_MAX_IN_FLIGHT = 8
#: How long a stopping server lets messages in flight finish (the rest are redelivered later).
STOP_GRACE_SECONDS = 10.0

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class Rejected(Exception):
    """A webhook request refused: the HTTP status and a reason safe to log."""

    def __init__(self, status: int, reason: str) -> None:
        """Builds the rejection.

        Args:
            status: 400 malformed, 403 forged, 413 too large, ...
            reason: Why, in a few words; never a secret or a header's value.
        """
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class DeliveryError(RuntimeError):
    """A reply could not be sent after the transient-error retries (the message is redelivered)."""


def reveal(value: Secret | str | None) -> str:
    """The plain value of a secret option (tests may pass plain strings)."""
    if value is None:
        return ""
    return value.reveal() if isinstance(value, Secret) else str(value)


_PROTECTED: set[str] = set()
_FACTORY_INSTALLED = False


def protect_secrets(*values: Secret | str | None) -> None:
    """Makes sure the given secrets never reach a log line, whoever logs them.

    Every log record created afterwards has these values replaced by ``***`` (libraries log
    request URLs, and Telegram's URLs contain the bot token). Called by each connector when it
    is configured; nothing happens at import.
    """
    global _FACTORY_INSTALLED
    for value in values:
        plain = reveal(value)
        if len(plain) >= 6:  # a short value would redact ordinary words
            _PROTECTED.add(plain)
    if _FACTORY_INSTALLED or not _PROTECTED:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business
            return record
        if any(secret in message for secret in _PROTECTED):
            record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _FACTORY_INSTALLED = True


def redact(text: str) -> str:
    """``text`` with every protected secret replaced by ``***``."""
    for secret in _PROTECTED:
        text = text.replace(secret, "***")
    return text


def secrets_match(given: str | None, expected: Secret | str | None) -> bool:
    """Compares a presented secret with the expected one in constant time.

    Args:
        given: What the request carried (a header's value), or None.
        expected: The configured secret.

    Returns:
        False when either is missing or empty, or when they differ.
    """
    wanted = reveal(expected)
    if not given or not wanted:
        return False
    return hmac.compare_digest(given.encode("utf-8"), wanted.encode("utf-8"))


def signature_matches(
    given: str | None,
    key: Secret | str,
    message: bytes,
    *,
    digest: str = "sha256",
    encoding: str = "base64",
    prefix: str = "",
) -> bool:
    """Checks an HMAC signature header in constant time.

    Args:
        given: The header's value, e.g. ``sha256=...``.
        key: The signing secret.
        message: The signed bytes (usually the raw body).
        digest: The hash ("sha256", "sha1").
        encoding: How the platform writes the MAC: "base64" or "hex".
        prefix: Text before the MAC (``"sha256="`` on X).

    Returns:
        True when the signature is the expected one.
    """
    secret = reveal(key)
    if not given or not secret:
        return False
    mac = hmac.new(secret.encode("utf-8"), message, getattr(hashlib, digest)).digest()
    expected = prefix + (base64.b64encode(mac).decode() if encoding == "base64" else mac.hex())
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_size(request: Request, limit: int) -> None:
    """Refuses a body over ``limit`` bytes.

    Raises:
        Rejected: 413, by the declared length or the body actually read.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body of {declared} bytes is over the {limit}-byte limit")
    if len(request.body or b"") > limit:
        raise Rejected(413, f"body of {len(request.body)} bytes is over the {limit}-byte limit")


def parse_json_object(body: bytes | None) -> dict[str, Any]:
    """Parses a webhook's JSON body.

    Raises:
        Rejected: 400 when it is empty, not UTF-8 JSON, or not an object.
    """
    if not body:
        raise Rejected(400, "empty body")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(400, f"malformed JSON ({type(error).__name__})") from error
    if not isinstance(value, dict):
        raise Rejected(400, "JSON body is not an object")
    return value


def recipient_of(recipient_id: str, channel: str) -> str:
    """The channel's own address in a Rasa sender id: ``telegram:123`` gives ``123``."""
    prefix = f"{channel}:"
    return recipient_id[len(prefix) :] if recipient_id.startswith(prefix) else recipient_id


class TaskSet:
    """Background tasks kept referenced until they finish (asyncio keeps only weak ones)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task:
        """Starts ``coroutine`` as a task and keeps it until it is done."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Waits up to ``timeout`` seconds for the tasks, then cancels those still running."""
        if not self._tasks:
            return
        _done, running = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


class ConnectorOutput(RenderingOutputChannel):
    """A connector's output channel: renders (see RenderingOutputChannel), then ``deliver``.

    Keeps what it sent and what it could not send and why (the customer blocked the bot, the
    number opted out): the inbox entry records it. Transient failures raise
    :class:`DeliveryError` after retrying, so the message is redelivered.
    """

    def __init__(self, channel: str, *, public: bool, handle: str | None) -> None:
        """See :class:`RenderingOutputChannel`."""
        super().__init__(channel, public=public, handle=handle)
        self.sent: list[Reply] = []
        self.undelivered: list[str] = []

    @classmethod
    def name(cls) -> str:
        """Subclasses return their channel's name."""
        return "connector"


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
            inbox.record, self.channel, str(platform_id), inbound, payload
        )
        if entry_id is None:
            logger.info("%s: dropped duplicate delivery %s", self.channel, platform_id)
            return None
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

    async def process(self, entry_id: int, inbound: Inbound, on_new_message: OnNewMessage) -> None:
        """Hands one recorded message to Rasa and marks the entry done or failed."""
        inbox = await self.inbox()
        output = self.output_for(inbound)
        message = self.user_message(inbound, output, f"{self.channel}-{entry_id}")
        try:
            async with self._slots():
                await on_new_message(message)
        except asyncio.CancelledError:
            # The server is stopping: the entry stays "received" and is redelivered later.
            raise
        except Exception as error:  # noqa: BLE001 - recorded, redelivered later
            logger.exception("%s: message %s failed, to be redelivered", self.channel, entry_id)
            await asyncio.to_thread(
                inbox.mark_failed, entry_id, redact(f"{type(error).__name__}: {error}")
            )
            return
        undelivered = getattr(output, "undelivered", None)
        note = redact("; ".join(undelivered)) if undelivered else None
        await asyncio.to_thread(inbox.mark_done, entry_id, note)

    async def finish(self, entry_id: int, note: str | None = None) -> None:
        """Marks an entry done without Rasa (a keyword, an ignored kind of message)."""
        inbox = await self.inbox()
        await asyncio.to_thread(inbox.mark_done, entry_id, note)

    # -- start, stop, redelivery -------------------------------------------------------------

    async def redeliver(self, on_new_message: OnNewMessage, older_than: dt.timedelta) -> int:
        """Processes again the entries recorded but never finished.

        Args:
            on_new_message: Rasa's handler.
            older_than: How old the latest attempt must be (the lease).

        Returns:
            How many entries were taken (each claimed first, so two servers never share one).
        """
        inbox = await self.inbox()
        entries = await asyncio.to_thread(inbox.pending, older_than, channel=self.channel)
        taken = 0
        for entry in entries:
            if entry.id in self._in_flight:
                continue
            if not await asyncio.to_thread(inbox.claim, entry.id, older_than):
                continue
            taken += 1
            logger.info(
                "%s: redelivering message %s (attempt %s)",
                self.channel,
                entry.id,
                entry.attempts + 1,
            )
            await self.redeliver_entry(entry.id, entry.inbound, entry.payload, on_new_message)
        return taken

    async def redeliver_entry(
        self,
        entry_id: int,
        inbound: Inbound,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
    ) -> None:
        """Processes one redelivered entry; connectors with keywords override it."""
        self.spawn_entry(entry_id, self.process(entry_id, inbound, on_new_message))

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
        every = max(0.5, self.redeliver_after.total_seconds() / 3)
        while True:
            await asyncio.sleep(every)
            if not self._in_flight:
                continue
            try:
                inbox = await self.inbox()
                await asyncio.to_thread(inbox.renew, sorted(self._in_flight))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried at the next tick
                logger.exception(
                    "%s: could not renew the leases of messages in flight", self.channel
                )

    async def start(self, app: Any) -> None:
        """Opens the inbox, runs :meth:`on_start`, starts the redelivery sweep."""
        self._app = app
        await self.inbox()
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
