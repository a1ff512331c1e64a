"""No personal data in the connectors' log lines at INFO and above.

A customer writes a phone number, an IBAN, a card number, an email and their name through the SMS,
Telegram and X connectors (the loopback set-ups of test_sms_channel.py, test_telegram_channel.py
and test_x_connector.py, against the fake platforms), and the paths that log — answered, opted out,
opted back in, refused by the platform, blocked, ignored — are walked. Every record captured at
INFO and above, its traceback included, is then searched for the data, the customer's number and
the message's text: log lines carry ids (the inbox entry, the number's last digits) instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from rasa.core.channels.channel import UserMessage

from afterhours.bench.fakes.telegram_server import FakeTelegram
from afterhours.bench.fakes.twilio_server import FakeTwilio
from afterhours.bench.fakes.x_server import FakeX
from bot.channels.inbox import Inbox
from handoff.transcript import customer_label
from tests.channels import test_sms_channel as sms_tests
from tests.channels import test_telegram_channel as telegram_tests
from tests.channels import test_x_connector as x_tests
from tests.channels.channels_support import wait_until
from tests.channels.test_x_connector import scheduler_reset  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

NUMBER = "+351912345678"  # the SMS customer, and the number written in the messages
IBAN = "PT50 0002 0123 1234 5678 9015 4"
CARD = "4111 1111 1111 1111"
EMAIL = "maria.sousa@example.pt"
NAME = "Maria Sousa"
TEXT = (
    f"Refund me now: card {CARD}, IBAN {IBAN}, call {NUMBER}, mail {EMAIL}, I am {NAME} "
    "(zebra walrus)"
)
NEEDLES = (
    NUMBER,
    NUMBER.lstrip("+"),
    "912345678",
    "912 345 678",
    IBAN,
    IBAN.replace(" ", ""),
    CARD,
    CARD.replace(" ", ""),
    EMAIL,
    NAME,
    "zebra walrus",  # the message's text, whatever part of it
    "Refund me now",
)


def leaks(records: list[logging.LogRecord]) -> list[str]:
    """The records at INFO and above (message and traceback) that contain a needle."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    found = []
    for record in records:
        if record.levelno < logging.INFO:
            continue
        line = formatter.format(record)
        found += [f"{needle!r} in: {line}" for needle in NEEDLES if needle in line]
    return found


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


def test_the_desk_the_cli_and_the_logs_show_a_number_by_its_end() -> None:
    assert customer_label("sms", NUMBER) == "…678"
    assert customer_label("telegram", "5550001") == "5550001"
    assert customer_label("x", "maria") == "maria"


def test_sms_logs_no_personal_data(inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    with (
        FakeTwilio() as fake,
        caplog.at_level(logging.DEBUG),
        sms_tests.serving(fake, inbox) as host,
    ):
        fake.send_sms(NUMBER, TEXT)  # answered (the echo repeats it all)
        fake.wait_for(1, number=NUMBER)
        fake.send_sms(NUMBER, "STOP")  # opted out
        assert wait_until(lambda: inbox.opted_out("sms", NUMBER))
        output = host.connector.get_output_channel()
        host.call(output.send_text_message(f"sms:{NUMBER}", TEXT))  # not sent: opted out
        fake.send_sms(NUMBER, "START")  # opted back in
        assert wait_until(lambda: not inbox.opted_out("sms", NUMBER))
        # Twilio refuses, in words that repeat the number (as its 21211 does).
        fake.fail_next(400, 21211, f"The 'To' number {NUMBER} is not a valid phone number.")
        host.call(host.connector.get_output_channel().send_text_message(f"sms:{NUMBER}", TEXT))
        fake.send_sms(NUMBER, "")  # nothing to read
        assert wait_until(lambda: inbox.counts()["done"] == 4)
        host.wait_idle()
    assert leaks(caplog.records) == []
    assert any("opted out" in r.getMessage() for r in caplog.records)
    assert any("not delivered" in r.getMessage() for r in caplog.records)
    assert any("…678" in r.getMessage() for r in caplog.records)  # the number's end instead


def test_telegram_logs_no_personal_data(inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    chat = telegram_tests.CHAT
    with (
        FakeTelegram() as fake,
        caplog.at_level(logging.DEBUG),
        telegram_tests.serving(fake, inbox) as host,
    ):
        fake.push(fake.message_update(TEXT, chat_id=chat))  # answered
        fake.wait_for(1, chat_id=chat)
        group = -1001234567890
        fake.push(  # ignored: a group message not for the bot
            fake.message_update(TEXT, chat_id=group, user_id=61, chat_type="supergroup")
        )
        fake.push(fake.message_update(TEXT, chat_id=chat, kind="edited_message"))
        fake.blocked_chats.add(chat + 1)  # refused by Telegram
        fake.push(fake.message_update(TEXT, chat_id=chat + 1))
        assert wait_until(lambda: inbox.counts()["done"] == 2)
        host.wait_idle()
    assert leaks(caplog.records) == []
    assert any("not delivered" in r.getMessage() for r in caplog.records)


async def test_x_logs_no_personal_data(
    inbox: Inbox,
    caplog: pytest.LogCaptureFixture,
    scheduler_reset: None,  # noqa: F811 - the fixture imported above
) -> None:
    async def bot(message: UserMessage) -> None:  # repeats the customer's words back
        await message.output_channel.send_text_message(message.sender_id, f"You said {TEXT}")

    with FakeX() as fake, caplog.at_level(logging.DEBUG):
        channel = x_tests.connector(fake, inbox)
        channel.blueprint(bot)
        await channel.start(SimpleNamespace(ctx=SimpleNamespace(agent=None)))
        try:
            tweet = fake.mention("ana_pt", TEXT)
            fake.dm("bruno_pt", TEXT)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, wait_until, lambda: fake.replies_to(tweet["id"]), 10)
            await loop.run_in_executor(None, wait_until, lambda: fake.dms_to("bruno_pt"), 10)
            done = lambda: inbox.counts("x")["done"] == 2  # noqa: E731
            await loop.run_in_executor(None, wait_until, done, 10)
            # Refused by X (the post it answers is gone).
            metadata = {
                "channel": "x",
                "public": True,
                "sender": "ghost",
                "platform": {"kind": "mention", "tweet_id": "404", "user_id": "1"},
            }
            await x_tests.output_for(channel, metadata).send_text_message("x:ghost", TEXT)
        finally:
            await channel.stop(None)
    assert leaks(caplog.records) == []
    assert any("refused" in r.getMessage() for r in caplog.records)
