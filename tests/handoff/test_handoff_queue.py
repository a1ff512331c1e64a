from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from handoff.db import VERSION_TABLE, make_engine, migrate
from handoff.models import Base, Ticket
from handoff.queue import ClaimConflict, HandoffQueue, TicketClosed, TicketNotFound
from handoff.transcript import Entry

OpenTicket = Callable[..., Ticket]
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)  # as in conftest: a Monday night
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def waiting_ticket(queue: HandoffQueue, conversation_id: str) -> Ticket | None:
    """The conversation's open or claimed ticket (with its transcript), or None."""
    return next((t for t in queue.list_tickets() if t.conversation_id == conversation_id), None)


def assert_utc(value: dt.datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == dt.timedelta(0)


# -- schema ---------------------------------------------------------------------------------


def test_migration_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        migrate(engine)  # a second run is a no-op
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            assert context.get_current_revision() == "0004"
        names = set(inspect(engine).get_table_names())
        assert {"handoff_tickets", "handoff_transcript_entries", VERSION_TABLE} <= names
    finally:
        engine.dispose()


def test_sqlite_engine_settings(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


# -- opening and appending ------------------------------------------------------------------


def test_open_ticket(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    eta_lisbon = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=0)))
    ticket = open_ticket(
        reply_eta=eta_lisbon,
        transcript=[
            Entry(
                at=T0 - M,
                author="customer",
                text="o meu iban é PT50000201231234567890154",
                personal_data=[{"kind": "iban", "start": 13, "end": 38}],
                metadata={"channel": "telegram", "platform": {"message_id": 41}},
            ),
            Entry(at=T0, author="bot", text="Um colega responde amanhã às 09:00."),
        ],
    )
    assert isinstance(ticket.id, int)
    assert ticket.status == "open"
    assert ticket.reasons == ["private"]
    assert ticket.primary_reason == "private"
    for value in (ticket.created_at, ticket.updated_at, ticket.reply_eta):
        assert_utc(value)
    assert ticket.last_customer_message_at == T0 - M

    loaded = queue.get(ticket.id)  # a new session, closed on return: the object is detached
    assert loaded is not None
    assert loaded.conversation_id == "telegram:1001"
    assert loaded.public is False
    assert loaded.language == "pt" and loaded.locale == "pt_PT"
    assert loaded.department == "billing" and loaded.topic == "account_request"
    assert loaded.suggested_answer == "Vamos verificar a sua fatura."
    for value in (loaded.created_at, loaded.reply_eta, loaded.last_customer_message_at):
        assert_utc(value)
    assert loaded.reply_eta == dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert [e.position for e in loaded.transcript] == [0, 1]
    first = loaded.transcript[0]
    assert first.author == "customer"
    assert first.masked_text == "o meu iban é [iban]"
    assert first.meta == {"channel": "telegram", "platform": {"message_id": 41}}
    assert_utc(first.at)
    assert queue.get(ticket.id + 1000) is None


