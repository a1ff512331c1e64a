"""The channels' inbox on SQLite and on the PostgreSQL at 127.0.0.1:5432 (a schema per test)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.channels.inbox import DONE, FAILED, RECEIVED, VERSION_TABLE, Inbox, migrate
from bot.inbound import Inbound
from tests.channels.channels_support import opt_out_row
from tests.postgres import postgres_schema

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    with postgres_schema("channels_test") as url:
        yield url


class Clock:
    """A settable clock for the inbox."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(db_url: str, clock: Clock) -> Iterator[Inbox]:
    opened = Inbox.from_url(db_url)
    opened._clock = clock
    try:
        yield opened
    finally:
        opened.dispose()


def message(sender: str = "5550001", text: str = "how do I use my phone abroad?") -> Inbound:
    return Inbound(
        channel="telegram",
        sender=sender,
        text=text,
        public=False,
        at=T0 - dt.timedelta(seconds=2),
        platform={"update_id": 7, "chat_id": int(sender)},
    )


def test_record_returns_an_id_and_a_repeat_returns_none(inbox: Inbox) -> None:
    first = inbox.record("telegram", "1:7", message(), {"update_id": 7})
    assert isinstance(first, int)
    assert inbox.record("telegram", "1:7", message(), {"update_id": 7}) is None
    # The same platform id on another channel is another message.
    assert isinstance(inbox.record("sms", "1:7", message(), {}), int)
    assert inbox.counts() == {RECEIVED: 2, DONE: 0, FAILED: 0}


def test_an_entry_keeps_the_message_and_the_payload(inbox: Inbox, clock: Clock) -> None:
    original = message(text="Olá, a fatura? 🙂")
    entry_id = inbox.record("telegram", "1:8", original, {"update_id": 8, "nested": {"a": [1]}})
    assert entry_id is not None
    entry = inbox.get(entry_id)
    assert entry is not None
    assert entry.inbound == original
    assert entry.payload == {"update_id": 8, "nested": {"a": [1]}}
    assert entry.conversation_id == "telegram:5550001"
    assert (entry.status, entry.attempts, entry.error, entry.processed_at) == (
        RECEIVED,
        1,
        None,
        None,
    )
    assert entry.received_at == clock.now
    assert inbox.find("telegram", "1:8") == entry
    assert inbox.find("telegram", "nope") is None


def test_done_entries_are_never_pending(inbox: Inbox, clock: Clock) -> None:
    entry_id = inbox.record("telegram", "1", message(), {})
    assert entry_id is not None
    inbox.mark_done(entry_id, note="not delivered: blocked")
    clock.advance(3600)
    assert inbox.pending(dt.timedelta(0)) == []
    entry = inbox.get(entry_id)
    assert entry is not None
    assert (entry.status, entry.error, entry.processed_at) == (
        DONE,
        "not delivered: blocked",
        clock.now - dt.timedelta(seconds=3600),
    )
    # A late failure report does not reopen it.
    inbox.mark_failed(entry_id, "late")
    assert inbox.get(entry_id).status == DONE  # type: ignore[union-attr]


def test_unfinished_entries_are_pending_once_their_attempt_is_old(
    inbox: Inbox, clock: Clock
) -> None:
    received = inbox.record("telegram", "1", message(), {})
    failed = inbox.record("telegram", "2", message(), {})
    other = inbox.record("sms", "3", message(), {})
    assert received and failed and other
    inbox.mark_failed(failed, "RuntimeError: model not loaded")
    lease = dt.timedelta(seconds=120)
    assert inbox.pending(lease) == []  # attempts still running
    clock.advance(121)
    assert [e.id for e in inbox.pending(lease)] == [received, failed, other]
    assert [e.id for e in inbox.pending(lease, channel="telegram")] == [received, failed]
    assert inbox.get(failed).error == "RuntimeError: model not loaded"  # type: ignore[union-attr]


