"""The Telegram connector against the fake Bot API, through python-telegram-bot (no model).

The message handler stands in for Rasa (it echoes, or says what a test needs) and answers through
the connector's real output channel, so every reply goes through ``telegram.Bot`` to the fake.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from afterhours.bench.fakes.telegram_server import FakeTelegram
from bot.channels.inbox import Inbox
from bot.channels.telegram import TelegramInput
from bot.channels.telegram_client import PermanentDeliveryError, SendLimiter, TelegramClient
from tests.channels.channels_support import ChannelHost, Handler, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

SECRET = "webhook-secret_0123456789"
CHAT = 5550001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


@contextmanager
def serving(
    fake: FakeTelegram, inbox: Inbox, handler: Handler | None = None, **options: Any
) -> Iterator[ChannelHost]:
    options.setdefault("mode", "webhook")
    options.setdefault("per_chat_interval", 0.05)
    if options["mode"] == "webhook":
        options.setdefault("secret_token", SECRET)
        options.setdefault("webhook_url", "http://127.0.0.1:1/later")
    connector = TelegramInput(fake.token, base_url=fake.base_url, inbox=inbox, **options)
    host = ChannelHost(connector, handler)
    if connector.mode == "webhook":
        connector.webhook_url = host.webhook_url
    with host:
        if connector.mode == "webhook":
            assert wait_until(lambda: fake.webhook is not None), "setWebhook was not called"
        yield host


def test_webhook_mode_registers_the_webhook_with_a_secret_token(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    with serving(fake, inbox) as host:
        assert fake.webhook == {
            "url": host.webhook_url,
            "secret_token": SECRET,
            "allowed_updates": ["message", "edited_message"],
        }


def test_a_message_is_answered_through_the_bot_api(
    fake: FakeTelegram, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), serving(fake, inbox) as host:
        delivery = fake.push(fake.message_update("how do I use my phone abroad?", chat_id=CHAT))
        assert delivery is not None and delivery.status == 200
        (sent,) = fake.wait_for(1)
        assert (sent.chat_id, sent.text) == (CHAT, "echo: how do I use my phone abroad?")
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        (message,) = host.messages
        assert message.sender_id == f"telegram:{CHAT}" and message.input_channel == "telegram"
        assert message.metadata["channel"] == "telegram"
        assert message.metadata["public"] is False
        assert message.metadata["platform"]["update_id"] == delivery.update_id
    assert fake.token not in caplog.text
    assert fake.token.split(":")[1] not in caplog.text


def test_the_webhook_acknowledges_before_the_bot_has_answered(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(2)
        await message.output_channel.send_text_message(message.sender_id, "late answer")

    with serving(fake, inbox, slow):
        started = time.monotonic()
        delivery = fake.push(fake.message_update("hello", chat_id=CHAT))
        assert delivery is not None and delivery.status == 200
        assert time.monotonic() - started < 1.0
        assert inbox.counts()["received"] == 1  # recorded before the acknowledgement
        assert [s.text for s in fake.wait_for(1)] == ["late answer"]


@pytest.mark.parametrize("secret", ["forged-secret", SECRET + "x", None])
def test_a_forged_or_missing_secret_token_is_refused(
    fake: FakeTelegram, inbox: Inbox, secret: str | None
) -> None:
    with serving(fake, inbox) as host:
        delivery = fake.push(fake.message_update("hi", chat_id=CHAT), secret=secret)
        assert delivery is not None and delivery.status == 403
    assert host.messages == [] and inbox.counts()["received"] == 0 and fake.sent == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2, 3]", b'{"message": {"text": "no update_id"}}', b""]
)
def test_malformed_updates_get_400(fake: FakeTelegram, inbox: Inbox, body: bytes) -> None:
    with serving(fake, inbox) as host:
        delivery = fake.push({"update_id": 1}, body=body)
        assert delivery is not None and delivery.status == 400
    assert host.messages == []


def test_an_oversized_update_gets_413(fake: FakeTelegram, inbox: Inbox) -> None:
    with serving(fake, inbox, max_body_bytes=4096) as host:
        delivery = fake.push(fake.message_update("x" * 5000, chat_id=CHAT))
        assert delivery is not None and delivery.status == 413
    assert host.messages == []


def test_a_retried_or_replayed_update_gets_one_reply(fake: FakeTelegram, inbox: Inbox) -> None:
    update = fake.message_update("is there an outage?", chat_id=CHAT)
    with serving(fake, inbox) as host:
        answers = [fake.push(update) for _ in range(3)]
        assert [a.body for a in answers if a] == [
            '{"ok":true,"result":"accepted"}',
            '{"ok":true,"result":"duplicate"}',
            '{"ok":true,"result":"duplicate"}',
        ]
        fake.wait_for(1)
        host.wait_idle()
        time.sleep(0.2)
    assert len(fake.sent) == 1 and len(host.messages) == 1


@pytest.mark.parametrize(
    "update, why",
    [
        ({"update_id": 1, "callback_query": {"id": "4382", "data": "yes"}}, "is not handled"),
        (
            {
                "update_id": 2,
                "edited_message": {
                    "message_id": 1,
                    "chat": {"id": CHAT, "type": "private"},
                    "date": 0,
                    "edit_date": 1,
                    "text": "typo",
                },
            },
            "edited",
        ),
    ],
)
def test_unknown_and_edited_updates_are_acknowledged_and_ignored(
    fake: FakeTelegram, inbox: Inbox, update: dict, why: str
) -> None:
    with serving(fake, inbox) as host:
        delivery = fake.push(update)
        assert delivery is not None and delivery.status == 200 and why in delivery.body
    assert host.messages == [] and inbox.counts()["received"] == 0


def test_a_429_is_retried_after_retry_after(fake: FakeTelegram, inbox: Inbox) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=1)
    with serving(fake, inbox):
        fake.push(fake.message_update("hello", chat_id=CHAT))
        (sent,) = fake.wait_for(1)
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    sends = [at for method, at in fake.timeline if method == "sendmessage"]
    assert len(sends) == 2 and sends[1] - sends[0] >= 1.0
    assert sent.text == "echo: hello" and len(fake.sent) == 1


def test_a_timed_out_send_is_retried(fake: FakeTelegram, inbox: Inbox) -> None:
    fake.stall_next("sendMessage", 2.0)
    with serving(fake, inbox, read_timeout=0.5):
        fake.push(fake.message_update("hello", chat_id=CHAT))
        assert [s.text for s in fake.wait_for(1, timeout=10)] == ["echo: hello"]
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    assert len(fake.calls_of("sendMessage")) == 2


def test_a_send_that_keeps_failing_is_redelivered_later(fake: FakeTelegram, inbox: Inbox) -> None:
    fake.fail_next("sendMessage", status=500, count=5)  # every try of the first attempt
    with serving(fake, inbox, redeliver_after=0.5, redeliver_every=0.5) as host:
        host.connector.client.backoff = 0.01
        fake.push(fake.message_update("hello", chat_id=CHAT))
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
        assert [s.text for s in fake.wait_for(1, timeout=20)] == ["echo: hello"]
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    entry = inbox.get(1)
    assert entry is not None and (entry.attempts, entry.status) == (2, "done")
    assert len(host.messages) == 2  # processed at least once: here twice, answered once


def test_a_chat_that_blocked_the_bot_is_recorded(fake: FakeTelegram, inbox: Inbox) -> None:
    fake.blocked_chats.add(CHAT)
    with serving(fake, inbox):
        fake.push(fake.message_update("hello", chat_id=CHAT))
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    entry = inbox.get(1)
    assert entry is not None and "bot was blocked by the user" in (entry.error or "")
    assert fake.sent == []


def test_a_long_reply_is_split_and_paced(fake: FakeTelegram, inbox: Inbox) -> None:
    paragraph = "Roaming works in the EU at no extra cost. " * 40
    long_text = "\n\n".join([paragraph.strip()] * 6)  # about 10,000 characters

    async def long_answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, long_text)

    with serving(fake, inbox, long_answer, per_chat_interval=1.0):
        fake.push(fake.message_update("tell me everything", chat_id=CHAT))
        parts = fake.wait_for(3, timeout=15)
    assert len(parts) == 3
    assert all(len(p.text.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert " ".join(p.text for p in parts).split() == long_text.split()
    assert fake.violations == []
    assert parts[2].at - parts[0].at >= 1.9


def test_a_burst_keeps_to_telegrams_limits(fake: FakeTelegram, inbox: Inbox) -> None:
    with serving(fake, inbox, per_chat_interval=1.0, overall_per_second=30):
        for chat in range(40):
            fake.push(fake.message_update(f"question {chat}", chat_id=7000 + chat))
        for _ in range(2):
            fake.push(fake.message_update("and again", chat_id=7000))
        sent = fake.wait_for(42, timeout=60)
    assert len(sent) == 42
    assert fake.violations == []
    assert sent[-1].at - sent[0].at >= 1.0  # 42 messages cannot go out within one second


def test_groups_are_answered_only_when_the_bot_is_addressed(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    group = -1001234567890
    with serving(fake, inbox) as host:
        ignored = fake.push(
            fake.message_update(
                "aurora is down again lol", chat_id=group, user_id=61, chat_type="supergroup"
            )
        )
        addressed_update = fake.message_update(
            f"@{fake.username} is there an outage in Porto?",
            chat_id=group,
            user_id=62,
            chat_type="supergroup",
        )
        addressed = fake.push(addressed_update)
        (sent,) = fake.wait_for(1)
        assert ignored is not None and "not addressed" in ignored.body
        assert addressed is not None and "accepted" in addressed.body
        (message,) = host.messages
    assert message.sender_id == f"telegram:{group}/62"
    assert message.text == "is there an outage in Porto?"
    assert sent.chat_id == group
    assert sent.reply_to == addressed_update["message"]["message_id"]


def test_polling_mode_reads_updates_and_resumes_from_its_cursor(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    fake.webhook = {"url": "http://127.0.0.1:1/old", "secret_token": None}
    first = fake.message_update("hello from polling", chat_id=CHAT)
    with serving(fake, inbox, mode="polling", poll_timeout=1):
        assert wait_until(lambda: fake.webhook is None)  # deleteWebhook first
        fake.push(first)
        assert [s.text for s in fake.wait_for(1)] == ["echo: hello from polling"]
        assert wait_until(
            lambda: inbox.get_cursor(f"telegram:{fake.bot_id}:offset") == str(first["update_id"])
        )
    calls_before = len(fake.calls_of("getUpdates"))
    second = fake.message_update("and after a restart", chat_id=CHAT)
    fake.push(first)  # Telegram sends an unconfirmed update again
    fake.push(second)
    with serving(fake, inbox, mode="polling", poll_timeout=1):
        sent = fake.wait_for(2)
        time.sleep(0.3)
    assert [s.text for s in sent] == ["echo: hello from polling", "echo: and after a restart"]
    assert len(fake.sent) == 2
    resumed = fake.calls_of("getUpdates")[calls_before]
    assert int(resumed["offset"]) == first["update_id"] + 1


def test_a_later_reply_reaches_the_chat_through_get_output_channel(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    with serving(fake, inbox) as host:
        output = host.connector.get_output_channel()
        assert output.name() == "telegram"
        host.call(output.send_text_message(f"telegram:{CHAT}", "An agent here: fixed!"))
        host.call(output.send_text_message("telegram:-1001234567890/62", "In the group, for you."))
    assert [(s.chat_id, s.text, s.reply_to) for s in fake.sent] == [
        (CHAT, "An agent here: fixed!", None),
        (-1001234567890, "In the group, for you.", None),
    ]


class GatedTelegram(FakeTelegram):
    """A fake Bot API that takes a message only once :attr:`go` is set (and says it arrived)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrived = threading.Event()
        self.go = threading.Event()

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.go.wait, 10)
        return await super()._m_sendmessage(params)


