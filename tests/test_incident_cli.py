"""`afterhours incident ...`: declare, list, show, update, resolve (in process, on SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from afterhours.cli import main
from desk.incident_cli import parse_ref
from handoff.incidents import IncidentStore, Report, Rules

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    return url


def test_parse_ref() -> None:
    assert parse_ref("INC-7") == 7 and parse_ref("inc-12") == 12 and parse_ref("3") == 3
    with pytest.raises(ValueError, match="INC-7"):
        parse_ref("seven")


def test_open_update_resolve(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = tmp_path / "msg.yml"
    message.write_text("en: Crews on site.\npt: Equipas no local.\n", encoding="utf-8")
    assert (
        main(["incident", "open", "--kind", "internet", "--area", "Almada", "--by", "sofia"]) == 0
    )
    assert "opened INC-1: internet in Almada" in capsys.readouterr().out
    store = IncidentStore.from_url(db)
    try:
        for n in range(3):
            store.note_report(
                Report(
                    conversation_id=f"sms:+35191000000{n}",
                    customer=f"+35191000000{n}",
                    kind="outage",
                    area=None,
                    channel="sms",
                    public=False,
                    language="en",
                    text="no internet",
                    at=T0 + timedelta(minutes=n),
                ),
                Rules(),
            )
        assert main(["incident", "update", "INC-1", "--message-file", str(message)]) == 0
        assert "{'pending': 3}" in capsys.readouterr().out
        assert main(["incident", "list"]) == 0
        listed = capsys.readouterr().out
        assert "INC-1\topen\tinternet\tAlmada" in listed and "3 customers" in listed
        assert main(["incident", "show", "1"]) == 0
        shown = capsys.readouterr().out
        assert "customers 3" in shown and "…000" in shown and "+351910000000" not in shown
        assert main(["incident", "resolve", "INC-1"]) == 0
        assert store.notice_counts(1) == {"pending": 6}
        assert main(["incident", "resolve", "INC-1"]) == 1
        assert "already resolved" in capsys.readouterr().err
        assert main(["incident", "update", "INC-9", "--message-file", str(message)]) == 1
        assert main(["incident", "show", "INC-9"]) == 1
    finally:
        store.dispose()


def test_update_needs_a_message_file(db: str) -> None:
    with pytest.raises(SystemExit):
        main(["incident", "update", "INC-1"])
    with pytest.raises(SystemExit):
        main(["incident", "open", "--kind", "weather"])