def test_a_claim_is_a_lease_only_one_caller_gets(inbox: Inbox, clock: Clock) -> None:
    entry_id = inbox.record("telegram", "1", message(), {})
    assert entry_id is not None
    lease = dt.timedelta(seconds=60)
    assert not inbox.claim(entry_id, lease)  # the first attempt is still running
    clock.advance(61)
    assert inbox.claim(entry_id, lease)
    assert not inbox.claim(entry_id, lease)  # another server, a moment later
    entry = inbox.get(entry_id)
    assert entry is not None
    assert (entry.attempts, entry.attempted_at, entry.status) == (2, clock.now, RECEIVED)
    inbox.mark_done(entry_id)
    clock.advance(61)
    assert not inbox.claim(entry_id, lease)


def test_entries_that_failed_too_often_wait_for_a_person(inbox: Inbox, clock: Clock) -> None:
    entry_id = inbox.record("telegram", "1", message(), {})
    assert entry_id is not None
    lease = dt.timedelta(seconds=1)
    inbox.mark_failed(entry_id, "boom", retry_in=1)
    for _ in range(3):
        clock.advance(2)
        assert inbox.claim(entry_id, lease)
        inbox.mark_failed(entry_id, "boom", retry_in=1)
    clock.advance(2)
    assert inbox.get(entry_id).errors == 4  # type: ignore[union-attr]
    assert inbox.pending(lease, max_attempts=4) == []  # an explicit cap on attempts holds
    assert len(inbox.pending(lease)) == 1
    assert inbox.claim(entry_id, lease)
    inbox.mark_failed(entry_id, "boom", retry_in=1)
    clock.advance(2)
    assert inbox.pending(lease) == []  # five failures of the bot itself
    assert not inbox.claim(entry_id, lease)


def test_a_server_being_down_never_uses_up_the_attempts(inbox: Inbox, clock: Clock) -> None:
    entry_id = inbox.record("sms", "1", message(), {})
    assert entry_id is not None
    for _ in range(20):
        inbox.mark_failed(entry_id, "action server unreachable", retry_in=1, transient=True)
        assert inbox.pending(dt.timedelta(hours=1)) == []  # not before its retry time
        clock.advance(1)
        assert inbox.claim(entry_id, dt.timedelta(hours=1))
    entry = inbox.get(entry_id)
    assert entry is not None and (entry.errors, entry.attempts) == (0, 21)
    # Given back without running (the connector knew the server was down): not an attempt.
    inbox.mark_failed(entry_id, "paused", retry_in=1, transient=True, ran=False)
    assert inbox.get(entry_id).attempts == 20  # type: ignore[union-attr]


def test_the_attempt_of_a_process_that_stopped_beating_is_free_before_its_lease(
    inbox: Inbox, clock: Clock
) -> None:
    lease = dt.timedelta(seconds=120)
    inbox.workers.beat("elsewhere:1:a")
    mine = inbox.record("sms", "1", message(), {}, owner="elsewhere:1:a")
    assert mine is not None
    clock.advance(5)
    assert inbox.pending(lease) == []  # its process still beats
    assert not inbox.claim(mine, lease, owner="here:2:b")
    clock.advance(11)  # 16 s without a beat
    assert [e.id for e in inbox.pending(lease)] == [mine]
    inbox.workers.beat("here:2:b")
    assert inbox.claim(mine, lease, owner="here:2:b")
    assert not inbox.claim(mine, lease, owner="there:3:c")  # held by a process that beats
    entry = inbox.get(mine)
    assert entry is not None and (entry.attempts, entry.errors) == (2, 1)


def test_a_process_of_this_machine_that_is_gone_is_forgotten_at_once(
    inbox: Inbox, clock: Clock
) -> None:
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}:x"
    inbox.workers.beat(dead)
    inbox.workers.beat("elsewhere:1:a")
    entry_id = inbox.record("sms", "1", message(), {}, owner=dead)
    assert entry_id is not None
    assert inbox.pending(dt.timedelta(seconds=120)) == []
    assert inbox.workers.reap(dt.timedelta(hours=1)) == [dead]
    assert [e.id for e in inbox.pending(dt.timedelta(seconds=120))] == [entry_id]


