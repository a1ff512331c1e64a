"""An erased customer's STOP still holds: the SMS connector finds the keyed hash of the number."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from afterhours.bench.fakes.twilio_server import FakeTwilio
from bot.channels.inbox import Inbox
from desk.privacy import PRIVACY_KEY_ENV, Customer, Stores, erase
from tests.channels import test_sms_channel as sms_tests
from tests.channels.channels_support import opt_out_row, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

NUMBER = "+351912345678"


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    monkeypatch.setenv(PRIVACY_KEY_ENV, "a-long-random-secret-for-the-tests")
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


def test_an_erased_number_that_opted_out_gets_no_sms(inbox: Inbox) -> None:
    from desk.db import migrate as migrate_desk
    from handoff.db import migrate as migrate_queue

    migrate_queue(inbox.engine)
    migrate_desk(inbox.engine)
    with FakeTwilio() as fake, sms_tests.serving(fake, inbox) as host:
        fake.send_sms(NUMBER, "hello")
        fake.wait_for(1, number=NUMBER)
        fake.send_sms(NUMBER, "STOP")
        assert wait_until(lambda: inbox.opted_out("sms", NUMBER))
        host.wait_idle()

        done = erase(Stores(queue=inbox.engine), [Customer("sms", NUMBER)], "dpo", settle=0)
        assert done.counts["channels.channel_opt_outs"] == 1
        assert done.counts["channels.channel_inbox"] == 2
        assert opt_out_row(inbox, "sms", NUMBER) is None  # the number is gone ...
        assert inbox.opted_out("sms", NUMBER)  # ... its opt-out is not

        output = host.connector.get_output_channel()
        host.call(output.send_text_message(f"sms:{NUMBER}", "a late answer"))
        fake.send_sms(NUMBER, "are you there?")  # reaches the bot, gets no SMS
        assert wait_until(lambda: len(host.messages) == 2)
        host.wait_idle()
        time.sleep(0.3)
        assert [s.body for s in fake.sent_to(NUMBER)] == ["echo: hello"]

        fake.send_sms(NUMBER, "START")  # their own word decides again
        assert wait_until(lambda: not inbox.opted_out("sms", NUMBER))
        fake.send_sms(NUMBER, "thanks")
        assert [s.body for s in fake.wait_for(2, number=NUMBER)] == ["echo: hello", "echo: thanks"]
