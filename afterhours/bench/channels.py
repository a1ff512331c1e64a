"""`afterhours bench channels`: each channel connector end to end on loopback.

For one channel it starts what `afterhours run` starts — the action server and `rasa run` with that
channel in its credentials — on free loopback ports with a scratch queue, inbox and tracker
database, and points the connector at a fake platform (``afterhours/bench/fakes/``) that speaks the
platform's HTTP API: the connector, its client library, the inbox, the NLU, the policies, the
actions and the renderer are the real ones. It sends a warm-up message, then a burst of messages
(routine questions in four languages, each from a new customer) as the platform would — all at
once, as many in flight as the platform allows — and waits for the replies:

- **latency**: from the moment the platform sends a message to the moment the reply reaches the
  platform's API (p50, p99);
- **rate**: replies per second, from the first message sent to the last reply received;
- **lost**: messages without a reply; **duplicated**: replies beyond the first with the same text
  to the same customer. Both must be 0.

Telegram keeps to its real sending limits unless ``--overall-per-second`` says otherwise (30 a
second overall caps its rate). The benchmark runs from a source checkout (it needs
``afterhours/bench/fakes``) and uses the night brand (``brand_night.yml`` beside it) so every
message is answered
whatever the time.

**Adding a channel**: add ``"<name>": "<module>:<function>"`` to :data:`CHANNELS`. The function
takes ``(model: Path | None, messages: int, brand: Path | None)`` and returns
``(result, ready_seconds)``, where ``result`` has ``messages``, ``replied``, ``lost``,
``duplicated``, ``seconds``, ``per_second`` and ``percentile(q)`` (like :class:`BurstResult`).
A channel whose module is not installed is not offered. :func:`channel_stack` and :class:`Driver`
do the work for a webhook channel; ``afterhours.bench.channels_x`` is the X channel's.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afterhours.bench.fakes.telegram_server import FakeTelegram
from afterhours.bench.fakes.twilio_server import FakeTwilio
from afterhours.bench.stack import NIGHT_BRAND, REPO, ChannelStack, Driver, channel_stack

__all__ = [
    "NIGHT_BRAND",
    "QUESTIONS",
    "REPO",
    "BurstResult",
    "ChannelStack",
    "Driver",
    "SmsDriver",
    "TelegramDriver",
    "channel_stack",
    "measure",
    "score",
]

#: channel -> "module:function" (see the module's docstring for the contract).
CHANNELS: dict[str, str] = {
    "telegram": "afterhours.bench.channels:bench_telegram",
    "sms": "afterhours.bench.channels:bench_sms",
    "x": "afterhours.bench.channels_x:bench_x",
}

# Routine questions that always get one reply (an answer, or a handoff's promise).
QUESTIONS = (
    "how do I use my phone abroad?",
    "how can I pay my bill?",
    "what is the wifi password of my router?",
    "how do I activate my new SIM card?",
    "como ativo o roaming?",
    "quando vence a minha fatura?",
    "¿cómo puedo pagar mi factura?",
    "¿cómo activo la tarjeta SIM?",
    "come posso usare il telefono all'estero?",
    "come posso pagare la bolletta?",
)


def available_channels() -> list[str]:
    """The channels whose benchmark module is installed."""
    found = []
    for name, target in CHANNELS.items():
        module = target.split(":")[0]
        try:
            if importlib.util.find_spec(module) is not None:
                found.append(name)
        except ModuleNotFoundError:
            continue
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `bench channels` options."""
    parser.add_argument(
        "--channel",
        required=True,
        choices=available_channels(),
        help="the channel to measure",
    )
    parser.add_argument(
        "--messages", type=int, default=1000, help="messages in the burst (default 1000)"
    )
    parser.add_argument("--model", type=Path, default=None, help="model (default: the newest)")
    parser.add_argument(
        "--brand",
        type=Path,
        default=None,
        help="brand file (default afterhours/bench/brand_night.yml: the desk is never open)",
    )
    parser.add_argument(
        "--overall-per-second",
        type=float,
        default=30.0,
        help="Telegram only: the sending limit across chats (default 30, Telegram's; 0: none)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the logs and databases here")
    parser.add_argument("--note", default="", help="a word on the run, written with its row")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the row to benchmarks/results.md"
    )


