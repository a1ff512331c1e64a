"""Prometheus metrics of the Rasa server and the action server: what they count, and the scrape.

Every metric object lives here. The connectors count messages, turns, redeliveries and replies
that did not go out (:mod:`bot.channels.base`, :mod:`bot.channels.output`); the decision of a
turn is counted once the turn is stored, from the report :mod:`bot.turns` carries; the NLU's time
is measured around Rasa's parse (:func:`instrument_rasa`); the action server counts its actions
and the handoffs they open (:func:`action_server_plugin`) and reports the queue's waiting and
overdue tickets when scraped (:class:`QueueGauges`).

Each server exposes ``/metrics`` on a port of its own bound to 127.0.0.1 (:func:`serve`): nothing
but the webhooks may be reachable without a secret, so the metrics are for a Prometheus (or an
agent) on the same host or behind an authenticating proxy. ``AFTERHOURS_RASA_METRICS_PORT``
(default 9105) and ``AFTERHOURS_ACTION_METRICS_PORT`` (default 9106); ``0`` or ``off`` turns the
endpoint off. Metrics never stop a server: a port already taken is logged and left.

Labels are small fixed sets (channel, decision, reason, department, action, status): never a
customer, a conversation or a message's text. Nothing here imports Rasa at module level (the desk
imports this module for :class:`QueueGauges`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

__all__ = [
    "ACTION_METRICS_PORT_ENV",
    "ACTION_SECONDS",
    "DECISIONS",
    "DEFAULT_ACTION_METRICS_PORT",
    "DEFAULT_RASA_METRICS_PORT",
    "FAILED_DELIVERIES",
    "HANDOFFS_OPENED",
    "INBOX_BACKLOG",
    "INBOX_IN_FLIGHT",
    "MESSAGES_IN",
    "MESSAGE_SECONDS",
    "METRICS_HOST",
    "NLU_SECONDS",
    "RASA_METRICS_PORT_ENV",
    "REDELIVERIES",
    "TURNS",
    "QueueGauges",
    "action_server_plugin",
    "delivery_failed",
    "instrument_rasa",
    "label",
    "queue_summary",
    "register_once",
    "sample",
    "sanic_workers",
    "serve",
    "turn_done",
]

RASA_METRICS_PORT_ENV = "AFTERHOURS_RASA_METRICS_PORT"
ACTION_METRICS_PORT_ENV = "AFTERHOURS_ACTION_METRICS_PORT"
DEFAULT_RASA_METRICS_PORT = 9105
DEFAULT_ACTION_METRICS_PORT = 9106
#: Metrics are served on loopback only (see the module's docstring).
METRICS_HOST = "127.0.0.1"
#: Seconds: from a fast NLU parse to a message that waited for a slot behind a busy model.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

MESSAGES_IN = Counter(
    "afterhours_messages_in", "Inbound messages recorded (duplicates dropped), by channel.",
    ["channel"],
)  # fmt: skip
DECISIONS = Counter(
    "afterhours_decisions",
    "Decisions of stored turns: answer, handoff or ignore, by primary reason ('none': an answer;"
    " 'followup': a message joining its open ticket).",
    ["decision", "reason"],
)
TURNS = Counter(
    "afterhours_turns",
    "Attempts at an inbound message that ended: done (stored), transient (a server the bot needs"
    " failed; retried soon) or error (the bot's own failure; retried with a backoff).",
    ["channel", "outcome"],
)
NLU_SECONDS = Histogram(
    "afterhours_nlu_seconds", "Time Rasa spent parsing a message (the NLU pipeline).",
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
MESSAGE_SECONDS = Histogram(
    "afterhours_message_seconds",
    "From the start of processing (right after a new message is recorded) to its turn stored and"
    " its replies sent, by channel.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
INBOX_BACKLOG = Gauge(
    "afterhours_inbox_backlog",
    "Inbox entries due for another attempt at the last redelivery sweep (at most 500), by channel.",
    ["channel"],
)
INBOX_IN_FLIGHT = Gauge(
    "afterhours_inbox_in_flight", "Messages this server holds (waiting for a slot or running).",
    ["channel"],
)  # fmt: skip
REDELIVERIES = Counter(
    "afterhours_redeliveries", "Inbox entries taken again by the redelivery sweep, by channel.",
    ["channel"],
)  # fmt: skip
FAILED_DELIVERIES = Counter(
    "afterhours_failed_deliveries",
    "Replies that did not go out, by channel and reason: transient (retried with the message),"
    " opted_out, no_recipient, refused (not tried again), error (a bug).",
    ["channel", "reason"],
)
HANDOFFS_OPENED = Counter(
    "afterhours_handoffs_opened",
    "Conversations handed to the desk by the action server, by primary reason and department.",
    ["reason", "department"],
)
ACTION_SECONDS = Histogram(
    "afterhours_action_seconds", "Time the action server took per custom action, by action and"
    " HTTP status.", ["action", "status"], buckets=LATENCY_BUCKETS,
)  # fmt: skip

_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def label(value: object, default: str = "other") -> str:
    """A label value from a closed vocabulary: a short lowercase identifier, else ``default``.

    Decisions, reasons, departments and action names are such identifiers; anything else (a
    misconfiguration, an unexpected value) is folded into one value, so labels stay few and
    never carry what a customer wrote.
    """
    text = str(value).strip().lower() if value is not None else ""
    return text if _LABEL.match(text) else default


# -- the connectors (Rasa server) ------------------------------------------------------------


def turn_done(channel: str, seconds: float, decision: str | None, reason: str | None) -> None:
    """Counts a message whose turn is stored: its outcome, its latency and its decision."""
    TURNS.labels(channel, "done").inc()
    MESSAGE_SECONDS.labels(channel).observe(seconds)
    if decision:
        DECISIONS.labels(label(decision), label(reason, "none")).inc()


_REFUSALS = (
    ("opted out", "opted_out"),
    ("unknown", "no_recipient"),
    ("no x message", "no_recipient"),
    ("not a telegram chat", "no_recipient"),
)


def delivery_failed(channel: str, *, error: BaseException | None = None, note: str = "") -> None:
    """Counts a reply that did not go out.

    Args:
        channel: The channel.
        error: What delivering raised: a ``DeliveryError`` (kept failing, retried with the
            message) is ``transient``, anything else ``error``.
        note: The connector's note on a reply refused for good (``undelivered``).
    """
    if error is not None:
        reason = "transient" if type(error).__name__ == "DeliveryError" else "error"
    else:
        lowered = note.lower()
        reason = next((name for part, name in _REFUSALS if part in lowered), "refused")
    FAILED_DELIVERIES.labels(channel, reason).inc()


def instrument_rasa() -> None:
    """Times Rasa's parse of every message (``MessageProcessor.parse_message``).

    Rasa 3.6 has no hook around the NLU, so its processor's method is wrapped once (rasa is
    pinned to an exact version; tests/test_metrics_rasa.py checks the wrapper still measures).
    """
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor.parse_message
    if getattr(original, "_afterhours_timed", False):
        return

    async def parse_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            NLU_SECONDS.observe(time.perf_counter() - started)

    parse_message._afterhours_timed = True  # type: ignore[attr-defined]
    MessageProcessor.parse_message = parse_message


# -- the action server -----------------------------------------------------------------------

#: Actions whose answer may open a ticket.
_HANDOFF_ACTIONS = frozenset({"action_handoff", "action_append_to_ticket"})


def count_handoff(action_call: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Counts a ticket opened by one action call, from the call and the action's events.

    A ticket is opened when the events set ``handoff_ticket`` to a ticket the conversation did
    not hold before; its reason is the primary one the action stored in ``triage``, its
    department the one the action chose from the call's ``triage`` (the same function).
    """
    from bot.settings import load_brand
    from handoff.departments import department_of

    slots = (action_call.get("tracker") or {}).get("slots") or {}
    before = slots.get("handoff_ticket")
    events = [e for e in result.get("events") or [] if isinstance(e, dict)]
    opened = [
        e.get("value")
        for e in events
        if e.get("event") == "slot" and e.get("name") == "handoff_ticket"
    ]
    if not opened or opened[-1] is None or opened[-1] == before:
        return
    triage = dict(slots.get("triage") or {})
    stored = [
        e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == "triage"
    ]
    reasons = ((stored[-1] if stored and isinstance(stored[-1], dict) else None) or triage).get(
        "reasons"
    ) or ["complex"]
    try:
        departments = load_brand().departments
    except Exception:  # noqa: BLE001 - a count must never fail the action's answer
        departments = {}
    HANDOFFS_OPENED.labels(label(reasons[0]), label(department_of(triage, departments))).inc()


