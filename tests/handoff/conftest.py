"""Fixtures of the handoff tests: a migrated queue on SQLite and on PostgreSQL.

PostgreSQL runs use their own schema (dropped afterwards) so parallel runs never collide. When the
server is unreachable those runs are skipped, unless HANDOFF_REQUIRE_POSTGRES is set (then they
fail). HANDOFF_TEST_POSTGRES_URL overrides the server's URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff.queue import HandoffQueue
from handoff.transcript import Entry
from tests.postgres import postgres_schema

UTC = dt.timezone.utc
# A Monday night, out of hours.
T0 = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    with postgres_schema("handoff_test") as url:
        yield url


@pytest.fixture
def queue(db_url: str) -> Iterator[HandoffQueue]:
    """A migrated queue on each database."""
    handoff_queue = HandoffQueue.from_url(db_url)
    try:
        yield handoff_queue
    finally:
        handoff_queue.dispose()


@pytest.fixture
def open_ticket(queue: HandoffQueue) -> Callable[..., Any]:
    """Open a ticket with sensible defaults; keyword arguments override them."""

    def _open(**overrides: Any) -> Any:
        created = overrides.get("created_at", T0)
        values: dict[str, Any] = {
            "channel": "telegram",
            "conversation_id": "telegram:1001",
            "customer": "1001",
            "public": False,
            "language": "pt",
            "locale": "pt_PT",
            "reasons": ["private"],
            "need": 3,
            "department": "billing",
            "topic": "account_request",
            "suggested_answer": "Vamos verificar a sua fatura.",
            "reply_eta": dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
            "created_at": created,
            "transcript": [
                Entry(at=created - dt.timedelta(minutes=1), author="customer", text="Olá"),
                Entry(at=created, author="bot", text="Um colega responde amanhã."),
            ],
        }
        values.update(overrides)
        return queue.open_ticket(**values)

    return _open
