"""afterhours.queue_cli: the queue in the terminal, against a temporary SQLite queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from afterhours.queue_cli import list_tickets, show_ticket
from handoff.queue import HandoffQueue
from handoff.transcript import Entry

REPO = Path(__file__).resolve().parents[1]
IBAN = "PT50 0002 0123 1234 5678 9015 4"

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AFTERHOURS_BRAND", str(REPO / "brand.yml"))
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    return url


@pytest.fixture
def queue(db_url: str) -> Iterator[HandoffQueue]:
    service = HandoffQueue.from_url(db_url)
    try:
        yield service
    finally:
        service.dispose()


def console() -> Console:
    return Console(record=True, width=200, color_system=None)


def open_ticket(queue: HandoffQueue, **values: Any) -> int:
    now = datetime.now(timezone.utc)
    created = values.pop("created_at", now - timedelta(hours=1))
    text = values.pop("text", "hello")
    personal_data = values.pop("personal_data", [])
    defaults: dict[str, Any] = {
        "channel": "telegram",
        "conversation_id": f"telegram:{values.get('customer', '1001')}",
        "customer": "1001",
        "public": False,
        "language": "en",
        "locale": "en_GB",
        "reasons": ["private"],
        "need": 3,
        "department": "billing",
        "reply_eta": now + timedelta(hours=10),
        "created_at": created,
        "transcript": [
            Entry(at=created, author="customer", text=text, personal_data=personal_data),
            Entry(at=created, author="bot", text="A person will answer you tomorrow."),
        ],
    }
    return queue.open_ticket(**{**defaults, **values}).id


@pytest.fixture
def three_tickets(queue: HandoffQueue) -> dict[str, int]:
    """A normal private ticket, an urgent overdue one, and a low in-hours one."""
    now = datetime.now(timezone.utc)
    normal = open_ticket(
        queue,
        customer="1001",
        text=f"my IBAN is {IBAN}, refund please",
        personal_data=[{"kind": "iban", "start": 11, "end": 11 + len(IBAN)}],
    )
    urgent = open_ticket(
        queue,
        customer="@maria",
        channel="x",
        conversation_id="x:@maria",
        public=True,
        reasons=["emotional"],
        need=1,
        department="general",
        language="pt",
        locale="pt_PT",
        created_at=now - timedelta(minutes=30),
        reply_eta=now - timedelta(minutes=5),
        text="não aguento mais, estou desesperada",
    )
    low = open_ticket(
        queue,
        customer="+351912345678",
        channel="sms",
        conversation_id="sms:+351912345678",
        reasons=["in_hours"],
        need=4,
        department="technical",
        created_at=now - timedelta(hours=2),
        reply_eta=now + timedelta(hours=1),
        text="is roaming included?",
    )
    return {"normal": normal, "urgent": urgent, "low": low}


def _row(output: str, needle: str) -> str:
    (line,) = [line for line in output.splitlines() if needle in line]
    return line


def _fact(output: str, label: str) -> str:
    """The value of one line of a ticket's facts ("status   open")."""
    (line,) = [line for line in output.splitlines() if line.startswith(label + "  ")]
    return line[len(label) :].strip()


