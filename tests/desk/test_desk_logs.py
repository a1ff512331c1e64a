"""No personal data in the desk's log lines at INFO and above.

A customer's SMS case carries a phone number, an IBAN, an email and a name; an agent reveals it,
answers with the same data (delivered, then with Rasa failing), writes a note, resolves it (the
release and the satisfaction question failing), and a supervisor looks the customer up, exports
and erases them. Every record captured at INFO and above is searched for the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from desk.app import Desk
from desk.privacy import PRIVACY_KEY_ENV
from tests.channels.test_channels_logs import leaks
from tests.desk.conftest import Client, FakeRasa, add_ticket
from tests.privacy_support import endpoints_file

NUMBER = "+351912345678"
IBAN = "PT50000201231234567890154"
EMAIL = "maria.sousa@example.pt"
NAME = "Maria Sousa"
TEXT = f"I am {NAME}, IBAN {IBAN}, mail {EMAIL}, call {NUMBER} (zebra walrus)"
NEEDLES = (NUMBER, NUMBER.lstrip("+"), "912345678", IBAN, EMAIL, NAME, "zebra walrus")


def test_the_desk_logs_no_personal_data(
    desk: Desk,
    fake_rasa: FakeRasa,
    client: Callable[[str | None], Client],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(PRIVACY_KEY_ENV, "a-long-random-secret-for-the-tests")
    monkeypatch.setenv("AFTERHOURS_ENDPOINTS", str(endpoints_file(tmp_path, tmp_path / "t.db")))
    monkeypatch.setattr("tests.channels.test_channels_logs.NEEDLES", NEEDLES)
    ticket = add_ticket(desk.queue, channel="sms", customer=NUMBER, text=TEXT, personal_data=[])
    ana, sofia = client("ana"), client("sofia")
    who = f"sms:{NUMBER}"
    with caplog.at_level(logging.DEBUG):
        ana.post(f"/cases/{ticket.id}/claim")
        assert ana.post(f"/cases/{ticket.id}/reveal").status_code == 200
        assert ana.post(f"/cases/{ticket.id}/reply", {"text": TEXT}).status_code == 200
        fake_rasa.status = 500  # Rasa fails: the answer, the release, the question
        ana.post(f"/cases/{ticket.id}/reply", {"text": TEXT})
        ana.post(f"/cases/{ticket.id}/notes", {"note": TEXT})
        ana.post(
            f"/cases/{ticket.id}/resolve", {"intent": "account_request", "confirm_unanswered": "1"}
        )
        fake_rasa.status = 200
        assert sofia.post("/privacy", {"customers": who}).status_code == 200
        assert sofia.post("/privacy/export", {"customers": who}).status_code == 200
        assert sofia.post("/privacy/erase", {"customers": who, "confirm": who}).status_code == 200
    assert leaks(caplog.records) == []
    assert any(r.levelno >= logging.WARNING for r in caplog.records)  # the failures were logged
    assert desk.queue.get(ticket.id).customer.startswith("erased:")
