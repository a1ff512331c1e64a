"""Claiming: one agent per case under real concurrency, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from handoff.queue import HandoffQueue, TicketClosed
from tests.desk.conftest import UTC, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

CLAIMERS = 20


def _queues(url: str, count: int) -> list[HandoffQueue]:
    # One engine each, as if every agent's request ran on a different desk server.
    return [HandoffQueue.from_url(url, migrate=False) for _ in range(count)]


def test_many_agents_claiming_one_case_exactly_one_wins(any_db_url: str) -> None:
    main = HandoffQueue.from_url(any_db_url)
    queues = _queues(any_db_url, CLAIMERS)
    try:
        for round_ in range(3):
            ticket = add_ticket(main, customer=f"c{round_}")
            barrier = threading.Barrier(CLAIMERS)

            def claim(
                i: int, ticket_id: int = ticket.id, gate: threading.Barrier = barrier
            ) -> bool:
                gate.wait()
                return queues[i].claim(ticket_id, f"agent{i}")

            with ThreadPoolExecutor(CLAIMERS) as pool:
                results = list(pool.map(claim, range(CLAIMERS)))
            assert results.count(True) == 1, results
            winner = f"agent{results.index(True)}"
            assert main.get(ticket.id).claimed_by == winner
    finally:
        for queue in queues:
            queue.dispose()
        main.dispose()


def test_many_agents_taking_the_next_case_never_share_one(any_db_url: str) -> None:
    main = HandoffQueue.from_url(any_db_url)
    tickets = [add_ticket(main, customer=str(i), need=1 + i % 4).id for i in range(40)]
    queues = _queues(any_db_url, CLAIMERS)
    barrier = threading.Barrier(CLAIMERS)

    def work(i: int) -> list[int]:
        barrier.wait()
        taken = []
        while (ticket_id := queues[i].claim_next(f"agent{i}")) is not None:
            taken.append(ticket_id)
        return taken

    try:
        with ThreadPoolExecutor(CLAIMERS) as pool:
            per_agent = list(pool.map(work, range(CLAIMERS)))
        claimed = Counter(t for taken in per_agent for t in taken)
        assert sorted(claimed) == sorted(tickets)
        assert max(claimed.values()) == 1
        for i, taken in enumerate(per_agent):
            for ticket_id in taken:
                assert main.get(ticket_id).claimed_by == f"agent{i}"
    finally:
        for queue in queues:
            queue.dispose()
        main.dispose()


def test_next_case_follows_the_queue_order_and_filters(any_db_url: str) -> None:
    queue = HandoffQueue.from_url(any_db_url)
    try:
        calm = add_ticket(queue, customer="1", need=4, language="es")
        urgent = add_ticket(queue, customer="2", need=1)
        assert queue.claim_next("ana", language="es") == calm.id
        assert queue.claim_next("ana") == urgent.id
        assert queue.claim_next("ana") is None
        assert queue.claim_next("bruno", reason="emotional") is None
    finally:
        queue.dispose()


def test_an_abandoned_claim_expires(any_db_url: str) -> None:
    queue = HandoffQueue.from_url(any_db_url)
    try:
        ticket = add_ticket(queue)
        now = dt.datetime.now(UTC)
        assert queue.claim(ticket.id, "ana", now=now - dt.timedelta(minutes=31))
        assert not queue.claim(ticket.id, "bruno", now=now - dt.timedelta(minutes=5))
        assert queue.claim_next("bruno", now=now - dt.timedelta(minutes=5)) is None
        assert queue.claim_next("bruno", now=now) == ticket.id
        assert not queue.claim(ticket.id, "ana", now=now)
    finally:
        queue.dispose()


def test_reassign_and_history(any_db_url: str) -> None:
    queue = HandoffQueue.from_url(any_db_url)
    try:
        first = add_ticket(queue, customer="1001", created_at=dt.datetime(2026, 1, 5, tzinfo=UTC))
        queue.resolve(first.id, "ana", "complaint")
        ticket = add_ticket(queue, customer="1001")
        add_ticket(queue, customer="2002")
        queue.claim(ticket.id, "ana")
        assert queue.reassign(ticket.id, "bruno").ticket.claimed_by == "bruno"
        with pytest.raises(TicketClosed):
            queue.reassign(first.id, "bruno")
        history = queue.history(
            ticket.conversation_id, channel="telegram", customer="1001", exclude=ticket.id
        )
        assert [t.id for t in history] == [first.id]
    finally:
        queue.dispose()
