"""README "Scaling out" on the real PostgreSQL and Redis: two Rasa workers, one conversation.

`deploy/endpoints.scaled.yml` as it ships (trackers in PostgreSQL, Redis lock store, every value
from the environment), `SANIC_WORKERS=2`, and the queue in the same database. A customer's messages
arriving together may land on both workers; the lock store must still handle them one at a time,
so the tracker holds each message once, each followed by the bot's turn. (With Rasa's own `redis`
lock store this failed: two workers took the same ticket and messages vanished from the tracker.)
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.redis import require_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Routine questions, each answered by the bot whatever order they arrive in.
TEXTS = [
    "hi",
    "what time do you open tomorrow?",
    "how can i pay my bill",
    "when is the bill due",
    "where can i download my bills",
]
AT = "2026-03-10T23:30:00+00:00"  # a Tuesday night: the bot answers


async def send_together(url: str, sender: str, texts: list[str]) -> list[Any]:
    import aiohttp

    async def send(session: aiohttp.ClientSession, text: str) -> Any:
        body = {
            "sender": sender,
            "message": text,
            "metadata": {"channel": "telegram", "public": False, "sender": sender, "at": AT},
        }
        async with session.post(f"{url}/webhooks/rest/webhook", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        return await asyncio.gather(*(send(session, text) for text in texts))


def tracker_events(url: str, sender: str) -> list[dict[str, Any]]:
    from bot.servers import rasa_api_url

    tracker_url = rasa_api_url(url, f"/conversations/{sender}/tracker")
    with urllib.request.urlopen(tracker_url) as response:  # noqa: S310
        return list(json.load(response)["events"])


def test_two_workers_share_one_conversation_through_postgres_and_redis(
    trained_model: Path, postgres_url: str
) -> None:
    require_redis()
    from sqlalchemy import create_engine, text

    from afterhours.bench.serve import scratch_postgres_database, started_server

    sender = "telegram:scaled-test"
    with (
        scratch_postgres_database() as database_url,
        started_server(str(trained_model), database_url, workers=2) as (url, _),
    ):
        replies = asyncio.run(send_together(url, sender, TEXTS))
        unanswered = [t for t, r in zip(TEXTS, replies, strict=True) if not r]
        assert not unanswered, unanswered  # every message was answered
        events = tracker_events(url, sender)
        engine = create_engine(database_url, future=True)
        try:
            with engine.connect() as connection:
                stored = connection.execute(
                    text("SELECT count(*) FROM events WHERE sender_id = :sender"),
                    {"sender": sender},
                ).scalar_one()
        finally:
            engine.dispose()

    users = [e["text"] for e in events if e["event"] == "user"]
    assert sorted(users) == sorted(TEXTS)  # each message once, none lost to a race
    # One turn at a time: after every user message the bot acts, then listens, before the next.
    kinds = [
        e["event"] if e["event"] != "action" else e["name"]
        for e in events
        if e["event"] in ("user", "action")
    ]
    turns = " ".join(kinds).split("user")[1:]
    assert len(turns) == len(TEXTS)
    assert all(turn.strip().endswith("action_listen") for turn in turns), kinds
    assert stored == len(events)  # the tracker lives in PostgreSQL, not in a worker