# -- results --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank on sorted values); NaN without values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class BurstResult:
    """What one burst measured."""

    channel: str
    messages: int
    replied: int
    lost: int
    duplicated: int
    seconds: float
    accept_seconds: float
    latencies_ms: tuple[float, ...]
    recorded: int = 0
    done: int = 0
    violations: int = 0
    idle_ms: float = math.nan

    @property
    def per_second(self) -> float:
        """Replies per second, from the first message sent to the last reply received."""
        return self.replied / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in ms."""
        return percentile(self.latencies_ms, q)


def score(
    channel: str,
    sent: dict[str, float],
    replies: dict[str, list[tuple[float, str]]],
    accept_seconds: float,
) -> BurstResult:
    """Turns send times and received replies into the figures.

    Args:
        channel: The channel's name.
        sent: Customer key → when the message was sent (monotonic seconds).
        replies: Customer key → every reply received (monotonic seconds, text).
        accept_seconds: How long the platform took to hand over the whole burst.

    Returns:
        The result (replies to customers not in ``sent`` are left out).
    """
    latencies: list[float] = []
    last = first = min(sent.values(), default=0.0)
    duplicated = 0
    for key, at in sent.items():
        got = sorted(replies.get(key, []))
        if not got:
            continue
        latencies.append(1000 * (got[0][0] - at))
        last = max(last, got[0][0])
        texts = [text for _, text in got]
        duplicated += len(texts) - len(set(texts))
    replied = len(latencies)
    return BurstResult(
        channel=channel,
        messages=len(sent),
        replied=replied,
        lost=len(sent) - replied,
        duplicated=duplicated,
        seconds=last - first,
        accept_seconds=accept_seconds,
        latencies_ms=tuple(latencies),
    )


# -- the stack ------------------------------------------------------------------------------


class TelegramDriver(Driver):
    """Telegram in webhook mode against ``afterhours.bench.fakes.telegram_server``."""

    name = "telegram"
    class_path = "bot.channels.telegram.TelegramInput"
    secret_token = "bench-webhook-secret"

    def __init__(self, overall_per_second: float = 30.0, concurrency: int = 40) -> None:
        """``concurrency``: updates in flight (Telegram's default ``max_connections`` is 40)."""
        self.overall_per_second = overall_per_second
        self.concurrency = concurrency
        self.fake: Any = None
        self.run = 9_000_000 + int(uuid.uuid4().int % 1_000) * 10_000

    def start(self) -> None:
        """Starts the fake Bot API."""
        self.fake = FakeTelegram().start()

    def stop(self) -> None:
        """Stops it."""
        if self.fake is not None:
            self.fake.stop()

    def options(self, rasa_url: str) -> dict[str, Any]:
        """Webhook mode at the server's URL, the Bot API at the fake."""
        return {
            "mode": "webhook",
            "token_env": "TELEGRAM_BOT_TOKEN",
            "secret_token_env": "TELEGRAM_WEBHOOK_SECRET",
            "webhook_url": f"{rasa_url}/webhooks/telegram/webhook",
            "base_url": self.fake.base_url,
            "overall_per_second": self.overall_per_second,
            "redeliver_every": 5,
        }

    def secrets(self) -> dict[str, str]:
        """The bot token and the webhook's secret token."""
        return {"TELEGRAM_BOT_TOKEN": self.fake.token, "TELEGRAM_WEBHOOK_SECRET": self.secret_token}

    def ready(self) -> bool:
        """Once setWebhook was called."""
        return self.fake.webhook is not None

    def customer(self, index: int) -> str:
        """A private chat per customer."""
        return str(self.run + index)

    def send(self, messages: Sequence[tuple[str, str]]) -> dict[str, float]:
        """Delivers the updates to the webhook, ``concurrency`` at a time."""
        updates = [self.fake.message_update(text, chat_id=int(key)) for key, text in messages]
        times = self.fake.deliver_many(updates, self.concurrency)
        return {key: at for (key, _text), at in zip(messages, times, strict=True)}

    def replies(self) -> dict[str, list[tuple[float, str]]]:
        """The sendMessage calls, by chat."""
        found: dict[str, list[tuple[float, str]]] = {}
        for sent in list(self.fake.sent):
            found.setdefault(str(sent.chat_id), []).append((sent.at, sent.text))
        return found

    def violations(self) -> int:
        """Sends closer than Telegram's limits allow."""
        return len(self.fake.violations)


class SmsDriver(Driver):
    """SMS through ``afterhours.bench.fakes.twilio_server``."""

    name = "sms"
    class_path = "bot.channels.sms.TwilioSmsInput"

    def __init__(self, concurrency: int = 50) -> None:
        """``concurrency``: webhook requests in flight."""
        self.concurrency = concurrency
        self.fake: Any = None
        self.run = uuid.uuid4().int % 1000

    def start(self) -> None:
        """Starts the fake Twilio."""
        self.fake = FakeTwilio().start()

    def stop(self) -> None:
        """Stops it."""
        if self.fake is not None:
            self.fake.stop()

    def options(self, rasa_url: str) -> dict[str, Any]:
        """The Messages API at the fake; Twilio calls the server's webhook."""
        self.fake.webhook_url = f"{rasa_url}/webhooks/sms/webhook"
        return {
            "account_sid_env": "TWILIO_ACCOUNT_SID",
            "auth_token_env": "TWILIO_AUTH_TOKEN",
            "from_number_env": "TWILIO_FROM_NUMBER",
            "api_base_url": self.fake.api_base_url,
            "redeliver_every": 5,
        }

    def secrets(self) -> dict[str, str]:
        """The account, its token and the sending number."""
        return {
            "TWILIO_ACCOUNT_SID": self.fake.account_sid,
            "TWILIO_AUTH_TOKEN": self.fake.auth_token,
            "TWILIO_FROM_NUMBER": self.fake.number,
        }

    def customer(self, index: int) -> str:
        """A Portuguese mobile number per customer."""
        return f"+3519{self.run:03d}{index:05d}"

    def send(self, messages: Sequence[tuple[str, str]]) -> dict[str, float]:
        """Twilio calls the webhook for each SMS, ``concurrency`` at a time."""
        params = [self.fake.incoming(key, text) for key, text in messages]
        times = self.fake.post_many(params, self.concurrency)
        return {key: at for (key, _text), at in zip(messages, times, strict=True)}

    def replies(self) -> dict[str, list[tuple[float, str]]]:
        """Messages API calls by number."""
        found: dict[str, list[tuple[float, str]]] = {}
        for sms in list(self.fake.sent):
            found.setdefault(sms.to, []).append((sms.at, sms.body))
        return found


def wait_for_replies(
    driver: Driver, keys: Sequence[str], timeout: float, settle: float = 3.0
) -> dict[str, list[tuple[float, str]]]:
    """Waits until every customer got a reply (or the time is up), then a little longer.

    The extra ``settle`` seconds catch duplicates that would come after the first reply.
    """
    deadline = time.monotonic() + timeout
    wanted = set(keys)
    while time.monotonic() < deadline:
        if wanted <= set(driver.replies()):
            break
        time.sleep(0.1)
    time.sleep(settle)
    return driver.replies()


def measure(
    stack: ChannelStack, driver: Driver, messages: int, timeout: float = 900.0
) -> BurstResult:
    """Warms up with one message, then sends the burst and scores it."""
    warm = driver.customer(messages + 1)
    driver.send([(warm, QUESTIONS[0])])  # the first turn loads lazily-built parts
    wait_for_replies(driver, [warm], 300, settle=0)
    # A second lone message, once warm: the latency of one message on an idle server.
    alone = driver.customer(messages + 2)
    alone_sent = driver.send([(alone, QUESTIONS[1])])
    alone_replies = wait_for_replies(driver, [alone], 300, settle=0).get(alone) or []
    idle = 1000 * (min(alone_replies)[0] - alone_sent[alone]) if alone_replies else math.nan
    burst = [(driver.customer(i), QUESTIONS[i % len(QUESTIONS)]) for i in range(messages)]
    started = time.monotonic()
    sent = driver.send(burst)
    accepted = time.monotonic() - started
    replies = wait_for_replies(driver, list(sent), max(timeout, 3.0 * messages))
    result = score(driver.name, sent, replies, accepted)
    inbox = stack.inbox()
    try:
        counts = inbox.counts(driver.name)
    finally:
        inbox.dispose()
    return BurstResult(
        **{
            **result.__dict__,
            "recorded": sum(counts.values()) - 2,  # not the two warm-up messages
            "done": counts["done"] - 2,
            "violations": driver.violations(),
            "idle_ms": idle,
        }
    )


def _bench(
    driver: Driver, model: Path | None, messages: int, brand: Path | None, keep: Path | None
) -> tuple[BurstResult, float | None]:
    from afterhours.models import newest_model

    model_path = model or newest_model(REPO / "models")
    with channel_stack([driver], model_path, brand=brand or NIGHT_BRAND, keep_dir=keep) as stack:
        return measure(stack, driver, messages), stack.ready_seconds


def bench_telegram(
    model: Path | None = None,
    messages: int = 1000,
    brand: Path | None = None,
    *,
    overall_per_second: float = 30.0,
    keep: Path | None = None,
) -> tuple[BurstResult, float | None]:
    """The Telegram burst on a fresh stack; returns the result and the server's ready time."""
    return _bench(TelegramDriver(overall_per_second), model, messages, brand, keep)


def bench_sms(
    model: Path | None = None,
    messages: int = 1000,
    brand: Path | None = None,
    *,
    keep: Path | None = None,
) -> tuple[BurstResult, float | None]:
    """The SMS burst on a fresh stack; returns the result and the server's ready time."""
    return _bench(SmsDriver(), model, messages, brand, keep)


# -- the command ----------------------------------------------------------------------------


def table(channel: str, result: Any, ready: float | None) -> str:
    """The figures as a small table."""
    rows = [
        ("channel", channel),
        ("messages", str(result.messages)),
        ("replied", str(result.replied)),
        ("latency p50", f"{result.percentile(50):.0f} ms"),
        ("latency p99", f"{result.percentile(99):.0f} ms"),
        ("sustained rate", f"{result.per_second:.1f} msg/s ({result.seconds:.1f} s)"),
        ("lost", str(result.lost)),
        ("duplicated", str(result.duplicated)),
    ]
    if isinstance(result, BurstResult):
        rows += [
            ("one message, idle", f"{result.idle_ms:.0f} ms"),
            ("burst accepted in", f"{result.accept_seconds:.1f} s"),
            ("inbox", f"{result.recorded} recorded, {result.done} done"),
            ("limit violations", str(result.violations)),
        ]
    if ready is not None:
        rows.append(("server ready in", f"{ready:.1f} s"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark of ``args.channel`` and prints its table.

    Returns:
        0 when nothing was lost or duplicated, else 1.
    """
    module_name, function_name = CHANNELS[args.channel].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    kwargs: dict[str, Any] = {}
    if args.channel == "telegram":
        kwargs["overall_per_second"] = args.overall_per_second
    if args.keep:
        kwargs["keep"] = args.keep
    result, ready = function(args.model, args.messages, args.brand, **kwargs)
    print(f"afterhours bench channels --channel {args.channel} --messages {args.messages}")
    print(table(args.channel, result, ready))
    if not args.no_record:
        try:
            from afterhours.bench.results import append_run, command_line
        except ImportError:  # the results table is optional
            pass
        else:
            figures = {
                "p50": f"{result.percentile(50):.0f} ms",
                "p99": f"{result.percentile(99):.0f} ms",
                "rate": f"{result.per_second:.1f} msg/s",
                "idle": f"{getattr(result, 'idle_ms', math.nan):.0f} ms",
                "lost": result.lost,
                "duplicated": result.duplicated,
                "load": f"{os.getloadavg()[0]:.1f}",
            }
            if args.note:
                figures["note"] = args.note
            append_run("channels", command_line(), figures)
    return 0 if result.lost == 0 and result.duplicated == 0 else 1
