"""Incident notices through Rasa: once each, opt-outs respected, resumed after a crash."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bot.channels import deliveries
from bot.channels.inbox import Inbox
from desk.incident_notices import IncidentTexts, NoticeSender, TokenBucket, read_message_file
from desk.services import Desk
from handoff.incidents import IncidentStore, Report, Rules
from tests.desk.conftest import FakeRasa

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
EVERY = dt.timedelta(hours=1)
CUSTOMERS = [
    ("sms", "+351910000001", False),
    ("sms", "+351910000002", False),
    ("x", "ana_lx", True),
    ("x", "rui_dm", False),
    ("telegram", "4242", False),
    ("rest", "web-1", False),
]


def linked_incident(store: IncidentStore) -> int:
    """An incident with the six customers above linked."""
    incident = store.declare("internet", "Almada", "sofia", T0, EVERY)
    for n, (channel, sender, public) in enumerate(CUSTOMERS):
        report = Report(
            conversation_id=f"{channel}:{sender}",
            customer=sender,
            kind="internet",
            area=None,
            channel=channel,
            public=public,
            language=["en", "pt", "es", "it"][n % 4],
            text="no internet",
            at=T0 + dt.timedelta(minutes=n),
        )
        store.note_report(report, Rules())
    return incident.id


def bot_messages(fake: FakeRasa) -> Counter[str]:
    """How many bot messages Rasa was asked to send, per conversation."""
    return Counter(r["path"].split("/")[2] for r in fake.events("bot"))


@pytest.fixture
def store(desk: Desk) -> IncidentStore:
    """The incidents on the desk's database."""
    return IncidentStore(desk.queue.engine)


def test_every_linked_customer_once_on_their_channel(
    desk: Desk, fake_rasa: FakeRasa, store: IncidentStore
) -> None:
    number = linked_incident(store)
    store.post(number, "resolved", {"en": "Fibre repaired."}, "sofia", T0, EVERY)
    NoticeSender(store, desk.rasa, desk.brand).drain(timeout=10)
    assert bot_messages(fake_rasa) == {
        "sms:+351910000001": 1,
        "sms:+351910000002": 1,
        "x:ana_lx": 1,
        "x:rui_dm": 1,
        "telegram:4242": 1,
    }
    assert store.notice_counts(number) == {"sent": 5, "skipped": 1}  # REST: nobody to write to
    english = next(r for r in fake_rasa.events("bot") if "sms:+351910000001" in r["path"])
    assert english["body"]["text"] == (
        "Good news: the service outage is fixed. Fibre repaired. Still not working? "
        "Restart your router or reply here. Thanks for your patience."
    )
    # The public X customer gets the brand's words only, on the channel they wrote from.
    public = next(r for r in fake_rasa.events("bot") if "x:ana_lx" in r["path"])
    assert "ana_lx" not in public["body"]["text"]
    assert public["body"]["metadata"]["source"] == "incident"
    # A second sender, or the same again, sends nothing more.
    NoticeSender(store, desk.rasa, desk.brand).drain(timeout=5)
    assert sum(bot_messages(fake_rasa).values()) == 5


def test_sms_opt_out_is_respected(desk: Desk, fake_rasa: FakeRasa, store: IncidentStore) -> None:
    number = linked_incident(store)
    Inbox(desk.queue.engine).set_opt_out("sms", "+351910000002", True, T0)
    store.post(number, "update", {"*": "Crews on site."}, "sofia", T0, EVERY)
    NoticeSender(store, desk.rasa, desk.brand).drain(timeout=10)
    assert "sms:+351910000002" not in bot_messages(fake_rasa)
    skipped = [n for n in store.notices(number) if n.state == "skipped"]
    assert sorted(n.reason or "" for n in skipped) == ["opted_out", "rest_channel"]


def test_a_crash_between_claim_and_send_loses_and_repeats_nothing(
    desk: Desk, fake_rasa: FakeRasa, store: IncidentStore
) -> None:
    number = linked_incident(store)
    store.post(number, "resolved", {}, "sofia", T0, EVERY)
    # A sender claimed both SMS notices, sent the first (its connector recorded it), and died
    # before sending the second or marking either.
    long_ago = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    first, second = store.claim_notices("sms", 2, ["before-crash-1", "before-crash-2"], long_ago)
    deliveries.record(desk.queue.engine, "before-crash-1", "sms", deliveries.DELIVERED, None)
    NoticeSender(store, desk.rasa, desk.brand).drain(timeout=10)
    sent = bot_messages(fake_rasa)
    assert first.conversation_id not in sent  # delivered before the crash: not again
    assert sent[second.conversation_id] == 1  # never left: sent once now
    assert store.notice_counts(number) == {"sent": 5, "skipped": 1}


def test_channel_not_running_waits(desk: Desk, fake_rasa: FakeRasa, store: IncidentStore) -> None:
    number = linked_incident(store)
    store.post(number, "resolved", {}, "sofia", T0, EVERY)
    sender = NoticeSender(store, desk.rasa, desk.brand, live=lambda: {"telegram"})
    sender.run_once()
    assert set(bot_messages(fake_rasa)) == {"telegram:4242"}
    assert store.notice_counts(number)["pending"] == 4  # SMS and X wait for their channel


def test_rate_limited_per_channel() -> None:
    now = [0.0]
    bucket = TokenBucket(60, clock=lambda: now[0])  # one a second, bursts of 6
    assert bucket.take(100) == 6
    assert bucket.take(100) == 0
    now[0] = 2.5
    assert bucket.take(100) == 2


def test_message_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "m.txt"
    plain.write_text("Fixed: a cut cable.\n", encoding="utf-8")
    assert read_message_file(plain) == {"*": "Fixed: a cut cable."}
    per_language = tmp_path / "m.yml"
    per_language.write_text("en: Fixed.\npt: Resolvido.\n", encoding="utf-8")
    assert read_message_file(per_language) == {"en": "Fixed.", "pt": "Resolvido."}
    (tmp_path / "empty.txt").write_text(" ", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        read_message_file(tmp_path / "empty.txt")
    texts = IncidentTexts()
    assert texts.text("utter_incident_resolved", "pt", message="").startswith("Boas notícias")


def test_the_scheduler_job_sends_them(
    desk: Desk, fake_rasa: FakeRasa, store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from afterhours import scheduler

    monkeypatch.setenv("AFTERHOURS_RASA_URL", fake_rasa.url)
    monkeypatch.setattr(scheduler, "_senders", {})
    number = linked_incident(store)
    store.post(number, "resolved", {}, "sofia", T0, EVERY)
    scheduler.incident_notices(desk.queue)
    assert sum(bot_messages(fake_rasa).values()) == 5
