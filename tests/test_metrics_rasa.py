"""The Rasa server's and the action server's metrics with the model: a Telegram customer writes, the
bot decides and answers, a complaint is handed off; both /metrics endpoints are scraped."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afterhours.bench.channels import TelegramDriver
from afterhours.bench.stack import NIGHT_BRAND, ChannelStack, channel_stack
from bot.servers import free_port
from tests.test_metrics import value

pytestmark = pytest.mark.slow


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:  # noqa: S310
        return str(answer.read().decode())


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"rasa": free_port(), "actions": free_port()}


@pytest.fixture(scope="module")
def stack(
    trained_model: Path, tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int]
) -> Iterator[ChannelStack]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AFTERHOURS_RASA_METRICS_PORT", str(ports["rasa"]))
        patch.setenv("AFTERHOURS_ACTION_METRICS_PORT", str(ports["actions"]))
        with channel_stack(
            [TelegramDriver()],
            trained_model,
            brand=NIGHT_BRAND,
            keep_dir=tmp_path_factory.mktemp("metrics-e2e"),
        ) as running:
            yield running


def wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    return predicate()


def test_messages_decisions_latency_and_handoffs_are_counted(
    stack: ChannelStack, ports: dict[str, int]
) -> None:
    telegram: Any = stack.drivers[0].fake  # type: ignore[attr-defined]
    before = scrape(ports["rasa"])
    assert "# TYPE afterhours_nlu_seconds histogram" in before
    chat = 8200001
    telegram.push(telegram.message_update("how do I use my phone abroad?", chat_id=chat))
    assert telegram.wait_for(1, chat_id=chat, timeout=90), stack.log_tail()
    angry = 8200002
    telegram.push(
        telegram.message_update(
            "This is outrageous, my internet has been down for three days and nobody answers. "
            "I want to speak to a person now!",
            chat_id=angry,
        )
    )
    assert telegram.wait_for(1, chat_id=angry, timeout=90), stack.log_tail()

    def done() -> str | None:
        text = scrape(ports["rasa"])
        count = value(text, "afterhours_turns_total", channel="telegram", outcome="done")
        return text if count - value(before, "afterhours_turns_total", **_done()) >= 2 else None

    after = wait_for(done, timeout=30)
    assert after, scrape(ports["rasa"])

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("afterhours_messages_in_total", channel="telegram") == 2
    assert moved("afterhours_nlu_seconds_count") >= 2
    assert moved("afterhours_message_seconds_count", channel="telegram") == 2
    assert moved("afterhours_decisions_total", decision="answer", reason="none") == 1
    handoffs = [
        line
        for line in after.splitlines()
        if line.startswith('afterhours_decisions_total{decision="handoff"')
    ]
    assert handoffs, after
    assert str(chat) not in after and "outrageous" not in after

    actions = wait_for(
        lambda: (
            (text := scrape(ports["actions"]))
            and "afterhours_handoffs_opened_total{" in text
            and text
        ),
        timeout=10,
    )
    assert actions, scrape(ports["actions"])
    assert "afterhours_action_seconds_count{" in actions
    assert (
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in actions.splitlines()
            if line.startswith("afterhours_tickets_waiting{")
        )
        >= 1
    )


def _done() -> dict[str, str]:
    return {"channel": "telegram", "outcome": "done"}
