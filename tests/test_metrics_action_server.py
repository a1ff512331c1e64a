"""The action server's metrics: started as `afterhours run` starts it, a handoff, then a scrape."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.servers import action_server_command, free_port, stop, wait_until_healthy
from tests.test_metrics import value

REPO = Path(__file__).resolve().parent.parent


def call_action(port: int, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (loopback)
        return dict(json.loads(answer.read()))


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:  # noqa: S310
        return str(answer.read().decode())


def handoff_call(sender: str) -> dict[str, Any]:
    """What Rasa sends for `action_handoff` after an out-of-hours account request."""
    at = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.timezone.utc)
    metadata = {"channel": "telegram", "public": False, "sender": sender, "at": at.isoformat()}
    latest = {
        "text": "I need to change my account's address",
        "intent": {"name": "account_request", "confidence": 0.9},
        "entities": [],
        "metadata": metadata,
        "personal_data": [],
    }
    triage = {
        "decision": "handoff",
        "reasons": ["private"],
        "topic": None,
        "suggested_topic": None,
        "language": "en",
        "move_to_private": False,
        "intent": "account_request",
        "emotion": None,
        "at": at.isoformat(),
        "in_hours": False,
        "locale": "en_GB",
    }
    events = [
        {"event": "action", "name": "action_listen", "timestamp": at.timestamp() - 1},
        {
            "event": "user",
            "timestamp": at.timestamp(),
            "text": latest["text"],
            "input_channel": "telegram",
            "metadata": metadata,
            "parse_data": latest,
        },
    ]
    return {
        "next_action": "action_handoff",
        "sender_id": f"telegram:{sender}",
        "version": "3.6.21",
        "domain": {"responses": {}},
        "tracker": {
            "sender_id": f"telegram:{sender}",
            "slots": {"triage": triage, "language": "en", "handoff_ticket": None},
            "latest_message": latest,
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def test_the_action_server_counts_handoffs_latency_and_the_queue(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = dict(
        os.environ,
        AFTERHOURS_DB_URL=f"sqlite:///{tmp_path / 'queue.db'}",
        AFTERHOURS_BRAND=str(REPO / "brand.yml"),
        AFTERHOURS_ACTION_METRICS_PORT=str(metrics_port),
    )
    log = open(tmp_path / "actions.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        action_server_command(port), cwd=REPO, env=env, stdout=log, stderr=log
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process, timeout=120)
        before = scrape(metrics_port)
        assert "afterhours_tickets_overdue" not in before  # no queue yet: no gauges, no error
        answer = call_action(port, handoff_call("4242"))
        ticket = next(e["value"] for e in answer["events"] if e.get("name") == "handoff_ticket")
        assert isinstance(ticket, int)
        after = scrape(metrics_port)
    finally:
        stop([process])
        log.close()
    opened = {"reason": "private", "department": "billing"}
    assert value(after, "afterhours_handoffs_opened_total", **opened) == 1
    assert (
        value(after, "afterhours_action_seconds_count", action="action_handoff", status="200") == 1
    )
    assert value(after, "afterhours_tickets_waiting", department="billing") == 1
    assert value(after, "afterhours_tickets_overdue") == 1  # promised for the morning of 2026-11-28
    assert "4242" not in after and "telegram:" not in after


def test_the_action_server_runs_without_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, AFTERHOURS_ACTION_METRICS_PORT="0")
    process = subprocess.Popen(
        action_server_command(port),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process, timeout=120)
    finally:
        stop([process])


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
