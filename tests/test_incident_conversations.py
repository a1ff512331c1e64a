"""Whole conversations during an outage: the real model, policy, actions and queue (slow).

The pipeline is this module's own (its own queue database), so the incident it opens never meets
another module's conversations.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.render.x import weighted_length
from handoff.incidents import IncidentStore
from tests.conftest import _pipeline

pytestmark = pytest.mark.slow

NIGHT = datetime(2027, 2, 6, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def outage(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A pipeline of its own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('incident') / 'queue.db'}"
    yield from _pipeline(trained_model, url)


def at(minutes: float) -> str:
    return (NIGHT + timedelta(minutes=minutes)).isoformat()


def test_an_outage_night(outage: Any) -> None:
    # Ten customers report before the threshold (11 = 10 + the normal 2 an hour over 30 min).
    for n in range(10):
        early = outage.send("my internet is down", sender=f"early{n}", at=at(n))
        assert early.decision == "answer" and early.incident is None
        assert early.topic in ("faq/internet_down", "faq/outage")
    eleventh = outage.send("my internet is down", sender="eleventh", at=at(10))
    assert (eleventh.decision, eleventh.topic) == ("answer", "incident")
    assert eleventh.incident == "INC-1"
    assert "We're aware of a service outage" in eleventh.replies[0]["text"]
    # Another language, another channel: linked, in Portuguese, no ticket.
    pt = outage.send("estou sem internet em casa", sender="+351910000111", channel="sms", at=at(11))
    assert (pt.decision, pt.topic, pt.incident, pt.ticket) == ("answer", "incident", "INC-1", None)
    assert pt.language == "pt" and "Obrigado por nos avisar" in pt.replies[0]["text"]
    # In public on X: the same reply, within 280 with the @handle.
    public = outage.send(
        "@AuroraCare no internet here either", sender="rita_x", channel="x", public=True, at=at(12)
    )
    assert public.incident == "INC-1" and public.replies[0]["public"]
    assert weighted_length(public.replies[0]["text"]) <= 280
    # Someone who also needs a person: the normal handoff, the ticket linked to the incident.
    private = outage.send(
        "my internet is down AGAIN, third time this week, I am furious 😡",
        sender="carla",
        at=at(13),
    )
    assert private.decision == "handoff" and private.ticket is not None
    assert private.reason == "emotional" and private.incident == "INC-1"
    # A routine question meanwhile is not linked.
    routine = outage.send("how do i change my wifi password", sender="rui", at=at(14))
    assert routine.incident is None and routine.topic == "faq/wifi_password"

    store = IncidentStore.from_url(outage.db_url, migrate=False)
    try:
        [incident] = store.incidents()
        links = {link.conversation_id: link for link in store.links(incident.id)}
        assert "telegram:early0" in links and "sms:+351910000111" in links
        assert links["telegram:carla"].ticket_id == private.ticket
        store.post(
            incident.id, "resolved", {}, "test", NIGHT + timedelta(hours=1), timedelta(hours=1)
        )
    finally:
        store.dispose()
    # Resolved: the next report gets the FAQ again.
    after = outage.send("my internet is down", sender="later", at=at(90))
    assert after.incident is None and after.topic in ("faq/internet_down", "faq/outage")
