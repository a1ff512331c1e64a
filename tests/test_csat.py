"""The satisfaction score after a resolved case: what counts as a score, recording it, asking."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.csat import ActionRecordCsat
from bot.csat import CSAT_OPEN_FOR, open_question, rating_of
from desk.csat import ask_for_score
from desk.rasa import RasaClient
from handoff.models import Csat
from handoff.queue import HandoffQueue
from handoff.transcript import Entry

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
NIGHT = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("1", 1),
        (" 4 ", 4),
        ("4/5", 4),
        ("3 de 5", 3),
        ("4 out of 5", 4),
        ("5 stars", 5),
        ("5 estrelas", 5),
        ("nota 4", 4),
        ("un 5!", 5),
        ("⭐⭐⭐", 3),
        ("★★★★★", 5),
        ("😡", 1),
        ("🙂", 4),
        ("❤️", 5),
        ("👍", 4),
    ],
)
def test_a_reply_that_is_only_a_score(text: str, score: int) -> None:
    assert rating_of(text) == score


@pytest.mark.parametrize(
    "text",
    ["", None, "0", "6", "10", "45", "5 euros charged twice", "my router is 5 years old", "ok",
     "🙂🙂", "⭐⭐⭐⭐⭐⭐", "2 3"],
)  # fmt: skip
def test_anything_else_is_not_a_score(text: str | None) -> None:
    assert rating_of(text) is None


def test_the_question_expires() -> None:
    slot = {"ticket": 7, "agent": "ana", "asked_at": NIGHT.isoformat()}
    assert open_question(slot, NIGHT + CSAT_OPEN_FOR - timedelta(seconds=1)) == slot
    assert open_question(slot, NIGHT + CSAT_OPEN_FOR + timedelta(seconds=1)) is None
    assert open_question(None, NIGHT) is None
    assert open_question({"ticket": 7, "asked_at": "yesterday"}, NIGHT) is None


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandoffQueue]:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    service = HandoffQueue.from_url(url, migrate=True)
    yield service
    service.dispose()


def _tracker(text: str, at: datetime, csat: Any) -> Tracker:
    metadata = {"channel": "sms", "public": False, "sender": "+351910000001", "at": at.isoformat()}
    latest = {"text": text, "intent": {"name": "acknowledge"}, "metadata": metadata}
    return Tracker(
        sender_id="sms:+351910000001",
        slots={"csat": csat, "language": "pt", "triage": None, "handoff_ticket": None},
        latest_message=latest,
        events=[{"event": "user", "text": text, "parse_data": latest, "metadata": metadata}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def _resolved_ticket(queue: HandoffQueue) -> int:
    entry = Entry(at=NIGHT, author="customer", text="quero falar com alguém")
    ticket = queue.open_ticket(
        channel="sms",
        conversation_id="sms:+351910000001",
        customer="+351910000001",
        public=False,
        language="pt",
        locale="pt_PT",
        reasons=["human_requested"],
        need=3,
        department="general",
        reply_eta=NIGHT + timedelta(hours=11),
        created_at=NIGHT,
        transcript=[entry],
    )
    return int(ticket.id)


def test_the_action_records_the_score_against_the_case_and_agent(queue: HandoffQueue) -> None:
    ticket = _resolved_ticket(queue)
    question = {"ticket": ticket, "agent": "ana", "asked_at": NIGHT.isoformat()}
    later = NIGHT + timedelta(hours=1)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ActionRecordCsat().run(dispatcher, _tracker("⭐⭐⭐⭐", later, question), {})
    )
    assert events == [{"event": "slot", "timestamp": None, "name": "csat", "value": None}]
    assert dispatcher.messages == []  # the thanks follows by a rule (data/rules/csat.yml)
    # Answered again (or the action retried): one score a case, the last one.
    asyncio.run(ActionRecordCsat().run(dispatcher, _tracker("5", later, question), {}))
    with queue.engine.connect() as connection:
        rows = connection.execute(Csat.__table__.select()).mappings().all()
    assert [
        (r["ticket_id"], r["agent"], r["score"], r["channel"], r["language"]) for r in rows
    ] == [(ticket, "ana", 5, "sms", "pt")]


def test_an_expired_question_records_nothing(queue: HandoffQueue) -> None:
    ticket = _resolved_ticket(queue)
    question = {"ticket": ticket, "agent": "ana", "asked_at": NIGHT.isoformat()}
    late = NIGHT + CSAT_OPEN_FOR + timedelta(minutes=1)
    events = asyncio.run(
        ActionRecordCsat().run(CollectingDispatcher(), _tracker("5", late, question), {})
    )
    assert events == [{"event": "slot", "timestamp": None, "name": "csat", "value": None}]
    with queue.engine.connect() as connection:
        assert connection.execute(Csat.__table__.select()).all() == []


class _FakeRasa(BaseHTTPRequestHandler):
    calls: list[tuple[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append((self.path, body))
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_rasa() -> Iterator[str]:
    _FakeRasa.calls, _FakeRasa.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_desk_opens_the_question_then_asks_it(fake_rasa: str) -> None:
    client = RasaClient(fake_rasa, token="s3cret", timeout=5)
    assert ask_for_score(client, "sms:+351910000001", 12, "ana", NIGHT)
    (slot_path, slot), (ask_path, ask) = _FakeRasa.calls
    assert slot_path.startswith("/conversations/sms:+351910000001/tracker/events?")
    assert "execute_side_effects" not in slot_path and "token=s3cret" in slot_path
    assert slot == {
        "event": "slot",
        "name": "csat",
        "value": {"ticket": 12, "agent": "ana", "asked_at": NIGHT.isoformat()},
    }
    assert ask_path.startswith("/conversations/sms:+351910000001/execute?")
    assert "output_channel=latest" in ask_path
    assert ask == {"name": "utter_csat_question"}


def test_a_refused_question_is_reported_not_raised(fake_rasa: str) -> None:
    _FakeRasa.status = 500
    assert not ask_for_score(RasaClient(fake_rasa, timeout=5), "sms:+1", 12, "ana", NIGHT)
