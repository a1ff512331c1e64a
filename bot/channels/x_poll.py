"""Polling X for mentions and DMs: pagination, cursors that survive a restart, 429 back-off.

Each poll reads every page that is new since the stream's cursor, hands each post or DM (oldest
first) to ``accept`` — which records it in the inbox before anything else — and only then moves
the cursor. A crash between the two leaves the cursor behind: the next poll fetches the same
posts again and the inbox drops them as duplicates, so nothing is skipped and nothing is answered
twice.

Cursors (in the inbox's cursor table, so several servers and restarts share them):

- ``x:mentions:since_id`` / ``x:dm:since_id`` — everything up to this id has been recorded.
- ``x:mentions:resume`` / ``x:dm:resume`` — a poll interrupted between pages (a 429 on page 3 of
  a busy night) records what it fetched and remembers where to continue (``until_id`` for
  mentions, the page token for DMs). It only saves requests: without it the next poll starts
  from the top again and the inbox drops what it already has.

On first start a cursor is set to the snowflake id of "now" (minus ``backfill``): the bot answers
what is posted from then on, not the account's history.

The X calls block; they run in a thread executor, so the event loop never waits on X.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

import requests
import tweepy

from bot.channels.x_client import Page, RateLimited, XApi, users_by_id, wait_seconds
from bot.channels.x_data import (
    DirectMessage,
    Post,
    addressed_hint,
    dm_inbound,
    newest_id,
    post_inbound,
    snowflake_at,
)
from bot.inbound import Inbound

logger = logging.getLogger(__name__)

MENTIONS = "mentions"
DMS = "dm"
CURSOR = "x:{stream}:since_id"
RESUME = "x:{stream}:resume"
# X's mentions timeline serves the newest 800 posts: 8 pages of 100. DMs have no such cap; a poll
# stops after this many pages and continues from there next time.
MAX_PAGES = 10
# Errors worth a warning and a later retry (never their arguments: they could hold a request).
_TRANSIENT = (tweepy.TweepyException, requests.RequestException, ValueError, KeyError)

#: Records one inbound message and starts processing it; False when it was a duplicate.
Accept = Callable[[str, Inbound, dict[str, Any]], Awaitable[bool]]
T = TypeVar("T")


@dataclass
class PollResult:
    """What one poll did: posts or DMs accepted, skipped (ours, groups, unreadable), pages read."""

    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    pages: int = 0
    complete: bool = True
    backoff_until: float | None = None


class XPoller:
    """Polls one brand account's mentions and DMs into the inbox."""

    def __init__(
        self,
        api: XApi,
        inbox: Any,
        *,
        brand_id: str,
        brand_handle: str,
        accept: Accept,
        backfill: timedelta = timedelta(0),
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
        page_size: int = 100,
    ) -> None:
        """Sets the poller up (nothing is fetched yet).

        Args:
            api: The X API client.
            inbox: The channels' inbox (``bot.channels.inbox.Inbox``): cursors live there.
            brand_id: The brand account's user id.
            brand_handle: The brand's @handle.
            accept: Records and dispatches one message: ``accept(platform_id, inbound, payload)``.
            backfill: On the very first start, also answer what was posted this long before.
            executor: Where the blocking calls run (the loop's default executor when None).
            clock: Epoch seconds (tests pass their own).
            page_size: Posts per page (X allows 5..100 for mentions, 1..100 for DMs).
        """
        self.api = api
        self.inbox = inbox
        self.brand_id = str(brand_id)
        self.brand_handle = brand_handle
        self.accept = accept
        self.backfill = backfill
        self.executor = executor
        self.clock = clock
        self.page_size = page_size
        self.backoff_until: dict[str, float] = {MENTIONS: 0.0, DMS: 0.0}
        self._locks = {MENTIONS: asyncio.Lock(), DMS: asyncio.Lock()}

    async def _blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, *args, **kwargs))

    async def _get(self, name: str) -> str | None:
        value = await self._blocking(self.inbox.get_cursor, name)
        return value or None

    async def _set(self, name: str, value: str) -> None:
        await self._blocking(self.inbox.set_cursor, name, value)

    async def initialise_cursors(self) -> None:
        """Gives each stream a starting point on the very first start (kept ever after)."""
        start = datetime.fromtimestamp(self.clock(), tz=timezone.utc) - self.backfill
        for stream in (MENTIONS, DMS):
            if await self._get(CURSOR.format(stream=stream)) is None:
                await self._set(CURSOR.format(stream=stream), str(snowflake_at(start)))
                logger.info("X %s: first start, answering what is posted from %s on", stream, start)

    def _backing_off(self, stream: str) -> bool:
        return self.clock() < self.backoff_until[stream]

    def _back_off(self, stream: str, reset: float | None) -> float:
        until = self.clock() + wait_seconds(reset, now=self.clock())
        self.backoff_until[stream] = max(self.backoff_until[stream], until)
        logger.warning(
            "X %s: rate limited, next request after %s",
            stream,
            datetime.fromtimestamp(self.backoff_until[stream], tz=timezone.utc).isoformat(),
        )
        return self.backoff_until[stream]

    # --- mentions -------------------------------------------------------------------------------

    async def poll_mentions(self) -> PollResult:
        """Reads new mentions, records them, moves the cursor. Never raises on X's failures."""
        if self._backing_off(MENTIONS):
            return PollResult(complete=False, backoff_until=self.backoff_until[MENTIONS])
        async with self._locks[MENTIONS]:
            return await self._poll_mentions()

    async def _poll_mentions(self) -> PollResult:
        since = await self._get(CURSOR.format(stream=MENTIONS))
        if since is None:
            await self.initialise_cursors()
            since = await self._get(CURSOR.format(stream=MENTIONS))
        resume = _load(await self._get(RESUME.format(stream=MENTIONS)))
        until = resume.get("until")
        result = PollResult()
        pages: list[Page] = []
        token: str | None = None
        try:
            while True:
                page = await self._blocking(
                    self.api.mentions,
                    self.brand_id,
                    since_id=since,
                    until_id=until,
                    pagination_token=token,
                    max_results=self.page_size,
                )
                pages.append(page)
                token = page.next_token
                exhausted = page.exhausted_until()
                if token is None:
                    if exhausted is not None:
                        result.backoff_until = self._back_off(MENTIONS, exhausted)
                    break
                if exhausted is not None or len(pages) >= MAX_PAGES:
                    raise RateLimited(MENTIONS, exhausted)
        except RateLimited as limited:
            result.complete = False
            if limited.reset is not None or not pages:
                result.backoff_until = self._back_off(MENTIONS, limited.reset)
        except _TRANSIENT as error:
            result.complete = False
            logger.warning("X mentions: poll failed (%s); retrying next time", _describe(error))
        result.pages = len(pages)
        tweets = [tweet for page in pages for tweet in page.data]
        users = users_by_id(pages)
        await self._accept_posts(tweets, users, result)
        fetched_newest = newest_id(t.get("id") for t in tweets)
        newest = newest_id([fetched_newest, resume.get("newest"), since])
        if result.complete:
            if newest and newest != since:
                await self._set(CURSOR.format(stream=MENTIONS), newest)
            if resume:
                await self._set(RESUME.format(stream=MENTIONS), "")
        elif tweets:
            oldest = min(int(t["id"]) for t in tweets)
            state = {"newest": newest, "until": str(oldest)}
            await self._set(RESUME.format(stream=MENTIONS), json.dumps(state))
        return result

    async def _accept_posts(
        self, tweets: list[dict[str, Any]], users: list[dict[str, Any]], result: PollResult
    ) -> None:
        by_id = {str(user.get("id")): user for user in users}
        for tweet in sorted(tweets, key=lambda t: int(t.get("id") or 0)):
            author = by_id.get(str(tweet.get("author_id")))
            authors = [author] if author else []
            try:
                post = Post.from_v2(tweet, authors)
                if post.author_id == self.brand_id:
                    result.skipped += 1  # our own post (a reply we sent that names us)
                    continue
                hint = addressed_hint(post, brand_id=self.brand_id, brand_handle=self.brand_handle)
                inbound = post_inbound(post, hint)
            except ValueError as error:
                result.skipped += 1
                logger.warning("X mention rejected: %s", error)
                continue
            payload = {"tweet": tweet, "users": authors}
            if await self.accept(f"tweet:{post.id}", inbound, payload):
                result.accepted += 1
            else:
                result.duplicates += 1

    # --- DMs -----------------------------------------------------------------------------------

    async def poll_dms(self) -> PollResult:
        """Reads new DM events, records the customers' messages, moves the cursor."""
        if self._backing_off(DMS):
            return PollResult(complete=False, backoff_until=self.backoff_until[DMS])
        async with self._locks[DMS]:
            return await self._poll_dms()

    async def _poll_dms(self) -> PollResult:
        since_raw = await self._get(CURSOR.format(stream=DMS))
        if since_raw is None:
            await self.initialise_cursors()
            since_raw = await self._get(CURSOR.format(stream=DMS))
        since = int(since_raw or 0)
        resume = _load(await self._get(RESUME.format(stream=DMS)))
        token: str | None = resume.get("token")
        result = PollResult()
        pages: list[Page] = []
        events: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    page = await self._blocking(
                        self.api.dm_events, pagination_token=token, max_results=self.page_size
                    )
                except tweepy.BadRequest:
                    if not token or not resume:
                        raise
                    # The saved page token expired: start from the newest again (the inbox drops
                    # what was recorded already).
                    resume, token = {}, None
                    await self._set(RESUME.format(stream=DMS), "")
                    continue
                pages.append(page)
                fresh = [e for e in page.data if int(e.get("id") or 0) > since]
                events.extend(fresh)
                exhausted = page.exhausted_until()
                token = page.next_token
                if len(fresh) < len(page.data) or token is None:
                    if exhausted is not None:
                        result.backoff_until = self._back_off(DMS, exhausted)
                    break
                if exhausted is not None or len(pages) >= MAX_PAGES:
                    raise RateLimited(DMS, exhausted)
        except RateLimited as limited:
            result.complete = False
            if limited.reset is not None or not pages:
                result.backoff_until = self._back_off(DMS, limited.reset)
        except _TRANSIENT as error:
            result.complete = False
            token = None
            logger.warning("X DMs: poll failed (%s); retrying next time", _describe(error))
        result.pages = len(pages)
        await self._accept_dms(events, users_by_id(pages), result)
        newest = newest_id([newest_id(e.get("id") for e in events), resume.get("newest"), since])
        if result.complete:
            if newest and int(newest) != since:
                await self._set(CURSOR.format(stream=DMS), newest)
            if resume:
                await self._set(RESUME.format(stream=DMS), "")
        elif events and token:
            await self._set(
                RESUME.format(stream=DMS), json.dumps({"newest": newest, "token": token})
            )
        return result

    async def _accept_dms(
        self, events: list[dict[str, Any]], users: list[dict[str, Any]], result: PollResult
    ) -> None:
        by_id = {str(user.get("id")): user for user in users}
        for event in sorted(events, key=lambda e: int(e.get("id") or 0)):
            sender = by_id.get(str(event.get("sender_id")))
            senders = [sender] if sender else []
            try:
                message = DirectMessage.from_v2(event, senders)
                if message is None or message.sender_id == self.brand_id:
                    result.skipped += 1  # not a message, or one we sent
                    continue
                if not message.one_to_one(self.brand_id):
                    result.skipped += 1
                    logger.info("X DM %s: group conversation, not answered", message.id)
                    continue
                inbound = dm_inbound(message)
            except ValueError as error:
                result.skipped += 1
                logger.warning("X DM rejected: %s", error)
                continue
            if await self.accept(
                f"dm:{message.id}", inbound, {"dm_event": event, "users": senders}
            ):
                result.accepted += 1
            else:
                result.duplicates += 1

    async def idle(self, timeout: float) -> bool:
        """Waits until no poll is running (at most ``timeout`` seconds); True if none is."""
        try:
            for lock in self._locks.values():
                await asyncio.wait_for(lock.acquire(), timeout)
                lock.release()
        except asyncio.TimeoutError:
            return False
        return True


def _load(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _describe(error: BaseException) -> str:
    """An error for a log line: its type and X's status, never request details."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"{type(error).__name__}" + (f" {status}" if status is not None else "")
