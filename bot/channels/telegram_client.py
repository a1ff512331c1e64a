"""Telegram's Bot API client: python-telegram-bot's ``Bot``, the send limits, the retries.

Messages go out from an event loop of their own, in a thread of its own (:class:`SenderLoop`),
not from the Rasa server's loop: that loop is busy with the model's CPU work for long stretches,
and a reply Telegram has accepted must be recorded in the reply ledger at once — a crash between
"sent" and "recorded" makes the reply go out again after the restart. The sender loop takes
Telegram's answer as it arrives and hands the ledger write to a thread right away; the limits
(:class:`SendLimiter`), the per-chat order and the retries all live there too, so they keep working
exactly as one queue. The input side (``setWebhook``, ``getUpdates``, ``getMe``) keeps its own
``Bot`` in the server's loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import warnings
from bisect import bisect_left, insort
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot.channels.base import DeliveryError, reveal
from bot.channels.config import Secret
from bot.channels.dbretry import send_backoff

logger = logging.getLogger("bot.channels.telegram")

__all__ = [
    "PermanentDeliveryError",
    "SendLimiter",
    "SenderLoop",
    "TelegramClient",
    "retry_after_seconds",
]

T = TypeVar("T")

# -- sending limits -------------------------------------------------------------------------


class SendLimiter:
    """Spaces sends: at least ``per_chat_interval`` s apart per chat, ``overall`` per second in all.

    Each send reserves the earliest slot that keeps both limits, then sleeps until it; slots are
    reserved in call order, so it works as a queue. :meth:`pause` (a 429's ``retry_after``) holds
    every send, as Telegram's flood control is not per chat.
    """

    def __init__(
        self,
        per_chat_interval: float = 1.0,
        overall: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        """Builds the limiter.

        Args:
            per_chat_interval: Seconds between two messages to one chat (0: no limit).
            overall: Messages per second to all chats together (0: no limit).
            clock: Monotonic seconds (tests pass a fake).
            sleep: Waits that many seconds (tests pass a fake).
        """
        self.per_chat_interval = max(0.0, float(per_chat_interval))
        # A hair over 1/overall, so that no 1-second window ever holds overall + 1 sends.
        self.spacing = 1.0 / float(overall) + 1e-6 if overall and overall > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._chat_next: dict[str, float] = {}
        self._slots: list[float] = []
        self._paused_until = 0.0

    def reserve(self, chat: str | int) -> float:
        """Reserves the next slot for ``chat``; returns when (in the clock's seconds)."""
        now = self._clock()
        key = str(chat)
        start = max(now, self._paused_until, self._chat_next.get(key, 0.0))
        # Forget slots too old to matter, and chats that could send right away.
        cut = bisect_left(self._slots, now - 1.0)
        if cut:
            del self._slots[:cut]
        if len(self._chat_next) > 10_000:
            self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
        at = start
        if self.spacing:
            index = bisect_left(self._slots, at - self.spacing + 1e-9)
            while index < len(self._slots) and self._slots[index] < at + self.spacing - 1e-9:
                at = self._slots[index] + self.spacing
                index += 1
            insort(self._slots, at)
        if self.per_chat_interval:
            self._chat_next[key] = at + self.per_chat_interval
        return at

    def sent(self, chat: str | int) -> None:
        """Marks a send to ``chat`` finished: its next one waits a full interval from now.

        Spacing from the end of a send, not only its start, keeps the interval as Telegram
        measures it even when one request was slow.
        """
        if self.per_chat_interval:
            key = str(chat)
            later = self._clock() + self.per_chat_interval
            self._chat_next[key] = max(self._chat_next.get(key, 0.0), later)

    def pause(self, seconds: float) -> None:
        """Holds every send for ``seconds`` (flood control)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    async def wait(self, chat: str | int) -> None:
        """Waits for ``chat``'s turn (again, if a pause began meanwhile)."""
        while True:
            delay = self.reserve(chat) - self._clock()
            if delay > 0:
                await self._sleep(delay)
            if self._clock() >= self._paused_until:
                return


def retry_after_seconds(error: Any) -> float:
    """A ``RetryAfter``'s wait in seconds (an int or a timedelta, by PTB's settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


# -- the Bot API client ---------------------------------------------------------------------


class PermanentDeliveryError(RuntimeError):
    """Telegram refused the message for good (blocked, chat gone, bad request)."""


@dataclass
class _Send:
    """One message's send across its tries: where it goes now, and the 429s it waited out."""

    target: int | str
    floods: int = 0


def _network_trouble(error: BaseException) -> bool:
    """Whether another try may send it: a network error or a timeout (not a refusal)."""
    from telegram.error import BadRequest, NetworkError

    # PTB's BadRequest is a NetworkError, but no retry fixes it (it is refused before this).
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning(
        "telegram: %s sending to a chat, retry %s in %.1f s",
        type(error).__name__,
        state.attempt_number,
        wait,
    )


class SenderLoop:
    """An event loop running in a daemon thread of its own; coroutines are submitted to it."""

    def __init__(self, name: str) -> None:
        """Starts the thread and its loop."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs ``coroutine`` in this loop; awaited from another loop (cancelling it cancels it)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wrap_future(future)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the loop and waits for its thread (blocking: call it off any event loop)."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


class TelegramClient:
    """The connector's Bot API client, shared by the connector and its output channels.

    Two ``telegram.Bot`` objects, each created lazily in the loop that uses it (no client at
    import or configuration time): :meth:`bot` in the server's loop for the input side, and one
    in the :class:`SenderLoop` for :meth:`send`.
    """

    def __init__(
        self,
        token: Secret | str,
        *,
        base_url: str = "https://api.telegram.org/bot",
        limiter: SendLimiter | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        max_attempts: int = 5,
        max_flood_waits: int = 10,
        backoff: float = 0.5,
    ) -> None:
        """Configures the client.

        Args:
            token: The bot token (from the environment).
            base_url: The Bot API's base URL (tests point it at a fake server).
            limiter: Spaces the sends.
            connect_timeout: Seconds to connect.
            read_timeout: Seconds to wait for an answer.
            max_attempts: Tries of one send through timeouts and network errors.
            max_flood_waits: 429s honoured for one send before giving up.
            backoff: First wait after a timeout or network error; doubles each time, plus up to
                ``backoff`` at random (``dbretry.send_backoff``).
        """
        self._token = token
        self.base_url = base_url
        self.limiter = limiter or SendLimiter()
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_attempts = int(max_attempts)
        self.max_flood_waits = int(max_flood_waits)
        self.backoff = float(backoff)
        self._bot: Any = None
        self._lock: asyncio.Lock | None = None
        # The sending side: its loop, and what lives in that loop only.
        self._sender: SenderLoop | None = None
        self._sender_guard = threading.Lock()
        self._sending_bot: Any = None
        self._sending_lock: asyncio.Lock | None = None
        self._chat_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        token_text = reveal(token)
        head = token_text.split(":", 1)[0]
        self.bot_id: int | None = int(head) if head.isdigit() else None

    def _new_bot(self) -> Any:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        # httpx logs every request at INFO (with the token in the URL, redacted by
        # protect_secrets): one line per message sent is noise; keep its warnings.
        httpx_logger = logging.getLogger("httpx")
        if httpx_logger.level == logging.NOTSET:
            httpx_logger.setLevel(logging.WARNING)

        def request(read: float) -> HTTPXRequest:
            return HTTPXRequest(
                connection_pool_size=64,
                connect_timeout=self.connect_timeout,
                read_timeout=read,
                write_timeout=self.read_timeout,
                pool_timeout=self.read_timeout,
            )

        return Bot(
            reveal(self._token),
            base_url=self.base_url,
            request=request(self.read_timeout),
            get_updates_request=request(self.read_timeout),
        )

    async def bot(self) -> Any:
        """The input side's initialised ``telegram.Bot`` (``initialize`` calls getMe once)."""
        if self._bot is not None:
            return self._bot
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._bot is None:
                bot = self._new_bot()
                await bot.initialize()
                self._bot = bot
        return self._bot

    async def username(self) -> str | None:
        """The bot's username (from getMe)."""
        bot = await self.bot()
        return str(bot.username) if bot.username else None

    def _sender_loop(self) -> SenderLoop:
        with self._sender_guard:
            if self._sender is None:
                self._sender = SenderLoop("telegram-sender")
            return self._sender

    async def _bot_for_sending(self) -> Any:
        """The sender loop's initialised ``telegram.Bot`` (call in the sender loop)."""
        if self._sending_bot is not None:
            return self._sending_bot
        if self._sending_lock is None:
            self._sending_lock = asyncio.Lock()
        async with self._sending_lock:
            if self._sending_bot is None:
                bot = self._new_bot()
                await bot.initialize()
                self._sending_bot = bot
        return self._sending_bot

    async def send(
        self,
        chat_id: int | str,
        text: str,
        reply_to: int | None = None,
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> int:
        """Sends one message within the limits, retrying what can be retried.

        The work is done in the sender loop; this only waits for it.

        Args:
            chat_id: The chat.
            text: At most 4,096 characters (the renderer splits longer replies).
            reply_to: A message to thread under (sent anyway if it is gone).
            on_sent: Called (blocking, on a worker thread, must not raise) the moment Telegram
                accepted the message, before this returns: the reply ledger's write.

        Returns:
            The sent message's id.

        Raises:
            PermanentDeliveryError: Telegram refused it (blocked bot, unknown chat, bad request).
            DeliveryError: Still failing after the retries (timeouts, network, flood control).
        """
        sender = self._sender_loop()
        return await sender.run(self._send_in_order(chat_id, text, reply_to, on_sent))

    async def _send_in_order(
        self,
        chat_id: int | str,
        text: str,
        reply_to: int | None,
        on_sent: Callable[[], None] | None,
    ) -> int:
        bot = await self._bot_for_sending()
        key = str(chat_id)
        # One send at a time per chat, in arrival order: the per-chat interval then holds as
        # Telegram measures it, even when several messages for one chat are processed together.
        lock, users = self._chat_locks.get(key, (asyncio.Lock(), 0))
        self._chat_locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._send_now(bot, chat_id, text, reply_to, on_sent)
        finally:
            lock, users = self._chat_locks[key]
            if users <= 1:
                del self._chat_locks[key]
            else:
                self._chat_locks[key] = (lock, users - 1)

    async def _send_now(
        self,
        bot: Any,
        chat_id: int | str,
        text: str,
        reply_to: int | None,
        on_sent: Callable[[], None] | None,
    ) -> int:
        from telegram.error import NetworkError

        send = _Send(target=chat_id)
        retrying = AsyncRetrying(
            retry=retry_if_exception(_network_trouble),
            stop=stop_after_attempt(max(1, self.max_attempts)),
            wait=send_backoff(self.backoff),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            sent_id: int = await retrying(
                self._send_obeying_flood_control, bot, send, text, reply_to
            )
        except NetworkError as error:  # includes TimedOut; BadRequest was refused at once
            if not _network_trouble(error):
                raise
            tries = max(1, self.max_attempts)
            raise DeliveryError(f"{type(error).__name__} {tries} times: {error}") from error
        if on_sent is not None:
            # A worker thread of this loop: the next sends are not held up by the write.
            await asyncio.get_running_loop().run_in_executor(None, on_sent)
        return sent_id

    async def _send_obeying_flood_control(
        self, bot: Any, send: _Send, text: str, reply_to: int | None
    ) -> int:
        """One try of a send: waits out Telegram's flood control and follows a group's migration.

        Those are Telegram's instructions, not failures: a 429 waits exactly its ``retry_after``
        (every send pauses, as flood control is not per chat) and counts towards
        ``max_flood_waits`` only; a network error or timeout ends the try (tenacity retries it).

        Raises:
            PermanentDeliveryError: Telegram refused it (blocked bot, unknown chat, bad request).
            DeliveryError: Flood control more than ``max_flood_waits`` times.
            telegram.error.NetworkError: A network error or a timeout.
        """
        from telegram import ReplyParameters
        from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter

        while True:
            await self.limiter.wait(send.target)
            try:
                sent = await bot.send_message(
                    chat_id=send.target,
                    text=text,
                    reply_parameters=(
                        ReplyParameters(reply_to, allow_sending_without_reply=True)
                        if reply_to
                        else None
                    ),
                )
            except RetryAfter as error:
                send.floods += 1
                wait = retry_after_seconds(error)
                logger.warning("telegram: flood control (429), retrying after %.1f s", wait)
                if send.floods > self.max_flood_waits:
                    raise DeliveryError(f"flood control {send.floods} times in a row") from error
                self.limiter.pause(wait)
                continue
            except ChatMigrated as error:
                logger.info(
                    "telegram: group %s became supergroup %s", send.target, error.new_chat_id
                )
                send.target = error.new_chat_id
                continue
            except (Forbidden, BadRequest, InvalidToken) as error:
                raise PermanentDeliveryError(f"{type(error).__name__}: {error}") from error
            self.limiter.sent(send.target)
            return int(sent.message_id)

    async def close(self) -> None:
        """Closes the HTTP connections and stops the sender loop (started again if needed)."""
        if self._bot is not None:
            bot, self._bot = self._bot, None
            try:
                await bot.shutdown()
            except Exception:  # noqa: BLE001 - closing must not fail the shutdown
                logger.debug("telegram: error while closing the client", exc_info=True)
        with self._sender_guard:
            sender, self._sender = self._sender, None
        if sender is None:
            return
        try:
            await sender.run(self._close_sending())
        except Exception:  # noqa: BLE001 - closing must not fail the shutdown
            logger.debug("telegram: error while closing the sender", exc_info=True)
        await asyncio.to_thread(sender.stop)

    async def _close_sending(self) -> None:
        """In the sender loop: ends what is left, closes its Bot and its worker threads."""
        mine = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not mine]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        bot, self._sending_bot, self._sending_lock = self._sending_bot, None, None
        self._chat_locks.clear()
        if bot is not None:
            await bot.shutdown()
        await asyncio.get_running_loop().shutdown_default_executor()
