"""Truthful delivery on the desk: refused up front, or told what became of the answer.

The fake Rasa (tests/desk/conftest.py) stands for a Rasa whose connectors record each desk
answer's outcome in ``channel_deliveries``, as bot/channels/output.py does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from bot.channels.inbox import Inbox
from bot.channels.workers import Workers
from desk.app import Desk
from tests.desk.conftest import UTC, Client, FakeRasa, add_ticket

ANA_NUMBER = "+351912345678"


def _actions(desk: Desk, ticket_id: int) -> list[tuple[str, dict]]:
    return [(e.action, e.detail) for e in desk.store.audit_log(ticket_id=ticket_id)]


def _authors(desk: Desk, ticket_id: int) -> list[str]:
    return [e.author for e in desk.queue.get(ticket_id).transcript]


def test_a_delivered_answer_is_said_delivered_and_shown_so(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Fixed."})
    assert answer.status_code == 200 and answer.url.endswith("msg=sent")
    assert "Delivered to the customer." in answer.text
    assert '<span class="delivery">delivered</span>' in answer.text
    assert fake_rasa.gets == ["/conversations/telegram:1001/tracker"]
    last = desk.queue.get(ticket.id).transcript[-1]
    assert (last.author, last.meta["delivery"]) == ("agent", "delivered")
    assert ("reply", {"length": 6, "delivery": "delivered"}) in _actions(desk, ticket.id)


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("stopped", "Not sent: the telegram channel is not running."),
        ("rest", "Not sent: answers on the REST channel cannot be sent later"),
        ("unknown", "Not sent: there is no conversation with this customer to answer."),
        ("opted_out", "Not sent: the customer&#39;s number opted out of SMS"),
    ],
)
def test_an_answer_that_cannot_go_out_is_refused_up_front(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa, setup: str, words: str
) -> None:
    channel = {"rest": "rest", "opted_out": "sms"}.get(setup, "telegram")
    customer = ANA_NUMBER if channel == "sms" else "1001"
    ticket = add_ticket(desk.queue, channel=channel, customer=customer)
    if setup == "stopped":
        Workers(desk.queue.engine, lambda: dt.datetime.now(UTC)).leave("desk-tests:1:fake")
    elif setup == "unknown":
        fake_rasa.known = set()
    elif setup == "opted_out":
        Inbox(desk.queue.engine).set_opt_out("sms", ANA_NUMBER, True, dt.datetime.now(UTC), "STOP")
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == 409
    assert words in answer.text
    assert ">Hello</textarea>" in answer.text  # the draft is kept
    assert fake_rasa.events("bot") == []  # nothing was asked to be sent
    assert _authors(desk, ticket.id) == ["customer", "bot"]
    refused = [d for action, d in _actions(desk, ticket.id) if action == "reply_refused"]
    assert len(refused) == 1 and refused[0]["reason"] in (
        "channel_not_running",
        "rest_channel",
        "no_conversation",
        "opted_out",
    )


def test_a_channel_that_beat_long_ago_is_not_live(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue, channel="x", customer="42")
    long_ago = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    workers = Workers(desk.queue.engine, lambda: long_ago)
    workers.leave("desk-tests:1:fake")
    workers.beat("old:1:x", "x")
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == 409 and "the x channel is not running" in answer.text


@pytest.mark.parametrize(
    ("delivery", "reason", "status", "words"),
    [
        ("failed", "blocked", 409, "Not sent: the customer blocked us on telegram"),
        ("failed", "opted_out", 409, "Not sent: the customer&#39;s number opted out"),
        ("failed", "platform_error", 502, "Not sent: telegram kept failing"),
        (None, None, 409, "Not sent: the telegram channel is not running."),
    ],
)
def test_what_the_channel_recorded_is_what_the_agent_is_told(
    client: Callable[..., Client],
    desk: Desk,
    fake_rasa: FakeRasa,
    delivery: str | None,
    reason: str | None,
    status: int,
    words: str,
) -> None:
    ticket = add_ticket(desk.queue)
    fake_rasa.delivery, fake_rasa.reason = delivery, reason
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == status
    assert words in answer.text and "Delivered" not in answer.text
    assert len(fake_rasa.events("bot")) == 1  # asked once; the channel said what happened
    assert _authors(desk, ticket.id) == ["customer", "bot"]  # not on the case
    (not_sent,) = [d for action, d in _actions(desk, ticket.id) if action == "reply_not_sent"]
    assert not_sent["reason"] == (reason or "channel_not_running")


def test_rasa_down_while_checking_refuses_with_502(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    desk.rasa.base_url = "http://127.0.0.1:9"  # nothing listens there
    answer = client("ana").post(f"/cases/{ticket.id}/reply", {"text": "Hello"})
    assert answer.status_code == 502 and "Rasa could not be reached" in answer.text
    assert _authors(desk, ticket.id) == ["customer", "bot"]


def test_an_answer_that_went_out_in_part_is_said_so() -> None:
    from bot.channels.deliveries import Delivery
    from desk.delivery import _not_sent

    def told(detail: str | None) -> str:
        at = dt.datetime.now(UTC)
        return _not_sent(Delivery("d", "sms", "failed", "platform_error", detail, at))

    assert told("DeliveryError; parts sent: 1").startswith("Not sent in full (1 part(s) went out)")
    assert told("DeliveryError; parts sent: 0").startswith("Not sent: sms kept failing")
    assert told(None).startswith("Not sent: sms kept failing")
