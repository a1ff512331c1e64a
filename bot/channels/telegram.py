"""The Telegram connector (python-telegram-bot's ``Bot`` for every call to the Bot API).

Two ways in, chosen by ``mode`` in credentials.yml:

- ``webhook``: at start-up ``setWebhook`` registers ``webhook_url`` with a ``secret_token``;
  Telegram POSTs each update to ``/webhooks/telegram/webhook`` with the
  ``X-Telegram-Bot-Api-Secret-Token`` header, checked in constant time (403 otherwise). The
  webhook stays registered when the server stops, so Telegram keeps and retries what arrives
  meanwhile.
- ``polling``: a task long-polls ``getUpdates`` (for a brand without a public URL); the offset is
  saved in the inbox's cursors and confirmed to Telegram only after the update is recorded.

What is answered (a defined behaviour for everything else, each logged with its reason):

- text in a private chat; in groups only when the bot is addressed (``@bot_username`` or a reply
  to one of the bot's messages), with the mention removed. A group conversation is one customer
  in one group (sender ``<chat id>/<user id>``), public like an X mention: its replies carry no
  personal data and are threaded under the customer's message, and a move to private goes to the
  customer's private chat, or offers the bot's start link (``bot.channels.telegram_output``);
- ``/start <token>`` in a private chat: the chat joins the group conversation the token was made
  for, and so do its later messages;
- a photo, video, document or voice message: its caption; without a caption it is ignored;
- a sticker: its emoji (usually an acknowledgement the bot does not answer);
- ``/start`` and other commands: the words after the command; a bare command is ignored;
- edited messages are ignored (the original was already answered), as are channel posts,
  messages from bots and every other update type.

Duplicates are dropped by ``update_id``. Replies go through :class:`SendLimiter` (about one message
a second per chat, 30 a second overall), honour ``retry_after`` on 429, retry timeouts and
network errors, and are split at 4,096 characters by the renderer. They are sent from an event
loop of their own and recorded in the reply ledger as soon as Telegram took them
(:mod:`bot.channels.telegram_client`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REDELIVER_EVERY,
    ChannelConnector,
    OnNewMessage,
    Rejected,
    check_size,
    parse_json_object,
    protect_secrets,
    reveal,
    secrets_match,
)
from bot.channels.config import Secret, resolve
from bot.channels.telegram_client import (
    SendLimiter,
    TelegramClient,
    retry_after_seconds,
)
from bot.channels.telegram_output import PrivateChats, TelegramOutput, split_recipient
from bot.inbound import Inbound
from bot.settings import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_UPDATES",
    "ParsedUpdate",
    "SendLimiter",
    "TelegramClient",
    "TelegramInput",
    "TelegramOutput",
    "parse_update",
    "split_recipient",
]

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What Telegram is asked to send; anything else that still arrives is ignored with a log line.
ALLOWED_UPDATES = ["message", "edited_message"]
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_MEDIA_KINDS = ("photo", "video", "document", "animation", "audio", "voice", "video_note")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@(\w+))?(?=\s|$)")
UTC = dt.timezone.utc


# -- reading updates ------------------------------------------------------------------------


class MalformedUpdate(ValueError):
    """An update that is not shaped like the Bot API's (answered 400)."""


@dataclass(frozen=True)
class ParsedUpdate:
    """What one update means: a message for Rasa, or why it is ignored."""

    update_id: int
    inbound: Inbound | None = None
    ignored: str | None = None


def _content(message: Mapping[str, Any]) -> tuple[str | None, str]:
    """The words of a message and its kind ("text", "sticker", "photo", ...)."""
    if isinstance(message.get("text"), str):
        return message["text"], "text"
    if isinstance(message.get("sticker"), dict):
        emoji = message["sticker"].get("emoji")
        return (emoji if isinstance(emoji, str) and emoji else None), "sticker"
    for kind in _MEDIA_KINDS:
        if kind in message:
            caption = message.get("caption")
            return (caption if isinstance(caption, str) and caption.strip() else None), kind
    known = ("location", "contact", "poll", "dice", "venue", "new_chat_members", "left_chat_member")
    kind = next((k for k in known if k in message), "message without text")
    return None, kind


def _mentions(text: str, username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@])@{re.escape(username)}\b", re.IGNORECASE)


def _addressed(
    message: Mapping[str, Any], text: str, bot_id: int | None, bot_username: str | None
) -> bool:
    replied = message.get("reply_to_message") or {}
    if bot_id is not None and (replied.get("from") or {}).get("id") == bot_id:
        return True
    if bot_username and _mentions(text, bot_username).search(text):
        return True
    for entity in message.get("entities") or message.get("caption_entities") or []:
        if entity.get("type") == "text_mention" and (entity.get("user") or {}).get("id") == bot_id:
            return True
    return False


