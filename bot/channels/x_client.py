"""The X API through tweepy: one `tweepy.Client`, its HTTP session and what it may log.

Every call here blocks (tweepy is synchronous); the connector runs them in a thread executor.
tweepy logs request headers (the bearer token) at DEBUG: the connector registers every secret with
`bot.channels.base.protect_secrets`, which redacts them from every log record.
Responses are read as plain JSON (``return_type=requests.Response``) so that the rate-limit headers
of a successful answer are seen too, and what is stored in the inbox is exactly what X sent.

``api_base_url`` sends every request to another host (a forward proxy, the tests' fake X on
127.0.0.1) through a transport adapter on tweepy's own session; tweepy itself is untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from bot.channels.x_data import (
    DM_EVENT_FIELDS,
    DM_EXPANSIONS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    rate_limit_reset,
)

logger = logging.getLogger(__name__)

X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds: tweepy sets none, a hung call never ends


class XTransport(HTTPAdapter):
    """Sends tweepy's requests with a timeout, optionally to another base URL.

    Mounted on the client's ``requests.Session`` for ``https://api.twitter.com/`` and
    ``https://api.x.com/``.
    """

    def __init__(
        self, base_url: str | None = None, timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> None:
        """Args: base_url: e.g. ``http://127.0.0.1:40123`` (None: X itself); timeout: seconds."""
        super().__init__()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Rewrites the host (when configured), applies the timeout and sends."""
        if self.base_url and request.url:
            target = urlsplit(self.base_url)
            original = urlsplit(request.url)
            request.url = urlunsplit(
                (
                    target.scheme,
                    target.netloc,
                    target.path + original.path,
                    original.query,
                    original.fragment,
                )
            )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class XCredentials:
    """The app's and the brand account's credentials (values from the environment)."""

    bearer_token: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str

    def __repr__(self) -> str:
        return "XCredentials(***)"

    def values(self) -> tuple[str, ...]:
        """Every secret, for the log filter."""
        return (
            self.bearer_token,
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
        )


@dataclass
class Page:
    """One page of an X list endpoint, as plain JSON."""

    data: list[dict[str, Any]]
    users: list[dict[str, Any]]
    meta: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def next_token(self) -> str | None:
        """``meta.next_token`` when there is another page."""
        token = self.meta.get("next_token")
        return str(token) if token else None

    def exhausted_until(self) -> float | None:
        """The reset time when this answer used the window's last request, else None."""
        if self.headers.get("x-rate-limit-remaining") == "0":
            return rate_limit_reset(self.headers)
        return None


class RateLimited(Exception):
    """X answered 429; ``reset`` is the epoch second its window resets (``x-rate-limit-reset``)."""

    def __init__(self, endpoint: str, reset: float | None) -> None:
        super().__init__(f"X rate limit on {endpoint}; resets at {reset}")
        self.endpoint = endpoint
        self.reset = reset


def _page(response: requests.Response) -> Page:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("X answered with something other than a JSON object")
    return Page(
        data=list(body.get("data") or []),
        users=list((body.get("includes") or {}).get("users") or []),
        meta=dict(body.get("meta") or {}),
        headers=dict(response.headers),
    )


