"""The SMS connector against the fake Twilio, through the twilio package (no model)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from rasa.core.channels.channel import UserMessage

from afterhours.bench.fakes.twilio_server import FakeTwilio
from bot.channels.inbox import Inbox
from bot.channels.sms import EMPTY_TWIML, TwilioSmsInput, keyword_of
from bot.channels.sms_client import PermanentDeliveryError, TwilioClient
from tests.channels.channels_support import ChannelHost, Handler, opt_out_row, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

ANA = "+351912345678"
BEA = "+34612345678"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


@contextmanager
def serving(
    fake: FakeTwilio, inbox: Inbox, handler: Handler | None = None, **options: Any
) -> Iterator[ChannelHost]:
    connector = TwilioSmsInput(
        fake.account_sid,
        fake.auth_token,
        from_number=fake.number,
        api_base_url=fake.api_base_url,
        inbox=inbox,
        **options,
    )
    connector.client.backoff = 0.05
    with ChannelHost(connector, handler) as host:
        fake.webhook_url = host.webhook_url
        yield host


def test_an_sms_is_answered_through_the_rest_api(
    fake: FakeTwilio, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), serving(fake, inbox) as host:
        answer = fake.send_sms(ANA, "Olá, como ativo o roaming?")
        assert (answer.status, answer.body) == (200, EMPTY_TWIML)
        assert answer.content_type.startswith("text/xml")
        (sms,) = fake.wait_for(1)
        assert (sms.to, sms.sender, sms.body) == (
            ANA,
            fake.number,
            "echo: Olá, como ativo o roaming?",
        )
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        (message,) = host.messages
    assert message.sender_id == f"sms:{ANA}" and message.input_channel == "sms"
    assert message.metadata["channel"] == "sms" and message.metadata["public"] is False
    assert message.metadata["sender"] == ANA
    assert message.metadata["platform"]["message_sid"] == answer.message_sid
    assert fake.auth_token not in caplog.text


@pytest.mark.parametrize("signature", ["bm90IGEgc2lnbmF0dXJl", None])
def test_a_forged_or_missing_signature_is_refused(
    fake: FakeTwilio, inbox: Inbox, signature: str | None
) -> None:
    with serving(fake, inbox) as host:
        answer = fake.send_sms(ANA, "hello", signature=signature)
    assert answer.status == 403
    assert host.messages == [] and inbox.counts()["received"] == 0 and fake.sent == []


def test_a_signature_made_with_another_token_is_refused(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox):
        params = fake.incoming(ANA, "hello")
        forged = fake.signature(fake.webhook_url, params, token="someone-elses-token")
        assert fake.post(params, signature=forged).status == 403
        params["Body"] = "changed after signing"
        good_for_other_body = fake.signature(fake.webhook_url, fake.incoming(ANA, "hello"))
        assert fake.post(params, signature=good_for_other_body).status == 403


def test_behind_a_proxy_the_public_url_is_what_is_signed(fake: FakeTwilio, inbox: Inbox) -> None:
    public = "https://sms.aurora.example/webhooks/sms/webhook"
    with serving(fake, inbox, public_url=public):
        assert fake.send_sms(ANA, "hello", signed_url=public).status == 200
        assert fake.send_sms(ANA, "hello again").status == 403  # signed for the inner URL
        assert len(fake.wait_for(1)) == 1


def test_a_retried_webhook_gets_one_reply(fake: FakeTwilio, inbox: Inbox) -> None:
    params = fake.incoming(ANA, "is there an outage?")
    with serving(fake, inbox) as host:
        answers = [fake.post(params) for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 200]
        fake.wait_for(1)
        host.wait_idle()
        time.sleep(0.2)
    assert len(fake.sent) == 1 and len(host.messages) == 1


@pytest.mark.parametrize(
    "body, content_type",
    [(b'{"From": "+351912345678"}', "application/json"), (b"\xff\xfe=\xff", None)],
)
def test_malformed_requests_get_400(
    fake: FakeTwilio, inbox: Inbox, body: bytes, content_type: str | None
) -> None:
    with serving(fake, inbox) as host:
        if content_type:
            answer = host.call(_raw_post(fake, body, content_type))
        else:
            answer = fake.post({}, body=body, signature="x")
    assert answer.status == 400


async def _raw_post(fake: FakeTwilio, body: bytes, content_type: str) -> Any:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.webhook_url, data=body, headers={"Content-Type": content_type}) as answer,
    ):
        return answer


def test_a_signed_request_without_a_sender_gets_400(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox):
        params = fake.incoming(ANA, "hello")
        del params["From"]
        assert fake.post(params).status == 400


def test_an_oversized_request_gets_413(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox, max_body_bytes=2048) as host:
        answer = fake.post({}, body=urlencode({"Body": "x" * 5000}).encode(), signature="x")
    assert answer.status == 413 and host.messages == []


def test_stop_means_nothing_more_is_sent_and_start_undoes_it(
    fake: FakeTwilio, inbox: Inbox
) -> None:
    with serving(fake, inbox) as host:
        fake.send_sms(ANA, "hello")
        fake.wait_for(1)
        assert fake.send_sms(ANA, " Stop. ").status == 200
        assert wait_until(lambda: inbox.opted_out("sms", ANA))
        record = opt_out_row(inbox, "sms", ANA)
        assert record is not None and record["keyword"] == "STOP"
        fake.send_sms(ANA, "are you still there?")  # reaches the bot, gets no SMS
        assert wait_until(lambda: len(host.messages) == 2)
        host.wait_idle()
        fake.send_sms(ANA, "HELP")  # nothing to a number that opted out
        host.call(host.connector.get_output_channel().send_text_message(f"sms:{ANA}", "later"))
        time.sleep(0.3)
        assert [s.body for s in fake.sent_to(ANA)] == ["echo: hello"]
        assert [m.text for m in host.messages] == ["hello", "are you still there?"]

        fake.send_sms(ANA, "start")
        assert wait_until(lambda: not inbox.opted_out("sms", ANA))
        fake.send_sms(ANA, "thanks")
        assert [s.body for s in fake.wait_for(2, number=ANA)] == ["echo: hello", "echo: thanks"]
    entry = inbox.find("sms", fake.answers[1].message_sid)
    assert entry is not None and entry.error == "opt-out keyword STOP"


def test_help_answers_with_the_brands_contacts(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox) as host:
        fake.send_sms(BEA, "help")
        (sms,) = fake.wait_for(1, number=BEA)
    assert "+351 210 000 000" in sms.body and "STOP" in sms.body
    assert host.messages == []


def test_yes_is_a_keyword_only_for_a_number_that_opted_out(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox) as host:
        fake.send_sms(BEA, "yes")
        assert [s.body for s in fake.wait_for(1, number=BEA)] == ["echo: yes"]
        assert [m.text for m in host.messages] == ["yes"]


def test_twilio_refusing_an_unsubscribed_number_records_the_opt_out(
    fake: FakeTwilio, inbox: Inbox
) -> None:
    fake.unsubscribed.add(ANA)
    with serving(fake, inbox):
        fake.send_sms(ANA, "hello")
        assert wait_until(lambda: inbox.opted_out("sms", ANA))
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    record = opt_out_row(inbox, "sms", ANA)
    assert record is not None and "21610" in (record["keyword"] or "")


def test_a_429_and_a_timeout_are_retried(fake: FakeTwilio, inbox: Inbox) -> None:
    fake.fail_next(429, 20429, "Too Many Requests")
    fake.stall_next(2.0)
    with serving(fake, inbox, timeout=0.5):
        fake.send_sms(ANA, "hello")
        assert [s.body for s in fake.wait_for(1, timeout=10)] == ["echo: hello"]
        assert wait_until(lambda: inbox.counts()["done"] == 1)
    assert len(fake.requests) == 3 and len(fake.sent) == 1


def test_a_later_reply_reaches_the_number(fake: FakeTwilio, inbox: Inbox) -> None:
    with serving(fake, inbox) as host:
        output = host.connector.get_output_channel()
        assert output.name() == "sms"
        host.call(output.send_text_message(f"sms:{BEA}", "Un agente: ya está resuelto."))
    assert [(s.to, s.body) for s in fake.sent] == [(BEA, "Un agente: ya está resuelto.")]


def test_a_long_reply_is_fitted_to_two_segments(fake: FakeTwilio, inbox: Inbox) -> None:
    from bot.render.sms import encoding_of

    async def long_answer(message: Any) -> None:
        text = "Para ativar o roaming, aceda à área de cliente e escolha o pacote. " * 10
        await message.output_channel.send_text_message(message.sender_id, text)

    with serving(fake, inbox, long_answer):
        fake.send_sms(ANA, "roaming?")
        (sms,) = fake.wait_for(1)
    assert encoding_of(sms.body).segments <= 2


@pytest.mark.parametrize(
    "body, keyword",
    [
        ("STOP", "STOP"),
        ("stop.", "STOP"),
        ("  Unsubscribe ", "UNSUBSCRIBE"),
        ("quit!", "QUIT"),
        ("Start", "START"),
        ("info", "INFO"),
        ("please stop", None),
        ("stop it", None),
        ("", None),
    ],
)
def test_keywords_are_whole_messages(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


class GatedTwilio(FakeTwilio):
    """A fake Twilio that takes a message only once :attr:`go` is set (and says it arrived)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrived = threading.Event()
        self.go = threading.Event()

    async def _create_message(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.go.wait, 10)
        return await super()._create_message(request)