def test_datetimes_with_offsets_are_stored_as_utc(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    created = dt.datetime(2026, 3, 2, 23, 0, tzinfo=plus_two)  # 21:00 UTC
    ticket = open_ticket(created_at=created, reply_eta=created + 10 * H)
    loaded = queue.get(ticket.id)
    assert loaded is not None
    assert loaded.created_at == T0
    assert loaded.created_at.tzinfo == UTC
    assert loaded.reply_eta.hour == 7


def test_second_handoff_appends_to_the_same_ticket(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    first = open_ticket()
    later = T0 + 2 * H
    whole_conversation = [
        Entry(at=T0 - M, author="customer", text="Olá"),
        Entry(at=T0, author="bot", text="Um colega responde amanhã."),
        Entry(at=later - M, author="customer", text="Isto é uma vergonha!"),
        Entry(at=later, author="bot", text="Lamentamos, um colega responde às 09:00."),
    ]
    second = open_ticket(
        reasons=["emotional", "private"],
        need=2,
        reply_eta=dt.datetime(2026, 3, 3, 10, 0, tzinfo=UTC),  # later than the first promise
        created_at=later,
        transcript=whole_conversation,
        suggested_answer=None,
    )
    assert second.id == first.id
    assert second.reasons == ["private", "emotional"]
    assert second.need == 2
    assert second.reply_eta == first.reply_eta  # the earliest promise stands
    assert second.suggested_answer == first.suggested_answer
    assert second.last_customer_message_at == later - M
    assert [e.text for e in second.transcript] == [e.text for e in whole_conversation]
    assert [e.position for e in second.transcript] == [0, 1, 2, 3]

    # A third handoff that is less urgent does not lower the need.
    third = open_ticket(reasons=["complex"], need=4, created_at=later + H, transcript=[])
    assert third.id == first.id and third.need == 2
    assert third.reasons == ["private", "emotional", "complex"]

    tickets = queue.list_tickets(status=("open", "claimed", "resolved"))
    assert [t.id for t in tickets] == [first.id]
    loaded = waiting_ticket(queue, "telegram:1001")
    assert loaded is not None and len(loaded.transcript) == 4


def test_same_time_entries_are_deduplicated_by_content(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    ticket = open_ticket()
    again = open_ticket(
        transcript=[
            Entry(at=T0, author="bot", text="Um colega responde amanhã."),  # already there
            Entry(at=T0, author="customer", text="ainda aqui"),  # same instant, new
        ]
    )
    assert again.id == ticket.id
    assert [e.text for e in again.transcript][-2:] == ["Um colega responde amanhã.", "ainda aqui"]
    assert len(again.transcript) == 3


def test_claimed_ticket_still_receives_the_conversation(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    ticket = open_ticket()
    assert queue.claim(ticket.id, "ana", now=T0 + H)
    again = open_ticket(
        created_at=T0 + 2 * H,
        transcript=[Entry(at=T0 + 2 * H, author="customer", text="alguém?")],
    )
    assert again.id == ticket.id
    assert again.status == "claimed" and again.claimed_by == "ana"


def test_resolved_conversation_gets_a_new_ticket(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    first = open_ticket()
    queue.resolve(first.id, "ana", "account_request", at=T0 + 12 * H)
    assert waiting_ticket(queue, "telegram:1001") is None
    second = open_ticket(created_at=T0 + 24 * H)
    assert second.id != first.id
    again = waiting_ticket(queue, "telegram:1001")
    assert again is not None and again.id == second.id


def test_concurrent_handoffs_of_one_conversation_open_one_ticket(
    queue: HandoffQueue, open_ticket: OpenTicket
) -> None:
    barrier = threading.Barrier(5)

    def handoff(i: int) -> int:
        barrier.wait()
        return open_ticket(
            transcript=[Entry(at=T0 + i * M, author="customer", text=f"mensagem {i}")],
            created_at=T0 + i * M,
        ).id

    with ThreadPoolExecutor(max_workers=5) as pool:
        ids = set(pool.map(handoff, range(5)))
    assert len(ids) == 1
    assert len(queue.list_tickets()) == 1


def test_open_ticket_validates(open_ticket: OpenTicket) -> None:
    with pytest.raises(ValueError, match="need"):
        open_ticket(need=5)
    with pytest.raises(ValueError, match="reasons"):
        open_ticket(reasons=[])
    with pytest.raises(ValueError, match="aware"):
        open_ticket(reply_eta=dt.datetime(2026, 3, 3, 9, 0))


def test_append(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    updated = queue.append(
        ticket.id,
        [
            Entry(at=T0 + H, author="customer", text="mais uma coisa"),
            Entry(at=T0 + H, author="bot", text="Anotado."),
        ],
        need=1,
    )
    assert updated.need == 1
    assert [e.position for e in updated.transcript] == [0, 1, 2, 3]
    assert updated.last_customer_message_at == T0 + H
    assert queue.append(ticket.id, [], need=4).need == 1
    with pytest.raises(TicketNotFound):
        queue.append(ticket.id + 1000, [])
    queue.resolve(ticket.id, "ana", None, at=T0 + 10 * H)
    with pytest.raises(TicketClosed):
        queue.append(ticket.id, [Entry(at=T0 + 11 * H, author="customer", text="olá?")])


# -- claiming, replying, resolving ----------------------------------------------------------


def test_claim_race_has_exactly_one_winner(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    agents = [f"agent{i}" for i in range(10)]
    barrier = threading.Barrier(len(agents))

    def claim(agent: str) -> bool:
        barrier.wait()
        return queue.claim(ticket.id, agent, now=T0 + 12 * H)

    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        results = list(pool.map(claim, agents))
    assert results.count(True) == 1
    winner = agents[results.index(True)]
    loaded = queue.get(ticket.id)
    assert loaded is not None
    assert loaded.status == "claimed" and loaded.claimed_by == winner
    assert loaded.claimed_at == T0 + 12 * H


def test_expired_claim_can_be_taken(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    start = T0 + 12 * H
    assert queue.claim(ticket.id, "ana", now=start)
    assert not queue.claim(ticket.id, "rui", now=start + 10 * M)
    assert queue.claim(ticket.id, "ana", now=start + 20 * M)  # refreshes her claim
    assert not queue.claim(ticket.id, "rui", now=start + 45 * M)
    assert queue.claim(ticket.id, "rui", now=start + 51 * M)
    assert queue.get(ticket.id).claimed_by == "rui"  # type: ignore[union-attr]
    assert queue.claim(ticket.id, "ana", now=start + 60 * M, ttl=dt.timedelta(minutes=5))
    assert not queue.claim(ticket.id + 1000, "ana")


def test_release_claim(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    assert queue.claim(ticket.id, "ana", now=T0 + 12 * H)
    assert not queue.release_claim(ticket.id, "rui")
    assert queue.release_claim(ticket.id, "ana")
    loaded = queue.get(ticket.id)
    assert loaded is not None
    assert loaded.status == "open" and loaded.claimed_by is None and loaded.claimed_at is None
    assert queue.claim(ticket.id, "rui", now=T0 + 12 * H + M)


def test_reply(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    at = T0 + 12 * H
    entry = queue.reply(ticket.id, "ana", "Bom dia! Já corrigimos a fatura.", at)
    assert entry.author == "agent"
    assert entry.position == 2
    assert entry.meta["agent"] == "ana"
    assert_utc(entry.at)
    loaded = queue.get(ticket.id)
    assert loaded is not None
    assert loaded.status == "claimed" and loaded.claimed_by == "ana"
    assert loaded.transcript[-1].text == "Bom dia! Já corrigimos a fatura."
    with pytest.raises(ClaimConflict):
        queue.reply(ticket.id, "rui", "Olá", at + M)
    with pytest.raises(TicketNotFound):
        queue.reply(ticket.id + 1000, "ana", "Olá", at)


def test_resolve(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    at = T0 + 13 * H
    assert queue.claim(ticket.id, "ana", now=at - H)
    with pytest.raises(ClaimConflict):
        queue.resolve(ticket.id, "rui", "faq/bill_due_date", at - 30 * M)
    resolved = queue.resolve(ticket.id, "ana", "faq/bill_due_date", at)
    assert resolved.status == "resolved"
    assert resolved.resolved_intent == "faq/bill_due_date"
    assert resolved.resolved_at == at
    assert len(resolved.transcript) == 2
    with pytest.raises(TicketClosed):
        queue.resolve(ticket.id, "ana", None, at)
    with pytest.raises(TicketClosed):
        queue.reply(ticket.id, "ana", "mais", at)
    assert not queue.claim(ticket.id, "ana", now=at)
    assert queue.list_tickets() == []
    assert [t.id for t in queue.list_tickets(status="resolved")] == [ticket.id]


def test_reassign_returns_the_previous_holder(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    at = T0 + 12 * H
    handed = queue.reassign(ticket.id, "ana", now=at)  # it was open: nobody held it
    assert handed.previous is None
    assert handed.ticket.claimed_by == "ana" and handed.ticket.claimed_at == at
    handed = queue.reassign(ticket.id, "rui", now=at + M)
    assert handed.previous == "ana"
    assert handed.ticket.status == "claimed" and handed.ticket.claimed_by == "rui"
    # A lapsed claim still names who had the case.
    handed = queue.reassign(ticket.id, "bia", now=at + 10 * H)
    assert handed.previous == "rui"
    loaded = queue.get(ticket.id)
    assert loaded is not None and loaded.claimed_by == "bia"
    assert loaded.claimed_at == at + 10 * H
    queue.resolve(ticket.id, "bia", None, at + 11 * H)
    with pytest.raises(TicketClosed):
        queue.reassign(ticket.id, "ana", now=at + 12 * H)
    resolved = queue.get(ticket.id)
    assert resolved is not None and resolved.claimed_by == "bia"  # nothing changed
    with pytest.raises(TicketNotFound):
        queue.reassign(ticket.id + 1000, "ana")


# -- listing and counting -------------------------------------------------------------------


@pytest.fixture
def busy_queue(queue: HandoffQueue, open_ticket: OpenTicket) -> dict[str, int]:
    eta = dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    specs: dict[str, dict[str, Any]] = {
        "routine": dict(
            reasons=["in_hours"],
            need=4,
            department="general",
            channel="sms",
            language="en",
            locale="en_GB",
            created_at=T0 - 2 * H,
        ),
        "private": dict(
            reasons=["private"],
            need=3,
            department="billing",
            channel="telegram",
            created_at=T0 - 3 * H,
        ),
        "distress": dict(
            reasons=["emotional", "private"],
            need=1,
            department="billing",
            channel="x",
            public=True,
            language="es",
            locale="es_ES",
            created_at=T0,
        ),
        "angry": dict(
            reasons=["emotional"],
            need=2,
            department="technical",
            channel="x",
            language="en",
            locale="en_GB",
            created_at=T0 - H,
        ),
        "complex": dict(
            reasons=["complex"],
            need=3,
            department="technical",
            channel="telegram",
            created_at=T0 - H,
            reply_eta=eta + 2 * H,
        ),
    }
    ids = {}
    for name, spec in specs.items():
        spec.setdefault("reply_eta", eta)
        ids[name] = open_ticket(conversation_id=f"conv-{name}", customer=name, **spec).id
    return ids


def names(tickets: list[Ticket], ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[t.id] for t in tickets]


def test_list_orders_by_priority(queue: HandoffQueue, busy_queue: dict[str, int]) -> None:
    now = T0 + H
    tickets = queue.list_tickets(now=now)
    assert names(tickets, busy_queue) == ["distress", "angry", "private", "complex", "routine"]
    assert all(len(t.transcript) == 2 for t in tickets)  # loaded, usable detached
    # Two days later everything has aged to the top: then the earliest promise, then the oldest.
    later = queue.list_tickets(now=T0 + 48 * H)
    assert names(later, busy_queue) == ["private", "routine", "angry", "distress", "complex"]


def test_list_filters(queue: HandoffQueue, busy_queue: dict[str, int]) -> None:
    now = T0 + H
    assert names(queue.list_tickets(department="billing", now=now), busy_queue) == [
        "distress",
        "private",
    ]
    assert names(queue.list_tickets(language="en", now=now), busy_queue) == ["angry", "routine"]
    assert names(queue.list_tickets(channel="x", now=now), busy_queue) == ["distress", "angry"]
    assert names(queue.list_tickets(reason="private", now=now), busy_queue) == [
        "distress",
        "private",
    ]
    assert names(queue.list_tickets(now=now, limit=2), busy_queue) == ["distress", "angry"]
    assert queue.claim(busy_queue["angry"], "ana", now=now)
    assert names(queue.list_tickets(status=("open",), now=now), busy_queue) == [
        "distress",
        "private",
        "complex",
        "routine",
    ]
    assert names(queue.list_tickets(status="claimed", now=now), busy_queue) == ["angry"]
    assert queue.list_tickets(department="sales") == []
    with pytest.raises(ValueError, match="status"):
        queue.list_tickets(status=("pending",))


def test_counts(queue: HandoffQueue, busy_queue: dict[str, int]) -> None:
    before_eta = T0 + H
    assert queue.counts(now=before_eta) == {
        "open": 5,
        "claimed": 0,
        "waiting": 5,
        "overdue": 0,
        "by_reason": {"in_hours": 1, "private": 1, "emotional": 2, "complex": 1},
        "by_department": {"general": 1, "billing": 2, "technical": 2},
    }
    # At 10:00 on Tuesday four promises (09:00) have passed; one is answered, one resolved.
    ten = dt.datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    queue.reply(busy_queue["private"], "ana", "Bom dia", ten - 50 * M)
    queue.resolve(busy_queue["routine"], "rui", "faq/support_hours", ten - 40 * M)
    counts = queue.counts(now=ten)
    assert counts["open"] == 3 and counts["claimed"] == 1 and counts["waiting"] == 4
    assert counts["overdue"] == 2  # distress and angry; "complex" was promised 11:00
    assert counts["by_reason"] == {"private": 1, "emotional": 2, "complex": 1}
    assert counts["by_department"] == {"billing": 2, "technical": 2}


def test_naive_datetimes_are_refused(queue: HandoffQueue, open_ticket: OpenTicket) -> None:
    ticket = open_ticket()
    naive = dt.datetime(2026, 3, 3, 9, 0)
    with pytest.raises(ValueError, match="aware"):
        queue.claim(ticket.id, "ana", now=naive)
    with pytest.raises(ValueError, match="aware"):
        queue.list_tickets(now=naive)
    with pytest.raises(ValueError, match="aware"):
        queue.reply(ticket.id, "ana", "x", naive)