def test_a_reply_is_recorded_the_moment_telegram_took_it_even_with_the_loop_busy(
    inbox: Inbox,
) -> None:
    """The reply ledger's row is written while the server's event loop is still blocked.

    The bot's handler blocks the loop (as the model's CPU work does) from before Telegram
    answers until the row appears: a client that recorded only once the loop got back to it
    would find no row, and a crash in that window would send the reply twice after the restart.
    """
    seen: dict[str, Any] = {}
    with GatedTelegram() as fake:

        async def reply_while_the_loop_is_busy(message: UserMessage) -> None:
            entry_id = int(message.message_id.rsplit("-", 1)[1])
            output = message.output_channel
            sending = asyncio.ensure_future(output.send_text_message(message.sender_id, "hi"))
            while not fake.arrived.is_set():
                await asyncio.sleep(0.005)
            fake.go.set()  # Telegram answers now; the loop stays blocked until the row exists
            started = time.monotonic()
            seen["recorded"] = wait_until(lambda: inbox.replies.sent(entry_id) == {0}, 5.0)
            seen["seconds"] = time.monotonic() - started
            await sending
            seen["sent"] = list(output.sent)

        with serving(fake, inbox, reply_while_the_loop_is_busy):
            fake.push(fake.message_update("hello", chat_id=CHAT))
            assert wait_until(lambda: inbox.counts()["done"] == 1)
        assert [s.text for s in fake.sent] == ["hi"]
    assert seen["recorded"] is True and seen["seconds"] < 2.0
    assert [reply.text for reply in seen["sent"]] == ["hi"]


