"""The turn log is written by LeanSQLTrackerStore with the turn's events, and only with them."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered

from bot import turn_log, turns
from bot.tracker_store import LeanSQLTrackerStore

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = Domain.from_yaml(
    "slots:\n  language:\n    type: text\n    mappings: []\n"
    "  triage:\n    type: any\n    mappings: []\n"
    "actions:\n  - action_handoff\n  - utter_greet\n"
)
AT = "2026-03-02T21:05:00+00:00"


def answered(text: str, at: str = AT, channel: str = "telegram") -> list[Event]:
    """A message the bot answered, with the channel's metadata (no ticket)."""
    parse = {"intent": {"name": "faq", "confidence": 0.9}, "text": text}
    triage = {
        "decision": "answer",
        "reasons": [],
        "topic": "faq/roaming",
        "language": "pt",
        "at": at,
    }
    return [
        UserUttered(
            text,
            parse["intent"],
            parse_data=parse,
            metadata={"channel": channel, "public": False, "at": at},
        ),
        SlotSet("language", "pt"),
        SlotSet("triage", triage),
        ActionExecuted("utter_faq"),
        BotUttered("roaming is free in the EU"),
        ActionExecuted("action_listen"),
    ]


def handed_off(lost: bool = False) -> list[Event]:
    """A complaint handed off; the action adds the ticket to the triage, or lost its events."""
    parse = {"intent": {"name": "complaint", "confidence": 0.9}, "text": "my bill is wrong"}
    triage = {
        "decision": "handoff",
        "reasons": ["emotional", "private"],
        "suggested_topic": None,
        "about": "faq/bill_due_date",
        "language": "en",
        "at": "2026-03-02T22:00:00+00:00",
    }
    events: list[Event] = [
        UserUttered(
            "my bill is wrong", parse["intent"], parse_data=parse, metadata={"public": True}
        ),
        SlotSet("triage", triage),
        ActionExecuted("action_handoff"),
    ]
    if not lost:
        events += [
            BotUttered("a person answers at 09:00"),
            SlotSet("triage", {**triage, "ticket": 7}),
        ]
    return events + [ActionExecuted("action_listen")]


def logged(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = [
            dict(row._mapping)
            for row in connection.execute(sa.select(turn_log.TURN_LOG).order_by("id"))
        ]
    engine.dispose()
    return found


def events_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    return int(count)


def store_at(path: Path) -> tuple[LeanSQLTrackerStore, str]:
    return LeanSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(path)), f"sqlite:///{path}"


def test_a_row_per_decided_message_in_the_events_transaction(tmp_path: Path) -> None:
    store, url = store_at(tmp_path / "t.db")
    statements: list[str] = []

    async def run() -> None:
        wrapped = FailSafeTrackerStore(store)
        tracker = await wrapped.get_or_create_tracker("telegram:1001")
        sa.event.listen(
            store.engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_: statements.append(statement.split()[0]),
        )
        for event in answered("roaming?") + answered("and in Brazil?", "2026-03-02T21:10:00Z"):
            tracker.update(event)
        await wrapped.save(tracker)
        for event in handed_off():
            tracker.update(event)
        await wrapped.save(tracker)

    asyncio.run(run())
    # One insert of events and one of the turn log per save, nothing else.
    assert statements == ["INSERT", "INSERT", "INSERT", "INSERT"]
    rows = logged(url)
    assert [(r["decision"], r["reason"], r["topic"], r["ticket_id"]) for r in rows] == [
        ("answer", None, "faq/roaming", None),
        ("answer", None, "faq/roaming", None),
        ("handoff", "emotional", "faq/bill_due_date", 7),
    ]
    first, second, third = rows
    assert (first["channel"], first["language"], first["public"]) == ("telegram", "pt", False)
    assert first["message_at"] == dt.datetime(2026, 3, 2, 21, 5, tzinfo=dt.timezone.utc)
    assert second["message_at"] == dt.datetime(2026, 3, 2, 21, 10, tzinfo=dt.timezone.utc)
    # The department comes from brand.yml's departments (the bill belongs to billing).
    assert (third["department"], third["public"], third["followup"]) == ("billing", True, False)
    assert third["channel"] == "rest"  # neither metadata nor the event named one
    assert all(first["stored_at"] >= r["message_at"] for r in rows)
    assert not any("text" in column for column in rows[0])  # no message text, ever


