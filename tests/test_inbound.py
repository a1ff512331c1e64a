"""bot.inbound: what every channel does to a customer's message before Rasa sees it."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.inbound import Inbound, clean_text

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my bill\x00 is wrong", "my bill is wrong"),
        ("\x00\x01\x02hello\x7f", "hello"),
        ("bell\x07 and escape\x1b[31m red", "bell and escape[31m red"),
        ("c1 control\x85\x9f here", "c1 control here"),
        ("lone surrogate \ud800here", "lone surrogate here"),
        ("line one\nline two\n\nline four", "line one\nline two\n\nline four"),
        ("windows\r\nnewline", "windows\nnewline"),
        ("tab\there", "tab here"),
        ("  \n padded message \t\n ", "padded message"),
        ("", ""),
        ("\x00\x00", ""),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_nfc() -> None:
    decomposed = "Olá, não consigo pagar a fatura de março"
    decomposed = unicodedata.normalize("NFD", decomposed)
    assert len(decomposed) > len(unicodedata.normalize("NFC", decomposed))
    cleaned = clean_text(decomposed)
    assert cleaned == "Olá, não consigo pagar a fatura de março"
    assert unicodedata.is_normalized("NFC", cleaned)


@pytest.mark.parametrize(
    "text",
    [
        "thanks 👍",
        "👍🏽 ok",  # skin tone modifier
        "👨‍👩‍👧 family plan?",  # zero-width joiners hold the sequence together
        "🏳️‍🌈 flag",  # variation selector + ZWJ
        "🇵🇹 roaming",  # regional indicators
        "🫠 still no internet",  # Unicode 14: unknown to Python 3.10's tables
        "🫶 thank you",  # Unicode 14
        "🩷",  # Unicode 15
        "❤️",
    ],
)
def test_emoji_are_kept(text: str) -> None:
    assert clean_text(text) == text


@pytest.mark.parametrize("text", ["مرحبا، فاتورتي خاطئة", "你好，我的账单", "Привет", "Ελληνικά"])
def test_other_scripts_are_kept(text: str) -> None:
    assert clean_text(text) == text


def test_a_long_message_is_kept_whole() -> None:
    text = ("A" * 99 + "\n") * 100
    text = text[:-1] + "Z"
    assert len(text) == 10_000
    cleaned = clean_text(text)
    assert cleaned == text
    assert len(cleaned) == 10_000


def test_a_long_message_with_emoji_and_accents_is_kept_whole() -> None:
    text = ("é🫠 " * 3334)[:9_999] + "!"
    assert len(text) == 10_000
    assert clean_text(text) == text


def test_inbound_conversation_id() -> None:
    at = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    assert Inbound("x", "@maria", "hi", True, at).conversation_id == "x:@maria"
    assert Inbound("telegram", "1001", "hi", False, at).conversation_id == "telegram:1001"
    assert Inbound("sms", "+351912345678", "hi", False, at).conversation_id == "sms:+351912345678"


def test_inbound_metadata() -> None:
    at = datetime(2026, 11, 27, 23, 0, tzinfo=ZoneInfo("Europe/Lisbon"))
    inbound = Inbound("telegram", "1001", "hello", False, at, platform={"message_id": 7})
    assert inbound.metadata() == {
        "channel": "telegram",
        "public": False,
        "sender": "1001",
        "at": "2026-11-27T23:00:00+00:00",
        "platform": {"message_id": 7},
    }


def test_inbound_metadata_keeps_the_offset() -> None:
    at = datetime(2026, 7, 1, 23, 30, tzinfo=timezone(timedelta(hours=1)))
    metadata = Inbound("x", "@maria", "@AuroraCare hello", True, at).metadata()
    assert metadata == {
        "channel": "x",
        "public": True,
        "sender": "@maria",
        "at": "2026-07-01T23:30:00+01:00",
    }
    assert "platform" not in metadata  # only when the channel has ids to keep
    assert "raw_text" not in metadata  # the text needed no cleaning


def test_inbound_metadata_treats_a_naive_time_as_utc() -> None:
    naive = datetime(2026, 11, 27, 23, 0)
    metadata = Inbound("sms", "+351912345678", "hi", False, naive).metadata()
    assert metadata["at"] == "2026-11-27T23:00:00+00:00"
    assert datetime.fromisoformat(metadata["at"]).utcoffset() == timedelta(0)


def test_inbound_metadata_keeps_the_raw_text_when_cleaning_changed_it() -> None:
    at = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    metadata = Inbound("sms", "+351912345678", " hi\x00 ", False, at).metadata()
    assert metadata["raw_text"] == " hi\x00 "
