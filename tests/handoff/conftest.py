"""Fixtures of the handoff tests: a migrated queue on SQLite and on PostgreSQL.

PostgreSQL runs use their own schema (dropped afterwards) so parallel runs never collide. When the
server is unreachable those runs are skipped, unless HANDOFF_REQUIRE_POSTGRES is set (then they
fail). HANDOFF_TEST_POSTGRES_URL overrides the server's URL.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from handoff.queue import HandoffQueue
from handoff.transcript import Entry

POSTGRES_URL = os.environ.get(
    "HANDOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
UTC = dt.timezone.utc
# A Monday night, out of hours.
T0 = dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def _postgres_admin() -> Any:
    engine = create_engine(POSTGRES_URL, future=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure means "no server here"
        engine.dispose()
        if os.environ.get("HANDOFF_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} unreachable: {exc}")
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    admin = _postgres_admin()
    schema = f"handoff_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
