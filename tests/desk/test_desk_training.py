"""Trainers review labels before export, and see what the bot got wrong (desk/routes/training)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from desk.app import Desk
from desk.export import export_training
from handoff.transcript import Entry
from tests.desk.conftest import Client, FakeRasa, add_ticket, make_desk

UTC = dt.timezone.utc
IBAN = "PT50000201231234567890154"


def _labelled(desk: Desk) -> tuple[int, list[int]]:
    """A resolved case whose three customer messages were labelled account_request."""
    ticket = add_ticket(desk.queue, customer="1")
    desk.queue.resolve(ticket.id, "ana", "account_request")
    desk.store.store_labels(
        ticket.id,
        intent="account_request",
        proposed=False,
        language="en",
        texts=["My IBAN is [iban], charge me back", "is roaming on abroad", "lol ok"],
        by="ana",
    )
    return ticket.id, [e.id for e in desk.store.labels(ticket_id=ticket.id)]


def test_review_page_lists_masked_labels(client: Callable[..., Client], desk: Desk) -> None:
    ticket = add_ticket(desk.queue)  # the customer's message carries an IBAN
    # What resolving the case on its page stores: the customer's messages, masked.
    resolved = desk.queue.resolve(ticket.id, "ana", "account_request")
    desk.store.store_labels(
        ticket.id,
        intent="account_request",
        proposed=False,
        language="en",
        texts=[e.masked_text for e in resolved.transcript if e.author == "customer"],
        by="ana",
    )
    page = client("tiago").get("/training")
    assert page.status_code == 200
    assert "My IBAN is [iban], charge me back" in page.text
    assert IBAN not in page.text
    assert "pending (1)" in page.text
    assert 'href="/training"' in page.text  # the nav link
    assert client("sofia").get("/training").status_code == 200


def test_accept_edit_exclude_are_audited(client: Callable[..., Client], desk: Desk) -> None:
    ticket_id, (one, two, three) = _labelled(desk)
    tiago = client("tiago")
    assert tiago.post(f"/training/{one}/accept").url.endswith("/training?state=pending&msg=saved")
    edited = tiago.post(f"/training/{two}/intent", {"intent": "faq/roaming", "state": "all"})
    assert edited.status_code == 200 and edited.url.endswith("state=all&msg=saved")
    tiago.post(f"/training/{three}/exclude", {"state": "pending", "ticket": str(ticket_id)})
    by_id = {e.id: e for e in desk.store.labels()}
    assert (by_id[one].review, by_id[one].reviewed_intent, by_id[one].reviewed_by) == (
        "accepted",
        None,
        "tiago",
    )
    assert (by_id[two].review, by_id[two].reviewed_intent) == ("accepted", "faq/roaming")
    assert by_id[two].intent == "account_request"  # the agent's label is kept
    assert by_id[three].review == "excluded"
    events = {e.action: e for e in desk.store.audit_log() if e.action.startswith("training_")}
    assert set(events) == {"training_accept", "training_edit", "training_exclude"}
    assert all(e.username == "tiago" and e.ticket_id == ticket_id for e in events.values())
    assert events["training_edit"].detail == {
        "example": two,
        "review": "accepted",
        "intent": "faq/roaming",
        "from": "account_request",
    }
    assert events["training_exclude"].detail["example"] == three
    # The supervisor sees them in the audit log; the list filters by state.
    assert "training_edit" in client("sofia").get("/audit").text
    one_case = tiago.get(f"/training?state=all&ticket={ticket_id}").text
    assert f'href="/training?state=excluded&amp;ticket={ticket_id}"' in one_case
    excluded = tiago.get("/training?state=excluded").text
    assert "lol ok" in excluded and "is roaming on abroad" not in excluded


def test_agents_may_not_review(client: Callable[..., Client], desk: Desk) -> None:
    _, (one, _two, _three) = _labelled(desk)
    ana = client("ana")
    assert ana.get("/training").status_code == 403
    assert ana.get("/training/misses").status_code == 403
    assert ana.post(f"/training/{one}/accept").status_code == 403
    assert ana.post(f"/training/{one}/intent", {"intent": "faq/roaming"}).status_code == 403
    assert ana.post(f"/training/{one}/exclude").status_code == 403
    assert {e.review for e in desk.store.labels()} == {"pending"}
    assert not [e for e in desk.store.audit_log() if e.action.startswith("training_")]
    anonymous = client(None)
    assert "/login" in anonymous.get("/training").url
    assert anonymous.post(f"/training/{one}/accept").status_code == 401
    # A trainer's form without the CSRF token is refused too.
    assert client("tiago").post(f"/training/{one}/accept", csrf="nope").status_code == 403


def test_bad_review_input_is_a_4xx(client: Callable[..., Client], desk: Desk) -> None:
    _, (one, _two, _three) = _labelled(desk)
    tiago = client("tiago")
    assert tiago.post(f"/training/{one}/intent", {"intent": "made_up"}).status_code == 400
    assert tiago.post(f"/training/{one}/intent", {"intent": ""}).status_code == 400
    assert tiago.post("/training/999999/accept").status_code == 404
    assert tiago.post("/training/99999999999/accept").status_code == 404
    assert tiago.get("/training?state=bogus&ticket=abc").status_code == 200
    assert tiago.post("/training/label", {"ticket": "x", "intent": "greet"}).status_code == 400
    assert {e.review for e in desk.store.labels()} == {"pending"}


def test_export_takes_accepted_with_edited_intents(
    client: Callable[..., Client], desk: Desk, tmp_path: Path
) -> None:
    _, (one, two, three) = _labelled(desk)
    tiago = client("tiago")
    tiago.post(f"/training/{two}/intent", {"intent": "faq/roaming"})
    tiago.post(f"/training/{three}/exclude")
    accepted = export_training(desk.store.labels(), tmp_path / "accepted")
    nlu = yaml.safe_load(accepted["en"].read_text(encoding="utf-8"))["nlu"]
    assert nlu == [{"intent": "faq/roaming", "examples": "- is roaming on abroad\n"}]
    both = export_training(desk.store.labels(), tmp_path / "both", include_pending=True)
    nlu = yaml.safe_load(both["en"].read_text(encoding="utf-8"))["nlu"]
    assert {n["intent"]: n["examples"] for n in nlu} == {
        "account_request": "- My IBAN is [iban], charge me back\n",
        "faq/roaming": "- is roaming on abroad\n",
    }
    assert "lol ok" not in both["en"].read_text(encoding="utf-8")  # excluded: never
    tiago.post(f"/training/{one}/exclude")
    tiago.post(f"/training/{two}/exclude")
    assert export_training(desk.store.labels(), tmp_path / "none", include_pending=True) == {}


def test_export_command_flag(
    tmp_path: Path, fake_rasa: FakeRasa, capsys: pytest.CaptureFixture[str]
) -> None:
    from afterhours.cli import main

    db = f"sqlite:///{tmp_path / 'queue.db'}"
    desk = make_desk(db, fake_rasa.url)
    _, (one, _two, three) = _labelled(desk)
    desk.store.review_label(one, "accepted", by="tiago", intent="faq/roaming")
    desk.store.review_label(three, "excluded", by="tiago")
    desk.queue.dispose()
    assert main(["export-training", str(tmp_path / "a"), "--db", db]) == 0
    assert "(1 labelled message(s))" in capsys.readouterr().out
    text = (tmp_path / "a" / "en" / "desk_labels.yml").read_text(encoding="utf-8")
    assert "- intent: faq/roaming" in text and "account_request" not in text
    assert main(["export-training", str(tmp_path / "b"), "--db", db, "--include-pending"]) == 0
    assert "(2 labelled message(s))" in capsys.readouterr().out
    empty = tmp_path / "empty.db"
    assert main(["export-training", str(tmp_path / "c"), "--db", f"sqlite:///{empty}"]) == 0
    assert "--include-pending" in capsys.readouterr().err


def _misses_queue(desk: Desk) -> dict[str, int]:
    """One case of each kind the bot got wrong, and one it got right (handed off as private)."""
    now = dt.datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    q = desk.queue
    faq = add_ticket(q, customer="11", text="can I use my phone in Spain", reasons=["complex"])
    q.resolve(faq.id, "ana", "faq/roaming")
    desk.store.store_labels(
        faq.id,
        intent="faq/roaming",
        proposed=False,
        language="en",
        texts=["can I use my phone in Spain"],
        by="ana",
    )
    unsure = add_ticket(
        q,
        customer="12",
        reasons=["private"],
        transcript=[
            Entry(
                at=now,
                author="customer",
                text="the thing with the box blinks",
                personal_data=[],
                metadata={"intent_confidence": 0.21},
            ),
            Entry(at=now, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    answer = "Roaming is on in the EU at no extra cost."
    repeated = add_ticket(
        q,
        customer="13",
        reasons=["private"],
        topic=None,
        suggested_answer=None,
        transcript=[
            Entry(at=now, author="customer", text="how do I turn on roaming abroad"),
            Entry(at=now, author="bot", text=answer),
            Entry(at=now, author="customer", text="how do I turn roaming on when abroad?"),
            Entry(at=now, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    fine = add_ticket(q, customer="14")
    return {"faq": faq.id, "unsure": unsure.id, "repeated": repeated.id, "fine": fine.id}


def test_misses_lists_each_kind(client: Callable[..., Client], desk: Desk) -> None:
    ids = _misses_queue(desk)
    page = client("sofia").get("/training/misses")
    assert page.status_code == 200
    rows = page.text
    assert f'class="miss-faq" data-ticket="{ids["faq"]}"' in rows
    assert "labelled faq/roaming" in rows
    # The faq case was also handed off as "complex": the bot was not sure of it either.
    assert f'class="miss-unsure" data-ticket="{ids["faq"]}"' in rows
    assert f'class="miss-unsure" data-ticket="{ids["unsure"]}"' in rows
    assert "confidence 0.21" in rows and "the thing with the box blinks" in rows
    assert f'class="miss-repeated" data-ticket="{ids["repeated"]}"' in rows
    assert "asked the same again" in rows
    assert f'data-ticket="{ids["fine"]}"' not in rows
    assert IBAN not in rows
    # Each row links to its case and offers a label.
    assert f'href="/cases/{ids["repeated"]}"' in rows
    assert f'href="/training?state=all&amp;ticket={ids["faq"]}">label</a>' in rows


def test_misses_repeated_by_topic_and_not_helpful(
    client: Callable[..., Client], desk: Desk
) -> None:
    now = dt.datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    answer = "You can pay by card, transfer or direct debit."
    by_topic = add_ticket(
        desk.queue,
        customer="21",
        reasons=["private"],
        topic="faq/payment_methods",
        suggested_answer=answer,
        transcript=[
            Entry(at=now, author="customer", text="how can I pay"),
            Entry(at=now, author="bot", text=answer),
            Entry(at=now, author="customer", text="and with mbway?"),
            Entry(at=now, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    unhelpful = add_ticket(
        desk.queue,
        customer="22",
        reasons=["private"],
        transcript=[
            Entry(at=now, author="customer", text="wifi password"),
            Entry(at=now, author="bot", text="It is on the router's label."),
            Entry(at=now, author="customer", text="useless", metadata={"intent": "not_helpful"}),
            Entry(at=now, author="bot", text="A colleague answers tomorrow."),
        ],
    )
    rows = client("sofia").get("/training/misses").text
    assert f'class="miss-repeated" data-ticket="{by_topic.id}"' in rows
    assert "asked again about faq/payment_methods" in rows
    assert f'class="miss-repeated" data-ticket="{unhelpful.id}"' in rows
    assert "did not help" in rows


def test_trainer_sees_resolved_misses_and_labels_one(
    client: Callable[..., Client], desk: Desk
) -> None:
    ids = _misses_queue(desk)
    now = dt.datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    unlabelled = add_ticket(
        desk.queue,
        customer="31",
        reasons=["complex"],
        text=f"roaming please, IBAN {IBAN}",
        personal_data=[{"kind": "iban", "start": 21, "end": 46}],
        created_at=now,
    )
    desk.queue.resolve(unlabelled.id, "ana", None)
    tiago = client("tiago")
    rows = tiago.get("/training/misses").text
    assert f'data-ticket="{ids["unsure"]}"' not in rows  # still open: not a trainer's case
    assert f'class="miss-unsure" data-ticket="{unlabelled.id}"' in rows
    assert "not sure (confidence not stored)" in rows
    assert IBAN not in rows and "roaming please, IBAN [iban]" in rows
    assert tiago.post(
        "/training/label", {"ticket": str(ids["unsure"]), "intent": "greet"}
    ).status_code in (403, 404)
    done = tiago.post("/training/label", {"ticket": str(unlabelled.id), "intent": "faq/roaming"})
    assert done.status_code == 200 and f"ticket={unlabelled.id}" in done.url
    (example,) = desk.store.labels(ticket_id=unlabelled.id)
    assert (example.intent, example.review, example.text) == (
        "faq/roaming",
        "accepted",
        "roaming please, IBAN [iban]",
    )
    (event,) = desk.store.audit_log(action="training_label")
    assert event.username == "tiago" and event.detail == {"intent": "faq/roaming", "examples": 1}
    # Labelled now: it counts as a known FAQ the bot handed off.
    assert f'class="miss-faq" data-ticket="{unlabelled.id}"' in tiago.get("/training/misses").text


def test_labels_from_before_the_review_columns_start_pending(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from desk.db import MIGRATIONS_DIR, migrate
    from handoff.db import _alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate(engine)
        with engine.begin() as connection:
            command.downgrade(_alembic_config(connection, MIGRATIONS_DIR), "desk0002")
            connection.execute(
                text(
                    "INSERT INTO desk_training_examples (ticket_id, intent, proposed, language, "
                    "text, labelled_by, labelled_at) VALUES (1, 'greet', 0, 'en', 'hi there', "
                    "'ana', '2026-03-02 21:00:00')"
                )
            )
        migrate(engine)
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT review, reviewed_intent FROM desk_training_examples")
            ).one()
        assert tuple(row) == ("pending", None)
    finally:
        engine.dispose()
