"""LeanSQLTrackerStore writes exactly the rows Rasa's SQLTrackerStore writes, with less work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    create_tracker_store,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from afterhours.runner import runtime_endpoints
from bot.tracker_store import LeanSQLTrackerStore
from tests.postgres import postgres_schema

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = Domain.from_yaml("slots:\n  language:\n    type: text\n    mappings: []\n")


def turn(text: str, intent: str, answer: str) -> list[Event]:
    """One customer message and the bot's answer, as the processor records them."""
    parse = {"intent": {"name": intent, "confidence": 0.9}, "text": text}
    return [
        UserUttered(text, parse["intent"], parse_data=parse),
        SlotSet("language", "en"),
        ActionExecuted(f"utter_{intent}"),
        BotUttered(answer),
        ActionExecuted("action_listen"),
    ]


async def conversation(store: TrackerStore) -> None:
    """Two conversations through the fail-safe wrapper, the way Rasa's processor uses a store:
    load or create, add a turn, save; one of them starts a second session."""
    wrapped = FailSafeTrackerStore(store)
    for sender in ("anna", "bruno"):
        for index in range(3):
            tracker = await wrapped.get_or_create_tracker(sender)
            for event in turn(f"message {index}", "greet", f"answer {index}"):
                tracker.update(event)
            await wrapped.save(tracker)
            await wrapped.save(tracker)  # a second save adds nothing
    tracker = await wrapped.retrieve("anna")
    assert tracker is not None
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    for event in turn("again", "faq", "the answer"):
        tracker.update(event)
    await wrapped.save(tracker)


def rows(engine_url: str) -> list[tuple[Any, ...]]:
    """The events table, without timestamps (the two runs happen at different times)."""
    engine = sa.create_engine(engine_url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.text(
                "SELECT sender_id, type_name, intent_name, action_name, data "
                "FROM events ORDER BY id"
            )
        ).fetchall()
    engine.dispose()
    return [
        (
            sender,
            kind,
            intent,
            action,
            {k: v for k, v in json.loads(data).items() if k != "timestamp"},
        )
        for sender, kind, intent, action, data in found
    ]


def sqlite_store(cls: type[SQLTrackerStore], path: Path) -> tuple[SQLTrackerStore, str]:
    return cls(domain=DOMAIN, dialect="sqlite", db=str(path)), f"sqlite:///{path}"


@pytest.fixture
def postgres_urls() -> Iterator[list[str]]:
    with postgres_schema("tracker_rasa") as rasa_url, postgres_schema("tracker_lean") as lean:
        yield [rasa_url, lean]


def postgres_store(cls: type[SQLTrackerStore], url: str) -> SQLTrackerStore:
    parsed = sa.engine.make_url(url)
    return cls(
        domain=DOMAIN,
        dialect="postgresql",
        host=parsed.host,
        port=parsed.port,
        db=parsed.database,
        username=parsed.username,
        query=dict(parsed.query),
    )


def test_the_same_rows_as_rasas_store_on_sqlite(tmp_path: Path) -> None:
    rasa_store, rasa_url = sqlite_store(SQLTrackerStore, tmp_path / "rasa.db")
    lean_store, lean_url = sqlite_store(LeanSQLTrackerStore, tmp_path / "lean.db")
    asyncio.run(conversation(rasa_store))
    asyncio.run(conversation(lean_store))
    expected = rows(rasa_url)
    assert len(expected) > 30
    assert rows(lean_url) == expected


@pytest.mark.postgres
def test_the_same_rows_as_rasas_store_on_postgresql(postgres_urls: list[str]) -> None:
    rasa_url, lean_url = postgres_urls
    asyncio.run(conversation(postgres_store(SQLTrackerStore, rasa_url)))
    asyncio.run(conversation(postgres_store(LeanSQLTrackerStore, lean_url)))
    assert rows(lean_url) == rows(rasa_url)