def test_the_reply_ledger_is_idempotent(inbox: Inbox) -> None:
    assert inbox.replies.sent(7) == set()
    inbox.replies.record(7, 0)
    inbox.replies.record(7, 0)
    inbox.replies.record(7, 2)
    assert inbox.replies.sent(7) == {0, 2}
    assert inbox.replies.sent(8) == set()


def test_cursors(inbox: Inbox, clock: Clock) -> None:
    assert inbox.get_cursor("telegram:1:offset") is None
    inbox.set_cursor("telegram:1:offset", "41")
    inbox.set_cursor("telegram:1:offset", "42")
    inbox.set_cursor("x:mentions", "1790000000000000000")
    assert inbox.get_cursor("telegram:1:offset") == "42"
    assert inbox.get_cursor("x:mentions") == "1790000000000000000"


def test_opt_outs_are_recorded_with_their_time(inbox: Inbox) -> None:
    assert not inbox.opted_out("sms", "+351912345678")
    assert opt_out_row(inbox, "sms", "+351912345678") is None
    at = dt.datetime(2026, 3, 2, 22, 15, tzinfo=UTC)
    inbox.set_opt_out("sms", "+351912345678", True, at, "STOP")
    assert inbox.opted_out("sms", "+351912345678")
    assert not inbox.opted_out("sms", "+351900000000")
    assert not inbox.opted_out("telegram", "+351912345678")
    record = opt_out_row(inbox, "sms", "+351912345678")
    assert record is not None
    assert (record["opted_out"], record["keyword"], record["changed_at"]) == (True, "STOP", at)
    later = at + dt.timedelta(days=1)
    inbox.set_opt_out("sms", "+351912345678", False, later, "START")
    assert not inbox.opted_out("sms", "+351912345678")
    assert (opt_out_row(inbox, "sms", "+351912345678") or {}).get("changed_at") == later


def test_migrating_twice_changes_nothing_and_shares_the_database_with_the_queue(
    db_url: str,
) -> None:
    from handoff.queue import HandoffQueue

    queue = HandoffQueue.from_url(db_url)
    migrate(db_url)
    migrate(db_url)
    inbox = Inbox.from_url(db_url)
    try:
        tables = set(inspect(inbox.engine).get_table_names())
        assert {
            "channel_inbox",
            "channel_cursors",
            "channel_opt_outs",
            "channel_replies",
            "channel_workers",
            "channel_private_links",
            VERSION_TABLE,
        } <= tables
        assert "handoff_tickets" in tables
        with inbox.engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert versions == [("c0005",)]
    finally:
        inbox.dispose()
        queue.dispose()


def test_a_delivery_recorded_by_racing_threads_is_recorded_once(inbox: Inbox) -> None:
    results: list[int | None] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        results.append(inbox.record("telegram", "race", message(), {}))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([r for r in results if r is not None]) == 1
    assert results.count(None) == 5


def test_renewing_a_lease_keeps_an_entry_from_being_redelivered(inbox: Inbox, clock: Clock) -> None:
    kept = inbox.record("telegram", "1", message(), {})
    left = inbox.record("telegram", "2", message(), {})
    done = inbox.record("telegram", "3", message(), {})
    assert kept and left and done
    inbox.mark_done(done)
    lease = dt.timedelta(seconds=60)
    clock.advance(50)
    assert inbox.renew([kept, done]) == 1
    assert inbox.renew([]) == 0
    clock.advance(20)
    assert [e.id for e in inbox.pending(lease)] == [left]
    assert not inbox.claim(kept, lease)


def test_a_sent_reply_is_recorded_once_the_database_is_back(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    real = inbox.replies._insert
    failures = {"left": 2}

    def flaky(entry_id: int, index: int) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        real(entry_id, index)

    monkeypatch.setattr(inbox.replies, "_insert", flaky)
    inbox.replies.record(9, 0)
    assert failures["left"] == 0 and inbox.replies.sent(9) == {0}
    monkeypatch.setattr(inbox.replies, "_insert", lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # anything but the database being down: at once
        inbox.replies.record(9, 1)