def parse_update(
    data: Mapping[str, Any],
    *,
    bot_id: int | None,
    bot_username: str | None,
    allow_groups: bool = True,
    now: dt.datetime | None = None,
) -> ParsedUpdate:
    """Reads one Bot API update.

    Args:
        data: The update as JSON (``{"update_id": ..., "message": {...}}``).
        bot_id: The bot's user id (the number before the token's colon).
        bot_username: The bot's username (getMe), to recognise mentions in groups.
        allow_groups: False ignores every group message.
        now: When it arrived, for a message without a ``date``.

    Returns:
        The message for Rasa, or the reason it is ignored.

    Raises:
        MalformedUpdate: No integer ``update_id``, or a message without a chat.
    """
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise MalformedUpdate("no integer update_id")
    if "message" not in data:
        if "edited_message" in data:
            return ParsedUpdate(update_id, ignored="edited message (the original was answered)")
        kind = next((key for key in data if key != "update_id"), "empty")
        return ParsedUpdate(update_id, ignored=f"update type {kind!r} is not handled")
    message = data["message"]
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        raise MalformedUpdate("message without a chat")
    chat = message["chat"]
    chat_id, chat_type = chat.get("id"), chat.get("type")
    if not isinstance(chat_id, int):
        raise MalformedUpdate("chat without an integer id")
    author: dict[str, Any] = message["from"] if isinstance(message.get("from"), dict) else {}
    if chat_type == "channel":
        return ParsedUpdate(update_id, ignored="channel post")
    if author.get("is_bot"):
        return ParsedUpdate(update_id, ignored="message from a bot")
    text, kind = _content(message)
    if text is None:
        return ParsedUpdate(update_id, ignored=f"{kind} without text")
    group = chat_type in ("group", "supergroup")
    user_id = author.get("id")
    if group:
        if not allow_groups:
            return ParsedUpdate(update_id, ignored="group messages are switched off")
        if not _addressed(message, text, bot_id, bot_username):
            return ParsedUpdate(update_id, ignored="group message not addressed to the bot")
        if not isinstance(user_id, int):
            return ParsedUpdate(update_id, ignored="group message without a sender")
        if bot_username:
            text = _mentions(text, bot_username).sub(" ", text)
    command = None
    match = _COMMAND.match(text.strip())
    if match and (
        not match.group(2)
        or not bot_username
        or match.group(2).casefold() == bot_username.casefold()
    ):
        command = match.group(1)
        text = text.strip()[match.end() :]
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    if not text:
        why = f"command /{command} without text" if command else "nothing left to read"
        return ParsedUpdate(update_id, ignored=why)
    date = message.get("date")
    at = (
        dt.datetime.fromtimestamp(date, UTC)
        if isinstance(date, (int, float)) and not isinstance(date, bool)
        else now or dt.datetime.now(UTC)
    )
    platform: dict[str, Any] = {
        "update_id": update_id,
        "message_id": message.get("message_id"),
        "chat_id": chat_id,
        "chat_type": chat_type,
        "user_id": user_id,
        "kind": kind,
    }
    if command:
        platform["command"] = command
    if isinstance(author.get("language_code"), str):
        platform["language_code"] = author["language_code"]
    sender = f"{chat_id}/{user_id}" if group else str(chat_id)
    if group:
        # Others in the group read it: public, like an X mention (no personal data in replies,
        # a move to private); the connector already checked it is addressed to the bot.
        platform["addressed_hint"] = {"addressed": True, "why": "addressed to the bot in a group"}
    return ParsedUpdate(
        update_id,
        inbound=Inbound(
            channel=CHANNEL, sender=sender, text=text, public=group, at=at, platform=platform
        ),
    )


# -- output ---------------------------------------------------------------------------------


# -- input ----------------------------------------------------------------------------------


def _float(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"credentials.yml: telegram `{key}` must be a number") from error


