"""Incident updates to every linked customer, through Rasa, once each (the notices' sender).

A post (an update, the resolution) becomes one ``pending`` notice per linked customer
(:meth:`handoff.incidents.IncidentStore.post`). The sender claims notices (``sending``, with a
delivery id) before asking Rasa to send them, the way the desk sends an agent's answer
(:mod:`desk.delivery`): the channel's connector records the outcome under the delivery id and the
sender marks the notice ``sent`` or ``failed``. A sender that died mid-send leaves claimed notices;
the next one settles them from their delivery records — delivered is ``sent``, no record means the
message never reached a connector and it goes back to ``pending`` — so no customer gets a notice
twice and none is lost. Each channel has a token bucket (brand.yml
``incidents.send_per_minute``); an SMS number that opted out is skipped, and nothing is sent on a
channel no live process serves (the notices wait).

The texts are the brand's (data/responses/incident.yml) around the agent's message: no customer
data, so a public X customer is answered in public.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import SQLAlchemyError

from bot.channels import deliveries
from bot.channels.inbox import Inbox
from bot.settings import Brand
from desk.rasa import RasaClient, RasaError
from handoff.clock import utc_now
from handoff.incidents import IncidentStore, Notice

__all__ = ["IncidentTexts", "NoticeSender", "TokenBucket", "read_message_file"]

logger = logging.getLogger("afterhours.incidents")

#: The channels notices go out on (a REST customer cannot be written to later).
SENDING_CHANNELS = ("sms", "x", "telegram")
#: A claimed notice not marked within this is settled from its delivery record.
LEASE = dt.timedelta(minutes=2)
#: Notices a minute on a channel brand.yml gives no rate for.
DEFAULT_PER_MINUTE = 60
TEXTS_FILE = Path(__file__).resolve().parents[1] / "data" / "responses" / "incident.yml"


class IncidentTexts:
    """The incident texts per language (data/responses/incident.yml)."""

    def __init__(self, path: Path = TEXTS_FILE, fallback: str = "en") -> None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        self._texts: dict[str, dict[str, str]] = {}
        for name, variations in (raw.get("responses") or {}).items():
            for variation in variations or []:
                for condition in variation.get("condition") or []:
                    if condition.get("name") == "language":
                        self._texts.setdefault(name, {})[condition["value"]] = variation["text"]
        self.fallback = fallback

    def text(self, name: str, language: str, **values: str) -> str:
        """The text of ``name`` in ``language`` (else the fallback language), filled in."""
        variants = self._texts.get(name) or {}
        template = variants.get(language) or variants.get(self.fallback) or ""
        return " ".join(template.format(**values).split())

    def notice(self, notice: Notice, status_page: str) -> str:
        """What one customer receives for a post."""
        texts = notice.texts
        message = (
            texts.get(notice.language) or texts.get("*") or texts.get(self.fallback) or ""
        ).strip()
        if notice.kind == "resolved":
            return self.text("utter_incident_resolved", notice.language, message=message)
        return self.text(
            "utter_incident_update", notice.language, message=message, status_page=status_page
        )


def read_message_file(path: Path) -> dict[str, str]:
    """An update's text: a plain text file (for every language), or YAML ``{en: ..., pt: ...}``.

    Raises:
        ValueError: The file is empty or its mapping is not language to text.
    """
    raw = path.read_text(encoding="utf-8").strip()
    if not raw:
        raise ValueError(f"{path}: the message is empty")
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError:
        parsed = None
    # A mapping only when every key is a language code: "Fixed: a cut cable." is plain text.
    if isinstance(parsed, dict) and all(
        isinstance(k, str) and re.fullmatch(r"[a-z]{2}|\*", k) for k in parsed
    ):
        if not all(isinstance(v, str) and v.strip() for v in parsed.values()):
            raise ValueError(f"{path}: map each language (en, pt, ...) to its text")
        return {k: v.strip() for k, v in parsed.items()}
    return {"*": raw}


@dataclass
class TokenBucket:
    """``per_minute`` sends a minute, in bursts of at most a tenth of it (at least one)."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = self.clock()

    @property
    def capacity(self) -> float:
        """The largest burst."""
        return max(1.0, self.per_minute / 10)

    def take(self, wanted: int) -> int:
        """Takes up to ``wanted`` tokens now; returns how many it got."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_minute / 60)
        self.stamp = now
        got = min(wanted, int(self.tokens))
        self.tokens -= got
        return got


class NoticeSender:
    """Sends the pending notices (see module docstring); one instance per process.

    Args:
        store: The incidents on the queue's database (its channel tables are there too).
        rasa: Rasa's HTTP API.
        brand: The brand (rates, status page, fallback language).
        texts: The incident texts.
        live: Which channels a live process serves (default: the channel workers' beats).
        lease: How long a claim holds before another sender settles it (:data:`LEASE`).
        per_minute: One rate for every channel instead of brand.yml's (a catch-up, a bench).
    """

    def __init__(
        self,
        store: IncidentStore,
        rasa: RasaClient,
        brand: Brand,
        texts: IncidentTexts | None = None,
        live: Callable[[], set[str]] | None = None,
        lease: dt.timedelta = LEASE,
        per_minute: int | None = None,
    ) -> None:
        self.store = store
        self.rasa = rasa
        self.brand = brand
        self.texts = texts or IncidentTexts(fallback=brand.default_language)
        rates: Mapping[str, int] = brand.incidents.send_per_minute
        self.buckets = {
            channel: TokenBucket(per_minute or int(rates.get(channel, DEFAULT_PER_MINUTE)))
            for channel in SENDING_CHANNELS
        }
        self._live = live or self._live_channels
        self.lease = lease

    def _live_channels(self) -> set[str]:
        try:
            return deliveries.live_channels(self.store.engine, dt.timedelta(seconds=30))
        except SQLAlchemyError:  # no connector ever ran on this database
            return set()

    def settle_stale(self, now: dt.datetime | None = None) -> int:
        """Settles notices a stopped sender left claimed, from their delivery records."""
        when = now or utc_now()
        settled = 0
        for notice in self.store.stale_notices(when - self.lease):
            recorded = self._recorded(notice)
            if recorded is not None and recorded.state == deliveries.QUEUED:
                continue  # the connector is still trying
            self._finish(notice, recorded, when)
            settled += 1
        return settled

    def _recorded(self, notice: Notice) -> deliveries.Delivery | None:
        try:
            return deliveries.outcome(self.store.engine, str(notice.delivery_id))
        except SQLAlchemyError:
            return None

    def _finish(
        self, notice: Notice, recorded: deliveries.Delivery | None, when: dt.datetime
    ) -> str:
        if recorded is None:
            state, reason = "pending", None  # it reached no connector: never sent
        elif recorded.state == deliveries.DELIVERED:
            state, reason = "sent", None
        else:
            state, reason = "failed", recorded.reason or "platform_error"
        self.store.finish_notice(notice.id, state, when, reason)
        return state

    def run_once(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Settles stale claims, then sends what each channel's bucket allows now.

        Returns:
            How many notices ended in each state this round.
        """
        self.settle_stale(now)
        done: dict[str, int] = {}
        live = self._live()
        for notice in self.store.claim_notices("rest", 1000, ["rest"] * 1000, now or utc_now()):
            # A REST customer's replies only go back in their own request: nobody to write to.
            self.store.finish_notice(notice.id, "skipped", utc_now(), "rest_channel")
            done["skipped"] = done.get("skipped", 0) + 1
        for channel in SENDING_CHANNELS:
            if channel not in live:
                continue  # the notices wait for the channel to run again
            allowed = self.buckets[channel].take(100)
            if not allowed:
                continue
            ids = [uuid.uuid4().hex for _ in range(allowed)]
            for notice in self.store.claim_notices(channel, allowed, ids, now or utc_now()):
                state = self._send(notice)
                done[state] = done.get(state, 0) + 1
        return done

    def _send(self, notice: Notice) -> str:
        when = utc_now()
        if notice.channel == "sms" and Inbox(self.store.engine).opted_out("sms", notice.customer):
            self.store.finish_notice(notice.id, "skipped", when, "opted_out")
            return "skipped"
        text = self.texts.notice(notice, self.brand.contacts.status_page or "")
        metadata: dict[str, Any] = {
            "delivery_id": notice.delivery_id,
            "source": "incident",
            "incident": f"INC-{notice.incident_id}",
        }
        try:
            self.rasa.send_bot_message(notice.conversation_id, text, metadata)
        except RasaError as error:
            recorded = self._recorded(notice)
            if recorded is None and error.status is not None:
                # Rasa refused it and no connector saw it: not sent, and not retried blind.
                self.store.finish_notice(notice.id, "failed", when, "rasa_refused")
                return "failed"
            return self._finish(notice, recorded, when)
        recorded = self._recorded(notice)
        if recorded is None:
            # Rasa took it but no connector recorded it: the channel stopped meanwhile.
            self.store.finish_notice(notice.id, "failed", when, "channel_not_running")
            return "failed"
        if recorded.state == deliveries.QUEUED:
            return "sending"  # the connector retries; settled from its record later
        return self._finish(notice, recorded, when)

    def drain(self, timeout: float = 60.0, pause: float = 0.2) -> dict[str, int]:
        """Sends until nothing is pending or claimed (or ``timeout``): for the CLI and benches."""
        totals: dict[str, int] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for state, n in self.run_once().items():
                totals[state] = totals.get(state, 0) + n
            counts = self.store.notice_counts()
            if not counts.get("pending") and not counts.get("sending"):
                break
            time.sleep(pause)
        return totals
