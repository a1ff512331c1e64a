"""What every connector shares: verification helpers, the inbox path, redelivery at start-up."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import (
    ChannelConnector,
    ConnectorOutput,
    OnNewMessage,
    Rejected,
    TaskSet,
    check_size,
    parse_json_object,
    recipient_of,
    secrets_match,
    signature_matches,
)
from bot.channels.inbox import DONE, FAILED, Inbox
from bot.channels.output import Reply
from bot.inbound import Inbound
from tests.channels.channels_support import ChannelHost, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")
UTC = dt.timezone.utc


def test_secrets_match_only_equal_non_empty_secrets() -> None:
    assert secrets_match("s3cret", "s3cret")
    assert not secrets_match("s3cret", "s3creT")
    assert not secrets_match("s3cret-and-more", "s3cret")
    assert not secrets_match(None, "s3cret")
    assert not secrets_match("", "")
    assert not secrets_match("anything", None)


def test_signature_matches_hmac_in_both_encodings() -> None:
    body = b'{"for_user_id": "2244994945"}'
    mac = hmac.new(b"consumer-secret", body, hashlib.sha256).digest()
    good = "sha256=" + base64.b64encode(mac).decode()
    assert signature_matches(good, "consumer-secret", body, prefix="sha256=")
    assert not signature_matches(good, "another-secret", body, prefix="sha256=")
    assert not signature_matches(good, "consumer-secret", body + b" ", prefix="sha256=")
    assert not signature_matches(None, "consumer-secret", body)
    assert signature_matches(mac.hex(), "consumer-secret", body, encoding="hex")


class FakeRequest:
    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.headers = headers or {}


def test_bodies_over_the_limit_are_refused_with_413() -> None:
    check_size(FakeRequest(b"x" * 10), 10)  # type: ignore[arg-type]
    with pytest.raises(Rejected) as raised:
        check_size(FakeRequest(b"x" * 11), 10)  # type: ignore[arg-type]
    assert raised.value.status == 413
    with pytest.raises(Rejected):  # a declared length is enough
        check_size(FakeRequest(b"", {"content-length": "999999"}), 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty"),
        (b"{nope", "malformed"),
        (b"[1, 2]", "not an object"),
        (b"\xff\xfe", "malformed"),
    ],
)
def test_malformed_json_is_refused_with_400(body: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as raised:
        parse_json_object(body)
    assert raised.value.status == 400 and reason in raised.value.reason


def test_parse_json_object_returns_the_object() -> None:
    assert parse_json_object(json.dumps({"update_id": 1}).encode()) == {"update_id": 1}


def test_recipient_of() -> None:
    assert recipient_of("telegram:123", "telegram") == "123"
    assert recipient_of("sms:+351912345678", "sms") == "+351912345678"
    assert recipient_of("other", "sms") == "other"


async def test_a_task_set_keeps_its_tasks_until_they_finish() -> None:
    tasks = TaskSet()
    gate = asyncio.Event()
    done: list[int] = []

    async def work(n: int) -> None:
        await gate.wait()
        done.append(n)

    for n in range(3):
        tasks.spawn(work(n))
    assert len(tasks) == 3
    gate.set()
    await tasks.drain(1.0)
    await asyncio.sleep(0)
    assert sorted(done) == [0, 1, 2] and len(tasks) == 0

    tasks.spawn(asyncio.sleep(10))
    await tasks.drain(0.01)  # too slow: cancelled
    await asyncio.sleep(0)
    assert len(tasks) == 0


# -- a minimal connector on a real server ---------------------------------------------------


class ListOutput(ConnectorOutput):
    sent_all: list[tuple[str, str]] = []

    @classmethod
    def name(cls) -> str:
        return "demo"

    async def deliver(self, recipient_id: str, reply: Reply) -> None:
        ListOutput.sent_all.append((recipient_id, reply.text))
        self.sent.append(reply)


class DemoConnector(ChannelConnector):
    """POST /webhook {"id": ..., "from": ..., "text": ...} with a shared secret header."""

    channel = "rest"  # a channel the renderer knows

    def add_routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                if not secrets_match(request.headers.get("X-Secret"), "letmein"):
                    raise Rejected(403, "bad secret")
                check_size(request, self.max_body_bytes)
                data = parse_json_object(request.body)
                inbound = Inbound(
                    channel="rest",
                    sender=str(data["from"]),
                    text=str(data["text"]),
                    public=False,
                    at=dt.datetime.now(UTC),
                    platform={"id": data["id"]},
                )
                entry = await self.accept(str(data["id"]), inbound, data, on_new_message)
            except Rejected as rejection:
                return self.reject(request, rejection)
            return response.json({"entry": entry})

    def output_for(self, inbound: Inbound) -> OutputChannel:
        return ListOutput("rest", public=False, handle=None)


def post(url: str, data: Any, secret: str = "letmein", raw: bytes | None = None) -> tuple[int, Any]:
    body = raw if raw is not None else json.dumps(data).encode()
    request = urllib.request.Request(
        url, data=body, headers={"X-Secret": secret, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    yield opened
    opened.dispose()


def test_a_message_is_recorded_acknowledged_processed_and_marked_done(inbox: Inbox) -> None:
    ListOutput.sent_all = []
    connector = DemoConnector(inbox=inbox, max_body_bytes=1000)
    with ChannelHost(connector) as host:
        status, body = post(host.webhook_url, {"id": "m1", "from": "ana", "text": "  hello\x07 "})
        assert status == 200 and isinstance(body["entry"], int)
        assert post(host.webhook_url, {"id": "m1", "from": "ana", "text": "hello"}) == (
            200,
            {"entry": None},
        )
        assert wait_until(lambda: inbox.counts()["done"] == 1)
        (message,) = host.messages
        assert message.sender_id == "rest:ana"
        assert message.input_channel == "rest"
        assert message.text == "hello"  # cleaned
        assert message.metadata["channel"] == "rest" and message.metadata["sender"] == "ana"
        assert message.metadata["platform"] == {"id": "m1"}
        assert message.metadata["raw_text"] == "  hello\x07 "
        assert ListOutput.sent_all == [("rest:ana", "echo: hello")]
        assert post(host.webhook_url, {}, secret="nope")[0] == 403
        assert post(host.webhook_url, {}, raw=b"{")[0] == 400
        assert post(host.webhook_url, {}, raw=b"x" * 2000)[0] == 413
        assert inbox.counts() == {"received": 0, "done": 1, "failed": 0}


def test_a_failed_message_is_redelivered_when_the_server_starts(inbox: Inbox) -> None:
    ListOutput.sent_all = []
    failing = {"left": 1}

    async def flaky(message: UserMessage) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("the model is not loaded yet")
        await message.output_channel.send_text_message(message.sender_id, "answer")

    first = DemoConnector(inbox=inbox, redeliver_after=0, redeliver_every=0)
    with ChannelHost(first, flaky) as host:
        assert post(host.webhook_url, {"id": "m2", "from": "bea", "text": "hi"})[0] == 200
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
    entry = inbox.find("rest", "m2")
    assert entry is not None and entry.status == FAILED
    assert entry.error == "RuntimeError: the model is not loaded yet"

    # A restart: the pending entry is processed again, once, after its backoff (2-3 s).
    assert entry.retry_at is not None and entry.errors == 1
    second = DemoConnector(inbox=inbox, redeliver_after=0, redeliver_every=0.2)
    with ChannelHost(second, flaky) as host:
        assert wait_until(lambda: inbox.counts()["done"] == 1, timeout=10)
        host.wait_idle()
    entry = inbox.find("rest", "m2")
    assert entry is not None and (entry.status, entry.attempts) == (DONE, 2)
    assert ListOutput.sent_all == [("rest:bea", "answer")]


def test_messages_waiting_for_a_slot_are_not_redelivered_meanwhile(inbox: Inbox) -> None:
    ListOutput.sent_all = []

    async def slow(message: UserMessage) -> None:
        await asyncio.sleep(0.4)
        await message.output_channel.send_text_message(message.sender_id, message.text or "")

    # One at a time, a lease shorter than the wait: only the renewals keep the sweep away.
    connector = DemoConnector(
        inbox=inbox, max_in_flight=1, redeliver_after=0.3, redeliver_every=0.1
    )
    with ChannelHost(connector, slow) as host:
        for n in range(5):
            assert (
                post(host.webhook_url, {"id": f"q{n}", "from": f"c{n}", "text": f"m{n}"})[0] == 200
            )
        assert wait_until(lambda: inbox.counts()["done"] == 5, timeout=20)
        time.sleep(0.5)
    assert sorted(text for _, text in ListOutput.sent_all) == [f"m{n}" for n in range(5)]
    assert len(host.messages) == 5
    assert all(inbox.find("rest", f"q{n}").attempts == 1 for n in range(5))  # type: ignore[union-attr]


def test_replies_sent_before_a_crash_are_not_sent_again(inbox: Inbox) -> None:
    """An attempt sends two replies and dies before finishing: the next one sends only the third."""
    ListOutput.sent_all = []
    attempts = {"n": 0}

    async def dies_after_two(message: UserMessage) -> None:
        attempts["n"] += 1
        for text in ("one", "two", "three"):
            await message.output_channel.send_text_message(message.sender_id, text)
            if attempts["n"] == 1 and text == "two":
                raise RuntimeError("killed")

    connector = DemoConnector(inbox=inbox, redeliver_after=0, redeliver_every=0.2)
    with ChannelHost(connector, dies_after_two) as host:
        assert post(host.webhook_url, {"id": "r1", "from": "cy", "text": "hi"})[0] == 200
        assert wait_until(lambda: inbox.counts()["done"] == 1, timeout=10)
        host.wait_idle()
    assert ListOutput.sent_all == [("rest:cy", "one"), ("rest:cy", "two"), ("rest:cy", "three")]
    entry = inbox.find("rest", "r1")
    assert entry is not None and (entry.attempts, entry.errors) == (2, 1)
    assert inbox.replies.sent(entry.id) == {0, 1, 2}


def test_a_turn_rasa_did_not_store_is_retried_and_pauses_new_attempts(inbox: Inbox) -> None:
    """Rasa carried on after a failed action (the tracker store reported it): not done."""
    from bot import turns

    ListOutput.sent_all = []
    calls = {"n": 0}

    async def action_server_down_once(message: UserMessage) -> None:
        calls["n"] += 1
        turn = turns.current()
        assert turn is not None and turn.message_id == message.message_id
        turn.reported = True
        if calls["n"] == 1:
            turn.lost = ["action_handoff"]
            return
        turn.committed = True
        await message.output_channel.send_text_message(message.sender_id, "a person will answer")

    connector = DemoConnector(inbox=inbox, redeliver_after=60, redeliver_every=0.2)
    with ChannelHost(connector, action_server_down_once) as host:
        assert post(host.webhook_url, {"id": "h1", "from": "di", "text": "help"})[0] == 200
        assert wait_until(lambda: inbox.counts()["failed"] == 1)
        assert connector.paused()
        entry = inbox.find("rest", "h1")
        assert entry is not None and entry.errors == 0  # a server down is not the bot's fault
        assert entry.error == "NotDurable: action server failed: action_handoff lost its events"
        assert wait_until(lambda: inbox.counts()["done"] == 1, timeout=10)
        host.wait_idle()
    assert ListOutput.sent_all == [("rest:di", "a person will answer")]


def test_a_tracker_store_that_cannot_be_read_leaves_the_message_for_later(inbox: Inbox) -> None:
    from bot import turns

    ListOutput.sent_all = []
    calls = {"n": 0}

    async def store_down_once(message: UserMessage) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise turns.StoreUnavailable("OperationalError")
        await message.output_channel.send_text_message(message.sender_id, "answer")

    connector = DemoConnector(inbox=inbox, redeliver_after=60, redeliver_every=0.2)
    with ChannelHost(connector, store_down_once) as host:
        assert post(host.webhook_url, {"id": "s1", "from": "ed", "text": "hi"})[0] == 200
        assert wait_until(lambda: inbox.counts()["done"] == 1, timeout=10)
        host.wait_idle()
    entry = inbox.find("rest", "s1")
    assert entry is not None and (entry.attempts, entry.errors) == (2, 0)
    assert ListOutput.sent_all == [("rest:ed", "answer")]
