"""Truthful delivery on the bot's side: the delivery record, the workers' channels, and the
connector outputs recording a desk answer's outcome (real clients against the fake platforms)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from afterhours.bench.fakes.telegram_server import FakeTelegram
from afterhours.bench.fakes.twilio_server import FakeTwilio
from bot.channels import deliveries
from bot.channels.inbox import Inbox
from bot.channels.output import DeliveryRefused
from bot.channels.schema import channel_deliveries
from bot.channels.sms import TwilioSmsInput
from bot.channels.telegram import TelegramInput, TelegramOutput
from bot.channels.workers import Workers
from tests.channels.channels_support import ChannelHost

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
CHAT = 5550001
ANA = "+351912345678"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


# -- the record ---------------------------------------------------------------------------------


def test_an_outcome_is_recorded_updated_and_read_back(inbox: Inbox) -> None:
    assert deliveries.outcome(inbox.engine, "d1") is None
    deliveries.record(inbox.engine, "d1", "sms", "queued", now=T0)
    deliveries.record(inbox.engine, "d1", "sms", "failed", "opted_out", "x" * 500, now=T0)
    got = deliveries.outcome(inbox.engine, "d1")
    assert got is not None
    assert (got.channel, got.state, got.reason) == ("sms", "failed", "opted_out")
    assert got.detail == "x" * 200 and got.updated_at == T0
    with pytest.raises(ValueError):
        deliveries.record(inbox.engine, "d2", "sms", "lost")
    with pytest.raises(ValueError):
        deliveries.record(inbox.engine, "d2", "sms", "failed", "mystery")


def test_live_channels_are_those_of_processes_that_beat_lately(inbox: Inbox) -> None:
    now = [T0]
    workers = Workers(inbox.engine, lambda: now[0])
    workers.beat("host:1:a", "telegram")
    workers.beat("host:1:a", "sms")  # a second connector of the same process
    workers.beat("host:2:b")  # a process that names no channel (an older server)
    assert deliveries.live_channels(inbox.engine, dt.timedelta(seconds=30), now=T0) == {
        "sms",
        "telegram",
    }
    later = T0 + dt.timedelta(seconds=31)
    assert deliveries.live_channels(inbox.engine, dt.timedelta(seconds=30), now=later) == set()
    now[0] = later
    workers.beat("host:3:c", "x")
    assert deliveries.live_channels(inbox.engine, dt.timedelta(seconds=30), now=later) == {"x"}
    workers.leave("host:3:c")
    assert deliveries.live_channels(inbox.engine, dt.timedelta(seconds=30), now=later) == set()


# -- the outputs --------------------------------------------------------------------------------


def _desk_answer(delivery_id: str) -> dict[str, Any]:
    """The message Rasa hands the output for a desk answer (metadata merged in)."""
    return {"text": "An agent here: fixed!", "delivery_id": delivery_id, "source": "desk"}


def _telegram_host(fake: FakeTelegram, inbox: Inbox) -> ChannelHost:
    connector = TelegramInput(
        fake.token,
        base_url=fake.base_url,
        inbox=inbox,
        mode="webhook",
        secret_token="webhook-secret_0123456789",
        webhook_url="http://127.0.0.1:1/later",
        per_chat_interval=0.05,
    )
    connector.client.backoff = 0.01
    host = ChannelHost(connector)
    connector.webhook_url = host.webhook_url
    return host


def _state(inbox: Inbox, delivery_id: str) -> tuple[str, str | None] | None:
    got = deliveries.outcome(inbox.engine, delivery_id)
    return None if got is None else (got.state, got.reason)


def test_telegram_records_delivered_blocked_and_platform_error(inbox: Inbox) -> None:
    with FakeTelegram() as fake, _telegram_host(fake, inbox) as host:
        output = host.connector.get_output_channel()
        host.call(output.send_response(f"telegram:{CHAT}", _desk_answer("ok")))
        assert _state(inbox, "ok") == ("delivered", None)

        fake.blocked_chats.add(CHAT)
        with pytest.raises(DeliveryRefused):
            host.call(
                host.connector.get_output_channel().send_response(
                    f"telegram:{CHAT}", _desk_answer("blocked")
                )
            )
        assert _state(inbox, "blocked") == ("failed", "blocked")
        blocked = deliveries.outcome(inbox.engine, "blocked")
        assert blocked is not None and blocked.detail == "blocked; parts sent: 0"

        fake.blocked_chats.clear()
        fake.fail_next("sendMessage", status=500, count=5)  # every try of the client
        with pytest.raises(Exception) as raised:
            host.call(
                host.connector.get_output_channel().send_response(
                    f"telegram:{CHAT}", _desk_answer("broken")
                )
            )
        assert not isinstance(raised.value, DeliveryRefused)
        assert _state(inbox, "broken") == ("failed", "platform_error")

        # A reply without a delivery id (the bot's own) records nothing.
        host.call(host.connector.get_output_channel().send_text_message(f"telegram:{CHAT}", "hi"))
    assert [s.text for s in fake.sent] == ["An agent here: fixed!", "hi"]
    with inbox.engine.connect() as connection:
        assert len(connection.execute(select(channel_deliveries)).all()) == 3


def test_sms_records_delivered_and_an_opted_out_number(inbox: Inbox) -> None:
    with FakeTwilio() as fake:
        connector = TwilioSmsInput(
            fake.account_sid,
            fake.auth_token,
            from_number=fake.number,
            api_base_url=fake.api_base_url,
            inbox=inbox,
        )
        connector.client.backoff = 0.05
        with ChannelHost(connector) as host:
            output = host.connector.get_output_channel()
            host.call(output.send_response(f"sms:{ANA}", _desk_answer("ok")))
            assert _state(inbox, "ok") == ("delivered", None)
            inbox.set_opt_out("sms", ANA, True, T0, "STOP")
            with pytest.raises(DeliveryRefused):
                host.call(
                    host.connector.get_output_channel().send_response(
                        f"sms:{ANA}", _desk_answer("stopped")
                    )
                )
            assert _state(inbox, "stopped") == ("failed", "opted_out")
        (sms,) = fake.wait_for(1)
    assert sms.body == "An agent here: fixed!"


def test_an_output_without_the_inbox_records_nothing(inbox: Inbox) -> None:
    """Replay's and the bot's own outputs: a delivery id alone does not need a database."""
    with FakeTelegram() as fake, _telegram_host(fake, inbox) as host:
        output = TelegramOutput(host.connector.client)  # as output_for builds it
        host.call(output.send_response(f"telegram:{CHAT}", _desk_answer("untracked")))
    assert _state(inbox, "untracked") is None
    assert [s.text for s in fake.sent] == ["An agent here: fixed!"]