def test_a_refused_reply_is_recorded_and_one_that_kept_failing_is_not(
    fake: FakeTelegram, inbox: Inbox
) -> None:
    fake.blocked_chats.add(CHAT)
    with serving(fake, inbox, redeliver_every=0) as host:
        host.connector.client.backoff = 0.01
        fake.push(fake.message_update("hello", chat_id=CHAT))
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        fake.fail_next("sendMessage", status=500, count=5)  # every try of the attempt
        fake.push(fake.message_update("hello", chat_id=CHAT + 1))
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
    refused, failed = inbox.get(1), inbox.get(2)
    assert refused is not None and refused.status == "done"
    assert failed is not None and failed.status == "failed"
    assert inbox.replies.sent(refused.id) == {0}  # not tried again: refused for good
    assert inbox.replies.sent(failed.id) == set()  # tried again later
    assert fake.sent == []


def test_sending_works_again_after_the_client_was_closed(fake: FakeTelegram, inbox: Inbox) -> None:
    with serving(fake, inbox) as host:
        output = host.connector.get_output_channel()
        host.call(output.send_text_message(f"telegram:{CHAT}", "before"))
        host.call(host.connector.client.close())
        host.call(output.send_text_message(f"telegram:{CHAT}", "after"))
    assert [s.text for s in fake.sent] == ["before", "after"]


async def test_a_bad_request_is_not_retried_and_the_retries_wait_with_jitter(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    client = TelegramClient(
        fake.token, base_url=fake.base_url, limiter=SendLimiter(0, 0), backoff=0.02
    )
    try:
        fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
        with pytest.raises(PermanentDeliveryError):
            await client.send(CHAT, "hello")
        assert len(fake.calls_of("sendMessage")) == 1  # tried once
        runs = []
        for _ in range(2):
            caplog.clear()
            fake.fail_next("sendMessage", status=500, count=2)
            with caplog.at_level(logging.WARNING, logger="bot.channels.telegram"):
                await client.send(CHAT, "hello")
            runs.append(
                [
                    float(record.args[-1])  # type: ignore[index]
                    for record in caplog.records
                    if "retry" in record.getMessage()
                ]
            )
    finally:
        await client.close()
    assert len(fake.calls_of("sendMessage")) == 1 + 3 + 3 and len(fake.sent) == 2
    for first, second in runs:
        assert 0.02 <= first <= 0.04 and 0.04 <= second <= 0.06  # doubling, plus up to 0.02
    assert runs[0] != runs[1]  # jitter: two runs do not wait alike