def test_list_orders_most_urgent_first(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    assert list_tickets(db_url, console=out) == 0
    text = out.export_text()
    assert "3 waiting ticket(s)" in text
    positions = [text.index(customer) for customer in ("@maria", "1001", "sms …678")]
    assert positions == sorted(positions)
    assert "urgent" in _row(text, "@maria")
    assert "normal" in _row(text, "1001 ")
    assert "low" in _row(text, "sms …678")
    assert "x (public)" in _row(text, "@maria")


def test_list_marks_only_overdue_promises(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    list_tickets(db_url, console=out)
    text = out.export_text()
    assert "overdue" in _row(text, "@maria")
    assert "overdue" not in _row(text, "1001 ")
    assert "overdue" not in _row(text, "sms …678")
    assert text.count("overdue") == 1


def test_list_masks_personal_data(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    list_tickets(db_url, console=out)
    text = out.export_text()
    assert IBAN not in text
    assert "my IBAN is [iban], refund please" in text


def test_list_filters(db_url: str, queue: HandoffQueue, three_tickets: dict[str, int]) -> None:
    out = console()
    list_tickets(db_url, department="technical", console=out)
    text = out.export_text()
    assert "1 waiting ticket(s)" in text
    assert "sms …678" in text and "@maria" not in text

    queue.resolve(three_tickets["low"], "ana", "faq/roaming")
    out = console()
    list_tickets(db_url, status="resolved", console=out)
    text = out.export_text()
    assert "1 resolved ticket(s)" in text
    assert "sms …678" in text and "1001" not in text

    out = console()
    list_tickets(db_url, limit=1, console=out)
    assert "1 waiting ticket(s)" in out.export_text()


def test_list_empty(db_url: str) -> None:
    out = console()
    assert list_tickets(db_url, console=out) == 0
    assert out.export_text().strip() == "No waiting tickets."
    out = console()
    assert list_tickets(db_url, status="resolved", console=out) == 0
    assert out.export_text().strip() == "No resolved tickets."


def test_list_uses_the_environment_database(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    assert list_tickets(console=out) == 0
    assert "3 waiting ticket(s)" in out.export_text()


def test_show_masks_personal_data(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    assert show_ticket(three_tickets["normal"], db_url, console=out) == 0
    text = out.export_text()
    assert IBAN not in text
    assert "my IBAN is [iban], refund please" in text
    assert "A person will answer you tomorrow." in text
    assert "transcript (personal data masked)" in text
    for label, value in (
        ("ticket", str(three_tickets["normal"])),
        ("status", "open"),
        ("reasons", "private"),
        ("priority", "normal"),
        ("department", "billing"),
        ("channel", "telegram (private)"),
        ("customer", "1001"),
        ("language", "en (en_GB)"),
        ("suggested answer", "-"),
    ):
        assert _fact(text, label) == value, label
    assert "customer" in _row(text, "my IBAN is")
    assert "bot" in _row(text, "A person will answer")


def test_show_a_claimed_public_ticket(
    db_url: str, queue: HandoffQueue, three_tickets: dict[str, int]
) -> None:
    queue.claim(three_tickets["urgent"], "ana")
    out = console()
    assert show_ticket(three_tickets["urgent"], db_url, console=out) == 0
    text = out.export_text()
    assert "claimed by ana" in text
    assert "x (public)" in text
    assert _fact(text, "priority") == "urgent"
    assert _fact(text, "status") == "claimed by ana"
    assert "não aguento mais, estou desesperada" in text


def test_customer_text_is_not_markup(db_url: str, queue: HandoffQueue) -> None:
    text = "I paid [red]twice[/red] and [/b] [link=https://evil.example]click[/link]"
    ticket = open_ticket(queue, text=text, suggested_answer="[bold]sorry[/]")
    out = console()
    assert list_tickets(db_url, console=out) == 0
    assert "I paid [red]twice[/red] and [/b]" in out.export_text()
    out = console()
    assert show_ticket(ticket, db_url, console=out) == 0
    shown = out.export_text()
    assert text in shown
    assert _fact(shown, "suggested answer") == "[bold]sorry[/]"


def test_show_unknown_ticket(db_url: str, three_tickets: dict[str, int]) -> None:
    out = console()
    assert show_ticket(999, db_url, console=out) == 1
    assert out.export_text().strip() == "No ticket 999."


def test_show_in_an_empty_queue(db_url: str) -> None:
    out = console()
    assert show_ticket(1, db_url, console=out) == 1
    assert "No ticket 1." in out.export_text()


PHONE = "+351912345678"


def test_list_and_show_give_a_phone_number_by_its_end(
    db_url: str, three_tickets: dict[str, int]
) -> None:
    out = console()
    list_tickets(db_url, console=out)
    listed = out.export_text()
    out = console()
    assert show_ticket(three_tickets["low"], db_url, console=out) == 0
    shown = out.export_text()
    for text in (listed, shown):
        assert PHONE not in text and "912345678" not in text
    assert _fact(shown, "customer") == "…678"  # as the desk shows it


def _audit(db_url: str) -> list[Any]:
    from desk.db import migrate as migrate_desk
    from desk.store import DeskStore
    from handoff.db import make_engine

    engine = make_engine(db_url)
    try:
        migrate_desk(engine)
        return DeskStore(engine).audit_log()
    finally:
        engine.dispose()


def test_show_without_reveal_writes_no_audit_entry(
    db_url: str, three_tickets: dict[str, int]
) -> None:
    show_ticket(three_tickets["low"], db_url, console=console())
    assert _audit(db_url) == []


def test_reveal_shows_everything_in_clear_and_is_audited_like_the_desk(
    db_url: str, queue: HandoffQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "ops-sofia")
    ticket = open_ticket(
        queue,
        customer=PHONE,
        channel="sms",
        conversation_id=f"sms:{PHONE}",
        text=f"my IBAN is {IBAN}, refund please",
        personal_data=[{"kind": "iban", "start": 11, "end": 11 + len(IBAN)}],
    )
    out = console()
    assert show_ticket(ticket, db_url, console=out, reveal=True) == 0
    shown = out.export_text()
    assert f"my IBAN is {IBAN}, refund please" in shown
    assert _fact(shown, "customer") == PHONE
    assert "this view was written to the desk's audit log" in shown
    (event,) = _audit(db_url)
    # What the desk's reveal writes (desk/app.py), by the OS user, marked as the terminal.
    assert (event.username, event.action, event.ticket_id) == ("cli:ops-sofia", "reveal", ticket)
    assert event.detail == {"entries_with_personal_data": 1, "via": "cli"}


def test_reveal_of_an_unknown_ticket_audits_nothing(db_url: str) -> None:
    out = console()
    assert show_ticket(404, db_url, console=out, reveal=True) == 1
    assert _audit(db_url) == []


def test_queue_show_reveal_through_the_command_line(
    db_url: str, queue: HandoffQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    from afterhours.cli import main

    ticket = open_ticket(
        queue, customer=PHONE, channel="sms", conversation_id=f"sms:{PHONE}", text="hello"
    )
    assert main(["queue", "show", str(ticket)]) == 0
    assert PHONE not in capsys.readouterr().out
    assert main(["queue", "show", str(ticket), "--reveal"]) == 0
    assert PHONE in capsys.readouterr().out
    (event,) = _audit(db_url)
    assert event.action == "reveal" and event.username.startswith("cli:")