def action_server_plugin() -> object:
    """A rasa_sdk plugin that times every action call and counts the handoffs it opens.

    rasa_sdk offers one hook (``attach_sanic_app_extensions``) to add middleware to its app;
    register the returned object with ``rasa_sdk.plugin.plugin_manager().register``.
    """
    import pluggy

    hookimpl = pluggy.HookimplMarker("rasa_sdk")

    async def started(request: Any) -> None:
        request.ctx.afterhours_started = time.perf_counter()

    async def finished(request: Any, response: Any) -> None:
        if request.path != "/webhook" or not hasattr(request.ctx, "afterhours_started"):
            return
        seconds = time.perf_counter() - request.ctx.afterhours_started
        try:
            call = request.json if isinstance(request.json, dict) else {}
        except Exception:  # noqa: BLE001 - a compressed or broken body: rasa_sdk answered it
            call = {}
        action = call.get("next_action")
        ACTION_SECONDS.labels(label(action), str(response.status)).observe(seconds)
        body = getattr(response, "body", b"") or b""
        if response.status == 200 and action in _HANDOFF_ACTIONS and b"handoff_ticket" in body:
            try:
                count_handoff(call, json.loads(body))
            except Exception:  # noqa: BLE001 - never fail an answer for a count
                logger.warning("could not count the handoff of %s", action)

    class Plugin:
        @hookimpl
        def attach_sanic_app_extensions(self, app: Any) -> None:
            app.register_middleware(started, "request")
            app.register_middleware(finished, "response")

    return Plugin()


