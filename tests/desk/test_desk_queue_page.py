"""The queue's fast page and summary give exactly what list_tickets and counts give."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from handoff.queue import HandoffQueue
from tests.desk.conftest import UTC, add_ticket

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

REASONS = ["private", "emotional", "complex", "human_requested", "in_hours"]


def test_list_page_and_summary_match_the_slow_path(any_db_url: str) -> None:
    rng = random.Random(3)
    now = dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    queue = HandoffQueue.from_url(any_db_url)
    try:
        for i in range(60):
            # Ages straddle the 12 h aging steps; equal promises force the tie-breaks.
            created = now - dt.timedelta(hours=rng.choice([1, 11.99, 12, 12.01, 24, 36, 50]))
            ticket = add_ticket(
                queue,
                customer=str(i),
                channel=rng.choice(["x", "telegram", "sms"]),
                language=rng.choice(["en", "pt"]),
                department=rng.choice(["billing", "general"]),
                reasons=rng.sample(REASONS, rng.randint(1, 2)),
                need=rng.randint(1, 4),
                created_at=created,
                reply_eta=now + dt.timedelta(hours=rng.choice([-2, 0, 3])),
            )
            if i % 7 == 0:
                queue.claim(ticket.id, "ana", now=now)
            if i % 11 == 0:
                queue.reply(ticket.id, "ana", "hi", at=now)
            if i % 13 == 0:
                queue.resolve(ticket.id, "ana", "complaint", at=now)
        for filters in (
            {},
            {"reason": "private"},
            {"reason": "in_hours", "language": "pt"},
            {"channel": "sms", "department": "billing"},
        ):
            slow = [t.id for t in queue.list_tickets(now=now, **filters)]
            page, total = queue.list_page(now=now, limit=10, **filters)
            assert [t.id for t in page] == slow[:10], filters
            assert total == len(slow)
            assert all(t.transcript for t in page)
        resolved = [t.id for t in queue.list_tickets(status="resolved", now=now)]
        assert [t.id for t in queue.list_page(status="resolved", now=now)[0]] == resolved
        assert queue.summary(now) == queue.counts(now)
        assert queue.summary(now + dt.timedelta(days=3)) == queue.counts(now + dt.timedelta(days=3))
    finally:
        queue.dispose()