class XApi:
    """The X API v2 calls the connector makes, through one `tweepy.Client`."""

    def __init__(
        self,
        credentials: XCredentials,
        *,
        api_base_url: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        mentions_user_auth: bool = False,
    ) -> None:
        """Builds the client (no request is made).

        Args:
            credentials: The secrets.
            api_base_url: Send every request there instead of api.x.com (proxy, tests).
            timeout: (connect, read) seconds for every request.
            mentions_user_auth: Read mentions with the brand's user token (the per-user rate
                limit) instead of the app's bearer token (the per-app limit, usually larger).
        """
        self.client = tweepy.Client(
            bearer_token=credentials.bearer_token,
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            return_type=requests.Response,
            wait_on_rate_limit=False,  # we back off ourselves, without holding a thread
        )
        transport = XTransport(api_base_url, timeout)
        for prefix in X_HOSTS:
            self.client.session.mount(prefix, transport)
        self.mentions_user_auth = mentions_user_auth

    def close(self) -> None:
        """Closes the HTTP session."""
        self.client.session.close()

    def _call(self, endpoint: str, method: Any, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            response: requests.Response = method(*args, **kwargs)
        except tweepy.TooManyRequests as error:
            reset = getattr(error, "reset_time", None)
            if reset is None:
                reset = rate_limit_reset(error.response.headers)
            raise RateLimited(endpoint, reset) from None
        return response

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> Page:
        """One page of ``GET /2/users/:id/mentions``, newest first.

        Raises:
            RateLimited: On 429.
            tweepy.TweepyException: On any other failure.
        """
        params: dict[str, Any] = {
            "max_results": max_results,
            "tweet_fields": TWEET_FIELDS,
            "expansions": TWEET_EXPANSIONS,
            "user_fields": USER_FIELDS,
        }
        for key, value in (
            ("since_id", since_id),
            ("until_id", until_id),
            ("pagination_token", pagination_token),
        ):
            if value:
                params[key] = value
        response = self._call(
            "mentions",
            self.client.get_users_mentions,
            user_id,
            user_auth=self.mentions_user_auth,
            **params,
        )
        return _page(response)

    def dm_events(self, *, pagination_token: str | None = None, max_results: int = 100) -> Page:
        """One page of ``GET /2/dm_events`` (sent and received), newest first.

        Raises:
            RateLimited: On 429.
            tweepy.TweepyException: On any other failure.
        """
        params: dict[str, Any] = {
            "max_results": max_results,
            "event_types": "MessageCreate",
            "dm_event_fields": DM_EVENT_FIELDS,
            "expansions": DM_EXPANSIONS,
            "user_fields": USER_FIELDS,
        }
        if pagination_token:
            params["pagination_token"] = pagination_token
        response = self._call(
            "dm_events", self.client.get_direct_message_events, user_auth=True, **params
        )
        return _page(response)

    def reply(self, text: str, in_reply_to_tweet_id: str | None) -> str:
        """Posts ``text`` (in reply to a post, when given); returns the new post's id.

        Raises:
            RateLimited: On 429.
            tweepy.TweepyException: On any other failure.
        """
        response = self._call(
            "tweets",
            self.client.create_tweet,
            text=text,
            in_reply_to_tweet_id=in_reply_to_tweet_id,
            user_auth=True,
        )
        return str(response.json()["data"]["id"])

    def find_sent_dm(
        self, participant_id: str, text: str, sender_id: str, after_id: int
    ) -> str | None:
        """The id of a DM ``sender_id`` sent to ``participant_id`` with ``text`` after ``after_id``.

        Used after a send whose answer never came: X may have delivered it anyway.

        Raises:
            RateLimited: On 429.
            tweepy.TweepyException: On any other failure.
        """
        response = self._call(
            "dm_events",
            self.client.get_direct_message_events,
            participant_id=participant_id,
            dm_event_fields=["id", "text", "sender_id", "event_type"],
            event_types="MessageCreate",
            max_results=20,
            user_auth=True,
        )
        for event in _page(response).data:
            if (
                str(event.get("sender_id")) == sender_id
                and event.get("text") == text
                and int(event.get("id") or 0) > after_id
            ):
                return str(event["id"])
        return None

    def send_dm(self, participant_id: str, text: str) -> str:
        """Sends a one-to-one DM; returns the DM event's id.

        Raises:
            RateLimited: On 429.
            tweepy.TweepyException: On any other failure.
        """
        response = self._call(
            "dm_send",
            self.client.create_direct_message,
            participant_id=participant_id,
            text=text,
            user_auth=True,
        )
        return str(response.json()["data"]["dm_event_id"])


def users_by_id(pages: Iterable[Page]) -> list[dict[str, Any]]:
    """The ``includes.users`` of several pages, each user once."""
    seen: dict[str, dict[str, Any]] = {}
    for page in pages:
        for user in page.users:
            seen.setdefault(str(user.get("id")), user)
    return list(seen.values())


def wait_seconds(reset: float | None, *, now: float | None = None, fallback: float = 60.0) -> float:
    """How long to wait for a window that resets at ``reset`` (one second of margin).

    Without a reset time, ``fallback`` seconds.
    """
    current = time.time() if now is None else now
    if reset is None:
        return fallback
    return max(reset - current + 1.0, 0.0)
