"""Reading Telegram updates (shaped like the Bot API documentation's) and the sending limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.channels.telegram import MalformedUpdate, SendLimiter, parse_update, split_recipient

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

BOT_ID = 123456789
BOT = "AuroraCareBot"
DATE = 1_772_492_400  # 2026-03-02 23:00 UTC


def update(message: dict[str, Any] | None = None, kind: str = "message", **extra: Any) -> dict:
    body: dict[str, Any] = {
        "message_id": 42,
        "from": {"id": 5550001, "is_bot": False, "first_name": "Ana", "language_code": "pt"},
        "chat": {"id": 5550001, "first_name": "Ana", "type": "private"},
        "date": DATE,
    }
    body.update(message or {})
    return {"update_id": 900001, kind: body, **extra}


def group(text: str, **more: Any) -> dict:
    return update(
        {
            "chat": {"id": -1001234567890, "title": "Aurora fans", "type": "supergroup"},
            "text": text,
            **more,
        }
    )


def parse(data: dict, **kwargs: Any) -> Any:
    kwargs.setdefault("bot_id", BOT_ID)
    kwargs.setdefault("bot_username", BOT)
    return parse_update(data, **kwargs)


def test_a_private_text_message_becomes_an_inbound_message() -> None:
    parsed = parse(update({"text": "Olá, como ativo o roaming?"}))
    inbound = parsed.inbound
    assert parsed.ignored is None and inbound is not None
    assert (inbound.channel, inbound.sender, inbound.public) == ("telegram", "5550001", False)
    assert inbound.text == "Olá, como ativo o roaming?"
    assert inbound.at == dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.timezone.utc)
    assert inbound.conversation_id == "telegram:5550001"
    assert inbound.platform == {
        "update_id": 900001,
        "message_id": 42,
        "chat_id": 5550001,
        "chat_type": "private",
        "user_id": 5550001,
        "kind": "text",
        "language_code": "pt",
    }


@pytest.mark.parametrize(
    "data, why",
    [
        (update({"text": "fixed typo"}, kind="edited_message"), "edited message"),
        (
            {"update_id": 1, "callback_query": {"id": "1", "data": "x"}},
            "'callback_query' is not handled",
        ),
        ({"update_id": 2, "my_chat_member": {}}, "'my_chat_member' is not handled"),
        ({"update_id": 3}, "'empty' is not handled"),
        (update({"chat": {"id": -100, "type": "channel"}, "text": "news"}), "channel post"),
        (
            update({"text": "hi", "from": {"id": 9, "is_bot": True, "first_name": "B"}}),
            "from a bot",
        ),
        (
            update({"photo": [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}]}),
            "photo without text",
        ),
        (update({"location": {"latitude": 38.7, "longitude": -9.1}}), "location without text"),
        (update({"sticker": {"file_id": "s", "type": "regular"}}), "sticker without text"),
        (update({"text": "/start"}), "command /start without text"),
        (group("@ana did you see this?"), "not addressed to the bot"),
        (group("anyone from aurora here?"), "not addressed to the bot"),
    ],
)
def test_what_is_not_read_is_ignored_with_a_reason(data: dict, why: str) -> None:
    parsed = parse(data)
    assert parsed.inbound is None
    assert why in (parsed.ignored or "")


def test_a_sticker_is_read_as_its_emoji() -> None:
    parsed = parse(update({"sticker": {"file_id": "s", "type": "regular", "emoji": "👍"}}))
    assert parsed.inbound is not None
    assert parsed.inbound.text == "👍" and parsed.inbound.platform["kind"] == "sticker"


def test_a_photo_is_read_by_its_caption() -> None:
    parsed = parse(
        update(
            {
                "photo": [{"file_id": "a", "file_unique_id": "b", "width": 90, "height": 90}],
                "caption": "the router shows this red light",
            }
        )
    )
    assert parsed.inbound is not None
    assert parsed.inbound.text == "the router shows this red light"
    assert parsed.inbound.platform["kind"] == "photo"


def test_a_command_with_words_keeps_the_words() -> None:
    parsed = parse(update({"text": "/start how do I pay my bill?"}))
    assert parsed.inbound is not None
    assert parsed.inbound.text == "how do I pay my bill?"
    assert parsed.inbound.platform["command"] == "start"


def test_in_a_group_a_mention_of_the_bot_is_addressed_and_removed() -> None:
    parsed = parse(group("@auroracarebot is there an outage in Porto?"))
    inbound = parsed.inbound
    assert inbound is not None
    assert inbound.text == "is there an outage in Porto?"
    assert inbound.sender == "-1001234567890/5550001"  # one customer in one group
    # Others read the group: public (no personal data in replies, a move to private), and
    # addressed to the bot, as the connector found.
    assert inbound.public is True
    assert inbound.platform["addressed_hint"]["addressed"] is True
    assert inbound.platform["chat_type"] == "supergroup"


def test_in_a_group_a_reply_to_the_bot_is_addressed() -> None:
    replied = {
        "message_id": 41,
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Aurora"},
        "chat": {"id": -1001234567890, "type": "supergroup"},
        "date": DATE,
        "text": "Hi!",
    }
    parsed = parse(group("and on Sundays?", reply_to_message=replied))
    assert parsed.inbound is not None and parsed.inbound.text == "and on Sundays?"


def test_groups_can_be_switched_off() -> None:
    parsed = parse(group("@AuroraCareBot hello"), allow_groups=False)
    assert parsed.ignored == "group messages are switched off"


@pytest.mark.parametrize(
    "data",
    [
        {"message": {"text": "no update id"}},
        {"update_id": "7", "message": {}},
        {"update_id": True, "message": {}},
        {"update_id": 7, "message": {"text": "no chat"}},
        {"update_id": 7, "message": "not an object"},
        {"update_id": 7, "message": {"chat": {"id": "x", "type": "private"}, "text": "a"}},
    ],
)
def test_malformed_updates_raise(data: dict) -> None:
    with pytest.raises(MalformedUpdate):
        parse(data)


def test_recipients() -> None:
    assert split_recipient("telegram:5550001") == ("5550001", None)
    assert split_recipient("telegram:-1001234567890/5550001") == ("-1001234567890", "5550001")


# -- the limits -----------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_one_chat_gets_a_message_a_second() -> None:
    time = FakeTime()
    limiter = SendLimiter(1.0, 30, clock=time.clock)
    slots = [limiter.reserve(7) for _ in range(3)]
    assert slots == pytest.approx([100.0, 101.0, 102.0])
    assert limiter.reserve(8) == pytest.approx(100.0 + 1 / 30)  # another chat fills a gap


def test_all_chats_together_get_thirty_messages_a_second() -> None:
    time = FakeTime()
    limiter = SendLimiter(1.0, 30, clock=time.clock)
    slots = [limiter.reserve(chat) for chat in range(90)]
    assert slots == sorted(slots)
    for start in slots:
        assert sum(1 for s in slots if start <= s < start + 1.0) <= 30
    assert slots[-1] == pytest.approx(100.0 + 89 / 30)


async def test_a_pause_holds_every_chat() -> None:
    time = FakeTime()
    limiter = SendLimiter(1.0, 30, clock=time.clock, sleep=time.sleep)
    await limiter.wait(1)
    limiter.pause(5)
    await limiter.wait(2)
    assert time.now >= 105.0


async def test_no_limits_when_switched_off() -> None:
    time = FakeTime()
    limiter = SendLimiter(0, 0, clock=time.clock, sleep=time.sleep)
    for _ in range(100):
        await limiter.wait(1)
    assert time.now == 100.0