def test_known_trackers_skip_the_count_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sqlite_store(LeanSQLTrackerStore, tmp_path / "t.db")
    counted: list[str] = []
    original = SQLTrackerStore._additional_events

    def counting(self: SQLTrackerStore, session: Any, tracker: DialogueStateTracker) -> Any:
        counted.append(tracker.sender_id)
        return original(self, session, tracker)

    monkeypatch.setattr(SQLTrackerStore, "_additional_events", counting)

    async def run() -> DialogueStateTracker:
        new = DialogueStateTracker("carla", DOMAIN.slots)
        new.update(ActionExecuted("action_listen"))
        await store.save(new)  # never loaded: the store asks the table
        assert counted == ["carla"]
        loaded = await store.retrieve("carla")
        assert loaded is not None and store.stored_events(loaded) == 1
        for event in turn("hi", "greet", "hello"):
            loaded.update(event)
        await store.save(loaded)  # loaded: the store knows
        assert counted == ["carla"]
        assert store.stored_events(loaded) == 6
        # A tracker built elsewhere with the same events is not trusted.
        stranger = DialogueStateTracker.from_events("carla", list(loaded.events), DOMAIN.slots)
        assert store.stored_events(stranger) is None
        await store.save(stranger)
        assert counted == ["carla", "carla"]
        return loaded

    loaded = asyncio.run(run())
    assert len(asyncio.run(store.retrieve("carla")).events) == len(loaded.events)  # type: ignore[union-attr]


def test_a_new_conversation_costs_one_lookup_and_one_insert(tmp_path: Path) -> None:
    store, _ = sqlite_store(LeanSQLTrackerStore, tmp_path / "t.db")
    statements: list[str] = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement.split()[0]),
    )
    # Rasa's processor talks to the store through the fail-safe wrapper, which makes the new
    # tracker itself: the store only sees the lookup and the saves.
    wrapped = FailSafeTrackerStore(store)

    async def first_message() -> None:
        tracker = await wrapped.get_or_create_tracker("erin", append_action_listen=False)
        assert statements == ["SELECT"]  # the lookup; the empty tracker's save asks nothing
        for event in turn("hi", "greet", "hello"):
            tracker.update(event)
        await wrapped.save(tracker)
        assert statements == ["SELECT", "INSERT"]
        for event in turn("again", "greet", "hello again"):
            tracker.update(event)
        await wrapped.save(tracker)

    asyncio.run(first_message())
    assert statements == ["SELECT", "INSERT", "INSERT"]
    assert store._absent == set()
    assert len(asyncio.run(store.retrieve("erin")).events) == 10  # type: ignore[union-attr]


def test_only_a_lookup_that_found_nothing_skips_the_count(tmp_path: Path) -> None:
    store, _ = sqlite_store(LeanSQLTrackerStore, tmp_path / "t.db")
    other, _ = sqlite_store(LeanSQLTrackerStore, tmp_path / "t.db")

    async def run() -> None:
        assert await store.retrieve("fay") is None
        assert store._absent == {"fay"}
        assert store._stored_count(DialogueStateTracker("fay", DOMAIN.slots)) == 0
        await FailSafeTrackerStore(other).get_or_create_tracker("fay")  # another server
        assert await store.retrieve("fay") is not None  # found now: forgotten
        assert store._absent == set()
        assert store._stored_count(DialogueStateTracker("fay", DOMAIN.slots)) is None

    asyncio.run(run())


def test_a_forgotten_tracker_is_dropped_from_memory(tmp_path: Path) -> None:
    store, _ = sqlite_store(LeanSQLTrackerStore, tmp_path / "t.db")

    async def run() -> None:
        tracker = DialogueStateTracker("dora", DOMAIN.slots)
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        assert len(store._stored) == 1
        del tracker

    asyncio.run(run())
    assert store._stored == {}


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.scaled.yml"])
def test_both_setups_use_it(endpoints: str) -> None:
    # Rasa falls back to an in-memory store, with only a warning, when a type does not import.
    settings = yaml.safe_load((ROOT / endpoints).read_text(encoding="utf-8"))
    assert settings["tracker_store"]["type"] == "bot.tracker_store.LeanSQLTrackerStore"


def test_rasa_builds_it_from_the_endpoints(tmp_path: Path) -> None:
    scratch = runtime_endpoints(5055, ROOT / "endpoints.yml", tmp_path, tmp_path / "t.db")
    store = create_tracker_store(read_endpoint_config(str(scratch), "tracker_store"), DOMAIN)
    assert isinstance(store, LeanSQLTrackerStore)
    assert store.engine.url.database == str(tmp_path / "t.db")


