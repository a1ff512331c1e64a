"""The satisfaction question the desk asks when an agent resolves a case (desk/csat.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from desk.app import Desk
from handoff.transcript import Entry
from tests.desk.conftest import UTC, Client, FakeRasa, add_ticket


def _answered_case(desk: Desk) -> int:
    ticket = add_ticket(desk.queue, customer="1001")
    reply = Entry(at=dt.datetime.now(UTC), author="agent", text="Refund done, see your bill.")
    desk.queue.append(ticket.id, [reply])
    return int(ticket.id)


def _resolve(client: Callable[..., Client], ticket_id: int) -> None:
    ana = client("ana")
    ana.post(f"/cases/{ticket_id}/claim")
    done = ana.post(
        f"/cases/{ticket_id}/resolve", {"intent": "account_request", "confirm_unanswered": "1"}
    )
    assert done.url.endswith("/queue?msg=resolved")


def test_resolving_an_answered_case_asks_for_a_score(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket_id = _answered_case(desk)
    _resolve(client, ticket_id)
    release, question = fake_rasa.events("slot")
    assert release["body"] == {"event": "slot", "name": "handoff_ticket", "value": None}
    assert question["path"] == "/conversations/telegram:1001/tracker/events"
    assert question["body"]["name"] == "csat"
    value = question["body"]["value"]
    assert (value["ticket"], value["agent"]) == (ticket_id, "ana")
    (ask,) = [r for r in fake_rasa.requests if r["path"].endswith("/execute")]
    assert ask["path"] == "/conversations/telegram:1001/execute"
    assert ask["query"]["output_channel"] == ["latest"]
    assert ask["body"] == {"name": "utter_csat_question"}


@pytest.mark.parametrize("why", ["turned off by the brand", "no agent answered"])
def test_no_question_when_off_or_nobody_answered(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa, why: str
) -> None:
    if why == "turned off by the brand":
        desk.brand = dataclasses.replace(desk.brand, csat=False)
        ticket_id = _answered_case(desk)
    else:
        ticket_id = int(add_ticket(desk.queue, customer="1001").id)
    _resolve(client, ticket_id)
    assert [r["body"].get("name") for r in fake_rasa.requests] == ["handoff_ticket"]
