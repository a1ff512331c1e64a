"""Privacy: a customer's export from every store, their erasure everywhere, the retention purge.

Each store on SQLite and on PostgreSQL (the tracker store through the product's
LeanSQLTrackerStore, the queue's, desk's and channels' tables through their own code).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from afterhours import cli
from bot.channels.inbox import Inbox
from bot.settings import Retention
from desk.privacy import (
    PRIVACY_KEY_ENV,
    Customer,
    PrivacyError,
    erase,
    export,
    find_conversations,
    summary,
)
from desk.retention import purge
from tests.postgres import postgres_schema
from tests.privacy_support import (
    AGENT_ANSWER,
    CUSTOMERS,
    EMAIL,
    HANDLE,
    NEEDLES,
    NOTE,
    OTHER,
    OTHER_TEXT,
    PHONE,
    TELEGRAM_ID,
    Built,
    build,
    count_rows,
    endpoints_file,
    message_text,
    scan,
    scan_files,
)

UTC = dt.timezone.utc
KEY = "a-long-random-secret-for-the-tests"


@pytest.fixture(autouse=True)
def privacy_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIVACY_KEY_ENV, KEY)


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, now: dt.datetime) -> Iterator[Built]:
    """The customer and a bystander in every store, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        tracker = tmp_path / "trackers.db"
        endpoints = endpoints_file(tmp_path, tracker)
        built = build(
            f"sqlite:///{tmp_path / 'queue.db'}", f"sqlite:///{tracker}", endpoints, now, KEY
        )
        yield built
        built.stores.dispose()
        return
    with postgres_schema("privacy_queue") as queue, postgres_schema("privacy_tracker") as tracker:
        endpoints = endpoints_file(tmp_path, tmp_path / "unused.db")
        built = build(queue, tracker, endpoints, now, KEY)
        yield built
        built.stores.dispose()


def test_a_customer_is_channel_and_sender() -> None:
    assert Customer.parse(" sms:+351912345678 ").conversation_id == "sms:+351912345678"
    assert Customer.parse("x:@Anna").sender == "Anna"
    assert Customer.parse("sms:+351 912-345 678").sender == "+351912345678"
    assert Customer.parse("telegram:-100/42").sender == "-100/42"
    for bad in ("", "sms", ":123", "SMS:1", "sms: "):
        with pytest.raises(PrivacyError, match="CHANNEL:SENDER"):
            Customer.parse(bad)


def test_the_export_holds_every_message_the_customer_sent_across_channels(world: Built) -> None:
    document = json.loads(json.dumps(export(world.stores, CUSTOMERS)))
    assert document["schema"] == "afterhours.privacy-export/1"
    assert sorted(document["conversations"]) == sorted(c.conversation_id for c in CUSTOMERS)
    stores = document["stores"]
    sent = {message_text(c.channel) for c in CUSTOMERS}
    assert {m["text"] for m in stores["tracker_store"]["messages"]} == sent
    assert {m["text"] for m in stores["channels"]["messages"]} == sent
    assert len(stores["tracker_store"]["bot_replies"]) == 6
    assert [d["triage"]["decision"] for d in stores["tracker_store"]["decisions"]] == [
        "handoff"
    ] * 3
    assert len(stores["tracker_store"]["turns"]) == 3
    tickets = stores["queue"]["tickets"]
    assert len(tickets) == 3 and all(t["csat"]["score"] == 4 for t in tickets)
    assert all(t["agent_replies"] == 1 for t in tickets)
    assert {line["text"] for t in tickets for line in t["transcript"]} >= sent | {AGENT_ANSWER}
    assert [n["text"] for n in stores["desk"]["notes"]] == [NOTE] * 3
    assert {e["text"] for e in stores["desk"]["training_examples"]} == sent
    assert {o["channel"]: o["opted_out"] for o in stores["channels"]["opt_outs"]} == {"sms": True}
    assert len(stores["channels"]["deliveries"]) == 3
    assert len(stores["channels"]["replies_sent"]) == 3
    incidents = stores["queue"]["incidents"]
    assert {r["text"] for r in incidents["handoff_incident_reports"]} == sent
    assert len(incidents["handoff_incident_links"]) == 3
    assert len(stores["channels"]["other"]["channel_private_links"]) == 1
    assert OTHER_TEXT not in json.dumps(document)
    readable = summary(document)
    assert "3 messages" in readable and "opted out: yes" in readable and "3 notes" in readable


