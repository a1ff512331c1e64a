"""A fake X API v2 on 127.0.0.1: the endpoints the X connector uses, shaped like X's documentation.

- ``GET /2/users/:id/mentions`` — newest first, ``since_id`` / ``until_id`` / ``start_time``,
  ``max_results`` (5..100, default 10), ``pagination_token`` with ``meta.next_token``; only the
  requested ``tweet.fields`` are returned (besides ``id``, ``text`` and ``edit_history_tweet_ids``)
  and ``includes.users`` only with ``expansions=author_id``.
- ``GET /2/dm_events`` — every DM event of the account (sent and received), newest first,
  ``max_results`` (1..100, default 100), ``pagination_token``; user context only.
- ``POST /2/tweets`` and ``POST /2/dm_conversations/with/:participant_id/messages`` — ``201`` with
  the documented bodies; what the brand posts becomes part of the timeline (our own DMs come back
  in ``/2/dm_events``, as on X).
- ``429 Too Many Requests`` with ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` while an
  endpoint is exhausted (:meth:`FakeX.exhaust`).
- The X side of the Account Activity API: :meth:`FakeX.crc_check` and :meth:`FakeX.deliver`
  (v1.1-shaped events, signed with the consumer secret like X does).

Authorization is checked: app-only endpoints accept ``Bearer <token>`` or OAuth 1.0a, user-context
endpoints only OAuth 1.0a with the configured consumer key and access token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

TWITTER_EPOCH_MS = 1288834974657
MENTION = re.compile(r"(?<![\w@＠])[@＠](\w{1,15})")
DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
DEFAULT_DM_FIELDS = ("id", "event_type", "text")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    at: float
    status: int
    auth: str


@dataclass
class Window:
    """An endpoint's rate-limit window: ``remaining`` requests until ``reset`` (epoch seconds)."""

    reset: int
    remaining: int
    limit: int = 15


