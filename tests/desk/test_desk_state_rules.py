"""The rules behind the desk's pages, without HTTP: one overdue rule (Python and SQL agree), the
conversation state, the trigger, placeholders."""

from __future__ import annotations

import datetime as dt

import pytest

from desk.placeholders import customer_first_name, eta_phrase, fill, unknown_placeholders
from handoff.queue import HandoffQueue
from handoff.state import (
    STATES,
    conversation_state,
    is_overdue,
    trigger_entry,
    unanswered,
)
from handoff.transcript import Entry
from tests.desk.conftest import UTC, add_ticket

NOW = dt.datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def queue(any_db_url: str) -> HandoffQueue:
    made = HandoffQueue.from_url(any_db_url)
    yield made
    made.dispose()


def test_python_and_sql_agree_on_overdue(queue: HandoffQueue) -> None:
    past, future = NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=1)
    late = add_ticket(queue, customer="1", reply_eta=past)
    answered = add_ticket(queue, customer="2", reply_eta=past)
    queue.reply(answered.id, "ana", "done", at=NOW - dt.timedelta(minutes=5))
    claimed_late = add_ticket(queue, customer="3", reply_eta=past)
    queue.claim(claimed_late.id, "ana", now=NOW)
    resolved = add_ticket(queue, customer="4", reply_eta=past)
    queue.resolve(resolved.id, "ana", "greet", at=NOW)
    add_ticket(queue, customer="5", reply_eta=future)
    everything = queue.list_tickets(status=("open", "claimed", "resolved"), now=NOW)
    by_python = sorted(t.id for t in everything if is_overdue(t, NOW))
    assert by_python == sorted(t.id for t in queue.overdue(now=NOW)) == [late.id, claimed_late.id]
    assert queue.summary(now=NOW)["overdue"] == queue.counts(now=NOW)["overdue"] == 2


def test_states_and_unanswered(queue: HandoffQueue) -> None:
    ticket = add_ticket(queue, reply_eta=NOW)
    assert conversation_state(ticket) == "waiting" and unanswered(ticket)
    queue.claim(ticket.id, "ana", now=NOW)
    assert conversation_state(queue.get(ticket.id)) == "claimed"
    queue.reply(ticket.id, "ana", "hi", at=NOW)
    got = queue.get(ticket.id)
    assert conversation_state(got) == "awaiting_customer" and not unanswered(got)
    queue.append(ticket.id, [Entry(at=NOW + dt.timedelta(minutes=1), author="customer", text="?")])
    got = queue.get(ticket.id)
    assert conversation_state(got) == "customer_replied" and unanswered(got)
    queue.resolve(ticket.id, "ana", "greet", at=NOW + dt.timedelta(minutes=2))
    assert conversation_state(queue.get(ticket.id)) == "resolved"
    assert set(STATES) == {
        "waiting",
        "claimed",
        "awaiting_customer",
        "customer_replied",
        "resolved",
    }


def test_trigger_is_the_message_of_the_handoff(queue: HandoffQueue) -> None:
    at = NOW - dt.timedelta(hours=2)
    ticket = add_ticket(
        queue,
        created_at=at,
        reply_eta=NOW,
        transcript=[
            Entry(at=at - dt.timedelta(days=1), author="customer", text="old"),
            Entry(at=at, author="customer", text="the trigger"),
        ],
    )
    queue.append(ticket.id, [Entry(at=NOW, author="customer", text="newer")])
    trigger = trigger_entry(queue.get(ticket.id))
    assert trigger is not None and trigger.text == "the trigger"
    # Clocks that disagree: the ticket's first customer line.
    skewed = add_ticket(
        queue,
        customer="9",
        created_at=at,
        reply_eta=NOW,
        transcript=[Entry(at=NOW, author="customer", text="later than the ticket")],
    )
    found = trigger_entry(skewed)
    assert found is not None and found.text == "later than the ticket"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {first_name}, I'm {agent}.", "Hi, I'm Ana."),
        ("Sorry for the wait, {first_name}, and thanks.", "Sorry for the wait, and thanks."),
        ("Thanks for your patience, {first_name}.", "Thanks for your patience."),
        ("{first_name}, obrigado!", "Obrigado!"),
        ("Olá {first_name}! Até {eta}.", "Olá! Até amanhã."),
        ("Keep {unknown} as written", "Keep {unknown} as written"),
    ],
)
def test_fill_without_a_name(body: str, expected: str) -> None:
    assert fill(body, first_name=None, agent="Ana", eta="amanhã") == expected


def test_fill_with_a_name_and_the_eta_in_each_language() -> None:
    assert fill("Hi {first_name}", first_name="Marta", agent="Ana", eta="x") == "Hi Marta"
    moment = dt.datetime(2026, 7, 6, 8, 0, tzinfo=UTC)  # 09:00 in Lisbon (summer time)
    assert eta_phrase(moment, "en", "en_GB", "Europe/Lisbon") == "Monday, 6 July at 09:00"
    assert (
        eta_phrase(moment, "pt", "pt_PT", "Europe/Lisbon") == "segunda-feira, 6 de julho, às 09:00"
    )
    assert eta_phrase(moment, "es", "es_ES", "Europe/Lisbon") == "lunes, 6 de julio, a las 09:00"
    assert eta_phrase(moment, "it", "it_IT", "Europe/Lisbon") == "lunedì, 6 luglio, alle 09:00"
    assert unknown_placeholders("{first_name} {firstname} {eta} {x}") == ["firstname", "x"]


def test_first_name_from_the_platform_only(queue: HandoffQueue) -> None:
    def ticket_with(meta: dict[str, object], customer: str) -> object:
        return add_ticket(
            queue,
            customer=customer,
            reply_eta=NOW,
            transcript=[Entry(at=NOW, author="customer", text="hi", metadata=meta)],
        )

    assert customer_first_name(ticket_with({"platform": {"first_name": "Ana Sousa"}}, "1")) == "Ana"
    assert customer_first_name(ticket_with({"platform": {"name": "<b>Joe</b> X"}}, "2")) is None
    assert customer_first_name(ticket_with({"channel": "sms"}, "3")) is None
    assert customer_first_name(ticket_with({"platform": {"first_name": "12345"}}, "4")) is None
