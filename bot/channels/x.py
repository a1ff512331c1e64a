"""The X (Twitter) channel: mentions and DMs in, threaded replies and DMs out, through tweepy.

Register it in credentials.yml as ``bot.channels.x.XInput`` (secrets as ``*_env`` variable names,
see ``bot.channels.config``). Two ways in:

- **polling** (default): a job in the Rasa server's own APScheduler (``rasa.core.jobs``) reads
  ``GET /2/users/:id/mentions`` and ``GET /2/dm_events`` at the intervals of the app's access tier
  (``bot.channels.x_data.TIER_INTERVALS``); see ``bot.channels.x_poll`` for cursors, pages and the
  429 back-off. The tweepy calls run in a small thread pool: the event loop never waits on X.
- **webhook** (Account Activity API): ``GET /webhooks/x/webhook?crc_token=...`` answers X's CRC
  challenge, and every ``POST`` must carry ``x-twitter-webhooks-signature`` (HMAC-SHA256 of the raw
  body with the consumer secret, compared in constant time) or it is refused with 403; malformed
  JSON is a 400. ``webhook+polling`` also polls, as a safety net for deliveries X gave up on: a
  post that arrives both ways has one platform id (``tweet:<id>``, ``dm:<id>``) and is recorded
  once.

Whether a public post is addressed to the brand is decided by the NLU; the connector passes what
X's own data says in ``metadata.platform.addressed_hint`` (``bot.channels.x_data.addressed_hint``).
Our own posts are never handed to Rasa.

Replies: a public reply is posted under the customer's post (``in_reply_to_tweet_id``), fitted to
280 weighted characters with the @handle by the renderer; a reply marked private, and every reply
to a DM, goes by DM (``POST /2/dm_conversations/with/:participant_id/messages``). A move to
private sends the DM first; when X refuses it (the customer's DMs are closed to the brand), the
public reply carries :data:`DM_COMPOSE_URL` instead of claiming a DM (``bot.channels.output``).
A mention and a DM of one customer are one conversation, ``x:<username>``. A reply sent later
through Rasa's HTTP API with ``output_channel=latest`` finds the customer's latest post or DM in
the conversation's tracker and threads under it in the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import (
    ChannelConnector,
    ConnectorOutput,
    DeliveryError,
    OnNewMessage,
    Rejected,
    check_size,
    parse_json_object,
    protect_secrets,
    reveal,
)
from bot.channels.config import Secret, resolve
from bot.channels.output import Reply
from bot.channels.x_client import (
    SEND_RETRY_SECONDS,
    RetriedWrite,
    XApi,
    XCredentials,
)
from bot.channels.x_data import (
    CHANNEL,
    DirectMessage,
    Post,
    addressed_hint,
    crc_response,
    dm_from_v1,
    dm_inbound,
    poll_intervals,
    post_inbound,
    signature_valid,
    tweet_from_v1,
)
from bot.channels.x_poll import XPoller
from bot.inbound import Inbound
from bot.settings import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# "webhook+polling": the Account Activity webhook, with polling as a safety net for deliveries X
# gave up retrying (the inbox drops whatever arrives both ways).
MODES = ("polling", "webhook", "webhook+polling")
SECRET_OPTIONS = (
    "bearer_token",
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "user_id",
)
# Every connector's options (``inbox_url``, ``max_in_flight``, ...) besides the X ones.
COMMON_OPTIONS = {
    name
    for name in inspect.signature(ChannelConnector.__init__).parameters
    if name not in ("self", "inbox")
}
OPTIONS = {
    *SECRET_OPTIONS,
    *COMMON_OPTIONS,
    "tier",
    "mode",
    "handle",
    "mentions_seconds",
    "dm_seconds",
    "backfill_minutes",
    "api_base_url",
    "mentions_user_auth",
    "page_size",
}
STOP_POLL_GRACE_SECONDS = 5.0
JOB_MENTIONS = "afterhours-x-mentions"
JOB_DMS = "afterhours-x-dms"
#: Opens a DM to the brand from a public reply (X counts any link as 23 characters). It works for
#: a customer who does not follow the brand only when the brand's account accepts messages from
#: everyone (Settings > Privacy and safety > Direct messages).
DM_COMPOSE_URL = "https://x.com/messages/compose?recipient_id={user_id}"


@dataclass(frozen=True)
class Destination:
    """Where the replies to one customer message go."""

    public: bool
    handle: str | None
    user_id: str | None
    reply_to: str | None


def destination_of(inbound_metadata: Mapping[str, Any]) -> Destination:
    """The destination for replies, from a message's metadata (live or from the tracker)."""
    platform = inbound_metadata.get("platform") or {}
    public = bool(inbound_metadata.get("public"))
    return Destination(
        public=public,
        handle=str(inbound_metadata["sender"]) if inbound_metadata.get("sender") else None,
        user_id=str(platform["user_id"]) if platform.get("user_id") else None,
        reply_to=str(platform["tweet_id"]) if public and platform.get("tweet_id") else None,
    )


