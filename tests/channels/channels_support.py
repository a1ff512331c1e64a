"""Helpers of the channel tests: a connector served by Sanic on 127.0.0.1 without Rasa.

:class:`ChannelHost` mounts a connector's blueprint the way ``rasa run`` does
(``/webhooks/<name>/...``, listeners included) in its own thread and event loop; the message
handler stands in for Rasa's agent: by default it echoes each message back through the
connector's real output channel, so replies reach the fake platform through the real client.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sqlalchemy import select

from afterhours.bench.fakes.telegram_server import free_port
from bot.channels.inbox import Inbox
from bot.channels.schema import channel_opt_outs
from handoff.clock import naive_is_utc

Handler = Callable[[UserMessage], Awaitable[Any]]


class ChannelHost:
    """A connector on a real HTTP server, with a stand-in for Rasa's message handler."""

    def __init__(self, connector: Any, handler: Handler | None = None) -> None:
        self.connector = connector
        self.handler = handler or self.echo
        self.messages: list[UserMessage] = []
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/{self.connector.name()}/webhook"

    async def echo(self, message: UserMessage) -> None:
        """Replies ``echo: <text>`` through the connector's output channel."""
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    async def _handle(self, message: UserMessage) -> None:
        with self._lock:
            self.messages.append(message)
        await self.handler(message)

    async def _start(self) -> None:
        # Several apps in one process: Sanic's start-up rewrite of its HTTP class must keep the
        # original to rewrite it again (what its test mode does).
        Sanic.test_mode = True
        app = Sanic(f"channels_test_{uuid.uuid4().hex[:10]}")
        app.config.ACCESS_LOG = False
        app.blueprint(
            self.connector.blueprint(self._handle),
            url_prefix=f"/webhooks/{self.connector.name()}",
        )
        self._server = await app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()

    async def _stop(self) -> None:
        await self._server.before_stop()
        self._server.close()
        await self._server.wait_closed()
        await self._server.after_stop()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        """Runs a coroutine in the server's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> ChannelHost:
        self._thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> ChannelHost:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_for_messages(self, count: int, timeout: float = 15.0) -> list[UserMessage]:
        """Waits until the handler saw ``count`` messages."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = list(self.messages)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Waits until the connector has no message in flight."""
        deadline = time.monotonic() + timeout
        while len(self.connector.tasks) and time.monotonic() < deadline:
            time.sleep(0.02)


def opt_out_row(inbox: Inbox, channel: str, sender: str) -> dict[str, Any] | None:
    """The stored opt-out of a sender (keyword and time kept for the record), or None."""
    with inbox.engine.connect() as connection:
        row = connection.execute(
            select(channel_opt_outs).where(
                channel_opt_outs.c.channel == channel, channel_opt_outs.c.sender == sender
            )
        ).first()
    if row is None:
        return None
    record = dict(row._mapping)
    record["changed_at"] = naive_is_utc(record["changed_at"])
    return record


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Polls ``predicate`` until it is true or the time is up; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