def test_erasure_leaves_no_trace_and_keeps_the_bystander(world: Built, tmp_path: Path) -> None:
    before = scan(world.stores)
    assert {n for _, n in before} == set(NEEDLES)
    done = erase(world.stores, CUSTOMERS, "sofia", settle=0)
    assert scan(world.stores) == []
    if world.stores.queue.dialect.name == "sqlite":
        assert scan_files([tmp_path / "queue.db", tmp_path / "trackers.db"]) == []
    assert done.conversations == 3 and done.lock == "in_memory"
    assert done.counts["tracker_store.events"] == 18
    assert done.counts["tracker_store.afterhours_turn_log"] == 3
    assert done.counts["queue.handoff_tickets"] == 3
    assert done.counts["queue.handoff_transcript_entries"] == 9
    assert done.counts["channels.channel_inbox"] == 3
    assert done.counts["channels.channel_replies"] == 3
    assert done.counts["channels.channel_deliveries"] == 3
    assert done.counts["channels.channel_opt_outs"] == 1
    assert done.counts["desk.desk_notes"] == 3
    assert done.counts["desk.desk_training_examples"] == 3
    assert done.counts["desk.desk_audit_log"] == 1
    assert done.counts["queue.handoff_incident_reports"] == 3
    assert done.counts["queue.handoff_incident_links"] == 3
    assert done.counts["channels.channel_private_links"] == 1
    # The bystander keeps everything; the erased tickets stay as anonymous husks for the reports.
    assert {n for _, n in scan(world.stores, (OTHER_TEXT, OTHER.sender))} == {
        OTHER_TEXT,
        OTHER.sender,
    }
    assert count_rows(world.stores, "handoff_tickets") == 5  # and the incident's parent case
    assert done.counts["queue.incident_samples"] == 3  # the customer's words on the parent case
    assert count_rows(world.stores, "handoff_csat") == 4
    assert count_rows(world.stores, "events", f"WHERE sender_id = '{OTHER.conversation_id}'") == 6
    assert count_rows(world.stores, "handoff_tickets", "WHERE status = 'resolved'") == 4
    # The erasure is audited without personal data (the scan above covered the audit log).
    with world.stores.queue.connect() as connection:
        detail = connection.execute(
            sa.text("SELECT detail FROM desk_audit_log WHERE action = 'privacy_erase'")
        ).scalar()
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["rows"]["tracker_store.events"] == 18 and len(detail["subjects"]) == 3


def test_erasure_is_idempotent(world: Built) -> None:
    erase(world.stores, CUSTOMERS, "sofia", settle=0)
    again = erase(world.stores, CUSTOMERS, "sofia", settle=0)
    assert again.total == 0
    assert scan(world.stores) == []
    assert count_rows(world.stores, "desk_audit_log", "WHERE action = 'privacy_erase'") == 2
    # Nothing left to export either.
    document = export(world.stores, CUSTOMERS)
    assert document["stores"]["tracker_store"]["messages"] == []
    assert document["stores"]["queue"]["tickets"] == []
    assert document["stores"]["channels"]["opt_outs"] == [
        {"channel": "sms", "opted_out": True, "kept_as": "keyed hash", "changed_at": mock_any()}
    ]


class mock_any:  # noqa: N801 - reads like the value it stands for
    def __eq__(self, other: object) -> bool:
        return True