def test_no_row_for_a_turn_that_is_not_stored(tmp_path: Path) -> None:
    store, url = store_at(tmp_path / "lost.db")
    store.domain = DOMAIN

    async def handle(lost: bool) -> turns.Turn:
        with turns.watching("m-1") as turn:
            tracker = await FailSafeTrackerStore(store).get_or_create_tracker("sms:+3519")
            for event in handed_off(lost=lost):
                tracker.update(event)
            await FailSafeTrackerStore(store).save(tracker)
        return turn

    assert asyncio.run(handle(lost=True)).lost == ["action_handoff"]
    assert logged(url) == []  # the action lost its events: neither events nor a row
    assert asyncio.run(handle(lost=False)).committed
    assert [r["ticket_id"] for r in logged(url)] == [7]


def test_no_row_when_the_database_refuses_the_events(tmp_path: Path) -> None:
    store, url = store_at(tmp_path / "refused.db")

    async def run() -> None:
        tracker = await FailSafeTrackerStore(store).get_or_create_tracker("x:1")
        for event in answered("roaming?"):
            tracker.update(event)
        # The events' insert fails (a constraint of the database): the turn log goes with it.
        with store.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON events "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        await FailSafeTrackerStore(store).save(tracker)  # Rasa's wrapper swallows the error

    asyncio.run(run())
    assert logged(url) == []


def test_messages_without_a_decision_get_no_row() -> None:
    message = UserUttered("hi", {"name": "greet", "confidence": 1.0}, timestamp=1_772_485_200)
    stored = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    assert turn_log.rows_for("c", [message, ActionExecuted("utter_greet")], stored) == []
    followup = {"decision": "handoff", "followup": True, "language": "en", "ticket": 3}
    (row,) = turn_log.rows_for("c", [message, SlotSet("triage", followup)], stored)
    assert (row["followup"], row["department"], row["ticket_id"]) == (True, None, 3)
    # No time in the triage or the metadata: when Rasa received the message.
    assert row["message_at"] == dt.datetime(2026, 3, 2, 21, 0, tzinfo=dt.timezone.utc)
    score = {"decision": "csat", "language": "en"}
    (row,) = turn_log.rows_for("c", [message, SlotSet("triage", score)], stored)
    assert (row["decision"], row["reason"], row["department"]) == ("csat", None, None)


def test_the_tracker_store_url_is_built_like_rasas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = turn_log.tracker_store_url(ROOT / "endpoints.yml")
    assert str(url) == "sqlite:///var/trackers.db"
    monkeypatch.setenv("AFTERHOURS_PG_HOST", "db.internal")
    monkeypatch.setenv("AFTERHOURS_PG_PORT", "6543")
    monkeypatch.setenv("AFTERHOURS_PG_DB", "rasa")
    monkeypatch.setenv("AFTERHOURS_PG_USER", "rasa")
    monkeypatch.setenv("AFTERHOURS_PG_PASSWORD", "s3cret")
    scaled = sa.engine.make_url(turn_log.tracker_store_url(ROOT / "deploy/endpoints.scaled.yml"))
    assert (scaled.drivername, scaled.host, scaled.port, scaled.database) == (
        "postgresql",
        "db.internal",
        6543,
        "rasa",
    )
    assert (scaled.username, scaled.password) == ("rasa", "s3cret")
    other = tmp_path / "endpoints.yml"
    other.write_text("tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: h:5433\n  db: d\n")
    parsed = sa.engine.make_url(turn_log.tracker_store_url(other))
    assert (parsed.host, parsed.port) == ("h", 5433)
    other.write_text("tracker_store:\n  type: redis\n")
    with pytest.raises(ValueError, match="not an SQL tracker store"):
        turn_log.tracker_store_url(other)


def test_a_bad_triage_value_costs_its_row_not_the_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = store_at(tmp_path / "bad.db")

    def broken(*_args: Any, **_kwargs: Any) -> list[dict[str, Any]]:
        raise KeyError("unexpected")

    monkeypatch.setattr(turn_log, "rows_for", broken)

    async def run() -> None:
        tracker = await FailSafeTrackerStore(store).get_or_create_tracker("x:2")
        for event in answered("roaming?"):
            tracker.update(event)
        with turns.watching("m-2") as turn:
            await FailSafeTrackerStore(store).save(tracker)
        assert turn.committed

    asyncio.run(run())
    assert events_count(url) > 1 and logged(url) == []


def test_two_servers_creating_the_table_at_once_both_start(monkeypatch: Any) -> None:
    """PostgreSQL refuses the second CREATE TABLE with a unique violation: not a crash."""
    from bot import turn_log

    engine = sa.create_engine("sqlite://")
    turn_log.create_table(engine)  # the first server

    def racing(*_args: Any, **_kwargs: Any) -> None:
        raise sa.exc.IntegrityError("CREATE TABLE afterhours_turn_log", {}, Exception("dup"))

    monkeypatch.setattr(turn_log._METADATA, "create_all", racing)
    turn_log.create_table(engine)  # the second: logged nothing, raised nothing
    assert turn_log.has_table(engine)