class TelegramInput(ChannelConnector):
    """The Telegram input channel (webhook or long polling)."""

    channel = CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        """Builds the channel from its credentials.yml entry (secrets from the environment).

        Options: ``token_env`` (required), ``mode`` (``webhook`` or ``polling``),
        ``webhook_url`` / ``webhook_url_env`` and ``secret_token_env`` (webhook mode),
        ``base_url``, ``allow_groups``, ``poll_timeout``, ``per_chat_interval``,
        ``overall_per_second``, ``read_timeout``, ``inbox_url``, ``max_body_bytes``,
        ``redeliver_after``, ``redeliver_every``, ``max_in_flight``.

        Raises:
            ConfigError: A variable is missing or an option is wrong (names it, never a value).
        """
        if credentials is None:
            cls.raise_missing_credentials_exception()
        options = resolve(credentials, channel=CHANNEL)
        if "token" not in options:
            raise ConfigError("credentials.yml: telegram needs `token_env`")
        return cls(
            token=options["token"],
            mode=str(options.get("mode", "polling")),
            webhook_url=reveal(options.get("webhook_url")) or None,
            secret_token=options.get("secret_token"),
            base_url=reveal(options.get("base_url")) or "https://api.telegram.org/bot",
            allow_groups=bool(options.get("allow_groups", True)),
            poll_timeout=_float(options, "poll_timeout", 30),
            per_chat_interval=_float(options, "per_chat_interval", 1.0),
            overall_per_second=_float(options, "overall_per_second", 30.0),
            read_timeout=_float(options, "read_timeout", 10.0),
            inbox_url=options.get("inbox_url"),
            max_body_bytes=int(_float(options, "max_body_bytes", 256 * 1024)),
            redeliver_after=_float(options, "redeliver_after", 120.0),
            redeliver_every=_float(options, "redeliver_every", DEFAULT_REDELIVER_EVERY),
            max_in_flight=int(_float(options, "max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
        )

    def __init__(
        self,
        token: Secret | str,
        *,
        mode: str = "polling",
        webhook_url: str | None = None,
        secret_token: Secret | str | None = None,
        base_url: str = "https://api.telegram.org/bot",
        allow_groups: bool = True,
        poll_timeout: float = 30.0,
        per_chat_interval: float = 1.0,
        overall_per_second: float = 30.0,
        read_timeout: float = 10.0,
        **common: Any,
    ) -> None:
        """Configures the channel (see :meth:`from_credentials` for the options).

        Raises:
            ConfigError: An unknown mode, webhook mode without its URL or secret token, a
                secret token Telegram would refuse, a token that is not a bot token.
        """
        super().__init__(**common)
        if mode not in ("webhook", "polling"):
            raise ConfigError(
                f"credentials.yml: telegram `mode` must be webhook or polling, not {mode!r}"
            )
        if not reveal(token):
            raise ConfigError("telegram: the bot token is empty")
        if ":" not in reveal(token):
            raise ConfigError("telegram: the bot token does not look like <bot id>:<secret>")
        if mode == "webhook":
            if not webhook_url:
                raise ConfigError("credentials.yml: telegram webhook mode needs `webhook_url`")
            if not reveal(secret_token):
                raise ConfigError("credentials.yml: telegram webhook mode needs `secret_token_env`")
            if not _SECRET_TOKEN.match(reveal(secret_token)):
                raise ConfigError(
                    "telegram: the webhook secret token must be 1-256 characters A-Z a-z 0-9 _ -"
                )
        protect_secrets(token, secret_token)
        self.mode = mode
        self.webhook_url = webhook_url
        self.secret_token = secret_token
        self.allow_groups = allow_groups
        self.poll_timeout = poll_timeout
        self.client = TelegramClient(
            token,
            base_url=base_url,
            limiter=SendLimiter(per_chat_interval, overall_per_second),
            read_timeout=read_timeout,
        )
        self.private_chats = PrivateChats(self.client, self.inbox)

    # -- reading -----------------------------------------------------------------------------

    async def handle_update(self, data: dict[str, Any], on_new_message: OnNewMessage) -> str:
        """Records and starts processing one update (either mode).

        Returns:
            "accepted", "duplicate" or "ignored: <why>".

        Raises:
            MalformedUpdate: Not shaped like an update.
        """
        username = None
        message = data.get("message")
        if isinstance(message, dict) and (message.get("chat") or {}).get("type") in (
            "group",
            "supergroup",
        ):
            username = await self.client.username()
        parsed = parse_update(
            data,
            bot_id=self.client.bot_id,
            bot_username=username,
            allow_groups=self.allow_groups,
        )
        if parsed.inbound is None:
            logger.info("telegram: update %s ignored: %s", parsed.update_id, parsed.ignored)
            return f"ignored: {parsed.ignored}"
        platform_id = f"{self.client.bot_id}:{parsed.update_id}"
        # A private chat opened from a group's start link joins that group's conversation.
        inbound, opened = await self.private_chats.route(parsed.inbound)
        if inbound is None:
            return "ignored: a start link that is unknown, expired or another chat's"
        process = None
        if opened is not None:

            async def process(entry_id: int, joined: Inbound) -> None:
                await self.private_chats.opened(joined, opened)
                await self.finish(entry_id, "private chat opened from a start link")

        entry = await self.accept(platform_id, inbound, data, on_new_message, process=process)
        return "accepted" if entry is not None else "duplicate"

    async def redeliver_entry(
        self,
        entry_id: int,
        inbound: Inbound,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
    ) -> None:
        """A start link's opening is not Rasa's: finished as it is (its token was taken)."""
        if (inbound.platform or {}).get("opened_private_chat"):
            self.spawn_entry(entry_id, self.finish(entry_id, "private chat opened (redelivered)"))
            return
        await super().redeliver_entry(entry_id, inbound, payload, on_new_message)

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        """``POST /webhook``: one update per request, as Telegram sends them."""

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                if self.mode != "webhook":
                    raise Rejected(404, "webhook mode is off (the channel polls)")
                if not secrets_match(request.headers.get(SECRET_HEADER), self.secret_token):
                    raise Rejected(403, "missing or wrong secret token")
                check_size(request, self.max_body_bytes)
                data = parse_json_object(request.body)
                try:
                    outcome = await self.handle_update(data, on_new_message)
                except MalformedUpdate as error:
                    raise Rejected(400, f"not an update: {error}") from error
            except Rejected as rejection:
                return self.reject(request, rejection)
            return response.json({"ok": True, "result": outcome})

    # -- start and stop ----------------------------------------------------------------------

    async def on_start(self, app: Any) -> None:
        """Registers the webhook, or starts polling (both retried in the background)."""
        if self._on_new_message is None:
            return
        if self.mode == "webhook":
            self._loops.spawn(self._register_webhook(), name="telegram-set-webhook")
        else:
            self._loops.spawn(self._poll(self._on_new_message), name="telegram-polling")

    async def on_stop(self, app: Any) -> None:
        """Closes the client; the webhook stays registered (Telegram keeps updates meanwhile)."""
        await self.client.close()

    async def _register_webhook(self) -> None:
        wait = 1.0
        while True:
            try:
                bot = await self.client.bot()
                await bot.set_webhook(
                    url=self.webhook_url,
                    secret_token=reveal(self.secret_token),
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=False,
                )
                logger.info("telegram: webhook registered at %s", self.webhook_url)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - retried until it works
                logger.error(
                    "telegram: setWebhook failed (%s: %s); retrying in %.0f s",
                    type(error).__name__,
                    error,
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, 60.0)

    async def _poll(self, on_new_message: OnNewMessage) -> None:
        from telegram.error import Conflict, RetryAfter, TimedOut

        inbox = await self.inbox()
        cursor = f"telegram:{self.client.bot_id}:offset"
        wait = 1.0
        webhook_removed = False
        offset: int | None = None
        while True:
            try:
                bot = await self.client.bot()
                if not webhook_removed:
                    # getUpdates refuses to work while a webhook is set.
                    await bot.delete_webhook(drop_pending_updates=False)
                    webhook_removed = True
                    saved = await asyncio.to_thread(inbox.get_cursor, cursor)
                    offset = int(saved) + 1 if saved else None
                    logger.info("telegram: polling for updates")
                updates = await bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
                wait = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as error:
                await asyncio.sleep(retry_after_seconds(error))
                continue
            except TimedOut:
                continue
            except Exception as error:  # noqa: BLE001 - polling must go on
                kind = (
                    "another poller or a webhook is active"
                    if isinstance(error, Conflict)
                    else f"{type(error).__name__}: {error}"
                )
                logger.warning("telegram: getUpdates failed (%s); retrying in %.0f s", kind, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 60.0)
                continue
            last = None
            for update in updates:
                try:
                    await self.handle_update(update.to_dict(), on_new_message)
                except MalformedUpdate as error:
                    logger.warning("telegram: update %s skipped: %s", update.update_id, error)
                except Exception:  # noqa: BLE001 - not confirmed: Telegram sends it again
                    logger.exception("telegram: could not record update %s", update.update_id)
                    break
                last = update.update_id
            if last is not None:
                offset = last + 1
                await asyncio.to_thread(inbox.set_cursor, cursor, str(last))

    # -- output ------------------------------------------------------------------------------

    def output_for(self, inbound: Inbound) -> OutputChannel:
        """Replies to one message: in a group threaded under it; from a joined chat, there."""
        platform = inbound.platform or {}
        in_group = platform.get("chat_type") in ("group", "supergroup")
        message_id = platform.get("message_id")
        return TelegramOutput(
            self.client,
            reply_to=message_id if in_group and isinstance(message_id, int) else None,
            private_chat=bool(platform.get("private_chat")),
            inbox=self.inbox,
        )

    def get_output_channel(self) -> OutputChannel:
        """An output for a reply sent later (Rasa's HTTP API with ``output_channel=latest``).

        It records the outcome of the desk's answers in the inbox's database.
        """
        output = TelegramOutput(self.client, inbox=self.inbox)
        output.track_deliveries(self.inbox)
        return output
