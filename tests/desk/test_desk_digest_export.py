"""The morning digest and reminders (desk + webhook), and export-training's Rasa NLU YAML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from afterhours.scheduler import morning_digest, watch_promises
from desk.app import Desk
from desk.digest import build_digest, post_digest, remind_overdue
from desk.export import export_training, nlu_yaml
from tests.desk.conftest import UTC, FakeRasa, add_ticket, make_desk

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def _night(desk: Desk, now: dt.datetime) -> list[int]:
    return [
        add_ticket(
            desk.queue,
            customer="1",
            reasons=["private"],
            department="billing",
            created_at=now - dt.timedelta(hours=12),
            reply_eta=now - dt.timedelta(minutes=10),
        ).id,
        add_ticket(
            desk.queue,
            customer="2",
            reasons=["emotional"],
            department="general",
            created_at=now - dt.timedelta(hours=3),
            reply_eta=now + dt.timedelta(hours=1),
        ).id,
        add_ticket(
            desk.queue,
            customer="3",
            reasons=["private"],
            department="billing",
            created_at=now - dt.timedelta(hours=2),
            reply_eta=now - dt.timedelta(minutes=1),
        ).id,
    ]


def test_the_digest_summarises_the_queue(desk: Desk) -> None:
    now = dt.datetime.now(UTC)
    first, _, third = _night(desk, now)
    digest = build_digest(desk.queue, now)
    assert digest.text.splitlines() == [
        "Good morning: 3 case(s) waiting (3 open, 0 claimed).",
        "By reason: emotional 1, private 2.",
        "By department: billing 2, general 1.",
        f"Oldest: #{first} (telegram, private), waiting 12 h.",
        f"Past their promised time: 2 (#{first}, #{third}).",
    ]
    assert digest.payload["overdue"] == [first, third]
    assert "IBAN" not in digest.text and "PT50" not in str(digest.payload)


def test_the_digest_goes_to_the_desk_and_the_webhook(
    desk: Desk, fake_rasa: FakeRasa, client
) -> None:
    now = dt.datetime.now(UTC)
    _night(desk, now)
    post_digest(desk.queue, desk.store, now=now, webhook_url=fake_rasa.url + "/hooks/team")
    (hook,) = fake_rasa.requests
    assert hook["path"] == "/hooks/team"
    assert hook["body"]["text"].startswith("Good morning: 3 case(s) waiting")
    assert hook["body"]["afterhours"]["waiting"] == 3
    (notice,) = desk.store.notices(kind="digest")
    assert notice.text == hook["body"]["text"]
    assert "Morning digest" in client("ana").get("/queue").text


def test_a_webhook_that_is_down_does_not_stop_the_digest(desk: Desk) -> None:
    post_digest(desk.queue, desk.store, webhook_url="http://127.0.0.1:9/down")
    assert len(desk.store.notices(kind="digest")) == 1


def test_one_reminder_per_case_past_its_promise(desk: Desk, fake_rasa: FakeRasa) -> None:
    now = dt.datetime.now(UTC)
    first, _, third = _night(desk, now)
    hook = fake_rasa.url + "/hooks/team"
    assert remind_overdue(desk.queue, desk.store, now=now, webhook_url=hook) == [first, third]
    assert remind_overdue(desk.queue, desk.store, now=now, webhook_url=hook) == []
    assert len(fake_rasa.requests) == 2
    assert fake_rasa.requests[0]["body"]["text"].startswith(f"Case #{first} (telegram, private")
    later = now + dt.timedelta(hours=2)  # the second case's promise has passed now
    assert len(remind_overdue(desk.queue, desk.store, now=later, webhook_url=hook)) == 1
    # An answered case is not overdue.
    desk.queue.reply(first, "ana", "On it")
    assert first not in [t.id for t in desk.queue.overdue(now=later)]


def test_the_scheduler_jobs_post_on_the_desk(desk: Desk, monkeypatch) -> None:
    monkeypatch.delenv("AFTERHOURS_DESK_WEBHOOK_URL", raising=False)
    now = dt.datetime.now(UTC)
    _night(desk, now)
    morning_digest(desk.queue)
    watch_promises(desk.queue)
    assert len(desk.store.notices(kind="digest")) == 1
    assert len(desk.store.notices(kind="reminder")) == 2


def test_the_scheduler_jobs_survive_a_database_without_the_desk(tmp_path: Path, caplog) -> None:
    from handoff.queue import HandoffQueue

    queue = HandoffQueue.from_url(f"sqlite:///{tmp_path / 'bare.db'}")
    morning_digest(queue)  # logs, never raises
    watch_promises(queue)
    assert "failed" in caplog.text
    queue.dispose()


# -- export-training ---------------------------------------------------------------------------


def _labelled(desk: Desk) -> None:
    one = add_ticket(desk.queue, customer="1", language="en")
    two = add_ticket(desk.queue, customer="2", language="pt", text="quero o reembolso: já!")
    desk.store.store_labels(
        one.id,
        intent="account_request",
        proposed=False,
        language="en",
        texts=["My IBAN is [iban], charge me back", "still\nwaiting #2"],
        by="ana",
    )
    desk.store.store_labels(
        two.id,
        intent="refund_status",
        proposed=True,
        language="pt",
        texts=["quero o reembolso: já!", "- não: [phone]"],
        by="bruno",
    )


def test_export_writes_rasa_nlu_yaml_per_language(desk: Desk, tmp_path: Path) -> None:
    _labelled(desk)
    written = export_training(desk.store.labels(), tmp_path / "out", include_pending=True)
    assert sorted(written) == ["en", "pt"]
    english = yaml.safe_load(written["en"].read_text(encoding="utf-8"))
    assert english["version"] == "3.1"
    assert english["nlu"] == [
        {
            "intent": "account_request",
            "examples": "- My IBAN is [iban], charge me back\n- still waiting #2\n",
        },
    ]
    portuguese = written["pt"].read_text(encoding="utf-8")
    assert "# proposed new intent; from cases #2" in portuguese
    # Rasa's own reader accepts it (rasa.shared: no TensorFlow).
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().reads(portuguese)
    assert sorted(m.get("text") for m in data.training_examples) == [
        "- não: [phone]",
        "quero o reembolso: já!",
    ]
    assert {m.get("intent") for m in data.training_examples} == {"refund_status"}


def test_export_since(desk: Desk, tmp_path: Path) -> None:
    _labelled(desk)
    future = dt.datetime.now(UTC) + dt.timedelta(days=1)
    assert export_training(desk.store.labels(), tmp_path, since=future, include_pending=True) == {}
    assert nlu_yaml([]).endswith("nlu:\n")


def test_export_training_command(
    tmp_path: Path, fake_rasa: FakeRasa, capsys: pytest.CaptureFixture[str]
) -> None:
    from afterhours.cli import main

    db = f"sqlite:///{tmp_path / 'queue.db'}"
    desk = make_desk(db, fake_rasa.url)
    _labelled(desk)
    desk.queue.dispose()
    assert main(["export-training", str(tmp_path / "review"), "--db", db, "--include-pending"]) == 0
    out = capsys.readouterr().out
    assert "en: " in out and "(2 labelled message(s))" in out
    assert (tmp_path / "review" / "pt" / "desk_labels.yml").is_file()
