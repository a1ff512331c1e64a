"""The X driver of `afterhours bench channels --channel x`.

The stack is the one every channel uses (``stack.channel_stack``): the action server
and `rasa run` with the X channel in its credentials, on scratch databases, the channel's requests
sent to a fake X API (``fakes/x_server.py``) through the connector's own ``api_base_url``
transport — tweepy, the poller, the inbox, the NLU, the policies, the actions and the renderer are
the real ones.

The burst: every customer posts a mention at the same moment (a routine question, four languages),
and the channel polls (``pro`` tier, but every 0.25 s instead of 10 s so that the polling interval
does not dominate the figure). Latency runs from the moment a mention exists on X to the moment
the threaded reply is posted; it includes the wait for the next poll. Replies are counted per
customer: the public reply under their post and any DM.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from afterhours.bench.channels import BurstResult, _bench
from afterhours.bench.fakes.x_server import FakeX
from afterhours.bench.stack import Driver

POLL_SECONDS = 0.25
ENV_NAMES = {
    "bearer_token": "X_BEARER_TOKEN",
    "consumer_key": "X_CONSUMER_KEY",
    "consumer_secret": "X_CONSUMER_SECRET",
    "access_token": "X_ACCESS_TOKEN",
    "access_token_secret": "X_ACCESS_TOKEN_SECRET",
    "user_id": "X_USER_ID",
}


class XDriver(Driver):
    """X in polling mode against ``afterhours.bench.fakes.x_server``."""

    name = "x"
    class_path = "bot.channels.x.XInput"

    def __init__(self, poll_seconds: float = POLL_SECONDS) -> None:
        """``poll_seconds``: the mentions and DM polling interval."""
        self.poll_seconds = poll_seconds
        self.fake: Any = None
        self.run = uuid.uuid4().hex[:4]
        self._authors: dict[str, str] = {}  # customer's tweet id -> customer
        self._lock = threading.Lock()
        # The fake stamps replies with time.time(); the benchmark compares monotonic times.
        self._offset = time.monotonic() - time.time()

    def start(self) -> None:
        """Starts the fake X API."""
        self.fake = FakeX().start()

    def stop(self) -> None:
        """Stops it."""
        if self.fake is not None:
            self.fake.stop()

    def options(self, rasa_url: str) -> dict[str, Any]:
        """Polling at the fake, every ``poll_seconds``, 100 posts a page."""
        entry: dict[str, Any] = {
            "tier": "pro",
            "mode": "polling",
            "mentions_seconds": self.poll_seconds,
            "dm_seconds": self.poll_seconds,
            "api_base_url": self.fake.base_url,
            "redeliver_every": 5,
        }
        entry.update({f"{option}_env": name for option, name in ENV_NAMES.items()})
        return entry

    def secrets(self) -> dict[str, str]:
        """The app's and the brand account's credentials (the fake's)."""
        fake = self.fake
        return {
            "X_BEARER_TOKEN": fake.bearer_token,
            "X_CONSUMER_KEY": fake.consumer_key,
            "X_CONSUMER_SECRET": fake.consumer_secret,
            "X_ACCESS_TOKEN": fake.access_token,
            "X_ACCESS_TOKEN_SECRET": fake.access_token_secret,
            "X_USER_ID": fake.brand_id,
        }

    def ready(self) -> bool:
        """Once the channel polled X for the first time."""
        return bool(self.fake.hits("mentions"))

    def customer(self, index: int) -> str:
        """An X username per customer (15 characters at most)."""
        return f"b{self.run}_{index}"

    def send(self, messages: Sequence[tuple[str, str]]) -> dict[str, float]:
        """Every customer posts a mention at once (one poll finds them all)."""
        brand = "@" + self.fake.brand_username
        sent: dict[str, float] = {}
        with self.fake._lock:  # the fake serves no page while the burst is being posted
            for key, text in messages:
                tweet = self.fake.post(key, f"{brand} {text}")
                with self._lock:
                    self._authors[tweet["id"]] = key
                sent[key] = time.monotonic()
        return sent

    def replies(self) -> dict[str, list[tuple[float, str]]]:
        """Public replies under each customer's posts, and DMs to them."""
        found: dict[str, list[tuple[float, str]]] = {}
        with self._lock:
            authors = dict(self._authors)
        for tweet in list(self.fake.posted_tweets):
            target = (tweet.get("reply") or {}).get("in_reply_to_tweet_id")
            key = authors.get(target) if target else None
            if key is not None:
                at = float(tweet["received_at"]) + self._offset
                found.setdefault(key, []).append((at, tweet["text"]))
        users = {user_id: name for user_id, name in dict(self.fake.users).items()}
        for dm in list(self.fake.posted_dms):
            key = users.get(dm["participant_id"])
            if key is not None and key.startswith(f"b{self.run}_"):
                found.setdefault(key, []).append(
                    (float(dm["received_at"]) + self._offset, dm["text"])
                )
        return found


def bench_x(
    model: Path | None = None,
    messages: int = 1000,
    brand: Path | None = None,
    *,
    keep: Path | None = None,
) -> tuple[BurstResult, float | None]:
    """The X burst on a fresh stack; returns the result and the server's ready time."""
    return _bench(XDriver(), model, messages, brand, keep)
