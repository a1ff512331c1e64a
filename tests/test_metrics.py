"""The metrics of the Rasa server's connectors, scraped over HTTP: messages, turns, decisions,
redeliveries, replies that did not go out; the endpoint's port rules; the queue gauges."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics, turns
from bot.channels.base import ChannelConnector, ConnectorOutput, DeliveryError, OnNewMessage
from bot.channels.inbox import Inbox
from bot.channels.output import Reply
from bot.inbound import Inbound
from bot.servers import free_port
from tests.channels.channels_support import ChannelHost, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
UTC = dt.timezone.utc
CHANNEL = "rest"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
        return str(answer.read().decode())


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value in an exposition text (0 when absent), whatever the labels' order."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


@pytest.fixture(scope="module")
def served() -> int:
    """This process's metrics on a loopback port, as the Rasa server serves them."""
    port = free_port()
    assert metrics.serve("AFTERHOURS_TEST_METRICS_PORT_UNSET", port) == port
    return port


# -- the endpoint --------------------------------------------------------------------------------


def test_the_port_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = "AFTERHOURS_TEST_METRICS_PORT"
    monkeypatch.delenv(env, raising=False)
    assert metrics.metrics_port(env, 9105) == 9105
    for off in ("0", "off", "OFF", "no", "false"):
        monkeypatch.setenv(env, off)
        assert metrics.metrics_port(env, 9105) is None
    monkeypatch.setenv(env, "9200")
    assert metrics.metrics_port(env, 9105) == 9200
    for bad in ("nine", "70000", "-1"):
        monkeypatch.setenv(env, bad)
        assert metrics.metrics_port(env, 9105) is None


def test_metrics_never_stop_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    env = "AFTERHOURS_TEST_METRICS_PORT"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv(env, str(port))
        assert metrics.serve(env, 9105) is None  # logged, not raised
    monkeypatch.setenv(env, str(free_port()))
    assert metrics.serve(env, 9105, workers=2) is None
    monkeypatch.setenv(env, "0")
    assert metrics.serve(env, 9105) is None


def test_the_endpoint_listens_on_loopback_only(served: int) -> None:
    text = scrape(served)
    assert "# TYPE afterhours_messages_in_total counter" in text
    assert "# TYPE afterhours_nlu_seconds histogram" in text
    address = socket.gethostbyname(socket.gethostname())
    if address.startswith("127."):
        pytest.skip("no address but loopback on this machine")
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(2)
        probe.connect((address, served))


def test_labels_stay_a_closed_vocabulary() -> None:
    assert metrics.label("emotional") == "emotional"
    assert metrics.label("Human_Requested") == "human_requested"
    assert metrics.label("call me on +351 912 345 678") == "other"
    assert metrics.label("x" * 80) == "other"
    assert metrics.label(None, "none") == "none"
    assert metrics.label("") == "other"


# -- the connectors ------------------------------------------------------------------------------


class DemoOutput(ConnectorOutput):
    """Sends nothing: ``refuse`` records a refusal, ``fail`` raises like a platform that is down."""

    refuse: str | None = None
    fail: bool = False

    @classmethod
    def name(cls) -> str:
        return "demo"

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        if DemoOutput.fail:
            raise DeliveryError("demo platform: failed 3 times")
        if DemoOutput.refuse:
            self.undelivered.append(DemoOutput.refuse)
            return
        self.sent.append(reply)


class DemoConnector(ChannelConnector):
    """POST /webhook {"id", "from", "text"}: no verification (the tests' own)."""

    channel = CHANNEL

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            data = json.loads(request.body)
            inbound = Inbound(
                channel=CHANNEL,
                sender=str(data["from"]),
                text=str(data["text"]),
                public=False,
                at=dt.datetime.now(UTC),
            )
            entry = await self.accept(str(data["id"]), inbound, data, on_new_message)
            return response.json({"entry": entry})

    def output_for(self, inbound: Inbound) -> OutputChannel:
        return DemoOutput(CHANNEL, public=False, handle=None)


