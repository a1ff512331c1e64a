"""The X API through tweepy: one `tweepy.Client`, its HTTP session and what it may log.

Every call here blocks (tweepy is synchronous); the connector runs them in a thread executor.
tweepy logs request headers (the bearer token) at DEBUG: the connector registers every secret with
`bot.channels.base.protect_secrets`, which redacts them from every log record.
Responses are read as plain JSON (``return_type=requests.Response``) so that the rate-limit headers
of a successful answer are seen too, and what is stored in the inbox is exactly what X sent.

``api_base_url`` sends every request to another host (a forward proxy, the tests' fake X on
127.0.0.1) through a transport adapter on tweepy's own session; tweepy itself is untouched.

A post or DM the connector sends is one :class:`RetriedWrite` (tenacity): after a 429 it waits
exactly for the window's reset, after a 5xx or a network error it backs off with jitter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from bot.channels.base import DeliveryError
from bot.channels.dbretry import send_backoff
from bot.channels.x_data import (
    DM_EVENT_FIELDS,
    DM_EXPANSIONS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    rate_limit_reset,
    snowflake_at,
)

logger = logging.getLogger(__name__)

X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds: tweepy sets none, a hung call never ends
SEND_ATTEMPTS = 4  # a reply that fails on X's side (5xx, network) is tried this often
SEND_RETRY_SECONDS = 1.0  # then 2, 4 ... (each plus up to as much again at random)
MAX_RATE_LIMIT_WAIT = 16 * 60.0  # X's windows are 15 minutes; longer means something is wrong


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


# -- writes, retried --------------------------------------------------------------------------


class RateLimitedTooLong(DeliveryError):
    """X kept a write rate limited for more than ``MAX_RATE_LIMIT_WAIT`` in all."""


#: What a write is tried again after: a 429 (at the reset), a 5xx or a network error (back-off).
RETRIED: tuple[type[BaseException], ...] = (
    RateLimited,
    tweepy.TwitterServerError,
    requests.RequestException,
)


def send_wait(first: float) -> Callable[[RetryCallState], float]:
    """Tenacity's wait for a write: the window's reset after a 429, else ``send_backoff(first)``."""
    backoff = send_backoff(first)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return wait_seconds(error.reset)
        return float(backoff(state))

    return wait


def refusal_detail(error: tweepy.HTTPException) -> str:
    """X's explanation of a refusal (its ``detail``, or its error messages), short."""
    try:
        body = error.response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if not detail:
        detail = "; ".join(str(m) for m in getattr(error, "api_messages", []) or [])
    return str(detail or "")[:200]


@dataclass
class RetriedWrite:
    """One post or DM to X, tried up to ``SEND_ATTEMPTS`` times (tenacity).

    A write whose answer never came (a read timeout, a 5xx) may have happened: before trying
    again a DM is looked up with ``check``, and a post retried after it is refused by X as
    duplicate content, which then means it was sent. A refusal (4xx: blocked, DMs closed, post
    deleted) is kept in ``refusal``, not retried.
    """

    what: str
    blocking: Callable[..., Awaitable[Any]]
    first_wait: float = SEND_RETRY_SECONDS
    refusal: str | None = None
    attempt: int = 0
    waited: float = 0.0
    uncertain: bool = False
    # Anything we send from now on has a larger id (a few seconds of clock skew allowed).
    since: int = field(
        default_factory=lambda: snowflake_at(datetime.now(timezone.utc) - timedelta(seconds=30))
    )

    async def run(
        self,
        call: Callable[..., str],
        *args: Any,
        check: Callable[[int], str | None] | None = None,
    ) -> str | None:
        """Makes the write (``await blocking(call, *args)``), retrying what can be retried.

        Returns:
            The new post's or DM's id ("" when it was sent but the id is unknown), or None when X
            refused it (see ``refusal``).

        Raises:
            DeliveryError: When X kept failing.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RETRIED),
            stop=stop_after_attempt(SEND_ATTEMPTS),
            wait=send_wait(self.first_wait),
            reraise=True,
        )
        try:
            result: str | None = await retrying(self._try, call, args, check)
        except RETRIED:
            raise DeliveryError(f"X {self.what}: failed {SEND_ATTEMPTS} times") from None
        return result

    async def _try(
        self,
        call: Callable[..., str],
        args: tuple[Any, ...],
        check: Callable[[int], str | None] | None,
    ) -> str | None:
        """One try; raises what is retried (``RETRIED``) after logging it."""
        what = self.what
        self.attempt += 1
        if self.uncertain and check is not None:
            try:
                found = await self.blocking(check, self.since)
            except (tweepy.TweepyException, requests.RequestException, RateLimited):
                found = None
            if found:
                logger.info("x: the %s had gone through before its answer was lost", what)
                return str(found)
        try:
            return str(await self.blocking(call, *args))
        except RateLimited as limited:
            pause = wait_seconds(limited.reset)
            if self.waited + pause > MAX_RATE_LIMIT_WAIT:
                raise RateLimitedTooLong(f"X {what}: rate limited for too long") from None
            logger.warning("x: %s rate limited; waiting %.0f s for the reset", what, pause)
            self.waited += pause
            raise
        except tweepy.TwitterServerError as error:
            self.uncertain = True
            status = error.response.status_code
            logger.warning("x: %s failed with %s (attempt %s)", what, status, self.attempt)
            raise
        except tweepy.HTTPException as error:
            status = error.response.status_code
            detail = refusal_detail(error)
            if self.uncertain and status == 403 and "duplicate" in detail.lower():
                logger.info("x: the %s had gone through before its answer was lost", what)
                return ""
            self.refusal = f"{what}: X refused it ({status}{': ' if detail else ''}{detail})"
            logger.warning("x: %s refused by X with %s", what, status)
            return None
        except requests.RequestException as error:
            # Unless it never connected, the request may have reached X and been done.
            self.uncertain = self.uncertain or not isinstance(
                error, requests.exceptions.ConnectTimeout
            )
            logger.warning(
                "x: %s failed (%s, attempt %s)", what, type(error).__name__, self.attempt
            )
            raise