class XOutput(ConnectorOutput):
    """Sends rendered replies on X: threaded public replies and DMs."""

    #: Seconds before the first retry of a failed write (doubling, plus jitter: ``RetriedWrite``).
    retry_seconds = SEND_RETRY_SECONDS

    def __init__(
        self,
        connector: XInput,
        destination: Destination | None,
    ) -> None:
        """Replies for one destination; None looks it up in the tracker (``output_channel=latest``).

        Args:
            connector: The input channel (it holds the API client and the server's agent).
            destination: Where replies go, or None to find it from the recipient's tracker.
        """
        known = destination or Destination(public=False, handle=None, user_id=None, reply_to=None)
        super().__init__(CHANNEL, public=known.public, handle=known.handle)
        self.connector = connector
        self.destination = destination
        self.tweet_ids: list[str] = []
        self.dm_ids: list[str] = []

    @classmethod
    def name(cls) -> str:
        """The channel's name."""
        return CHANNEL

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Renders and sends one bot message (public, threaded, or by DM)."""
        if self.destination is None:
            self.destination = await self.connector.latest_destination(recipient_id)
            if self.destination is None:
                self.refuse("no_conversation", "no X message from this customer to reply to")
                logger.warning("x: no X message in %s's tracker; reply not sent", recipient_id)
                return
            self.public = self.destination.public
            self.handle = self.destination.handle
        await super().send_text_message(recipient_id, text, **kwargs)

    async def private_link(self, recipient_id: str, kwargs: dict[str, Any]) -> str | None:
        """X's DM compose link to the brand (the brand's DMs must be open to everyone)."""
        return DM_COMPOSE_URL.format(user_id=self.connector.user_id)

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Posts a public reply under the customer's post, or sends a DM."""
        target = self.destination
        if target is None:  # pragma: no cover - send_text_message resolves it first
            raise DeliveryError("no destination")
        api = self.connector.api
        if reply.public and target.reply_to:
            sent = await self._send("reply", api.reply, reply.text, target.reply_to)
            if sent is not None:
                if sent:
                    self.tweet_ids.append(sent)
                self.sent.append(reply)
            return
        if not target.user_id:
            self.refuse("no_conversation", "DM: the customer's user id is unknown")
            return
        # A public reply with no post to thread under (the customer only wrote by DM) goes by DM.
        user_id, brand_id = target.user_id, self.connector.user_id

        def delivered_already(after: int) -> str | None:
            return api.find_sent_dm(user_id, reply.text, brand_id, after)

        sent = await self._send("DM", api.send_dm, user_id, reply.text, check=delivered_already)
        if sent is not None:
            if sent:
                self.dm_ids.append(sent)
            self.sent.append(reply)

    async def _send(
        self,
        what: str,
        call: Callable[..., str],
        *args: Any,
        check: Callable[[int], str | None] | None = None,
    ) -> str | None:
        """One X write, retried (:class:`RetriedWrite`): at the reset on 429, with jitter on 5xx.

        Network errors are retried like 5xx (back-off with jitter). A write whose answer never
        came (a read timeout, a 5xx) may have happened: before trying again a DM is looked up
        with ``check``, and a post retried after it is refused by X as duplicate content, which
        then means it was sent. A refusal (4xx: blocked, DMs closed, post deleted) is recorded,
        not retried.

        Returns:
            The new post's or DM's id ("" when it was sent but the id is unknown), or None when X
            refused it.

        Raises:
            DeliveryError: When X kept failing; the inbox entry is redelivered later.
        """
        write = RetriedWrite(what, self.connector.blocking, first_wait=self.retry_seconds)
        sent = await write.run(call, *args, check=check)
        if write.refusal:
            # X refuses a write for good when blocked, DMs are closed, or the post is gone.
            self.refuse("blocked", write.refusal)
        return sent