def test_a_reply_is_recorded_the_moment_twilio_took_it_even_with_the_loop_busy(
    inbox: Inbox,
) -> None:
    """The reply ledger's row is written while the server's event loop is still blocked.

    The bot's handler blocks the loop (as the model's CPU work does) from before Twilio answers
    until the row appears: a client that recorded only once the loop got back to it would find
    no row, and a crash in that window would send the reply twice after the restart.
    """
    seen: dict[str, Any] = {}
    with GatedTwilio() as fake:

        async def reply_while_the_loop_is_busy(message: UserMessage) -> None:
            entry_id = int(message.message_id.rsplit("-", 1)[1])
            output = message.output_channel
            sending = asyncio.ensure_future(output.send_text_message(message.sender_id, "hi"))
            while not fake.arrived.is_set():
                await asyncio.sleep(0.005)
            fake.go.set()  # Twilio answers now; the loop stays blocked below until the row exists
            started = time.monotonic()
            seen["recorded"] = wait_until(lambda: inbox.replies.sent(entry_id) == {0}, 5.0)
            seen["seconds"] = time.monotonic() - started
            await sending
            seen["sent"] = list(output.sent)

        with serving(fake, inbox, reply_while_the_loop_is_busy):
            fake.send_sms(ANA, "hello")
            assert wait_until(lambda: inbox.counts()["done"] == 1)
        assert [s.body for s in fake.sent] == ["hi"]
    assert seen["recorded"] is True and seen["seconds"] < 2.0
    assert [reply.text for reply in seen["sent"]] == ["hi"]


