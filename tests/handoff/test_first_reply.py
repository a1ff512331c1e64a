"""The ticket's first agent reply kept by the database (migration 0004), and the reports on it.

``first_reply_at`` / ``first_replier`` must always say what the transcript says: the reports'
first-response times and promises kept are computed from them.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
from collections.abc import Callable
from typing import Any

from alembic import command
from sqlalchemy import delete, func, select, update

from handoff.db import MIGRATIONS_DIR, _alembic_config, make_engine, migrate
from handoff.models import Ticket, TranscriptEntry
from handoff.queue import HandoffQueue
from handoff.reports import ticket_report

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
M = dt.timedelta(minutes=1)


def first_reply(queue: HandoffQueue, ticket_id: int) -> tuple[Any, Any]:
    with queue.engine.connect() as connection:
        row = connection.execute(
            select(Ticket.first_reply_at, Ticket.first_replier).where(Ticket.id == ticket_id)
        ).one()
    return row[0], row[1]


def agent_line(ticket_id: int, position: int, at: dt.datetime, agent: str | None) -> dict:
    return {
        "ticket_id": ticket_id,
        "position": position,
        "at": at,
        "author": "agent",
        "text": "hello",
        "personal_data": [],
        "metadata": {"agent": agent} if agent else {},
    }


def test_every_write_of_an_agent_line_keeps_the_first_reply(
    queue: HandoffQueue, open_ticket: Callable[..., Any]
) -> None:
    ticket = open_ticket()
    assert first_reply(queue, ticket.id) == (None, None)
    queue.reply(ticket.id, "ana", "first", at=T0 + 120 * M)
    assert first_reply(queue, ticket.id) == (T0 + 120 * M, "ana")
    queue.reply(ticket.id, "ana", "second", at=T0 + 180 * M)
    assert first_reply(queue, ticket.id) == (T0 + 120 * M, "ana")
    # A line written later but dated earlier (a bulk import) becomes the first reply.
    with queue.engine.begin() as connection:
        connection.execute(
            TranscriptEntry.__table__.insert(), [agent_line(ticket.id, 10, T0 + 60 * M, "carla")]
        )
    assert first_reply(queue, ticket.id) == (T0 + 60 * M, "carla")
    with queue.engine.begin() as connection:
        connection.execute(delete(TranscriptEntry).where(TranscriptEntry.position == 10))
    assert first_reply(queue, ticket.id) == (T0 + 120 * M, "ana")
    with queue.engine.begin() as connection:
        connection.execute(
            update(TranscriptEntry)
            .where(TranscriptEntry.author == "agent", TranscriptEntry.at == T0 + 120 * M)
            .values(meta={"agent": "dora"})
        )
    assert first_reply(queue, ticket.id) == (T0 + 120 * M, "dora")
    with queue.engine.begin() as connection:
        connection.execute(delete(TranscriptEntry).where(TranscriptEntry.author == "agent"))
    assert first_reply(queue, ticket.id) == (None, None)


def test_the_migration_back_fills_the_first_reply(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection, MIGRATIONS_DIR), "0003")
        tickets = [
            {
                "id": number,
                "channel": "telegram",
                "conversation_id": f"telegram:{number}",
                "customer": str(number),
                "public": False,
                "language": "en",
                "locale": "en_GB",
                "reasons": ["private"],
                "need": 3,
                "department": "billing",
                "status": "open",
                "created_at": T0,
                "updated_at": T0,
                "reply_eta": T0 + 600 * M,
                "last_customer_message_at": T0,
            }
            for number in (1, 2, 3)
        ]
        lines = [
            agent_line(1, 0, T0 + 90 * M, "bruno"),  # written first, answered later
            agent_line(1, 1, T0 + 30 * M, "ana"),
            agent_line(3, 0, T0 + 45 * M, None),  # an agent line naming nobody
        ]
        with engine.begin() as connection:
            connection.execute(Ticket.__table__.insert(), tickets)
            connection.execute(TranscriptEntry.__table__.insert(), lines)
        migrate(engine)
        with engine.connect() as connection:
            found = connection.execute(
                select(Ticket.id, Ticket.first_reply_at, Ticket.first_replier).order_by(Ticket.id)
            ).all()
        assert [tuple(row) for row in found] == [
            (1, T0 + 30 * M, "ana"),
            (2, None, None),
            (3, T0 + 45 * M, None),
        ]
        # The triggers are in place after the back-fill.
        with engine.begin() as connection:
            connection.execute(
                TranscriptEntry.__table__.insert(), [agent_line(2, 0, T0 + 5 * M, "carla")]
            )
            assert (
                connection.execute(select(Ticket.first_replier).where(Ticket.id == 2)).scalar_one()
                == "carla"
            )
        # Down and up again: the transcripts stay (no copy of the tickets' table, no cascade).
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection, MIGRATIONS_DIR), "0003")
        migrate(engine)
        with engine.connect() as connection:
            assert (
                connection.execute(select(func.count()).select_from(TranscriptEntry)).scalar_one()
                == len(lines) + 1
            )
            assert (
                connection.execute(select(Ticket.first_replier).where(Ticket.id == 1)).scalar_one()
                == "ana"
            )
    finally:
        engine.dispose()


def _median_and_p90(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(len(ordered) * 9 / 10) - 1]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def test_first_response_and_promises_match_the_transcripts(
    queue: HandoffQueue, open_ticket: Callable[..., Any]
) -> None:
    """Many tickets, replies by several agents in any order: the report against a recount."""
    rng = random.Random(5)
    now = T0 + 20 * 60 * M
    seconds: dict[str, list[float]] = {}
    kept = broken = pending = 0
    for number in range(41):
        created = T0 + rng.randint(0, 600) * M
        eta = created if number % 7 == 0 else created + rng.randint(30, 1500) * M
        ticket = open_ticket(
            conversation_id=f"telegram:{number}", created_at=created, reply_eta=eta
        )
        replies = sorted(
            (created + rng.randint(1, 900) * M, rng.choice(["ana", "bruno", "carla"]))
            for _ in range(rng.choice([0, 0, 1, 2, 3]))
        )
        for when, agent in reversed(replies) if number % 2 else replies:
            # Later replies first on odd tickets: the first reply is the earliest, not the first
            # written (a negative ttl: any other agent's claim has lapsed).
            queue.reply(ticket.id, agent, "hi", at=when, ttl=-dt.timedelta(days=1))
        promised = eta > created
        if replies:
            first, agent = replies[0]
            seconds.setdefault(agent, []).append((first - created).total_seconds())
            kept += promised and first <= eta
            broken += promised and first > eta
        else:
            broken += promised and eta < now
            pending += promised and eta >= now
    report = ticket_report(queue.engine, T0, T0 + 24 * 60 * M, now)
    everyone = [s for values in seconds.values() for s in values]
    median, p90 = _median_and_p90(everyone)
    assert report["first_response"] == {
        "answered": len(everyone),
        "median_minutes": _minutes(median),
        "p90_minutes": _minutes(p90),
    }
    assert report["promises"] == {
        "kept": kept,
        "broken": broken,
        "pending": pending,
        "share_kept": round(kept / (kept + broken), 3),
    }
    for entry in report["agents"]:
        mine = seconds.get(entry["agent"], [])
        agent_median, agent_p90 = _median_and_p90(mine)
        assert (entry["first_replies"], entry["median_minutes"], entry["p90_minutes"]) == (
            len(mine),
            _minutes(agent_median),
            _minutes(agent_p90),
        )
    assert sorted(e["agent"] for e in report["agents"] if e["first_replies"]) == sorted(seconds)
