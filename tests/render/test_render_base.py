import re

import pytest

from bot.render import (
    CHANNELS,
    encoding_of,
    limits_for,
    render,
    split_message,
    weighted_length,
)

IBAN = "PT50000201231234567890154"


def scrub(text: str) -> str:
    return re.sub(r"PT\d{23}", "[IBAN]", text)


def test_channels() -> None:
    assert CHANNELS == ("x", "telegram", "sms", "rest")


def test_x_public_is_one_addressed_reply_within_280() -> None:
    parts = render("x", "Olá! " + "Texto longo. " * 40, public=True, handle="@cliente")
    assert len(parts) == 1
    assert parts[0].startswith("@cliente Olá!")
    assert weighted_length(parts[0]) <= 280


def test_x_public_is_scrubbed_before_fitting() -> None:
    text = f"O IBAN {IBAN} ficou registado. " + "Obrigado pela mensagem. " * 10
    (reply,) = render("x", text, public=True, handle="cliente", scrub=scrub)
    assert IBAN not in reply and "[IBAN]" in reply
    calls: list[str] = []

    def spy(value: str) -> str:
        calls.append(value)
        return value

    render("x", "  Olá\n\n\n\nmundo ", public=True, handle="cliente", scrub=spy)
    assert calls == ["Olá\n\nmundo"]  # scrub sees the normalised text


def test_scrub_only_for_public_replies() -> None:
    text = f"O seu IBAN {IBAN} está registado."
    assert render("x", text, public=False, handle="cliente", scrub=scrub) == [text]
    assert render("sms", text, public=False, handle=None, scrub=scrub) == [text]


def test_public_x_needs_a_handle() -> None:
    with pytest.raises(ValueError):
        render("x", "olá", public=True, handle=None)


def test_x_dm_is_split_at_10000() -> None:
    paragraph = ("Parágrafo. " * 500).strip()  # 5499 characters
    parts = render("x", "\n\n".join([paragraph] * 3), public=False, handle="cliente")
    assert parts == [paragraph] * 3
    assert render("x", "Olá", public=False, handle=None) == ["Olá"]


def test_telegram_is_split_at_4096() -> None:
    text = "palavra " * 1500
    assert render("telegram", text, public=False, handle=None) == split_message(text.strip())
    assert len(render("telegram", text, public=False, handle=None)) == 3


def test_sms_is_one_body_within_two_segments() -> None:
    text = "Olá! " + "A sua ligação será reposta em breve. " * 12
    (body,) = render("sms", text, public=False, handle=None)
    assert encoding_of(body).segments <= 2


def test_rest_is_the_normalised_text() -> None:
    assert render("rest", "  Olá\x07\r\nmundo ", public=False, handle=None) == ["Olá\nmundo"]


def test_nothing_to_send() -> None:
    for channel in CHANNELS:
        assert render(channel, " \n ", public=channel == "x", handle="c") == []


def test_unknown_channel() -> None:
    with pytest.raises(ValueError):
        render("fax", "olá", public=False, handle=None)
    with pytest.raises(ValueError):
        limits_for("fax", public=False)


def test_limits_for() -> None:
    assert limits_for("x", public=True)["kind"] == "weighted"
    assert limits_for("x", public=True)["limit"] == 280
    assert limits_for("x", public=False) == {"kind": "chars", "limit": 10_000, "splits": True}
    assert limits_for("telegram", public=False)["limit"] == 4096
    sms = limits_for("sms", public=False)
    assert sms["kind"] == "sms_segments" and sms["limit"] == 2
    assert limits_for("rest", public=False)["limit"] is None
