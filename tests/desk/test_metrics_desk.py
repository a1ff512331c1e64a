"""The desk's /metrics: refused without its token; requests, tickets, failed replies counted.

The desk is served on loopback (the `server` fixture), so the scrape goes over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bot.servers import free_port, wait_until_healthy
from desk.app import Desk
from desk.server import ThreadedServer
from tests.desk.conftest import ROOT, Client, FakeRasa, add_ticket
from tests.test_metrics import value

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
TOKEN = "metrics-token-for-the-tests"


def scrape(server: ThreadedServer, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{server.url}/metrics", headers=headers, timeout=10)


def test_without_a_configured_token_there_is_no_metrics_route(
    server: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AFTERHOURS_METRICS_TOKEN", raising=False)
    assert scrape(server).status_code == 404
    assert scrape(server, None).status_code == 404


def test_a_missing_or_wrong_token_is_refused(
    server: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERHOURS_METRICS_TOKEN", TOKEN)
    for token in (None, "", "wrong", TOKEN + "x", TOKEN[:-1]):
        refused = scrape(server, token)
        assert refused.status_code == 401, token
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "afterhours" not in refused.text
    basic = requests.get(
        f"{server.url}/metrics", headers={"Authorization": f"Basic {TOKEN}"}, timeout=10
    )
    assert basic.status_code == 401


def test_requests_tickets_and_failed_replies_are_counted(
    server: ThreadedServer,
    client: Callable[..., Client],
    desk: Desk,
    fake_rasa: FakeRasa,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERHOURS_METRICS_TOKEN", TOKEN)
    ticket = add_ticket(desk.queue, customer="+351912345678")
    ana = client("ana")
    assert ana.get("/queue").status_code == 200
    fake_rasa.status = 500
    assert ana.post(f"/cases/{ticket.id}/reply", {"text": "Hello"}).status_code == 502
    fake_rasa.status = 200
    assert requests.get(f"{server.url}/no-such-page", timeout=10).status_code == 404

    answer = scrape(server)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.text
    assert (
        value(text, "afterhours_desk_http_requests_total", route="queue.queue_page", status="200")
        >= 1
    )
    assert (
        value(text, "afterhours_desk_http_requests_total", route="cases.reply", status="502") == 1
    )
    assert value(text, "afterhours_desk_http_requests_total", route="unmatched", status="404") == 1
    assert value(text, "afterhours_desk_http_seconds_count", route="cases.reply") == 1
    assert value(text, "afterhours_desk_failed_replies_total", kind="answer") == 1
    assert value(text, "afterhours_tickets_waiting", department="billing") == 1
    assert value(text, "afterhours_tickets_overdue") == 0
    # Nobody's name, number or words.
    for private in ("ana", "912345678", "Hello", "IBAN"):
        assert private not in text.replace("afterhours_", "").replace("_total", "")


def test_the_desk_process_serves_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        AFTERHOURS_DB_URL=f"sqlite:///{tmp_path / 'queue.db'}",
        AFTERHOURS_METRICS_TOKEN=TOKEN,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "desk.server", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process, timeout=60)
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=10).status_code == 401
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert answer.status_code == 200
        assert 'afterhours_desk_http_requests_total{route="metrics.metrics",status="401"} 1.0' in (
            answer.text
        )
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_every_answer_says_the_servers_own_time(server: ThreadedServer) -> None:
    """W3C Server-Timing: what `afterhours bench desk` reports as the server side."""
    for path in ("/login", "/queue", "/nope"):
        answer = requests.get(server.url + path, timeout=5)
        name, duration = answer.headers["Server-Timing"].split(";dur=")
        assert name == "app" and 0 <= float(duration) < 5000