def test_the_hashed_opt_out_is_still_honoured(world: Built) -> None:
    erase(world.stores, CUSTOMERS, "sofia", settle=0)
    inbox = Inbox(world.stores.channels)
    assert inbox.opted_out("sms", PHONE)
    assert not inbox.opted_out("sms", "+351900000000")
    # START from the same number: its own row decides again, the hash is gone.
    inbox.set_opt_out("sms", PHONE, False, dt.datetime.now(UTC), "START")
    assert not inbox.opted_out("sms", PHONE)
    assert count_rows(world.stores, "channel_opt_out_hashes") == 0


def test_an_opted_out_number_is_not_erased_without_the_key(
    world: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRIVACY_KEY_ENV)
    with pytest.raises(PrivacyError, match=PRIVACY_KEY_ENV):
        erase(world.stores, CUSTOMERS, "sofia", settle=0)
    assert {n for _, n in scan(world.stores)} == set(NEEDLES)  # nothing touched
    # A customer who never opted out needs no key.
    erase(world.stores, [Customer("x", HANDLE)], "sofia", settle=0)
    assert HANDLE not in {n for _, n in scan(world.stores)}


def test_conversations_include_telegram_groups_and_x_handles_in_any_case(world: Built) -> None:
    from bot.inbound import Inbound

    inbox = Inbox(world.stores.channels)
    at = dt.datetime.now(UTC)
    group = Inbound("telegram", f"-100777/{TELEGRAM_ID}", "in the group", False, at)
    inbox.record("telegram", "g-1", group, {})
    inbox.record("x", "x-9", Inbound("x", HANDLE.upper(), "shouting", True, at), {})
    found = find_conversations(
        world.stores, [Customer("telegram", TELEGRAM_ID), Customer("x", HANDLE)]
    )
    assert found == sorted(
        [
            f"telegram:{TELEGRAM_ID}",
            f"telegram:-100777/{TELEGRAM_ID}",
            f"x:{HANDLE}",
            f"x:{HANDLE.upper()}",
        ]
    )


def test_the_purge_removes_exactly_what_is_past_its_time(world: Built, now: dt.datetime) -> None:
    retention = Retention()
    with world.stores.queue.begin() as connection:  # the incident's parent case ends too
        connection.execute(
            sa.text("UPDATE handoff_tickets SET status = 'resolved', resolved_at = :at"),
            {"at": now if connection.dialect.name == "postgresql" else now.replace(tzinfo=None)},
        )
    early = purge(world.stores, retention, now=now + dt.timedelta(days=89))
    assert sum(early.values()) == 0
    later = now + dt.timedelta(days=91)
    dry = purge(world.stores, retention, now=later, dry_run=True)
    assert count_rows(world.stores, "events") == 24  # a dry run removes nothing
    done = purge(world.stores, retention, now=later)
    assert done == dry
    assert done["tracker_store.events"] == 24
    assert done["tracker_store.afterhours_turn_log"] == 4
    assert done["queue.handoff_tickets"] == 5  # with the incident's parent case
    assert done["queue.handoff_transcript_entries"] == 16  # its four samples
    assert done["queue.handoff_csat"] == 4
    assert done["desk.desk_notes"] == 4 and done["desk.desk_training_examples"] == 4
    assert done["channels.channel_inbox"] == 4 and done["channels.channel_replies"] == 4
    assert done["channels.channel_deliveries"] == 3
    assert done["desk.desk_audit_log"] == 0  # kept for two years
    assert done["queue.handoff_incident_reports"] == 4
    assert done["queue.handoff_incident_links"] == 4
    assert done["channels.channel_private_links"] == 1
    remaining = {n for _, n in scan(world.stores)}
    assert remaining == {PHONE, "351912345678", HANDLE}  # the opt-out row and an audit detail
    final = purge(world.stores, retention, now=now + dt.timedelta(days=731))
    assert final["desk.desk_audit_log"] == 5
    assert {n for _, n in scan(world.stores)} == {PHONE, "351912345678"}  # the opt-out stays


