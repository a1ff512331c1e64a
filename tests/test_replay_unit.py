"""afterhours.replay's pure parts: input checks, model lookup, output lines, the turn's triage."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from afterhours.models import NoModelError, newest_model
from afterhours.replay import ReplayInputError, ReplayResult, parse_line, triage_of_turn

REPO = Path(__file__).resolve().parents[1]

GOOD: dict[str, Any] = {
    "id": "n1",
    "channel": "telegram",
    "public": False,
    "sender": "1001",
    "text": "My internet is down",
    "at": "2026-11-27T23:00:00+00:00",
}

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


def line(**changes: Any) -> str:
    """A valid input line with some fields changed (a value of `...` removes the field)."""
    record = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return json.dumps(record, ensure_ascii=False)


# -- parse_line --------------------------------------------------------------------------------


def test_parse_line_good() -> None:
    inbound = parse_line(line(extra="ignored", platform={"id": 3}))
    assert inbound.channel == "telegram"
    assert inbound.sender == "1001"
    assert inbound.text == "My internet is down"
    assert inbound.public is False
    assert inbound.at == datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    assert inbound.conversation_id == "telegram:1001"


def test_parse_line_accepts_z_and_other_offsets() -> None:
    assert parse_line(line(at="2026-11-27T23:00:00Z")).at == datetime(
        2026, 11, 27, 23, 0, tzinfo=timezone.utc
    )
    at = parse_line(line(at="2026-07-01T23:30:00+01:00")).at
    assert at.utcoffset() == timedelta(hours=1)
    assert at == datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)


def test_parse_line_strips_the_sender_and_keeps_the_text() -> None:
    raw = line(channel="x", public=True, sender=" @maria ", text=" @AuroraCare hi\x00 ")
    inbound = parse_line(raw)
    assert inbound.sender == "@maria"
    assert inbound.text == " @AuroraCare hi\x00 "  # cleaned later, the raw text is kept
    assert inbound.conversation_id == "x:@maria"


@pytest.mark.parametrize("channel", ["x", "telegram", "sms", "rest"])
def test_parse_line_channels(channel: str) -> None:
    assert parse_line(line(channel=channel)).channel == channel


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json at all", "not JSON"),
        ('{"id": "n1", ', "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"a string"', "JSON object"),
        ("42", "JSON object"),
        ("null", "JSON object"),
    ],
)
def test_parse_line_refuses_what_is_not_an_object(raw: str, message: str) -> None:
    with pytest.raises(ReplayInputError, match=message):
        parse_line(raw)


@pytest.mark.parametrize("field", ["id", "channel", "public", "sender", "text", "at"])
def test_parse_line_names_a_missing_field(field: str) -> None:
    with pytest.raises(ReplayInputError) as caught:
        parse_line(line(**{field: ...}))
    assert str(caught.value) == f"missing field `{field}`"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 1),
        ("id", None),
        ("channel", ["x"]),
        ("public", "true"),
        ("public", 1),
        ("public", None),
        ("sender", 1001),
        ("text", None),
        ("text", ["hi"]),
        ("at", 1795820400),
    ],
)
def test_parse_line_names_a_field_of_the_wrong_type(field: str, value: Any) -> None:
    with pytest.raises(ReplayInputError) as caught:
        parse_line(line(**{field: value}))
    assert f"field `{field}` must be a" in str(caught.value)


@pytest.mark.parametrize("channel", ["whatsapp", "X", "", "email"])
def test_parse_line_refuses_an_unknown_channel(channel: str) -> None:
    with pytest.raises(ReplayInputError, match="field `channel` must be one of x, telegram"):
        parse_line(line(channel=channel))


@pytest.mark.parametrize("sender", ["", "   ", "\t"])
def test_parse_line_refuses_an_empty_sender(sender: str) -> None:
    with pytest.raises(ReplayInputError, match="field `sender` is empty"):
        parse_line(line(sender=sender))


@pytest.mark.parametrize("at", ["2026-11-27T23:00:00", "2026-11-27 23:00", "2026-11-27"])
def test_parse_line_needs_an_offset(at: str) -> None:
    with pytest.raises(ReplayInputError, match="field `at` needs a UTC offset"):
        parse_line(line(at=at))


@pytest.mark.parametrize("at", ["yesterday", "", "27/11/2026 23:00", "2026-13-01T00:00:00+00:00"])
def test_parse_line_needs_iso_8601(at: str) -> None:
    with pytest.raises(ReplayInputError, match="field `at` is not ISO 8601"):
        parse_line(line(at=at))


def test_an_empty_text_is_a_valid_message() -> None:
    assert parse_line(line(text="")).text == ""


# -- newest_model (afterhours.models) ---------------------------------------------------------


def test_no_model_directory(tmp_path: Path) -> None:
    with pytest.raises(NoModelError, match="afterhours train"):
        newest_model(tmp_path / "models")


def test_no_model_in_the_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "model.zip").write_text("not a model either")
    with pytest.raises(NoModelError) as caught:
        newest_model(tmp_path)
    assert "afterhours train" in str(caught.value)
    assert str(tmp_path.resolve()) in str(caught.value)


def test_no_model_defaults_to_models_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoModelError, match="afterhours train"):
        newest_model()


def test_the_newest_model_is_chosen(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("b-old.tar.gz", "a-new.tar.gz", "c-middle.tar.gz")]
    for age, path in zip((300, 10, 100), paths, strict=True):
        path.write_bytes(b"")
        stamp = 1_700_000_000 - age
        os.utime(path, (stamp, stamp))
    assert newest_model(tmp_path) == tmp_path / "a-new.tar.gz"


# -- ReplayResult.as_json ----------------------------------------------------------------------


def test_result_without_error_has_no_error_key() -> None:
    result = ReplayResult(
        id="n1",
        decision="handoff",
        reason="private",
        language="pt",
        replies=[{"public": False, "text": "Olá"}],
        ticket=3,
        reply_eta="2026-11-28T10:00:00+00:00",
    )
    assert result.as_json() == {
        "id": "n1",
        "decision": "handoff",
        "topic": None,
        "reason": "private",
        "language": "pt",
        "replies": [{"public": False, "text": "Olá"}],
        "ticket": 3,
        "reply_eta": "2026-11-28T10:00:00+00:00",
        "incident": None,
    }


def test_result_with_error() -> None:
    value = ReplayResult(id="line-4", error="line 4: missing field `at`").as_json()
    assert value == {
        "id": "line-4",
        "decision": None,
        "topic": None,
        "reason": None,
        "language": None,
        "replies": [],
        "ticket": None,
        "reply_eta": None,
        "incident": None,
        "error": "line 4: missing field `at`",
    }
    assert json.loads(json.dumps(value)) == value


def test_result_keys_follow_the_contract() -> None:
    keys = list(ReplayResult(id="n1").as_json())
    assert keys == [
        "id",
        "decision",
        "topic",
        "reason",
        "language",
        "replies",
        "ticket",
        "reply_eta",
        "incident",
    ]


def test_incident_field_is_the_linked_incident_id() -> None:
    value = ReplayResult(
        id="n2", decision="answer", topic="incident", language="es", incident="INC-3"
    ).as_json()
    assert value["incident"] == "INC-3" and value["topic"] == "incident"


# -- triage_of_turn ----------------------------------------------------------------------------

FIRST = {"decision": "answer", "topic": "faq/roaming", "language": "en"}
SECOND = {"decision": "handoff", "reasons": ["private"], "language": "en"}


def test_triage_after_the_latest_message() -> None:
    events = [
        ActionExecuted("action_listen"),
        UserUttered("roaming?"),
        SlotSet("triage", FIRST),
        ActionExecuted("utter_faq"),
        BotUttered("Roaming in the EU is included"),
        ActionExecuted("action_listen"),
        UserUttered("my bill is wrong"),
        SlotSet("language", "en"),
        SlotSet("triage", SECOND),
        ActionExecuted("action_handoff"),
    ]
    assert triage_of_turn(events) == SECOND


def test_the_newest_triage_of_the_turn_wins() -> None:
    later = {**SECOND, "ticket": 7}
    events = [UserUttered("my bill"), SlotSet("triage", SECOND), SlotSet("triage", later)]
    assert triage_of_turn(events) == later


def test_no_triage_for_the_latest_message() -> None:
    events = [UserUttered("roaming?"), SlotSet("triage", FIRST), UserUttered("hello?")]
    assert triage_of_turn(events) is None


def test_triage_of_no_events() -> None:
    assert triage_of_turn([]) is None
    assert triage_of_turn([ActionExecuted("action_listen")]) is None


def test_other_slots_are_not_triage() -> None:
    events = [UserUttered("hi"), SlotSet("language", "en"), SlotSet("handoff_ticket", 2)]
    assert triage_of_turn(events) is None
