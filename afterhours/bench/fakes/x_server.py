"""A fake X API v2 on 127.0.0.1: the endpoints the X connector uses, shaped like X's documentation.

- ``GET /2/users/:id/mentions`` — newest first, ``since_id`` / ``until_id`` / ``start_time``,
  ``max_results`` (5..100, default 10), ``pagination_token`` with ``meta.next_token``; only the
  requested ``tweet.fields`` are returned (besides ``id``, ``text`` and ``edit_history_tweet_ids``)
  and ``includes.users`` only with ``expansions=author_id``.
- ``GET /2/dm_events`` — every DM event of the account (sent and received), newest first,
  ``max_results`` (1..100, default 100), ``pagination_token``; user context only.
- ``POST /2/tweets`` and ``POST /2/dm_conversations/with/:participant_id/messages`` — ``201`` with
  the documented bodies; what the brand posts becomes part of the timeline (our own DMs come back
  in ``/2/dm_events``, as on X). A DM to a user whose DMs are closed to the brand
  (:meth:`XWorld.close_dms`) is refused with 403 until that user writes to the brand.
- ``429 Too Many Requests`` with ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` while an
  endpoint is exhausted (:meth:`FakeX.exhaust`).
- The X side of the Account Activity API: :meth:`FakeX.crc_check` and :meth:`FakeX.deliver`
  (v1.1-shaped events, signed with the consumer secret like X does).

Authorization is checked: app-only endpoints accept ``Bearer <token>`` or OAuth 1.0a, user-context
endpoints only OAuth 1.0a with the configured consumer key and access token.

This module is the HTTP side (the server, authorization, windows and faults applied, the
endpoints); what the fake holds and X's webhook side are in ``x_world`` (:class:`XWorld`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from afterhours.bench.fakes.x_world import Request, Window, XWorld, iso

__all__ = ["FakeX", "Request", "Window", "wait_until"]

DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
DEFAULT_DM_FIELDS = ("id", "event_type", "text")


@dataclass
class FakeX(XWorld):
    """The fake X API. Use as a context manager; ``base_url`` is where it listens."""

    def __post_init__(self) -> None:
        super().__post_init__()
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
            "created_at": iso(datetime.now(timezone.utc)),
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
        if participant in self.closed_dms:
            # What X answers when the recipient does not accept DMs from the brand.
            return web.json_response(
                {
                    "title": "Forbidden",
                    "type": "about:blank",
                    "status": 403,
                    "detail": "You cannot send messages to users who are not following you.",
                },
                status=403,
            )
        low, high = sorted([participant, self.brand_id], key=int)
        event_id = self.snowflake()
        event = {
            "id": event_id,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": self.brand_id,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": iso(datetime.now(timezone.utc)),
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