class QueueGauges(Collector):
    """Waiting and overdue tickets, counted from the queue when scraped (cached briefly).

    Args:
        summary: Returns :meth:`handoff.views.QueueViews.summary` (aggregates in the database).
        max_age: Seconds a count is reused: frequent scrapes cost one count per period.
    """

    def __init__(self, summary: Callable[[], Mapping[str, Any]], max_age: float = 10.0) -> None:
        self._summary = summary
        self._max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[float, Mapping[str, Any]] | None = None
        self._warned = False

    def _counts(self) -> Mapping[str, Any] | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self._max_age:
                return self._cached[1]
            try:
                counts = self._summary()
            except Exception as error:  # noqa: BLE001 - the scrape still answers
                # Once: before the first handoff the queue's tables may not exist yet.
                log = logger.debug if self._warned else logger.warning
                log("could not count the queue: %s", type(error).__name__)
                self._warned = True
                return None
            self._cached = (now, counts)
            return counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges (none when the queue cannot be read: the scrape shows the gap)."""
        counts = self._counts()
        if counts is None:
            return
        waiting = GaugeMetricFamily(
            "afterhours_tickets_waiting", "Tickets open or claimed, by department.",
            labels=["department"],
        )  # fmt: skip
        for department, n in sorted((counts.get("by_department") or {}).items()):
            waiting.add_metric([label(department)], float(n))
        yield waiting
        yield GaugeMetricFamily(
            "afterhours_tickets_overdue",
            "Waiting tickets past their promised time that no agent has answered.",
            value=float(counts.get("overdue") or 0),
        )


def queue_summary(url: str | None = None) -> Callable[[], Mapping[str, Any]]:
    """The queue's summary at ``url`` (default the configured database), opened on first use."""
    opened: list[Any] = []

    def summary() -> Mapping[str, Any]:
        if not opened:
            from bot.settings import database_url
            from handoff.views import QueueViews

            opened.append(QueueViews.from_url(url or database_url(), migrate=False))
        return dict(opened[0].summary())

    return summary


# -- serving ---------------------------------------------------------------------------------


def metrics_port(env: str, default: int) -> int | None:
    """The port named by ``env`` (absent: ``default``), or None when it turns metrics off."""
    raw = (os.environ.get(env) or "").strip().lower()
    if raw in ("0", "off", "no", "false"):
        return None
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        logger.error("%s=%r is not a port: metrics are off", env, raw)
        return None
    return int(raw)


def serve(env: str, default: int, *, workers: int = 1) -> int | None:
    """Serves ``/metrics`` on 127.0.0.1 in a thread of this process, if configured.

    Args:
        env: The variable naming the port.
        default: The port when it is absent.
        workers: Sanic workers of the server: with more than one each process counts its own
            share, which one endpoint cannot show, so none is served.

    Returns:
        The port served, or None (off, several workers, or the port taken: logged).
    """
    port = metrics_port(env, default)
    if port is None:
        return None
    if workers > 1:
        logger.warning(
            "metrics are off: %s Sanic workers (one endpoint shows one process)", workers
        )
        return None
    try:
        start_http_server(port, addr=METRICS_HOST)
    except OSError as error:
        logger.warning("metrics are off: %s:%s is not free (%s)", METRICS_HOST, port, error)
        return None
    logger.info("metrics on http://%s:%s/metrics", METRICS_HOST, port)
    return port


def sanic_workers(env: str) -> int:
    """Sanic workers as the variable ``env`` asks (1 when unset or unreadable)."""
    raw = os.environ.get(env) or "1"
    return int(raw) if raw.strip().isdigit() else 1


def sample(name: str, labels: Mapping[str, str] | None = None) -> float:
    """The current value of one sample in this process (0 when absent): for checks and tests."""
    from prometheus_client import REGISTRY

    return float(REGISTRY.get_sample_value(name, dict(labels or {})) or 0.0)


def register_once(collector: Collector, registry: Any = None) -> None:
    """Registers a collector, ignoring a second registration of the same names."""
    from prometheus_client import REGISTRY

    try:
        (registry or REGISTRY).register(collector)
    except ValueError:
        logger.debug("collector already registered")
