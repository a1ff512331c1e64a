"""The SMS connector, through Twilio (the ``twilio`` package's validator and REST client).

Twilio POSTs each incoming SMS to ``/webhooks/sms/webhook`` as a form, signed in the
``X-Twilio-Signature`` header: HMAC-SHA1 of the URL Twilio called plus the sorted parameters, keyed
by the auth token. It is checked with ``twilio.request_validator.RequestValidator`` against
``public_url`` when set (a server behind a proxy sees another URL than Twilio called), else the URL
the request arrived at; a forged or missing signature is a 403. The message is recorded
(deduplicated by ``MessageSid``) and the webhook answers at once with empty TwiML; replies go out
through the REST API (``Messages.json``), never in the webhook's answer, so a slow model never makes
Twilio time out. Twilio sends no timestamp: a message's time is when the webhook arrived. Pictures
of an MMS are not read; its text is.

Keywords, matched on the whole message (case, spaces and a final full stop ignored):

- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE: the number opts out — recorded
  with the time in the inbox's opt-out table, not passed to the bot, nothing sent (Twilio's own
  opt-out handling confirms it, as carriers require). From then on nothing at all is sent to that
  number: every delivery checks the table (and Twilio's error 21610 records an opt-out too).
  Later messages from the number still reach the bot and the queue, so the record stays whole.
- START, UNSTOP, YES (YES only from a number that opted out): the number opts back in.
- HELP, INFO: a short help text with the brand's contacts (``help_text`` overrides it), not
  passed to the bot; nothing to a number that opted out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from rasa.core.channels.channel import OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_REDELIVER_EVERY,
    ChannelConnector,
    ConnectorOutput,
    OnNewMessage,
    Rejected,
    check_size,
    protect_secrets,
    recipient_of,
    redact,
    reveal,
)
from bot.channels.config import Secret, resolve
from bot.channels.inbox import Inbox
from bot.channels.ledger_write import LedgerWrite
from bot.channels.output import Reply
from bot.channels.sms_client import UNSUBSCRIBED, PermanentDeliveryError, TwilioClient
from bot.inbound import Inbound
from bot.render.sms import fit_sms
from bot.settings import ConfigError, load_brand
from handoff.transcript import customer_label

logger = logging.getLogger(__name__)

__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "TwilioClient",
    "TwilioSmsInput",
    "TwilioSmsOutput",
    "keyword_of",
]

CHANNEL = "sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
#: Twilio's standard opt-out, opt-in and help keywords.
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
UTC = dt.timezone.utc


def keyword_of(body: str, opt_out: Iterable[str] = OPT_OUT_KEYWORDS) -> str | None:
    """The keyword a whole message is (upper case), or None: ``" stop. "`` gives ``"STOP"``.

    Args:
        body: The SMS.
        opt_out: The opt-out words (Twilio's by default).
    """
    word = re.sub(r"[\s.!]+$", "", body.strip()).upper()
    if word in set(opt_out) | OPT_IN_KEYWORDS | HELP_KEYWORDS:
        return word
    return None


def default_help_text() -> str:
    """The HELP answer: the brand's name and contacts, and how to opt out, within one SMS."""
    brand = load_brand()
    contacts = brand.contacts
    text = (
        f"{brand.name}: call {contacts.phone}, e-mail {contacts.email} or chat at "
        f"{contacts.web_chat}. Reply STOP to opt out."
    )
    return fit_sms(text, 1)


class FormParams(dict[str, list[str]]):
    """A form's fields, each a list of values, as twilio's validator reads them."""

    def getlist(self, name: str) -> list[str]:
        """Every value of a field (what ``RequestValidator`` signs)."""
        return list(self[name])

    def first(self, name: str, default: str = "") -> str:
        """The first value of a field."""
        values = self.get(name)
        return values[0] if values else default


def parse_form(body: bytes | None) -> FormParams:
    """Parses a urlencoded body keeping empty fields (Twilio signs them too).

    Raises:
        Rejected: 400 when the body is not UTF-8.
    """
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError as error:
        raise Rejected(400, "form is not UTF-8") from error
    return FormParams(parse_qs(text, keep_blank_values=True))


# -- output ---------------------------------------------------------------------------------


class TwilioSmsOutput(ConnectorOutput):
    """Sends the rendered replies by SMS, never to a number that opted out."""

    def __init__(self, client: TwilioClient, inbox: Callable[[], Awaitable[Inbox]]) -> None:
        """Builds the output; ``inbox`` opens the inbox, read for opt-outs before each SMS."""
        super().__init__(CHANNEL, public=False, handle=None)
        self.client = client
        self.inbox = inbox

    @classmethod
    def name(cls) -> str:
        """Rasa's name of the channel."""
        return CHANNEL

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        """Sends one SMS unless the number opted out; a refusal is kept, not raised."""
        await self.deliver_and_record(recipient_id, reply, None)

    async def deliver_and_record(
        self, recipient_id: str, reply: Reply, record: Callable[[], None] | None
    ) -> None:
        """Sends one SMS and records it on the sending thread the moment Twilio accepted it.

        A reply to a number that opted out is not sent, and one Twilio refused for good is
        not sent again: both are kept in ``undelivered`` and recorded (from here: a crash
        before that only means trying again what is refused again).
        """
        number = recipient_of(recipient_id, CHANNEL)
        shown = customer_label(CHANNEL, number)  # logs show the number's end only, as the desk
        ledger = LedgerWrite(record)
        inbox = await self.inbox()
        if await asyncio.to_thread(inbox.opted_out, CHANNEL, number):
            logger.info("sms: reply to %s not sent: the number opted out", shown)
            self.refuse("opted_out", "not sent: the number opted out")
            await ledger.now()
            return
        try:
            await self.client.send(number, reply.text, on_sent=ledger.on_sent)
        except PermanentDeliveryError as error:
            # Twilio's wording may repeat the number: its error code says enough.
            logger.warning("sms: reply to %s not delivered (Twilio error %s)", shown, error.code)
            code = "opted_out" if error.code == UNSUBSCRIBED else "platform_error"
            self.refuse(code, f"not delivered: {error}")
            if error.code == UNSUBSCRIBED:
                await asyncio.to_thread(
                    inbox.set_opt_out,
                    CHANNEL,
                    number,
                    True,
                    dt.datetime.now(UTC),
                    "carrier opt-out (21610)",
                )
            await ledger.now()
            return
        self.sent.append(reply)
        ledger.check()


# -- input ----------------------------------------------------------------------------------


def _keywords(options: Mapping[str, Any], key: str, default: Iterable[str]) -> frozenset[str]:
    value = options.get(key)
    if value is None:
        return frozenset(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"credentials.yml: sms `{key}` must be a list of words")
    return frozenset(v.strip().upper() for v in value)


class TwilioSmsInput(ChannelConnector):
    """The SMS input channel (Twilio's messaging webhook)."""

    channel = CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TwilioSmsInput:
        """Builds the channel from its credentials.yml entry (secrets from the environment).

        Options: ``account_sid_env`` and ``auth_token_env`` (required), ``from_number_env`` or
        ``messaging_service_sid_env`` (one of them), ``public_url``, ``api_base_url``,
        ``help_text``, ``help_reply``, ``timeout``, ``inbox_url``, ``max_body_bytes``,
        ``redeliver_after``, ``redeliver_every``, ``max_in_flight``.

        Raises:
            ConfigError: A variable is missing or an option is wrong (names it, never a value).
        """
        if credentials is None:
            cls.raise_missing_credentials_exception()
        options = resolve(credentials, channel=CHANNEL)
        for required in ("account_sid", "auth_token"):
            if required not in options:
                raise ConfigError(f"credentials.yml: sms needs `{required}_env`")
        return cls(
            account_sid=options["account_sid"],
            auth_token=options["auth_token"],
            from_number=reveal(options.get("from_number")) or None,
            messaging_service_sid=reveal(options.get("messaging_service_sid")) or None,
            public_url=reveal(options.get("public_url")) or None,
            api_base_url=reveal(options.get("api_base_url")) or None,
            help_text=reveal(options.get("help_text")) or None,
            help_reply=bool(options.get("help_reply", True)),
            timeout=float(options.get("timeout", 10.0)),
            opt_out_keywords=_keywords(options, "opt_out_keywords", OPT_OUT_KEYWORDS),
            inbox_url=options.get("inbox_url"),
            max_body_bytes=int(options.get("max_body_bytes", 64 * 1024)),
            redeliver_after=float(options.get("redeliver_after", 120.0)),
            redeliver_every=float(options.get("redeliver_every", DEFAULT_REDELIVER_EVERY)),
            max_in_flight=int(options.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
        )

    def __init__(
        self,
        account_sid: Secret | str,
        auth_token: Secret | str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        public_url: str | None = None,
        api_base_url: str | None = None,
        help_text: str | None = None,
        help_reply: bool = True,
        timeout: float = 10.0,
        opt_out_keywords: frozenset[str] = OPT_OUT_KEYWORDS,
        **common: Any,
    ) -> None:
        """Configures the channel (see :meth:`from_credentials` for the options).

        Raises:
            ConfigError: Neither a sender number nor a Messaging Service, or a number that is
                not E.164.
        """
        common.setdefault("max_body_bytes", 64 * 1024)
        super().__init__(**common)
        if not from_number and not messaging_service_sid:
            raise ConfigError(
                "credentials.yml: sms needs `from_number_env` or `messaging_service_sid_env`"
            )
        if from_number and not _E164.match(from_number):
            raise ConfigError("sms: the sender number must be in E.164 form, like +351210000000")
        protect_secrets(auth_token)
        self.auth_token = auth_token
        self.public_url = public_url
        self.help_text = help_text
        self.help_reply = help_reply
        self.opt_out_keywords = opt_out_keywords
        self.client = TwilioClient(
            account_sid,
            auth_token,
            from_number=from_number,
            messaging_service_sid=messaging_service_sid,
            api_base_url=api_base_url,
            timeout=timeout,
        )

    # -- reading -----------------------------------------------------------------------------

    def signed_url(self, request: Request) -> str:
        """The URL Twilio signed: ``public_url`` (with the request's query) or the request's."""
        if not self.public_url:
            return str(request.url)
        public = urlsplit(self.public_url)
        query = request.query_string or public.query
        return urlunsplit((public.scheme, public.netloc, public.path, query, ""))

    def verify(self, request: Request, params: Any) -> None:
        """Checks the signature with twilio's RequestValidator.

        Raises:
            Rejected: 403 when it is missing or does not match.
        """
        from twilio.request_validator import RequestValidator

        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise Rejected(403, "no X-Twilio-Signature")
        validator = RequestValidator(reveal(self.auth_token))
        if not validator.validate(self.signed_url(request), params, signature):
            raise Rejected(403, "X-Twilio-Signature does not match")

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        """``POST /webhook``: Twilio's incoming-message webhook."""

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                check_size(request, self.max_body_bytes)
                content_type = (request.headers.get("content-type") or "").split(";")[0]
                if content_type.strip().lower() != "application/x-www-form-urlencoded":
                    # Checked before the signature: Twilio signs form parameters only.
                    raise Rejected(400, f"expected a form, got {content_type or 'no type'}")
                params = parse_form(request.body)
                self.verify(request, params)
                sid = params.first("MessageSid") or params.first("SmsSid")
                sender = params.first("From").strip()
                if not sid or not sender:
                    raise Rejected(400, "no MessageSid or From")
                await self.receive(sid, sender, params.first("Body"), params, on_new_message)
            except Rejected as rejection:
                return self.reject(request, rejection)
            return response.text(EMPTY_TWIML, content_type="text/xml")

    async def receive(
        self,
        sid: str,
        sender: str,
        body: str,
        params: FormParams,
        on_new_message: OnNewMessage,
    ) -> str:
        """Records one SMS and starts handling it (a keyword, or the bot).

        Returns:
            "accepted", "keyword" or "duplicate".
        """
        count = params.first("NumMedia", "0")
        media = int(count) if count.isdigit() else 0
        platform: dict[str, Any] = {"message_sid": sid, "to": params.first("To")}
        if media:
            platform["media"] = media
        inbound = Inbound(
            channel=CHANNEL,
            sender=sender,
            text=body,
            public=False,
            at=dt.datetime.now(UTC),
            platform=platform,
        )
        payload = {key: params.first(key) for key in params}
        keyword = keyword_of(body, self.opt_out_keywords)
        handler = self._keyword_handler(keyword) if keyword else None
        if not body.strip():
            handler = self._nothing_to_read(f"no text ({media} media)" if media else "no text")
        entry = await self.accept(sid, inbound, payload, on_new_message, process=handler)
        if entry is None:
            return "duplicate"
        return "keyword" if handler else "accepted"

    def _nothing_to_read(self, note: str) -> Any:
        async def handle(entry_id: int, inbound: Inbound) -> None:
            logger.info("sms: message %s ignored: %s", entry_id, note)
            await self.finish(entry_id, note)

        return handle

    def _keyword_handler(self, keyword: str) -> Any:
        async def handle(entry_id: int, inbound: Inbound) -> None:
            await self.handle_keyword(entry_id, inbound, keyword)

        return handle

    async def handle_keyword(self, entry_id: int, inbound: Inbound, keyword: str) -> None:
        """STOP / START / HELP: records the choice, answers HELP, tells the bot nothing.

        A word that is only a keyword in a context (YES from a number that never opted out) goes
        to the bot like any message.
        """
        inbox = await self.inbox()
        number = inbound.sender
        shown = customer_label(CHANNEL, number)
        opted_out = await asyncio.to_thread(inbox.opted_out, CHANNEL, number)
        try:
            if keyword in self.opt_out_keywords:
                await asyncio.to_thread(
                    inbox.set_opt_out, CHANNEL, number, True, inbound.at, keyword
                )
                logger.info("sms: message %s: %s opted out (%s)", entry_id, shown, keyword)
                await self.finish(entry_id, f"opt-out keyword {keyword}")
                return
            if keyword in OPT_IN_KEYWORDS and (opted_out or keyword != "YES"):
                await asyncio.to_thread(
                    inbox.set_opt_out, CHANNEL, number, False, inbound.at, keyword
                )
                logger.info("sms: message %s: %s opted back in (%s)", entry_id, shown, keyword)
                await self.finish(entry_id, f"opt-in keyword {keyword}")
                return
            if keyword in HELP_KEYWORDS:
                note = f"help keyword {keyword}"
                if opted_out:
                    note += ": not answered, the number opted out"
                elif self.help_reply:
                    await self.client.send(number, self.help_text or default_help_text())
                await self.finish(entry_id, note)
                return
        except PermanentDeliveryError as error:
            await self.finish(entry_id, f"help not delivered: {error}")
            return
        except Exception as error:  # noqa: BLE001 - recorded, redelivered later
            # Its text may hold the number (Twilio's wording): the type only, the rest at DEBUG.
            logger.error(
                "sms: keyword %s of message %s failed (%s)", keyword, entry_id, type(error).__name__
            )
            logger.debug("sms: keyword %s of message %s failed", keyword, entry_id, exc_info=True)
            await asyncio.to_thread(
                inbox.mark_failed, entry_id, redact(f"{type(error).__name__}: {error}")
            )
            return
        # Not a keyword here: the bot reads it.
        if self._on_new_message is not None:
            await self.process(entry_id, inbound, self._on_new_message)

    async def redeliver_entry(
        self,
        entry_id: int,
        inbound: Inbound,
        payload: dict[str, Any],
        on_new_message: OnNewMessage,
    ) -> None:
        """A redelivered keyword is handled as a keyword again, not by the bot."""
        keyword = keyword_of(inbound.text, self.opt_out_keywords)
        if not inbound.text.strip():
            await self.finish(entry_id, "no text")
        elif keyword:
            self.spawn_entry(entry_id, self.handle_keyword(entry_id, inbound, keyword))
        else:
            await super().redeliver_entry(entry_id, inbound, payload, on_new_message)

    # -- start and stop ----------------------------------------------------------------------

    async def on_stop(self, app: Any) -> None:
        """Closes the HTTP session."""
        await self.client.close()

    # -- output ------------------------------------------------------------------------------

    def output_for(self, inbound: Inbound) -> OutputChannel:
        """Replies to one message."""
        return TwilioSmsOutput(self.client, self.inbox)

    def get_output_channel(self) -> OutputChannel:
        """An output for a reply sent later (Rasa's HTTP API with ``output_channel=latest``).

        It records the outcome of the desk's answers in the inbox's database.
        """
        output = TwilioSmsOutput(self.client, self.inbox)
        output.track_deliveries(self.inbox)
        return output