@dataclass
class FakeX:
    """The fake X API. Use as a context manager; ``base_url`` is where it listens."""

    brand_username: str = "AuroraCare"
    bearer_token: str = "test-bearer-token"
    consumer_key: str = "test-consumer-key"
    consumer_secret: str = "test-consumer-secret"
    access_token: str = ""
    access_token_secret: str = "test-access-secret"
    brand_id: str = "1500000000000000001"
    mentions_cap: int | None = None  # X serves the 800 newest mentions; None: all
    users: dict[str, str] = field(default_factory=dict)  # id -> username
    tweets: list[dict[str, Any]] = field(default_factory=list)
    dm_events: list[dict[str, Any]] = field(default_factory=list)
    posted_tweets: list[dict[str, Any]] = field(default_factory=list)
    posted_dms: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    windows: dict[str, Window] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)  # post ids left out of the mentions timeline
    # endpoint -> seconds to wait before answering each of its next requests (a slow X)
    delays: dict[str, list[float]] = field(default_factory=dict)
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    on_post: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if not self.access_token:
            self.access_token = f"{self.brand_id}-test-access-token"
        self.users.setdefault(self.brand_id, self.brand_username)
        self._lock = threading.RLock()
        self._sequence = 0
        self._last_ms = 0
        self._next_user = 2000
        self._by_name = {name.casefold(): user_id for user_id, name in self.users.items()}
        self._by_id: dict[str, dict[str, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where the fake listens, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeX:
        """Starts serving on a free loopback port (in a thread with its own event loop)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as error:  # noqa: BLE001 - reported to the starting thread
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-x", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/dm_events", self._dm_events)
        app.router.add_get(
            "/2/dm_conversations/with/{participant}/dm_events", self._conversation_events
        )
        app.router.add_post("/2/tweets", self._create_tweet)
        app.router.add_post("/2/dm_conversations/with/{participant}/messages", self._create_dm)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        """Stops serving (requests in progress are given a second to finish)."""
        if self._loop is not None and self._runner is not None and self._loop.is_running():
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with contextlib.suppress(Exception):  # stopping anyway
                cleanup.result(timeout=10)
            self._runner = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeX:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the world: users, posts, DMs ---------------------------------------------------------

    def snowflake(self) -> str:
        """A new id, increasing, encoding the current time like X's."""
        with self._lock:
            now_ms = int(time.time() * 1000)
            if now_ms <= self._last_ms:
                self._sequence += 1
                if self._sequence >= 4096:
                    self._last_ms += 1
                    self._sequence = 0
            else:
                self._last_ms, self._sequence = now_ms, 0
            return str(((self._last_ms - TWITTER_EPOCH_MS) << 22) | self._sequence)

    def user(self, username: str) -> str:
        """The id of ``username`` (created on first use)."""
        with self._lock:
            known = self._by_name.get(username.casefold())
            if known is not None:
                return known
            self._next_user += 1
            user_id = str(900000000 + self._next_user)
            self.users[user_id] = username
            self._by_name[username.casefold()] = user_id
            return user_id

    def _mentions_of(self, text: str, offset: int = 0) -> list[dict[str, Any]]:
        found = []
        for match in MENTION.finditer(text):
            found.append(
                {
                    "start": match.start() + offset,
                    "end": match.end() + offset,
                    "username": match.group(1),
                    "id": self.user(match.group(1)),
                }
            )
        return found

    def post(
        self,
        author: str,
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        quote_of: dict[str, Any] | None = None,
        retweet_of: dict[str, Any] | None = None,
        prefix: list[str] | None = None,
    ) -> dict[str, Any]:
        """Someone posts. Returns the stored v2 tweet (every field).

        Args:
            author: The author's username.
            text: What the author typed.
            reply_to: The tweet replied to; X prefixes the reply with ``@`` + its author (and
                the ``prefix`` names, when the thread had more people).
            quote_of: The tweet quoted.
            retweet_of: The tweet retweeted (the text becomes ``RT @author: text``).
            prefix: Extra names X puts in the reply prefix.
        """
        author_id = self.user(author)
        references = []
        body_start = 0
        if retweet_of is not None:
            original_author = self.users[retweet_of["author_id"]]
            text = f"RT @{original_author}: {retweet_of['text']}"
            references.append({"type": "retweeted", "id": retweet_of["id"]})
        if quote_of is not None:
            references.append({"type": "quoted", "id": quote_of["id"]})
        if reply_to is not None:
            names = [self.users[reply_to["author_id"]], *(prefix or [])]
            names = [name for name in names if name.casefold() != author.casefold()]
            reply_prefix = "".join(f"@{name} " for name in names)
            text = reply_prefix + text
            body_start = len(reply_prefix)
            references.append({"type": "replied_to", "id": reply_to["id"]})
        tweet_id = self.snowflake()
        created = datetime.now(timezone.utc)
        tweet: dict[str, Any] = {
            "id": tweet_id,
            # X escapes &, < and > in the text of a post.
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "edit_history_tweet_ids": [tweet_id],
            "author_id": author_id,
            "created_at": _iso(created),
            "conversation_id": reply_to["conversation_id"] if reply_to else tweet_id,
            "display_text_range": [body_start, len(text)],
            "lang": "en",
        }
        mentions = self._mentions_of(text)
        if mentions:
            tweet["entities"] = {"mentions": mentions}
        if reply_to is not None:
            tweet["in_reply_to_user_id"] = reply_to["author_id"]
        if references:
            tweet["referenced_tweets"] = references
        with self._lock:
            self.tweets.append(tweet)
            self._by_id[tweet_id] = tweet
        return tweet

    def mention(self, author: str, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """A customer posts to the brand (``@Brand`` + text unless the text names it)."""
        body = text if text is not None else "hello"
        if text is None or f"@{self.brand_username}".casefold() not in body.casefold():
            body = f"@{self.brand_username} {body}"
        return self.post(author, body, **kwargs)

    def dm(self, sender: str, text: str) -> dict[str, Any]:
        """A customer sends the brand a DM. Returns the stored v2 DM event."""
        sender_id = self.user(sender)
        low, high = sorted([sender_id, self.brand_id], key=int)
        event = {
            "id": self.snowflake(),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender_id,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": _iso(datetime.now(timezone.utc)),
        }
        with self._lock:
            self.dm_events.append(event)
        return event

    def exhaust(self, endpoint: str, reset_in: float, *, after: int = 0) -> int:
        """Limits ``endpoint`` ("mentions", "dm_events", "tweets", "dm_send").

        The next ``after`` requests succeed (the last one says ``x-rate-limit-remaining: 0``),
        then every request answers 429 until the window resets ``reset_in`` seconds from now.

        Returns:
            The reset time announced in ``x-rate-limit-reset`` (epoch seconds).
        """
        reset = int(time.time() + reset_in) + 1
        with self._lock:
            self.windows[endpoint] = Window(reset=reset, remaining=after, limit=max(after, 1))
        return reset

    def fail(self, endpoint: str, *statuses: int) -> None:
        """The next requests to ``endpoint`` answer these statuses (e.g. 503), in order."""
        with self._lock:
            self.fail_next.setdefault(endpoint, []).extend(statuses)

    # --- what the brand did -------------------------------------------------------------------

    def replies_to(self, tweet_id: str) -> list[dict[str, Any]]:
        """The brand's posts in reply to ``tweet_id``."""
        with self._lock:
            return [
                t
                for t in self.posted_tweets
                if (t.get("reply") or {}).get("in_reply_to_tweet_id") == tweet_id
            ]

    def dms_to(self, username: str) -> list[dict[str, Any]]:
        """The brand's DMs to ``username``."""
        user_id = self.user(username)
        with self._lock:
            return [d for d in self.posted_dms if d["participant_id"] == user_id]

    def hits(self, endpoint: str) -> list[Request]:
        """The requests ``endpoint`` received."""
        with self._lock:
            return [r for r in self.requests if _endpoint(r.method, r.path) == endpoint]

    # --- HTTP ---------------------------------------------------------------------------------

    def _authorized(self, request: web.Request, *, user_context: bool) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("OAuth "):
            fields = dict(
                (key.strip(), urllib.parse.unquote(value.strip().strip('"')))
                for key, _, value in (
                    part.partition("=") for part in header[len("OAuth ") :].split(",")
                )
            )
            if (
                fields.get("oauth_consumer_key") == self.consumer_key
                and fields.get("oauth_token") == self.access_token
                and fields.get("oauth_signature")
            ):
                return "oauth1"
            return None
        if not user_context and header == f"Bearer {self.bearer_token}":
            return "bearer"
        return None

    async def _guarded(
        self,
        request: web.Request,
        endpoint: str,
        user_context: bool,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        auth = self._authorized(request, user_context=user_context) or ""
        with self._lock:
            pending = self.delays.get(endpoint) or []
            delay = pending.pop(0) if pending else 0.0
        if delay:
            await request.read()  # X has the request; only its answer is late
            await asyncio.sleep(delay)
        status = 200
        response: web.StreamResponse
        with self._lock:
            window = self.windows.get(endpoint)
            if window is not None and time.time() >= window.reset:
                del self.windows[endpoint]
                window = None
            limited = window is not None and window.remaining <= 0
            if window is not None and not limited and auth:
                window.remaining -= 1
            injected = self.fail_next.get(endpoint) or []
            failure = injected.pop(0) if injected and not limited else None
        now = time.time()
        headers = {
            "x-rate-limit-limit": str(window.limit if window else 450),
            "x-rate-limit-remaining": str(max(window.remaining, 0) if window else 449),
            "x-rate-limit-reset": str(window.reset if window else int(now) + 900),
        }
        if not auth:
            status = 401
            response = web.json_response(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                status=401,
            )
        elif limited:
            status = 429
            response = web.json_response(
                {
                    "title": "Too Many Requests",
                    "detail": "Too Many Requests",
                    "type": "about:blank",
                    "status": 429,
                },
                status=429,
                headers=headers,
            )
        elif failure is not None:
            status = failure
            response = web.json_response(
                {
                    "title": "Service Unavailable",
                    "type": "about:blank",
                    "status": failure,
                    "detail": "injected failure",
                },
                status=failure,
            )
        else:
            response = await handler(request)
            status = response.status
            if status < 400:
                response.headers.update(headers)
        with self._lock:
            self.requests.append(
                Request(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    at=time.time(),
                    status=status,
                    auth=auth,
                )
            )
        return response

    async def _mentions(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "mentions", False, self._mentions_body)

    async def _mentions_body(self, request: web.Request) -> web.Response:
        user_id = request.match_info["id"]
        query = request.query
        try:
            max_results = int(query.get("max_results", "10"))
        except ValueError:
            max_results = 0
        if not 5 <= max_results <= 100:
            return _bad_request("max_results", "must be between 5 and 100")
        with self._lock:
            found = [
                t
                for t in self.tweets
                if t["id"] not in self.hidden
                and any(m["id"] == user_id for m in (t.get("entities") or {}).get("mentions", []))
            ]
        found.sort(key=lambda t: int(t["id"]), reverse=True)
        if self.mentions_cap is not None:
            found = found[: self.mentions_cap]
        if "since_id" in query:
            found = [t for t in found if int(t["id"]) > int(query["since_id"])]
        if "until_id" in query:
            found = [t for t in found if int(t["id"]) < int(query["until_id"])]
        if "start_time" in query and "since_id" not in query:
            start = query["start_time"]
            found = [t for t in found if t["created_at"] >= start]
        offset = _token_offset(query.get("pagination_token"))
        if offset is None:
            return _bad_request("pagination_token", "is invalid")
        page = found[offset : offset + max_results]
        wanted = set(DEFAULT_TWEET_FIELDS) | set(_csv(query.get("tweet.fields")))
        body: dict[str, Any] = {}
        if page:
            body["data"] = [{k: v for k, v in t.items() if k in wanted} for t in page]
            if "author_id" in _csv(query.get("expansions")):
                user_fields = {"id", "name", "username"} | set(_csv(query.get("user.fields")))
                authors = dict.fromkeys(t["author_id"] for t in page)
                body["includes"] = {
                    "users": [
                        {k: v for k, v in self._user_object(author).items() if k in user_fields}
                        for author in authors
                    ]
                }
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"] = page[0]["id"]
            meta["oldest_id"] = page[-1]["id"]
        if offset + max_results < len(found):
            meta["next_token"] = _token(offset + max_results)
        if offset:
            meta["previous_token"] = _token(max(offset - max_results, 0))
        body["meta"] = meta
        return web.json_response(body)

    def _user_object(self, user_id: str) -> dict[str, Any]:
        username = self.users[user_id]
        return {"id": user_id, "name": username.replace("_", " ").title(), "username": username}

    async def _dm_events(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "dm_events", True, self._dm_events_body)

    async def _dm_events_body(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            max_results = int(query.get("max_results", "100"))
        except ValueError:
            max_results = 0
        if not 1 <= max_results <= 100:
            return _bad_request("max_results", "must be between 1 and 100")
        with self._lock:
            events = sorted(self.dm_events, key=lambda e: int(e["id"]), reverse=True)
        types = _csv(query.get("event_types"))
        if types:
            events = [e for e in events if e["event_type"] in types]
        offset = _token_offset(query.get("pagination_token"))
        if offset is None:
            return _bad_request("pagination_token", "is invalid")
        page = events[offset : offset + max_results]
        wanted = set(DEFAULT_DM_FIELDS) | set(_csv(query.get("dm_event.fields")))
        body: dict[str, Any] = {}
        if page:
            body["data"] = [{k: v for k, v in e.items() if k in wanted} for e in page]
            if "sender_id" in _csv(query.get("expansions")):
                user_fields = {"id", "name", "username"} | set(_csv(query.get("user.fields")))
                senders = dict.fromkeys(e["sender_id"] for e in page)
                body["includes"] = {
                    "users": [
                        {k: v for k, v in self._user_object(s).items() if k in user_fields}
                        for s in senders
                    ]
                }
        meta: dict[str, Any] = {"result_count": len(page)}
        if offset + max_results < len(events):
            meta["next_token"] = _token(offset + max_results)
        if offset:
            meta["previous_token"] = _token(max(offset - max_results, 0))
        body["meta"] = meta
        return web.json_response(body)

    async def _conversation_events(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "dm_events", True, self._conversation_events_body)

    async def _conversation_events_body(self, request: web.Request) -> web.Response:
        participant = request.match_info["participant"]
        low, high = sorted([participant, self.brand_id], key=int)
        conversation = f"{low}-{high}"
        query = request.query
        max_results = int(query.get("max_results", "100"))
        with self._lock:
            events = [e for e in self.dm_events if e["dm_conversation_id"] == conversation]
        events.sort(key=lambda e: int(e["id"]), reverse=True)
        page = events[:max_results]
        wanted = set(DEFAULT_DM_FIELDS) | set(_csv(query.get("dm_event.fields")))
        body: dict[str, Any] = {"meta": {"result_count": len(page)}}
        if page:
            body["data"] = [{k: v for k, v in e.items() if k in wanted} for e in page]
        return web.json_response(body)

    async def _create_tweet(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "tweets", True, self._create_tweet_body)

    async def _create_tweet_body(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            return _bad_request("body", "is not JSON")
        text = payload.get("text")
        if not isinstance(text, str) or not text:
            return _bad_request("text", "is required")
        reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
        with self._lock:
            original = self._by_id.get(reply_to) if reply_to is not None else None
        if reply_to is not None and original is None:
            return web.json_response(
                {
                    "title": "Invalid Request",
                    "type": "about:blank",
                    "status": 400,
                    "detail": "the Tweet you are replying to does not exist",
                },
                status=400,
            )
        with self._lock:
            duplicate = any(t["text"] == text for t in self.posted_tweets)
        if duplicate:  # X refuses a post identical to one the account already made
            return web.json_response(
                {
                    "title": "Forbidden",
                    "type": "about:blank",
                    "status": 403,
                    "detail": "You are not allowed to create a Tweet with duplicate content.",
                },
                status=403,
            )
        tweet_id = self.snowflake()
        stored = dict(payload, id=tweet_id, received_at=time.time())
        timeline: dict[str, Any] = {
            "id": tweet_id,
            "text": text,
            "edit_history_tweet_ids": [tweet_id],
            "author_id": self.brand_id,
            "created_at": _iso(datetime.now(timezone.utc)),
            "conversation_id": original["conversation_id"] if original else tweet_id,
        }
        mentions = self._mentions_of(text)
        if mentions:
            timeline["entities"] = {"mentions": mentions}
        if original is not None:
            timeline["in_reply_to_user_id"] = original["author_id"]
            timeline["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
        with self._lock:
            self.posted_tweets.append(stored)
            self.tweets.append(timeline)
            self._by_id[tweet_id] = timeline
        if self.on_post is not None:
            self.on_post(stored)
        return web.json_response(
            {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
            status=201,
        )

    async def _create_dm(self, request: web.Request) -> web.StreamResponse:
        return await self._guarded(request, "dm_send", True, self._create_dm_body)

    async def _create_dm_body(self, request: web.Request) -> web.Response:
        participant = request.match_info["participant"]
        try:
            payload = await request.json()
        except json.JSONDecodeError:
            return _bad_request("body", "is not JSON")
        text = payload.get("text")
        if not isinstance(text, str) or not text:
            return _bad_request("text", "is required")
        if participant not in self.users:
            return web.json_response(
                {
                    "title": "Not Found Error",
                    "type": "about:blank",
                    "status": 404,
                    "detail": f"Could not find user with participant_id: [{participant}].",
                },
                status=404,
            )
        low, high = sorted([participant, self.brand_id], key=int)
        event_id = self.snowflake()
        event = {
            "id": event_id,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": self.brand_id,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": _iso(datetime.now(timezone.utc)),
        }
        stored = {
            "participant_id": participant,
            "text": text,
            "id": event_id,
            "received_at": time.time(),
        }
        with self._lock:
            self.posted_dms.append(stored)
            self.dm_events.append(event)
        if self.on_post is not None:
            self.on_post(stored)
        return web.json_response(
            {"data": {"dm_conversation_id": f"{low}-{high}", "dm_event_id": event_id}},
            status=201,
        )

    # --- the Account Activity API, from X's side ---------------------------------------------

    def sign(self, body: bytes) -> str:
        """``x-twitter-webhooks-signature`` for a body, as X computes it."""
        digest = hmac.new(self.consumer_secret.encode(), body, hashlib.sha256).digest()
        return "sha256=" + base64.b64encode(digest).decode()

    def crc_check(self, webhook_url: str, crc_token: str = "crc-token-123") -> bool:
        """Runs X's challenge-response check against a webhook; True when it answers right."""
        url = f"{webhook_url}?{urllib.parse.urlencode({'crc_token': crc_token})}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            answer = json.loads(response.read())
        return bool(answer.get("response_token") == self.sign(crc_token.encode()))

    def activity_for_tweet(self, tweet: dict[str, Any]) -> dict[str, Any]:
        """An Account Activity ``tweet_create_events`` payload (v1.1 shape) for a stored tweet."""
        author = self._user_object(tweet["author_id"])
        v1: dict[str, Any] = {
            "created_at": datetime.strptime(tweet["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            .replace(tzinfo=timezone.utc)
            .strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "id": int(tweet["id"]),
            "id_str": tweet["id"],
            "text": tweet["text"],
            "display_text_range": tweet.get("display_text_range"),
            "user": {
                "id": int(author["id"]),
                "id_str": author["id"],
                "name": author["name"],
                "screen_name": author["username"],
            },
            "in_reply_to_status_id_str": None,
            "in_reply_to_user_id_str": tweet.get("in_reply_to_user_id"),
            "is_quote_status": False,
            "entities": {
                "hashtags": [],
                "urls": [],
                "user_mentions": [
                    {
                        "screen_name": m["username"],
                        "id_str": m["id"],
                        "id": int(m["id"]),
                        "indices": [m["start"], m["end"]],
                    }
                    for m in (tweet.get("entities") or {}).get("mentions", [])
                ],
            },
            "timestamp_ms": str(int(time.time() * 1000)),
        }
        for reference in tweet.get("referenced_tweets") or []:
            if reference["type"] == "replied_to":
                v1["in_reply_to_status_id_str"] = reference["id"]
            elif reference["type"] == "quoted":
                v1["is_quote_status"] = True
                v1["quoted_status_id_str"] = reference["id"]
            elif reference["type"] == "retweeted":
                v1["retweeted_status"] = {"id_str": reference["id"]}
        return {"for_user_id": self.brand_id, "tweet_create_events": [v1]}

    def activity_for_dm(self, event: dict[str, Any]) -> dict[str, Any]:
        """An Account Activity ``direct_message_events`` payload (v1.1 shape) for a DM event."""
        sender = self._user_object(event["sender_id"])
        recipient = self.brand_id if event["sender_id"] != self.brand_id else None
        brand = self._user_object(self.brand_id)
        return {
            "for_user_id": self.brand_id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event["id"],
                    "created_timestamp": str(int(time.time() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": recipient or self.brand_id},
                        "sender_id": event["sender_id"],
                        "message_data": {"text": event["text"], "entities": {}},
                    },
                }
            ],
            "users": {
                sender["id"]: {
                    "id": sender["id"],
                    "screen_name": sender["username"],
                    "name": sender["name"],
                },
                brand["id"]: {
                    "id": brand["id"],
                    "screen_name": brand["username"],
                    "name": brand["name"],
                },
            },
        }

    def deliver(
        self, webhook_url: str, payload: dict[str, Any] | bytes, *, signature: str | None = None
    ) -> tuple[int, bytes]:
        """POSTs an activity to a webhook, signed like X (or with ``signature`` as given)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        headers["x-twitter-webhooks-signature"] = (
            self.sign(body) if signature is None else signature
        )
        if signature == "":
            del headers["x-twitter-webhooks-signature"]
        request = urllib.request.Request(webhook_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _csv(raw: str | None) -> list[str]:
    return [part for part in (raw or "").split(",") if part]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"page:{offset}".encode()).decode().rstrip("=")


def _token_offset(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not decoded.startswith("page:") or not decoded[5:].isdigit():
        return None
    return int(decoded[5:])


def _bad_request(parameter: str, message: str) -> web.Response:
    return web.json_response(
        {
            "errors": [{"parameters": {parameter: []}, "message": f"`{parameter}` {message}"}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=400,
    )


def _endpoint(method: str, path: str) -> str:
    if path.endswith("/mentions"):
        return "mentions"
    if path == "/2/dm_events":
        return "dm_events"
    if path == "/2/tweets":
        return "tweets"
    if path.endswith("/messages"):
        return "dm_send"
    return f"{method} {path}"


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, step: float = 0.05) -> Any:
    """Polls ``predicate`` until it returns something truthy; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(step)
