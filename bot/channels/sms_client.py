"""Twilio's REST API for the SMS connector: ``twilio.rest.Client``, each send on its own thread.

A send is one POST to ``Messages.json`` through twilio's synchronous HTTP client (requests), made
on a worker thread, not in the Rasa server's event loop: that loop is busy with the model's CPU
work for long stretches, and a reply Twilio has accepted must be recorded in the reply ledger at
once — a crash between "sent" and "recorded" makes the reply go out again after the restart. The
worker thread takes Twilio's answer as it arrives and writes the ledger row right there
(``on_sent``). The retries of 429s, 5xx and network errors (tenacity, with jitter) stay in the
event loop, between tries.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot.channels.base import DeliveryError, redact, reveal
from bot.channels.config import Secret
from bot.channels.dbretry import send_backoff

# The connector's logger: its lines read as they did when the client lived in sms.py.
logger = logging.getLogger("bot.channels.sms")

__all__ = [
    "PERMANENT_CODES",
    "TWILIO_API",
    "UNSUBSCRIBED",
    "PermanentDeliveryError",
    "TwilioClient",
    "problem_of",
    "transient",
]

TWILIO_API = "https://api.twilio.com"
#: Twilio's error for a number that opted out with the carrier.
UNSUBSCRIBED = 21610
#: Twilio error codes that no retry fixes.
PERMANENT_CODES = frozenset({21211, 21212, 21408, 21610, 21612, 21614, 21617, 21635, 30004})
#: Sends at once per client (the connector has at most `max_in_flight` messages in flight).
SENDING_THREADS = 16


def _routed_http_client(api_base_url: str | None, timeout: float) -> Any:
    """Twilio's HTTP client, sending every https://api.twilio.com URL to ``api_base_url``."""
    from twilio.http.http_client import TwilioHttpClient

    class RoutedHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if api_base_url and url.startswith(TWILIO_API):
                url = api_base_url.rstrip("/") + url[len(TWILIO_API) :]
            return super().request(method, url, *args, **kwargs)

    # twilio logs every request's headers at INFO: keep that to warnings and errors.
    http_logger = logging.getLogger("bot.channels.sms.http")
    if http_logger.level == logging.NOTSET:
        http_logger.setLevel(logging.WARNING)
    client = RoutedHttpClient(timeout=timeout, logger=http_logger)
    # No proxy or .netrc from the environment, as with the aiohttp client this replaced.
    client.session.trust_env = False
    return client


def transient(error: BaseException) -> bool:
    """Whether another try may send it: a 429 or 5xx from Twilio, a network error or timeout.

    Twilio's refusals for good were turned into :class:`PermanentDeliveryError` before this is
    asked, and anything else (a bug) is raised at once.
    """
    from twilio.base.exceptions import TwilioRestException

    if isinstance(error, (TwilioRestException, OSError)):  # requests' errors are OSErrors
        return True
    # urllib3's, that requests lets through.
    return type(error).__module__.split(".")[0] in ("requests", "urllib3")


def problem_of(error: BaseException) -> str:
    """A failed try, for the log and the inbox entry: Twilio's status and code, or the error."""
    from twilio.base.exceptions import TwilioRestException

    if isinstance(error, TwilioRestException):
        return f"Twilio {error.status} error {error.code}"
    return f"{type(error).__name__}: {error}"


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    problem = problem_of(error) if error is not None else "failed"
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("sms: %s; retry %s in %.1f s", redact(problem), state.attempt_number, wait)


class PermanentDeliveryError(RuntimeError):
    """Twilio refused the message for good (an unsubscribed or invalid number)."""

    def __init__(self, message: str, code: int | None) -> None:
        """Keeps Twilio's error code."""
        super().__init__(message)
        self.code = code


class TwilioClient:
    """``twilio.rest.Client`` on worker threads: one client (one HTTP session) per thread."""

    def __init__(
        self,
        account_sid: Secret | str,
        auth_token: Secret | str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        """Configures the client.

        Args:
            account_sid: The account (from the environment).
            auth_token: The auth token (from the environment).
            from_number: The number replies come from (E.164), or
            messaging_service_sid: a Messaging Service that picks it.
            api_base_url: Where Twilio's API is (tests point it at a fake server).
            timeout: Seconds per request.
            max_attempts: Tries of one send through 429s, 5xx and network errors.
            backoff: First wait between tries; doubles each time, plus up to ``backoff`` at
                random (``dbretry.send_backoff``).
        """
        self._account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.api_base_url = api_base_url
        self.timeout = float(timeout)
        self.max_attempts = int(max_attempts)
        self.backoff = float(backoff)
        self._guard = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._clients: list[Any] = []

    def client(self) -> Any:
        """This thread's REST client (a requests session is not shared between threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            from twilio.rest import Client

            client = Client(
                reveal(self._account_sid),
                reveal(self._auth_token),
                http_client=_routed_http_client(self.api_base_url, self.timeout),
            )
            self._local.client = client
            with self._guard:
                self._clients.append(client)
        return client

    def _sending_threads(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(
                    max_workers=SENDING_THREADS, thread_name_prefix="sms-send"
                )
            return self._threads

    def _try_once(self, kwargs: dict[str, Any], on_sent: Callable[[], None] | None) -> str:
        """One POST, on a worker thread; ``on_sent`` runs as soon as Twilio accepted it."""
        message = self.client().messages.create(**kwargs)
        if on_sent is not None:
            on_sent()
        return str(message.sid)

    async def send(self, to: str, body: str, *, on_sent: Callable[[], None] | None = None) -> str:
        """Sends one SMS.

        Args:
            to: The customer's number (E.164).
            body: The text (the renderer keeps it within two segments).
            on_sent: Called (blocking, on the sending thread, must not raise) the moment Twilio
                accepted the message, before this returns: the reply ledger's write.

        Returns:
            The message SID.

        Raises:
            PermanentDeliveryError: Twilio refused it for good (e.g. 21610 unsubscribed).
            DeliveryError: Still failing after the retries (429, 5xx, timeouts).
        """
        from twilio.base.exceptions import TwilioRestException

        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        loop = asyncio.get_running_loop()

        async def try_once() -> str:
            try:
                return await loop.run_in_executor(
                    self._sending_threads(), self._try_once, kwargs, on_sent
                )
            except TwilioRestException as error:
                if error.code in PERMANENT_CODES or (
                    400 <= error.status < 500 and error.status != 429
                ):
                    raise PermanentDeliveryError(
                        f"Twilio {error.status} error {error.code}: {error.msg}", error.code
                    ) from error
                raise

        retrying = AsyncRetrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(max(1, self.max_attempts)),
            wait=send_backoff(self.backoff),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return await retrying(try_once)
        except Exception as error:
            if not transient(error):
                raise
            tries = max(1, self.max_attempts)
            raise DeliveryError(f"SMS not sent after {tries} tries: {problem_of(error)}") from error

    async def close(self) -> None:
        """Lets sends in progress finish, then closes the threads' HTTP sessions."""
        with self._guard:
            threads, self._threads = self._threads, None
            clients, self._clients = self._clients, []
        if threads is None:
            return

        def shut_down() -> None:
            threads.shutdown(wait=True)
            for client in clients:
                try:
                    client.http_client.session.close()
                except Exception:  # noqa: BLE001 - closing must not fail the shutdown
                    logger.debug("sms: error while closing the client", exc_info=True)

        await asyncio.to_thread(shut_down)
