"""A fake Twilio on 127.0.0.1: the Messages API and the incoming-message webhook.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` as documented at
  https://www.twilio.com/docs/messaging/api/message-resource: HTTP Basic auth with the account SID
  and auth token (401, error 20003, otherwise), form fields ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``; ``201`` with the Message resource (``sid`` "SM...", status
  ``queued``). Errors as Twilio sends them: ``{"code", "message", "more_info", "status"}`` — 21604
  no ``To``, 21602 no ``Body``, 21610 an unsubscribed recipient, 20429 too many requests.
- The Twilio side of the webhook: :meth:`FakeTwilio.send_sms` POSTs the parameters Twilio sends
  for an incoming SMS, form-encoded, signed in ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and
  the sorted parameters, keyed by the auth token; computed with twilio's own ``RequestValidator``).
- Faults on demand (:meth:`fail_next`, :meth:`stall_next`); everything received is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from afterhours.bench.fakes.telegram_server import ThreadedServer

API_VERSION = "2010-04-01"


@dataclass
class SentSms:
    """One SMS the bot sent through the API."""

    to: str
    body: str
    sender: str
    sid: str
    at: float


@dataclass
class Fault:
    """An injected failure of the Messages API."""

    status: int = 429
    code: int = 20429
    message: str = "Too Many Requests"
    stall: float = 0.0


@dataclass
class WebhookAnswer:
    """What the bot's webhook answered to one incoming SMS."""

    message_sid: str
    status: int
    body: str
    content_type: str
    seconds: float


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


@dataclass(eq=False)
class FakeTwilio(ThreadedServer):
    """The fake Twilio for one account. ``api_base_url`` replaces https://api.twilio.com."""

    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "fake-twilio-auth-token-0123456789"
    number: str = "+15005550006"
    webhook_url: str = ""
    sent: list[SentSms] = field(default_factory=list)
    answers: list[WebhookAnswer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__init__()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._by_number: dict[str, list[SentSms]] = defaultdict(list)

    @property
    def api_base_url(self) -> str:
        """What the client uses instead of https://api.twilio.com."""
        return self.url

    def app(self) -> web.Application:
        """The Messages API."""
        application = web.Application()
        application.router.add_post(
            f"/{API_VERSION}/Accounts/{{sid}}/Messages.json", self._create_message
        )
        return application

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.account_sid and password == self.auth_token

    async def _create_message(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        with self._lock:
            self.requests.append(form)
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if self._faults:
            fault = self._faults.popleft()
            if fault.stall:
                await asyncio.sleep(fault.stall)  # the client gave up; nothing is sent
                return _error(502, 20500, "Bad Gateway")
            return _error(fault.status, fault.code, fault.message)
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or form.get("MessagingServiceSid") or ""
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        if to in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        sms = SentSms(to, body, sender, sid, time.monotonic())
        with self._lock:
            self.sent.append(sms)
            self._by_number[to].append(sms)
        now = formatdate(usegmt=False).replace("-0000", "+0000")
        return web.json_response(
            {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {
                    "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
                },
                "to": to,
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    # -- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 429,
        code: int = 20429,
        message: str = "Too Many Requests",
        count: int = 1,
    ) -> None:
        """The next ``count`` API calls fail with this error."""
        for _ in range(count):
            self._faults.append(Fault(status, code, message))

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """The next ``count`` API calls answer only after ``seconds`` and send nothing."""
        for _ in range(count):
            self._faults.append(Fault(stall=seconds))

    # -- the platform side -------------------------------------------------------------------

    def incoming(
        self, sender: str, body: str, *, sid: str | None = None, media: int = 0
    ) -> dict[str, str]:
        """The parameters Twilio POSTs for an incoming SMS."""
        sid = sid or "SM" + uuid.uuid4().hex
        return {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": str(media),
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "PT",
            "To": self.number,
            "MessagingServiceSid": "",
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": sender,
            "ApiVersion": API_VERSION,
        }

    def signature(self, url: str, params: dict[str, str], token: str | None = None) -> str:
        """``X-Twilio-Signature`` for a POST of ``params`` to ``url``."""
        return RequestValidator(token or self.auth_token).compute_signature(url, params)

    async def _post(
        self, params: dict[str, str], url: str, signature: str | None, body: bytes | None
    ) -> WebhookAnswer:
        assert self.session is not None
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        started = time.monotonic()
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = self.session.post(url, data=body, headers=headers)
        else:
            request = self.session.post(url, data=params, headers=headers)
        async with request as answer:
            result = WebhookAnswer(
                params.get("MessageSid", ""),
                answer.status,
                await answer.text(),
                answer.headers.get("Content-Type", ""),
                time.monotonic() - started,
            )
        with self._lock:
            self.answers.append(result)
        return result

    def post(
        self,
        params: dict[str, str],
        *,
        url: str | None = None,
        signed_url: str | None = None,
        signature: str | None | bool = True,
        body: bytes | None = None,
    ) -> WebhookAnswer:
        """POSTs webhook parameters as Twilio does.

        Args:
            params: The form (see :meth:`incoming`).
            url: Where to post (default :attr:`webhook_url`).
            signed_url: The URL the signature covers (default ``url``; a proxy's public URL).
            signature: True signs correctly; a string is sent as is (a forgery); None sends none.
            body: Raw bytes to send instead of the form (malformed input).
        """
        target = url or self.webhook_url
        if signature is True:
            header: str | None = self.signature(signed_url or target, params)
        elif signature is None or signature is False:
            header = None
        else:
            header = str(signature)
        return self.call(self._post(params, target, header, body))

    def post_many(self, forms: list[dict[str, str]], concurrency: int = 50) -> list[float]:
        """Calls the webhook for many SMS, ``concurrency`` at a time (a burst).

        Returns:
            When each was sent (``time.monotonic()``), in the forms' order.
        """

        async def burst() -> list[float]:
            gate = asyncio.Semaphore(concurrency)
            times = [0.0] * len(forms)

            async def one(index: int) -> None:
                params = forms[index]
                async with gate:
                    times[index] = time.monotonic()
                    signature = self.signature(self.webhook_url, params)
                    await self._post(params, self.webhook_url, signature, None)

            await asyncio.gather(*(one(i) for i in range(len(forms))))
            return times

        return self.call(burst(), timeout=3600)

    def send_sms(self, sender: str, body: str, **kwargs: Any) -> WebhookAnswer:
        """A customer's SMS arrives: Twilio calls the webhook."""
        return self.post(self.incoming(sender, body), **kwargs)

    def sent_to(self, number: str) -> list[SentSms]:
        """The SMS sent to one number, in order."""
        with self._lock:
            return list(self._by_number.get(number, []))

    def wait_for(
        self, count: int, timeout: float = 30.0, number: str | None = None
    ) -> list[SentSms]:
        """Waits until ``count`` SMS were sent (to ``number``, if given)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sent_to(number) if number else list(self.sent)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