def test_a_refused_reply_is_recorded_and_one_that_kept_failing_is_not(
    fake: FakeTwilio, inbox: Inbox
) -> None:
    fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    with serving(fake, inbox, redeliver_every=0):
        fake.send_sms(ANA, "hello")
        refused = inbox.find("sms", fake.answers[-1].message_sid)
        assert refused is not None
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        fake.fail_next(503, 20503, "Service Unavailable", count=5)  # every try of the attempt
        fake.send_sms(BEA, "hello")
        failed = inbox.find("sms", fake.answers[-1].message_sid)
        assert failed is not None
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
    assert inbox.replies.sent(refused.id) == {0}  # not tried again: refused for good
    assert inbox.replies.sent(failed.id) == set()  # tried again later
    assert fake.sent == []


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits the client logged before its retries (the log line's last argument)."""
    return [
        float(record.args[-1])  # type: ignore[index]
        for record in caplog.records
        if record.name == "bot.channels.sms" and "retry" in record.getMessage()
    ]


async def test_a_refusal_is_not_retried_and_the_retries_wait_with_jitter(
    fake: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    client = TwilioClient(
        fake.account_sid,
        fake.auth_token,
        from_number=fake.number,
        api_base_url=fake.api_base_url,
        backoff=0.02,
    )
    try:
        fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
        with pytest.raises(PermanentDeliveryError) as refused:
            await client.send(ANA, "hello")
        assert refused.value.code == 21211 and len(fake.requests) == 1  # tried once
        runs = []
        for _ in range(2):
            caplog.clear()
            fake.fail_next(503, 20503, "Service Unavailable", count=2)
            with caplog.at_level(logging.WARNING, logger="bot.channels.sms"):
                assert (await client.send(ANA, "hello")).startswith("SM")
            runs.append(retry_waits(caplog))
    finally:
        await client.close()
    assert len(fake.requests) == 1 + 3 + 3 and len(fake.sent) == 2
    for first, second in runs:
        assert 0.02 <= first <= 0.04 and 0.04 <= second <= 0.06  # doubling, plus up to 0.02
    assert runs[0] != runs[1]  # jitter: two runs do not wait alike