def test_an_open_ticket_keeps_its_conversation(world: Built, now: dt.datetime) -> None:
    with world.stores.queue.begin() as connection:
        connection.execute(
            sa.text("UPDATE handoff_tickets SET status = 'open' WHERE conversation_id = :c"),
            {"c": OTHER.conversation_id},
        )
    done = purge(world.stores, Retention(), now=now + dt.timedelta(days=91))
    assert done["tracker_store.events"] == 18 and done["queue.handoff_tickets"] == 3
    assert count_rows(world.stores, "events") == 6


def test_the_commands(tmp_path: Path, now: dt.datetime, capsys: pytest.CaptureFixture[str]) -> None:
    tracker = tmp_path / "trackers.db"
    endpoints = endpoints_file(tmp_path, tracker)
    db = f"sqlite:///{tmp_path / 'queue.db'}"
    built = build(db, f"sqlite:///{tracker}", endpoints, now, KEY)
    built.stores.dispose()
    where = ["--db", db, "--endpoints", str(endpoints)]
    who = [arg for c in CUSTOMERS for arg in ("--customer", c.conversation_id)]
    out = tmp_path / "export.json"
    assert cli.main(["privacy", "export", *who, "--out", str(out), *where]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert len(document["stores"]["tracker_store"]["messages"]) == 3
    assert out.stat().st_mode & 0o077 == 0  # only its owner may read it
    assert "3 messages" in capsys.readouterr().out
    assert cli.main(["privacy", "erase", *who, *where]) == 2  # not a terminal: --yes needed
    assert cli.main(["privacy", "erase", *who, "--yes", "--by", "dpo", *where]) == 0
    assert "tracker_store.events: 18" in capsys.readouterr().out
    assert cli.main(["privacy", "purge", "--dry-run", *where]) == 0
    assert "would remove 0 rows" in capsys.readouterr().out
    assert cli.main(["privacy", "export", "--customer", "nonsense", *where]) == 2
    assert EMAIL not in capsys.readouterr().err


def test_the_daily_job_purges_and_logs_counts_only(
    tmp_path: Path,
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from afterhours.scheduler import purge_retention
    from handoff.queue import HandoffQueue

    tracker = tmp_path / "trackers.db"
    endpoints = endpoints_file(tmp_path, tracker)
    db = f"sqlite:///{tmp_path / 'queue.db'}"
    build(db, f"sqlite:///{tracker}", endpoints, now - dt.timedelta(days=100), KEY).stores.dispose()
    monkeypatch.setenv("AFTERHOURS_ENDPOINTS", str(endpoints))
    queue = HandoffQueue.from_url(db)
    try:
        with caplog.at_level(logging.INFO):
            purge_retention(queue)
    finally:
        queue.dispose()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "desk.retention"]
    assert "queue.handoff_tickets=4" in line and "channels.channel_inbox=4" in line
    assert not [n for n in NEEDLES if n.lower() in caplog.text.lower()]


def test_retention_settings_are_checked_and_named() -> None:
    import yaml

    from bot.settings import ConfigError, parse_brand

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "brand.yml").read_text("utf-8"))
    raw.pop("retention", None)
    assert parse_brand(raw).retention == Retention()  # 90 days; the audit log 730
    raw["retention"] = {"tickets": 30, "audit_log": 3650}
    assert parse_brand(raw).retention == Retention(tickets=30, audit_log=3650)
    for wrong, words in (
        ({"tickets": 0}, "`retention.tickets` must be a number of days, 1 or more, got 0"),
        ({"inbox": "soon"}, "`retention.inbox` is 'soon'"),
        ({"audit_log": True}, "`retention.audit_log` is True"),
        ([90], "`retention` must map conversations, tickets, inbox and audit_log"),
    ):
        raw["retention"] = wrong
        with pytest.raises(ConfigError, match="brand.yml: ") as caught:
            parse_brand(raw)
        assert words in str(caught.value)