class XInput(ChannelConnector):
    """The X input channel: polls (or receives by webhook) mentions and DMs."""

    channel = CHANNEL

    def __init__(
        self,
        *,
        credentials: XCredentials,
        user_id: str,
        handle: str | None = None,
        tier: str = "basic",
        mode: str = "polling",
        mentions_seconds: float | None = None,
        dm_seconds: float | None = None,
        backfill_minutes: float = 0,
        api_base_url: str | None = None,
        mentions_user_auth: bool = False,
        page_size: int = 100,
        **common: Any,
    ) -> None:
        """Configures the channel (no request is made until the server starts).

        Args:
            credentials: The app's and the brand account's secrets.
            user_id: The brand account's X user id.
            handle: The brand's @handle (default: brand.yml's).
            tier: The app's X API access tier, ``free``, ``basic`` or ``pro``: sets the polling
                intervals within that tier's rate limits.
            mode: ``polling``, ``webhook`` (Account Activity API) or ``webhook+polling``.
            mentions_seconds: Seconds between mention polls instead of the tier's.
            dm_seconds: Seconds between DM polls instead of the tier's (0: no DM polling).
            backfill_minutes: On the very first start, also answer posts this many minutes old.
            api_base_url: Send API requests to this base URL (a proxy; the tests' fake X).
            mentions_user_auth: Read mentions with the user token (per-user rate limit).
            page_size: Posts or DM events asked for per page (5 to 100).
            **common: The options every connector has (see ``ChannelConnector``).

        Raises:
            ConfigError: For an unknown mode or tier, or a bad interval.
        """
        super().__init__(**common)
        if mode not in MODES:
            raise ConfigError(f"credentials.yml: x `mode` must be one of {MODES}, got {mode!r}")
        try:
            self.intervals = poll_intervals(tier, mentions=mentions_seconds, dms=dm_seconds)
        except ValueError as error:
            raise ConfigError(f"credentials.yml: x: {error}") from None
        if not 5 <= int(page_size) <= 100:
            raise ConfigError(f"credentials.yml: x `page_size` must be 5 to 100, got {page_size}")
        self.page_size = int(page_size)
        if not str(user_id).isdigit():
            raise ConfigError("the X user id must be the account's numeric id")
        self.credentials = credentials
        self.user_id = str(user_id)
        self._handle = handle
        self.tier = tier
        self.mode = mode
        self.backfill = timedelta(minutes=float(backfill_minutes))
        self.api = XApi(
            credentials, api_base_url=api_base_url, mentions_user_auth=mentions_user_auth
        )
        protect_secrets(*credentials.values())
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="x-api")
        self.poller: XPoller | None = None
        self._scheduler: Any = None
        self._stopping = False

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> XInput:
        """Builds the channel from its credentials.yml entry, secrets from the environment.

        Raises:
            ConfigError: For a missing variable (named), an unknown option or a bad value.
        """
        options = resolve(credentials or {}, channel=CHANNEL)
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigError(f"credentials.yml: unknown x option(s): {', '.join(unknown)}")
        missing = [name for name in SECRET_OPTIONS if not options.get(name)]
        if missing:
            raise ConfigError(
                f"credentials.yml: x needs `{missing[0]}_env` naming an environment variable"
            )
        secrets = {name: options.pop(name) for name in SECRET_OPTIONS}
        rest: dict[str, Any] = {
            key: (value.reveal() if isinstance(value, Secret) else value)
            for key, value in options.items()
        }
        return cls(
            credentials=XCredentials(
                bearer_token=reveal(secrets["bearer_token"]),
                consumer_key=reveal(secrets["consumer_key"]),
                consumer_secret=reveal(secrets["consumer_secret"]),
                access_token=reveal(secrets["access_token"]),
                access_token_secret=reveal(secrets["access_token_secret"]),
            ),
            user_id=reveal(secrets["user_id"]),
            **rest,
        )

    @property
    def handle(self) -> str:
        """The brand's @handle."""
        if self._handle is None:
            from bot.settings import load_brand

            self._handle = load_brand().handle
        return self._handle

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Runs a blocking X call in the channel's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, *args))

    # --- output ----------------------------------------------------------------------------------

    def output_for(self, inbound: Inbound) -> OutputChannel:
        """Replies to this message: threaded under it when public, by DM otherwise."""
        return XOutput(self, destination_of(inbound.metadata()))

    def get_output_channel(self) -> OutputChannel:
        """Rasa's ``output_channel=latest``: the destination comes from the tracker.

        It records the outcome of the desk's answers in the inbox's database.
        """
        output = XOutput(self, None)
        output.track_deliveries(self.inbox)
        return output

    async def latest_destination(self, recipient_id: str) -> Destination | None:
        """Where the customer last wrote on X, from the conversation's tracker."""
        from rasa.shared.core.events import UserUttered

        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None or agent.tracker_store is None:
            return None
        tracker = await agent.tracker_store.retrieve(recipient_id)
        if tracker is None:
            return None
        for event in reversed(tracker.events):
            if not isinstance(event, UserUttered):
                continue
            metadata = event.metadata or {}
            if event.input_channel == CHANNEL or metadata.get("channel") == CHANNEL:
                return destination_of(metadata)
        return None

    # --- input: polling --------------------------------------------------------------------------

    async def _accept_polled(
        self, platform_id: str, inbound: Inbound, payload: dict[str, Any]
    ) -> bool:
        if self._on_new_message is None:  # pragma: no cover - the blueprint sets it
            raise RuntimeError("the X channel is not attached to a server")
        entry = await self.accept(platform_id, inbound, payload, self._on_new_message)
        return entry is not None

    async def on_start(self, app: Any) -> None:
        """Starts polling (polling mode): the jobs run in Rasa's own scheduler."""
        inbox = await self.inbox()
        self.poller = XPoller(
            self.api,
            inbox,
            brand_id=self.user_id,
            brand_handle=self.handle,
            accept=self._accept_polled,
            backfill=self.backfill,
            executor=self.executor,
            page_size=self.page_size,
        )
        if "polling" not in self.mode:
            logger.info("x: webhook mode (Account Activity API); not polling")
            return
        await self.poller.initialise_cursors()
        from rasa.core import jobs

        self._scheduler = await jobs.scheduler()
        now = datetime.now(timezone.utc)
        streams = [(JOB_MENTIONS, self.intervals.mentions, self._poll_mentions)]
        if self.intervals.dms:
            streams.append((JOB_DMS, self.intervals.dms, self._poll_dms))
        for job_id, seconds, run in streams:
            self._scheduler.add_job(
                run,
                "interval",
                seconds=seconds,
                id=job_id,
                replace_existing=True,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        logger.info(
            "x: polling (%s tier): mentions every %s s, DMs %s",
            self.tier,
            self.intervals.mentions,
            f"every {self.intervals.dms} s" if self.intervals.dms else "off",
        )

    async def _poll_mentions(self) -> None:
        if self.poller is None or self._stopping or not self._agent_ready():
            return
        try:
            await self.poller.poll_mentions()
        except Exception:  # noqa: BLE001 - a database hiccup: the next run tries again
            if not self._stopping:
                logger.exception("x: mentions poll failed")

    async def _poll_dms(self) -> None:
        if self.poller is None or self._stopping or not self._agent_ready():
            return
        try:
            await self.poller.poll_dms()
        except Exception:  # noqa: BLE001 - a database hiccup: the next run tries again
            if not self._stopping:
                logger.exception("x: DM poll failed")

    def _remove_jobs(self) -> None:
        if self._scheduler is not None:
            for job_id in (JOB_MENTIONS, JOB_DMS):
                if self._scheduler.get_job(job_id) is not None:
                    self._scheduler.remove_job(job_id)
            self._scheduler = None

    async def stop(self, app: Any) -> None:
        """Stops polling first, lets a poll in progress finish, then stops like every channel.

        A poll cut short is harmless (its cursor moves only after everything it read is
        recorded), but letting it finish keeps the log quiet.
        """
        self._stopping = True
        self._remove_jobs()
        if self.poller is not None and not await self.poller.idle(STOP_POLL_GRACE_SECONDS):
            logger.info("x: a poll was still running at stop; the next start reads it again")
        await super().stop(app)

    async def on_stop(self, app: Any) -> None:
        """Closes the client and its thread pool."""
        self._remove_jobs()
        self.executor.shutdown(wait=False)
        self.api.close()

    # --- input: webhook (Account Activity API) ------------------------------------------------

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        """``GET`` (CRC challenge) and ``POST`` (signed events) on ``/webhooks/x/webhook``."""
        if "webhook" not in self.mode:
            return

        @blueprint.route("/webhook", methods=["GET"])
        async def crc(request: Request) -> HTTPResponse:
            token = request.args.get("crc_token")
            if not token:
                return self.reject(request, Rejected(400, "no crc_token"))
            return response.json(crc_response(self.credentials.consumer_secret, token))

        @blueprint.route("/webhook", methods=["POST"])
        async def events(request: Request) -> HTTPResponse:
            try:
                check_size(request, self.max_body_bytes)
                signature = request.headers.get("x-twitter-webhooks-signature")
                if not signature_valid(
                    self.credentials.consumer_secret, request.body or b"", signature
                ):
                    raise Rejected(403, "missing or wrong x-twitter-webhooks-signature")
                payload = parse_json_object(request.body)
                messages = self.read_activity(payload)
            except Rejected as rejection:
                return self.reject(request, rejection)
            accepted = 0
            for platform_id, inbound, raw in messages:
                if await self.accept(platform_id, inbound, raw, on_new_message) is not None:
                    accepted += 1
            return response.json({"ok": True, "accepted": accepted})

    def read_activity(self, payload: dict[str, Any]) -> list[tuple[str, Inbound, dict[str, Any]]]:
        """The customer messages in one Account Activity delivery (ours are left out).

        Raises:
            Rejected: 400 when an event cannot be read, 403 for another account's activity.
        """
        for_user = str(payload.get("for_user_id") or "")
        if for_user and for_user != self.user_id:
            raise Rejected(403, "activity for another account")
        found: list[tuple[str, Inbound, dict[str, Any]]] = []
        try:
            for raw in payload.get("tweet_create_events") or []:
                tweet, author = tweet_from_v1(raw)
                post = Post.from_v2(tweet, [author])
                if post.author_id == self.user_id:
                    continue
                hint = addressed_hint(post, brand_id=self.user_id, brand_handle=self.handle)
                found.append((f"tweet:{post.id}", post_inbound(post, hint), {"event": raw}))
            for raw in payload.get("direct_message_events") or []:
                converted = dm_from_v1(raw, payload.get("users"))
                if converted is None:
                    continue
                event, sender = converted
                message = DirectMessage.from_v2(event, [sender])
                if message is None or message.sender_id == self.user_id:
                    continue
                found.append((f"dm:{message.id}", dm_inbound(message), {"event": raw}))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise Rejected(400, f"unreadable event ({type(error).__name__})") from None
        return found
