"""What the tests of actions/ share: the moments, the exact words, the trackers, the queue.

The trackers are built by hand the way the action server receives them; the domain's responses are
the repository's own (data/responses), so the exact words customers read are checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff_actions
from handoff.queue import HandoffQueue

REPO = Path(__file__).resolve().parents[1]
LISBON = ZoneInfo("Europe/Lisbon")

# Friday night, out of hours: the desk opens on Saturday at 10:00.
FRIDAY_NIGHT = datetime(2026, 11, 27, 23, 0, tzinfo=LISBON)
# Monday night: Tuesday 1 December is a holiday in Portugal, so the desk opens on Wednesday.
MONDAY_NIGHT = datetime(2026, 11, 30, 20, 0, tzinfo=LISBON)
# Wednesday morning: the desk is open.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 11, 0, tzinfo=LISBON)

PRIVATE_PROMISE_SATURDAY = (
    "We need to check your account securely. A person from our team will answer you here on "
    "Saturday, 28 November at 10:00 (Lisbon time). Please don't send passwords or card numbers."
)
COMPLEX_PROMISE_WEDNESDAY = (
    "This one needs a person from our team. They'll answer you here on Wednesday, 2 December at "
    "09:00 (Lisbon time), with everything you've already told us. "
    "(Tuesday, 1 December is a public holiday.)"
)
COMPLEX_PROMISE_WEDNESDAY_PT = (
    "Isto precisa de uma pessoa da nossa equipa, que lhe responde aqui quarta-feira, "
    "2 de dezembro, às 09:00 (hora de Lisboa), já com tudo o que nos disse. "
    "(terça-feira, 1 de dezembro é feriado.)"
)
IN_HOURS_IT = (
    "Grazie per il messaggio. Il nostro team è operativo e una persona ti risponderà qui a breve."
)
ROAMING_IT = (
    "Il roaming nell'UE è incluso nel tuo piano senza costi extra: basta attivare il roaming dati "
    "sul telefono. Fuori dall'UE, vedi i prezzi e attiva un pacchetto viaggio nell'app Aurora."
)
PUBLIC_DATA_WARNING = (
    "We've sent you a private message. Please consider deleting your post, as it shows personal "
    "details."
)
MOVE_TO_DM = "We've sent you a private message so we can continue there safely."
DM_OPENING = "Hi, we're continuing our conversation here, in private."
EMOTIONAL_PROMISE_SATURDAY = (
    "I'm really sorry you're going through this. A person from our team will answer you here on "
    "Saturday, 28 November at 10:00 (Lisbon time) and look into it with you."
)

# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    """The domain as the action server receives it: the repository's responses."""
    from rasa.shared.nlu.training_data.loading import load_data

    return {"responses": load_data(str(REPO / "data" / "responses")).responses}


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandoffQueue]:
    """The actions' queue: a fresh SQLite file; the module's per-URL cache starts empty."""
    monkeypatch.setenv("AFTERHOURS_DB_URL", f"sqlite:///{tmp_path / 'queue.db'}")
    monkeypatch.setenv("AFTERHOURS_BRAND", str(REPO / "brand.yml"))
    monkeypatch.setattr(handoff_actions, "_queues", {})
    # The actions' own queue (the bot's side), seen whole (both sides) for the assertions.
    service = HandoffQueue(handoff_actions.queue().engine)
    try:
        yield service
    finally:
        for cached in handoff_actions._queues.values():
            cached.dispose()


def user_event(
    text: str,
    at: datetime,
    metadata: dict[str, Any],
    personal_data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A `user` event as the tracker stores it."""
    meta = {**metadata, "at": at.isoformat()}
    return {
        "event": "user",
        "timestamp": at.timestamp(),
        "text": text,
        "input_channel": metadata.get("channel"),
        "metadata": meta,
        "parse_data": {
            "text": text,
            "intent": {"name": "account_request", "confidence": 0.9},
            "entities": [],
            "metadata": meta,
            "personal_data": personal_data or [],
        },
    }


def bot_event(text: str, at: datetime) -> dict[str, Any]:
    """A `bot` event (the bot's earlier answer)."""
    return {"event": "bot", "timestamp": at.timestamp(), "text": text, "data": {}, "metadata": {}}


def make_tracker(
    *,
    text: str,
    at: datetime,
    triage: dict[str, Any] | None,
    channel: str = "telegram",
    sender: str = "1001",
    public: bool = False,
    personal_data: list[dict[str, Any]] | None = None,
    emotion: str | None = None,
    history: list[dict[str, Any]] | None = None,
    handoff_ticket: int | None = None,
    language: str = "en",
) -> Tracker:
    """A tracker as the action server receives it, the latest message last in its events."""
    metadata = {"channel": channel, "public": public, "sender": sender, "at": at.isoformat()}
    latest_event = user_event(text, at, metadata, personal_data)
    latest = {
        **latest_event["parse_data"],
        "emotion": {"label": emotion, "score": 0.9 if emotion else 0.0, "cues": []},
    }
    latest_event["parse_data"] = latest
    events = [
        {"event": "action", "name": "action_listen", "timestamp": at.timestamp() - 400},
        *(history or []),
        latest_event,
    ]
    return Tracker(
        sender_id=f"{channel}:{sender}",
        slots={"triage": triage, "language": language, "handoff_ticket": handoff_ticket},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def handoff_triage(
    at: datetime, reasons: list[str], language: str = "en", **extra: Any
) -> dict[str, Any]:
    """The `triage` slot as TriagePolicy sets it for a handoff."""
    return {
        "decision": "handoff",
        "reasons": reasons,
        "topic": None,
        "suggested_topic": None,
        "language": language,
        "move_to_private": False,
        "intent": "account_request",
        "emotion": None,
        "at": at.isoformat(),
        "in_hours": False,
        "locale": {"en": "en_GB", "pt": "pt_PT", "es": "es_ES", "it": "it_IT"}[language],
        **extra,
    }


def run(
    action: Any, tracker: Tracker, domain: dict[str, Any]
) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Runs an action; returns its events and the (text, visibility) of what it said."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    for message in dispatcher.messages:
        # Every word is composed from data; no response template is left for Rasa to fill.
        assert message["response"] is None and message["template"] is None
        assert not message["buttons"] and not message["custom"] and message["image"] is None
    return events, [(m["text"], m.get("visibility")) for m in dispatcher.messages]


def promised(triage: dict[str, Any], ticket: int, eta: str, reasons: list[str]) -> dict[str, Any]:
    """The `triage` slot ActionHandoff sets: the policy's, with the ticket and the promise."""
    return {**triage, "ticket": ticket, "reply_eta": eta, "reasons": reasons}


def transcript_of(queue: HandoffQueue, ticket_id: int) -> list[tuple[str, str, list[Any]]]:
    ticket = queue.get(ticket_id)
    assert ticket is not None
    return [(e.author, e.text, list(e.personal_data)) for e in ticket.transcript]
