"""The fake X API's world: its users, posts and DMs, what the brand did, and X's webhook side.

The data model of :class:`afterhours.bench.fakes.x_server.FakeX` (which adds the HTTP API on
127.0.0.1): ids like X's snowflakes, the mentions timeline and DM events in v2 shapes, the
rate-limit windows and faults to inject, the requests received, and the Account Activity API from
X's side (CRC check, signed v1.1-shaped deliveries).
"""

from __future__ import annotations

import base64
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

TWITTER_EPOCH_MS = 1288834974657
MENTION = re.compile(r"(?<![\w@＠])[@＠](\w{1,15})")


def iso(moment: datetime) -> str:
    """A time as X writes it (``2026-11-27T23:00:00.000Z``)."""
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
class XWorld:
    """What the fake X holds: users, posts, DMs, rate-limit windows, faults, requests received."""

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
    # Users whose DMs are closed to the brand (they do not follow it and accept DMs only from
    # those they follow): X refuses the brand's DM with 403 until they write to the brand.
    closed_dms: set[str] = field(default_factory=set)
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
            "created_at": iso(created),
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
            "created_at": iso(datetime.now(timezone.utc)),
        }
        with self._lock:
            self.dm_events.append(event)
            # A customer who writes to the brand opens the conversation: the brand may answer.
            self.closed_dms.discard(sender_id)
        return event

    def close_dms(self, username: str) -> str:
        """``username`` does not follow the brand and takes DMs only from those they follow."""
        user_id = self.user(username)
        with self._lock:
            self.closed_dms.add(user_id)
        return user_id

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
            return [r for r in self.requests if endpoint_of(r.method, r.path) == endpoint]

    def _user_object(self, user_id: str) -> dict[str, Any]:
        username = self.users[user_id]
        return {"id": user_id, "name": username.replace("_", " ").title(), "username": username}

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


def endpoint_of(method: str, path: str) -> str:
    """The name a request's endpoint goes by in ``windows``, ``fail_next`` and ``delays``."""
    if path.endswith("/mentions"):
        return "mentions"
    if path == "/2/dm_events":
        return "dm_events"
    if path == "/2/tweets":
        return "tweets"
    if path.endswith("/messages"):
        return "dm_send"
    return f"{method} {path}"