ACTIONS_DOMAIN = Domain.from_yaml(
    "slots:\n  language:\n    type: text\n    mappings: []\n"
    "actions:\n  - action_handoff\n  - utter_greet\n"
)


def handoff_turn(message_id: str, *, lost: bool) -> list[Event]:
    """A message whose custom action either returned its events or lost them."""
    parse = {"intent": {"name": "complaint", "confidence": 0.9}, "text": "help"}
    events: list[Event] = [
        UserUttered("help", parse["intent"], parse_data=parse, message_id=message_id),
        ActionExecuted("action_handoff"),
    ]
    if not lost:
        events += [BotUttered("a person will answer"), SlotSet("language", "en")]
    return events + [ActionExecuted("action_listen")]


def test_a_turn_whose_action_lost_its_events_is_reported_and_not_stored(tmp_path: Path) -> None:
    from bot import turns

    store, url = sqlite_store(LeanSQLTrackerStore, tmp_path / "lost.db")
    store.domain = ACTIONS_DOMAIN

    async def handle(message_id: str, *, lost: bool) -> turns.Turn:
        wrapped = FailSafeTrackerStore(store)
        with turns.watching(message_id) as turn:
            tracker = await wrapped.get_or_create_tracker("sms:+351910000000")
            for event in handoff_turn(message_id, lost=lost):
                tracker.update(event)
            await wrapped.save(tracker)
        return turn

    failed = asyncio.run(handle("sms-1", lost=True))
    assert failed.lost == ["action_handoff"] and not failed.committed
    assert failed.problem == "action server failed: action_handoff lost its events"
    # Only the new conversation's first action_listen: nothing of the turn, so the retry
    # starts from the same tracker.
    assert [row[1] for row in rows(url)] == ["action"]
    again = asyncio.run(handle("sms-1", lost=False))
    assert again.committed and again.lost == [] and again.problem is None
    assert [row[1] for row in rows(url)] == ["action", "user", "action", "bot", "slot", "action"]


def test_a_turn_the_database_refused_is_reported(tmp_path: Path) -> None:
    from bot import turns

    store, _url = sqlite_store(LeanSQLTrackerStore, tmp_path / "refused.db")
    store.domain = ACTIONS_DOMAIN

    async def handle() -> turns.Turn:
        wrapped = FailSafeTrackerStore(store)
        with turns.watching("sms-2") as turn:
            tracker = await wrapped.get_or_create_tracker("sms:+351910000001")
            for event in handoff_turn("sms-2", lost=False):
                tracker.update(event)
            store.engine.dispose()
            store.engine.url = sa.engine.make_url("sqlite:////nonexistent/dir/x.db")
            store.sessionmaker.configure(bind=sa.create_engine("sqlite:////nonexistent/x.db"))
            await wrapped.save(tracker)  # Rasa's wrapper swallows the error
        return turn

    refused = asyncio.run(handle())
    assert refused.reported and not refused.committed
    assert refused.problem == "the tracker store did not store the turn"


def test_a_watched_turn_stops_when_the_store_cannot_be_read(tmp_path: Path) -> None:
    """Rasa's wrapper would go on with an empty tracker; a watched turn stops instead."""
    from bot import turns

    store, _url = sqlite_store(LeanSQLTrackerStore, tmp_path / "down.db")
    store.domain = ACTIONS_DOMAIN
    store.sessionmaker.configure(bind=sa.create_engine("sqlite:////nonexistent/dir/x.db"))
    wrapped = FailSafeTrackerStore(store)

    async def watched() -> None:
        with turns.watching("sms-3"):
            await wrapped.get_or_create_tracker("sms:+351910000002")

    with pytest.raises(turns.StoreUnavailable):
        asyncio.run(watched())
    # Unwatched (the HTTP API, the REST channel): Rasa's own behaviour, an empty tracker.
    tracker = asyncio.run(wrapped.get_or_create_tracker("sms:+351910000002"))
    assert tracker is not None
