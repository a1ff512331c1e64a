"""Where a case stands, over HTTP: state, one overdue rule, the trigger, live events, resolving
an unanswered message, agents named on their answers, a supervisor on someone else's case."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest

from desk.app import Desk
from handoff.transcript import Entry
from tests.desk.conftest import UTC, Client, FakeRasa, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

IBAN = "PT50000201231234567890154"


def _row(page: str, ticket_id: int) -> str:
    """The queue row of one case."""
    return page.split(f'data-ticket="{ticket_id}"', 1)[1].split("</tr>", 1)[0]


def _state(page: str) -> str:
    found = re.search(r'id="case-state">([^<]*)<', page)
    assert found is not None
    return found.group(1)


def _customer(text: str, minutes: int = 0) -> Entry:
    at = dt.datetime.now(UTC) + dt.timedelta(minutes=minutes)
    return Entry(at=at, author="customer", text=text, metadata={"channel": "telegram"})


def test_state_follows_the_conversation(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    ana = client("ana")
    assert "waiting" in _row(ana.get("/queue").text, ticket.id)
    assert _state(ana.get(f"/cases/{ticket.id}").text) == "waiting"
    ana.post(f"/cases/{ticket.id}/claim")
    assert _state(ana.get(f"/cases/{ticket.id}").text) == "claimed"
    assert "state-claimed" in _row(ana.get("/queue").text, ticket.id)
    ana.post(f"/cases/{ticket.id}/reply", {"text": "Checking your bill now."})
    assert _state(ana.get(f"/cases/{ticket.id}").text) == "awaiting customer"
    assert "awaiting customer" in _row(ana.get("/queue").text, ticket.id)
    desk.queue.append(ticket.id, [_customer("thanks, and the second charge?", 1)])
    assert _state(ana.get(f"/cases/{ticket.id}").text) == "customer replied"
    assert "customer replied" in _row(ana.get("/queue").text, ticket.id)
    ana.post(f"/cases/{ticket.id}/reply", {"text": "Refunded too."})
    ana.post(f"/cases/{ticket.id}/resolve", {"intent": "account_request"})
    assert _state(ana.get(f"/cases/{ticket.id}").text) == "resolved"


def test_overdue_counter_badges_and_digest_agree_after_a_reply(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    now = dt.datetime.now(UTC)
    late = add_ticket(desk.queue, customer="1", reply_eta=now - dt.timedelta(minutes=20))
    on_time = add_ticket(desk.queue, customer="2")
    ana = client("ana")
    page = ana.get("/queue").text
    assert "<b>1</b> overdue" in page
    assert "badge overdue" in _row(page, late.id) and "overdue" not in _row(page, on_time.id)
    case = ana.get(f"/cases/{late.id}").text
    assert 'id="case-overdue">' in case  # shown, not hidden
    assert [t.id for t in desk.queue.overdue()] == [late.id]  # what the digest lists

    ana.post(f"/cases/{late.id}/reply", {"text": "Sorry for the wait: it's refunded."})
    page = ana.get("/queue").text
    assert "<b>0</b> overdue" in page
    assert "badge overdue" not in _row(page, late.id)
    assert 'id="case-overdue" hidden>' in ana.get(f"/cases/{late.id}").text
    assert desk.queue.overdue() == []
    assert desk.queue.counts()["overdue"] == desk.queue.summary()["overdue"] == 0
    assert ana.get(f"/cases/{late.id}/events").json()["overdue"] is False


def test_the_queue_shows_the_message_that_caused_the_handoff(
    client: Callable[..., Client], desk: Desk
) -> None:
    handed = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    ticket = add_ticket(
        desk.queue,
        created_at=handed,
        transcript=[
            Entry(at=handed - dt.timedelta(days=3), author="customer", text="hello there"),
            Entry(at=handed - dt.timedelta(days=3), author="bot", text="Hi! How can I help?"),
            Entry(at=handed, author="customer", text="I want to cancel my contract"),
            Entry(at=handed, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    desk.queue.append(ticket.id, [_customer("hello??")])
    ana = client("ana")
    row = _row(ana.get("/queue").text, ticket.id)
    assert "I want to cancel my contract" in row
    assert "hello??" not in row and "hello there" not in row
    case = ana.get(f"/cases/{ticket.id}").text
    assert re.search(r'class="trigger">I want to cancel my contract<', case)


def test_case_events_for_the_live_page(client: Callable[..., Client], desk: Desk) -> None:
    ticket = add_ticket(desk.queue)
    ana = client("ana")
    page = ana.get(f"/cases/{ticket.id}").text
    after = re.search(r'data-after="(\d+)"', page)
    assert after is not None
    nothing = ana.get(f"/cases/{ticket.id}/events?after={after.group(1)}").json()
    assert nothing["entries"] == [] and nothing["state"] == "waiting"

    desk.queue.append(
        ticket.id,
        [
            Entry(
                at=dt.datetime.now(UTC) + dt.timedelta(minutes=1),
                author="customer",
                text=f"again: {IBAN} <b>now</b>",
                personal_data=[{"kind": "iban", "start": 7, "end": 32}],
            )
        ],
    )
    data = ana.get(f"/cases/{ticket.id}/events?after={after.group(1)}").json()
    (entry,) = data["entries"]
    assert entry["text"] == "again: [iban] <b>now</b>" and IBAN not in str(data)
    assert entry["kind"] == "customer" and entry["meta"].startswith("customer · ")
    assert data["unanswered"] is True
    assert len(ana.get(f"/cases/{ticket.id}/events").json()["entries"]) == 3
    assert ana.get(f"/cases/{ticket.id}/events?after=abc").status_code == 400
    assert ana.get(f"/cases/{ticket.id}/events?after=-1").status_code == 400
    assert ana.get("/cases/9999/events").status_code == 404
    assert client("tiago").get(f"/cases/{ticket.id}/events").status_code == 404  # trainer
    assert client().get(f"/cases/{ticket.id}/events").status_code == 401


def test_resolving_an_unanswered_message_needs_a_confirmation(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    ticket = add_ticket(desk.queue)
    ana = client("ana")
    ana.post(f"/cases/{ticket.id}/claim")
    page = ana.get(f"/cases/{ticket.id}").text
    assert 'data-unanswered="1"' in page and 'id="unanswered-warning" role="alert" hidden' in page
    refused = ana.post(f"/cases/{ticket.id}/resolve", {"intent": "account_request"})
    assert refused.status_code == 409
    assert "has no answer yet" in refused.text
    assert 'id="unanswered-warning" role="alert">' in refused.text  # the warning shows
    assert desk.queue.get(ticket.id).status == "claimed" and fake_rasa.events("slot") == []

    ana.post(f"/cases/{ticket.id}/reply", {"text": "All sorted."})
    assert 'data-unanswered="0"' in ana.get(f"/cases/{ticket.id}").text
    done = ana.post(f"/cases/{ticket.id}/resolve", {"intent": "account_request"})
    assert done.url.endswith("/queue?msg=resolved")

    other = add_ticket(desk.queue, customer="2002")
    ana.post(f"/cases/{other.id}/claim")
    done = ana.post(
        f"/cases/{other.id}/resolve", {"intent": "account_request", "confirm_unanswered": "1"}
    )
    assert done.url.endswith("/queue?msg=resolved")
    assert desk.queue.get(other.id).status == "resolved"


def test_an_agents_answer_is_theirs_in_a_later_ticket(
    client: Callable[..., Client], desk: Desk, fake_rasa: FakeRasa
) -> None:
    first = add_ticket(desk.queue, created_at=dt.datetime.now(UTC) - dt.timedelta(days=2))
    ana = client("ana")
    answer = "I refunded the second charge."
    ana.post(f"/cases/{first.id}/reply", {"text": answer})
    ana.post(f"/cases/{first.id}/resolve", {"intent": "account_request"})
    # The next handoff's transcript comes from Rasa's tracker: the answer is a bot event there.
    later = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    second = add_ticket(
        desk.queue,
        created_at=later,
        transcript=[
            Entry(at=later - dt.timedelta(days=1), author="bot", text=answer),
            Entry(at=later, author="customer", text="it's not on my bill"),
            Entry(at=later, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    page = client("bruno").get(f"/cases/{second.id}").text
    line = page.split(answer)[0].rsplit('<li class="line', 1)[1]
    assert line.startswith(' agent"') and "agent · Ana" in line
    promise = page.split("A colleague answers tomorrow.")[0].rsplit('<li class="line', 1)[1]
    assert promise.startswith(' bot"')  # the bot's own lines stay the bot's
    own = ana.get(f"/cases/{first.id}").text
    assert "agent · Ana" in own.split(answer)[0].rsplit('<li class="line', 1)[1]


def test_a_supervisor_is_not_offered_a_reply_they_would_be_refused(
    client: Callable[..., Client], desk: Desk
) -> None:
    ticket = add_ticket(desk.queue)
    desk.queue.claim(ticket.id, "ana")
    page = client("sofia").get(f"/cases/{ticket.id}").text
    assert 'id="answer"' not in page and 'id="resolve-form"' not in page
    assert 'id="reply-readonly"' in page and "Claimed by <b>Ana</b>" in page
    assert f'action="/cases/{ticket.id}/reassign"' in page  # she may take it over
    assert 'id="note"' in page  # notes stay open to her
    bruno = client("bruno").get(f"/cases/{ticket.id}").text
    assert 'id="answer"' not in bruno and "Claimed by <b>Ana</b>" in bruno
    assert 'id="answer"' in client("ana").get(f"/cases/{ticket.id}").text
    # A lapsed claim is free again: the reply box is back.
    desk.queue.claim(ticket.id, "ana", now=dt.datetime.now(UTC) - dt.timedelta(hours=2))
    assert 'id="answer"' in client("sofia").get(f"/cases/{ticket.id}").text
