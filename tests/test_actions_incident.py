"""action_incident: an outage report counted, linked to its incident, and acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.events import SlotSet

import actions.incident as incident_actions
from actions.handoff import ActionHandoff
from actions.incident import ActionIncident
from bot.render.x import weighted_length
from handoff.incidents import IncidentStore
from handoff.queue import HandoffQueue
from tests.actions_support import (
    FRIDAY_NIGHT,
    domain,  # noqa: F401 - a fixture
    handoff_triage,
    make_tracker,
    queue,  # noqa: F401 - a fixture
    run,
)

ACK_EN = (
    "Thanks for letting us know. We're aware of a service outage and our team is working on it. "
    "Live status: https://status.aurora.example Next update by {time} (Lisbon time)."
)


@pytest.fixture
def incidents(queue: HandoffQueue, monkeypatch: pytest.MonkeyPatch) -> Iterator[IncidentStore]:  # noqa: F811
    """The action's store on the test's queue database (its per-URL cache starts empty)."""
    monkeypatch.setattr(incident_actions, "_stores", {})
    yield incident_actions.store()
    for cached in incident_actions._stores.values():
        cached.dispose()


def answer_triage(at: Any, topic: str = "faq/internet_down", language: str = "en") -> dict:
    """The `triage` slot TriagePolicy sets when it would answer an outage FAQ."""
    return {
        "decision": "answer",
        "reasons": [],
        "topic": topic,
        "language": language,
        "at": at.isoformat(),
        "locale": {"en": "en_GB", "pt": "pt_PT", "es": "es_ES", "it": "it_IT"}[language],
    }


def report(
    n: int,
    responses: dict[str, Any],
    minutes: int = 0,
    text: str = "no internet",
    **kw: Any,  # noqa: F811
) -> tuple[list[Any], list[Any]]:
    at = FRIDAY_NIGHT + timedelta(minutes=minutes)
    tracker = make_tracker(
        text=text, at=at, triage=answer_triage(at, **kw), channel="sms", sender=f"+35191{n:07d}"
    )
    return run(ActionIncident(), tracker, responses)


def test_below_the_threshold_the_faq_answers(
    incidents: IncidentStore,
    domain: dict[str, Any],  # noqa: F811
) -> None:
    events, said = report(1, domain)
    assert said == []
    assert events == [SlotSet("triage", {**answer_triage(FRIDAY_NIGHT), "incident": None})]
    assert incidents.incidents() == []


def test_the_eleventh_customer_opens_it_and_everyone_is_linked(
    incidents: IncidentStore,
    domain: dict[str, Any],  # noqa: F811
) -> None:
    for n in range(10):  # threshold 11: min_reports 10 + 2 an hour over 30 minutes
        assert report(n, domain, minutes=n)[1] == []
    report(3, domain, minutes=10)  # the same customer again counts once
    events, said = report(10, domain, minutes=11)
    [incident] = incidents.incidents()
    at = FRIDAY_NIGHT + timedelta(minutes=11)
    assert said == [(ACK_EN.format(time="00:11"), None)]
    assert events == [
        SlotSet(
            "triage",
            {
                **answer_triage(at),
                "topic": "incident",
                "incident": incident.ref,
                "faq_topic": "faq/internet_down",
            },
        )
    ]
    assert len(incidents.links(incident.id)) == 11
    # A later report in Portuguese: the reply in Portuguese, linked, no ticket.
    events, said = report(
        20, domain, minutes=12, text="sem net em Almada", language="pt", topic="faq/outage"
    )
    assert "Obrigado por nos avisar" in said[0][0]
    assert events[0]["value"]["incident"] == incident.ref


def test_a_handoff_during_an_incident_is_linked_with_its_ticket(
    incidents: IncidentStore,
    queue: HandoffQueue,  # noqa: F811
    domain: dict[str, Any],  # noqa: F811
) -> None:
    incident = incidents.declare("internet", None, "sup", FRIDAY_NIGHT, timedelta(hours=1))
    triage = handoff_triage(FRIDAY_NIGHT, ["private"], about="faq/internet_down")
    tracker = make_tracker(
        text="no internet, my account AUR-12345678", at=FRIDAY_NIGHT, triage=triage
    )
    events, _said = run(ActionHandoff(), tracker, domain)
    value = events[1]["value"]
    assert value["incident"] == incident.ref and value["ticket"]
    [link] = incidents.links(incident.id)
    assert link.ticket_id == value["ticket"] and link.conversation_id == "telegram:1001"


@pytest.mark.parametrize("language", ["en", "pt", "es", "it"])
def test_the_reply_fits_a_public_x_reply(domain: dict[str, Any], language: str) -> None:  # noqa: F811
    from actions.responses import ResponseBook

    book = ResponseBook(domain)
    for name, values in (
        (
            "utter_incident_ack",
            {"status_page": "https://status.aurora.example", "next_update": "03:00"},
        ),
        ("utter_incident_resolved", {"message": ""}),
    ):
        text = book.text(name, language, **values)
        assert text and "{" not in text
        assert weighted_length("@a_fifteen_char " + text) <= 280, (name, language)


def test_the_action_is_registered_for_the_action_server(tmp_path: Path) -> None:
    assert ActionIncident().name() == "action_incident"
