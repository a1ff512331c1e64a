"""A fake Telegram Bot API on 127.0.0.1, shaped like https://core.telegram.org/bots/api.

- ``/bot<token>/<method>`` with parameters in the query string, a urlencoded or multipart form,
  or a JSON body (as the Bot API accepts them); every answer is ``{"ok": true, "result": ...}`` or
  ``{"ok": false, "error_code": ..., "description": ...}`` (plus ``parameters.retry_after`` on 429).
- ``getMe``, ``setWebhook`` (``secret_token`` checked as Telegram does), ``deleteWebhook``,
  ``getWebhookInfo``, ``getUpdates`` (long polling with ``offset``/``limit``/``timeout``; 409 while
  a webhook is set), ``sendMessage`` (400 for an empty or over-4096-character text, 403 for a chat
  that blocked the bot or a user who never started it: ``not_started``).
- As Telegram, it delivers updates to the registered webhook with the
  ``X-Telegram-Bot-Api-Secret-Token`` header (:meth:`FakeTelegram.push`), or keeps them for
  ``getUpdates``; :meth:`FakeTelegram.message_update` builds updates like the documentation's.
- Faults on demand: :meth:`fail_next` (e.g. 429 with ``retry_after``), :meth:`stall_next` (answer
  late, after the client gave up, and drop the request).
- It records every call and every message sent, and counts sends that broke Telegram's limits
  (two messages to one chat within ~1 s, more than 30 in about a second).

It runs in its own thread and event loop, so synchronous tests and servers in other loops can use
it alike.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Telegram's limits as the fake checks them, with slack for the jitter between when a client sends
# and when a request arrives: two messages to one chat less than 0.95 s apart, or more than 30
# messages within 0.9 s, count as violations.
PER_CHAT_INTERVAL = 0.95
OVERALL_PER_SECOND = 30
OVERALL_WINDOW = 0.9


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThreadedServer:
    """Runs an aiohttp application on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        """The application (subclasses build it)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        """Runs a coroutine in the server's loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def acall(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """The same from another event loop."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wrap_future(future)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        # Requests still waiting (a long poll, a stalled answer) end with the server.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def start(self) -> ThreadedServer:
        """Starts serving."""
        self._thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        """Stops serving and ends the thread."""
        try:
            self.call(self._stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Sent:
    """One message the bot sent."""

    chat_id: int
    text: str
    reply_to: int | None
    message_id: int
    at: float


@dataclass
class Fault:
    """An injected failure of one method call."""

    status: int = 429
    description: str = ""
    retry_after: int | None = None
    stall: float = 0.0


@dataclass
class Delivery:
    """What the bot's webhook answered to one update."""

    update_id: int
    status: int
    body: str


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(eq=False)
class FakeTelegram(ThreadedServer):
    """The fake Bot API for one bot. ``base_url`` is what ``telegram.Bot(base_url=...)`` takes."""

    token: str = "123456789:AAH-fake-token-for-tests_0123456789ab"
    username: str = "AuroraCareBot"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    blocked_chats: set[int] = field(default_factory=set)
    # Users who never started the bot: Telegram refuses a message to their private chat until a
    # private message of theirs reaches the bot (they pressed Start).
    not_started: set[int] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self.bot_id = int(self.token.split(":")[0])
        self._updates: list[dict[str, Any]] = []
        self._update_event: asyncio.Event | None = None
        self._next_update_id = 700_000_000
        self._next_message_id = 1
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._last_by_chat: dict[int, float] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        self.timeline: list[tuple[str, float]] = []

    # -- the server side ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The Bot API base URL (the token is appended by the client)."""
        return f"{self.url}/bot"

    def app(self) -> web.Application:
        """Routes every ``/bot<token>/<method>``."""
        application = web.Application(client_max_size=10 * 1024 * 1024)
        application.router.add_route("*", "/bot{token}/{method}", self._handle)
        return application

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params

    @staticmethod
    def _json_value(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    def _user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Aurora Care",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        with self._lock:
            self.calls.append((method, params))
            self.timeline.append((method.lower(), time.monotonic()))
        queue = self._faults.get(method.lower())
        if queue:
            fault = queue.popleft()
            if fault.stall:
                # Answer after the client gave up; the request is lost (nothing happens).
                await asyncio.sleep(fault.stall)
                return _error(504, "Gateway Timeout")
            if fault.retry_after is not None:
                return _error(
                    fault.status,
                    fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                    retry_after=fault.retry_after,
                )
            return _error(fault.status, fault.description or "Internal Server Error")
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _m_getme(self, _params: dict[str, Any]) -> Any:
        return self._user()

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url", "")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.match(str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        if not url:
            self.webhook = None
            return True
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": self._json_value(params.get("allowed_updates")),
        }
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, _params: dict[str, Any]) -> Any:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self._updates and time.monotonic() < deadline:
            if self._update_event is None:
                self._update_event = asyncio.Event()
            self._update_event.clear()
            try:
                await asyncio.wait_for(
                    self._update_event.wait(), max(0.01, deadline - time.monotonic())
                )
            except asyncio.TimeoutError:
                break
        return self._updates[:limit]

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat = params.get("chat_id")
        if chat in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(chat)
        except ValueError:
            return _error(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if _utf16_length(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.not_started:
            return _error(403, "Forbidden: bot can't initiate conversation with a user")
        reply = self._json_value(params.get("reply_parameters"))
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        if reply_to is None and params.get("reply_to_message_id"):
            reply_to = int(params["reply_to_message_id"])
        now = time.monotonic()
        with self._lock:
            last = self._last_by_chat.get(chat_id)
            if last is not None and now - last < PER_CHAT_INTERVAL:
                self.violations.append(f"chat {chat_id}: two messages {now - last:.2f} s apart")
            self._last_by_chat[chat_id] = now
            while self._recent and now - self._recent[0] >= OVERALL_WINDOW:
                self._recent.popleft()
            self._recent.append(now)
            if len(self._recent) > OVERALL_PER_SECOND:
                self.violations.append(f"{len(self._recent)} messages within {OVERALL_WINDOW} s")
            message_id = self._next_message_id
            self._next_message_id += 1
            self.sent.append(Sent(chat_id, text, reply_to, message_id, now))
        return {
            "message_id": message_id,
            "from": self._user(),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            "text": text,
        }

    # -- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str = "",
        count: int = 1,
    ) -> None:
        """The next ``count`` calls of ``method`` fail (429 + ``retry_after`` for flood control)."""
        for _ in range(count):
            self._faults[method.lower()].append(Fault(status, description, retry_after))

    def stall_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` answer only after ``seconds`` and are dropped."""
        for _ in range(count):
            self._faults[method.lower()].append(Fault(stall=seconds))

    # -- the platform side -------------------------------------------------------------------

    def message_update(
        self,
        text: str | None,
        *,
        chat_id: int = 5550001,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ana",
        language_code: str = "en",
        kind: str = "message",
        extra: dict[str, Any] | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """An update carrying a message, shaped like the Bot API's ``Update``.

        Args:
            text: The text (None for a message without one: pass the content in ``extra``).
            chat_id: The chat (a private chat's id is the user's id).
            user_id: The author (defaults to the chat id).
            chat_type: "private", "group", "supergroup" or "channel".
            first_name: The author's first name.
            language_code: The author's language.
            kind: "message" or "edited_message".
            extra: More message fields (``sticker``, ``photo``, ``caption``, ``reply_to_message``).
            update_id: The id (the next one when None).
        """
        if update_id is None:
            update_id = self._next_update_id
            self._next_update_id += 1
        author = {
            "id": user_id if user_id is not None else chat_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
            # Writing to the bot privately (Start) lets it answer there.
            self.not_started.discard(chat_id)
        else:
            chat["title"] = "Aurora fans"
        message: dict[str, Any] = {
            "message_id": update_id % 100_000 + 1,
            "from": author,
            "chat": chat,
            "date": int(time.time()),
        }
        if kind == "edited_message":
            message["edit_date"] = int(time.time())
        if text is not None:
            message["text"] = text
            mentions = [
                {"type": "mention", "offset": m.start(), "length": m.end() - m.start()}
                for m in re.finditer(r"@\w+", text)
            ]
            if mentions:
                message["entities"] = mentions
        message.update(extra or {})
        return {"update_id": update_id, kind: message}

    def next_update_id(self) -> int:
        """Reserves an update id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    async def _post_update(
        self, update: dict[str, Any], secret: str | None, body: bytes | None
    ) -> Delivery:
        assert self.session is not None and self.webhook is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        data = body if body is not None else json.dumps(update).encode()
        async with self.session.post(self.webhook["url"], data=data, headers=headers) as answer:
            delivery = Delivery(
                int(update.get("update_id", -1)), answer.status, await answer.text()
            )
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    async def _queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        if self._update_event is not None:
            self._update_event.set()

    def push(
        self,
        update: dict[str, Any],
        *,
        secret: str | None | bool = True,
        body: bytes | None = None,
    ) -> Delivery | None:
        """Delivers an update as Telegram would: to the webhook if one is set, else to getUpdates.

        Args:
            update: The update.
            secret: True sends the registered secret token; a string sends that instead (a
                forgery); None sends no header.
            body: Raw bytes to send instead of the update's JSON (malformed input).

        Returns:
            The webhook's answer, or None when the update waits for getUpdates.
        """
        if not self.webhook:
            self.call(self._queue_update(update))
            return None
        if secret is None or secret is False:
            token = None
        elif secret is True:
            token = self.webhook.get("secret_token")
        else:
            token = str(secret)
        return self.call(self._post_update(update, token, body))

    def deliver_many(self, updates: list[dict[str, Any]], concurrency: int = 40) -> list[float]:
        """Delivers updates to the webhook, ``concurrency`` at a time (a burst).

        Returns:
            When each was sent (``time.monotonic()``), in the updates' order.
        """

        async def burst() -> list[float]:
            gate = asyncio.Semaphore(concurrency)
            times = [0.0] * len(updates)
            secret = (self.webhook or {}).get("secret_token")

            async def one(index: int) -> None:
                async with gate:
                    times[index] = time.monotonic()
                    await self._post_update(updates[index], secret, None)

            await asyncio.gather(*(one(i) for i in range(len(updates))))
            return times

        return self.call(burst(), timeout=3600)

    async def apush(self, update: dict[str, Any], **kwargs: Any) -> Delivery | None:
        """:meth:`push` from another event loop."""
        return await asyncio.to_thread(self.push, update, **kwargs)

    def sent_to(self, chat_id: int) -> list[Sent]:
        """The messages sent to one chat, in order."""
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    def wait_for(self, count: int, timeout: float = 30.0, chat_id: int | None = None) -> list[Sent]:
        """Waits until ``count`` messages were sent (to ``chat_id``, if given)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sent_to(chat_id) if chat_id is not None else list(self.sent)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every call of ``method``."""
        with self._lock:
            return [p for m, p in self.calls if m.lower() == method.lower()]
