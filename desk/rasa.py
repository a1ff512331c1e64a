"""The desk's side of Rasa's HTTP API: send an agent's answer, release a conversation.

The answer is appended to the conversation's tracker as a bot event with
``execute_side_effects=true`` and ``output_channel=latest``, so Rasa delivers it on the channel the
customer last wrote from and its record of the conversation stays whole.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from bot.servers import RASA_TOKEN_ENV

__all__ = ["RASA_TOKEN_ENV", "RASA_URL_ENV", "RasaClient", "RasaError", "rasa_url"]

#: Where the Rasa server's HTTP API is (``rasa run --enable-api``).
RASA_URL_ENV = "AFTERHOURS_RASA_URL"
DEFAULT_RASA_URL = "http://127.0.0.1:5005"


class RasaError(RuntimeError):
    """The Rasa server could not be reached or refused the request.

    Attributes:
        status: Rasa's HTTP status when it answered (None: it could not be reached).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _shown(url: str) -> str:
    """A URL as errors (and so logs) say it: no query, no conversation id (a number, a handle)."""
    return re.sub(r"/conversations/[^/]+", "/conversations/…", url.split("?")[0])


def rasa_url() -> str:
    """The Rasa server's URL: $AFTERHOURS_RASA_URL, else http://127.0.0.1:5005."""
    return (os.environ.get(RASA_URL_ENV) or DEFAULT_RASA_URL).rstrip("/")


class RasaClient:
    """A small synchronous client of Rasa's HTTP API (run it in a worker thread).

    Args:
        base_url: The Rasa server, e.g. ``http://127.0.0.1:5005``.
        token: Rasa's auth token, if any.
        timeout: Seconds to wait for an answer.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls) -> RasaClient:
        """A client configured from the environment."""
        return cls(rasa_url(), os.environ.get(RASA_TOKEN_ENV) or None)

    def _events_url(self, conversation_id: str, side_effects: bool) -> str:
        # ':' and '+' stay as they are: Rasa's route matches the raw path ("telegram:42").
        path = urllib.parse.quote(conversation_id, safe=":@+")
        query: dict[str, str] = {"include_events": "NONE"}
        if side_effects:
            query.update(output_channel="latest", execute_side_effects="true")
        if self.token:
            query["token"] = self.token
        return (
            f"{self.base_url}/conversations/{path}/tracker/events?{urllib.parse.urlencode(query)}"
        )

    def _post(self, url: str, body: Any) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            raise RasaError(f"Rasa answered {error.code} to {_shown(url)}", error.code) from error
        except (urllib.error.URLError, OSError) as error:
            raise RasaError(f"Rasa at {self.base_url} is unreachable: {error}") from error

    def _get_json(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise RasaError(f"Rasa answered {error.code} to {_shown(url)}", error.code) from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RasaError(f"Rasa at {self.base_url} is unreachable: {error}") from error

    def conversation_exists(self, conversation_id: str) -> bool:
        """Whether Rasa holds a conversation in which the customer wrote.

        Rasa answers for any id, creating an empty conversation if there is none, so a
        conversation counts only when its tracker holds a ``user`` event.

        Raises:
            RasaError: Rasa could not be reached or refused it.
        """
        path = urllib.parse.quote(conversation_id, safe=":@+")
        query = {"include_events": "ALL"}
        if self.token:
            query["token"] = self.token
        url = f"{self.base_url}/conversations/{path}/tracker?{urllib.parse.urlencode(query)}"
        tracker = self._get_json(url)
        events = tracker.get("events") if isinstance(tracker, dict) else None
        return any(isinstance(e, dict) and e.get("event") == "user" for e in events or [])

    def send_bot_message(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> None:
        """Send an agent's answer to the customer through Rasa (and record it in the tracker).

        Args:
            conversation_id: The Rasa sender id (``"telegram:42"``).
            text: The answer.
            metadata: Facts kept with the event (agent, ticket).

        Raises:
            RasaError: Rasa could not be reached or refused it.
        """
        event = {"event": "bot", "text": text, "metadata": dict(metadata or {})}
        self._post(self._events_url(conversation_id, side_effects=True), event)

    def set_slot(self, conversation_id: str, name: str, value: Any) -> None:
        """Sets a slot of the conversation (nothing is sent to the customer).

        Raises:
            RasaError: Rasa could not be reached or refused it.
        """
        event = {"event": "slot", "name": name, "value": value}
        self._post(self._events_url(conversation_id, side_effects=False), event)

    def utter(self, conversation_id: str, response: str) -> None:
        """Has Rasa say one of the domain's responses on the customer's latest channel.

        Rasa picks the variation for the conversation's slots (its language), so the text is
        the bot's own, in the customer's language.

        Raises:
            RasaError: Rasa could not be reached or refused it.
        """
        path = urllib.parse.quote(conversation_id, safe=":@+")
        query = {"include_events": "NONE", "output_channel": "latest"}
        if self.token:
            query["token"] = self.token
        url = f"{self.base_url}/conversations/{path}/execute?{urllib.parse.urlencode(query)}"
        self._post(url, {"name": response})

    def release(self, conversation_id: str) -> None:
        """Clear the conversation's ``handoff_ticket`` slot, so the bot answers it again.

        Raises:
            RasaError: Rasa could not be reached or refused it.
        """
        event = {"event": "slot", "name": "handoff_ticket", "value": None}
        self._post(self._events_url(conversation_id, side_effects=False), event)