def post(url: str, data: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        return int(answer.status)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


async def decides(message: UserMessage) -> None:
    """Stands in for Rasa: the policy reports a handoff, the tracker store a stored turn."""
    turn = turns.current()
    assert turn is not None
    turn.decision, turn.reason = "handoff", "emotional"
    await message.output_channel.send_text_message(message.sender_id, "a person will answer")
    turn.reported = turn.committed = True


def test_a_stored_turn_is_counted_once_with_its_decision(inbox: Inbox, served: int) -> None:
    DemoOutput.refuse, DemoOutput.fail = None, False
    before = scrape(served)
    with ChannelHost(DemoConnector(inbox=inbox), decides) as host:
        assert post(host.webhook_url, {"id": "m1", "from": "ana", "text": "this is outrageous"})
        assert post(host.webhook_url, {"id": "m1", "from": "ana", "text": "again"})  # duplicate
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        host.wait_idle()
    after = scrape(served)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("afterhours_messages_in_total", channel=CHANNEL) == 1
    assert moved("afterhours_turns_total", channel=CHANNEL, outcome="done") == 1
    assert moved("afterhours_decisions_total", decision="handoff", reason="emotional") == 1
    assert moved("afterhours_message_seconds_count", channel=CHANNEL) == 1
    assert "ana" not in after and "outrageous" not in after


def test_failed_turns_redeliveries_and_refused_replies(inbox: Inbox, served: int) -> None:
    DemoOutput.refuse, DemoOutput.fail = None, True
    before = scrape(served)
    connector = DemoConnector(inbox=inbox, redeliver_after=0, redeliver_every=0.2)
    with ChannelHost(connector, decides) as host:
        assert post(host.webhook_url, {"id": "m2", "from": "bea", "text": "hello"})
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
        # The platform refuses for good from now on: the redelivered message finishes.
        DemoOutput.refuse, DemoOutput.fail = "not sent: the number opted out", False
        assert wait_until(lambda: inbox.counts()["done"] == 1, timeout=15)
        host.wait_idle()
        assert wait_until(lambda: "afterhours_inbox_in_flight" in scrape(served), timeout=5)
    after = scrape(served)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("afterhours_failed_deliveries_total", channel=CHANNEL, reason="transient") == 1
    assert moved("afterhours_failed_deliveries_total", channel=CHANNEL, reason="opted_out") == 1
    assert moved("afterhours_turns_total", channel=CHANNEL, outcome="transient") == 1
    assert moved("afterhours_turns_total", channel=CHANNEL, outcome="done") == 1
    assert moved("afterhours_redeliveries_total", channel=CHANNEL) >= 1
    assert moved("afterhours_decisions_total", decision="handoff", reason="emotional") == 1
    assert f'afterhours_inbox_backlog{{channel="{CHANNEL}"}}' in after


def test_delivery_failures_are_named_from_a_fixed_set() -> None:
    cases = [
        ({"note": "not sent: the number opted out"}, "opted_out"),
        ({"note": "DM: the customer's user id is unknown"}, "no_recipient"),
        ({"note": "not a Telegram chat: 12"}, "no_recipient"),
        ({"note": "not delivered: Forbidden: bot was blocked by the user"}, "refused"),
        ({"error": DeliveryError("x")}, "transient"),
        ({"error": ValueError("a bug")}, "error"),
    ]
    for kwargs, reason in cases:
        before = metrics.sample(
            "afterhours_failed_deliveries_total", {"channel": "t", "reason": reason}
        )
        metrics.delivery_failed("t", **kwargs)
        after = metrics.sample(
            "afterhours_failed_deliveries_total", {"channel": "t", "reason": reason}
        )
        assert after - before == 1, reason


# -- the action server's counts, without a server ------------------------------------------------


def test_a_handoff_is_counted_by_reason_and_department() -> None:
    labels = {"reason": "private", "department": "billing"}
    before = metrics.sample("afterhours_handoffs_opened_total", labels)
    triage = {"decision": "handoff", "reasons": ["private"], "intent": "account_request"}
    slots: dict[str, Any] = {"triage": triage, "handoff_ticket": None}
    call = {"next_action": "action_handoff", "tracker": {"slots": slots}}
    result = {
        "events": [
            {"event": "slot", "name": "handoff_ticket", "value": 7},
            {"event": "slot", "name": "triage", "value": {**triage, "ticket": 7}},
        ]
    }
    metrics.count_handoff(call, result)
    assert metrics.sample("afterhours_handoffs_opened_total", labels) - before == 1
    # A message joining the ticket it already has opens nothing.
    slots["handoff_ticket"] = 7
    metrics.count_handoff(call, {"events": [{"event": "slot", "name": "triage", "value": {}}]})
    metrics.count_handoff(call, result)
    assert metrics.sample("afterhours_handoffs_opened_total", labels) - before == 1


def test_queue_gauges_are_cached_and_survive_a_database_error() -> None:
    calls = {"n": 0}

    def summary() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("database down")
        return {"overdue": 2, "by_department": {"billing": 3, "general": 1}}

    registry = CollectorRegistry()
    gauges = metrics.QueueGauges(summary, max_age=60)
    registry.register(gauges)  # registering collects once
    text = generate_latest(registry).decode()
    assert 'afterhours_tickets_waiting{department="billing"} 3.0' in text
    assert "afterhours_tickets_overdue 2.0" in text
    assert calls["n"] == 1
    stale = metrics.QueueGauges(summary, max_age=0)
    assert list(stale.collect()) == []  # the second call fails: no gauges, no exception


def test_the_dashboard_charts_every_metric_and_nothing_else() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    from desk.routes.metrics import DeskMetrics

    dashboard = json.loads(
        (Path(__file__).parents[1] / "deploy/grafana/afterhours.json").read_text()
    )
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    charted = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for name in re.findall(r"\bafterhours_[a-z_]+", exprs)
    }
    desk = DeskMetrics(lambda: {})
    objects = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    objects += [desk.requests, desk.seconds, desk.failed_replies]
    declared = {family.name for m in objects for family in m.describe()}
    declared |= {"afterhours_tickets_waiting", "afterhours_tickets_overdue"}
    assert charted == declared
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource"}
