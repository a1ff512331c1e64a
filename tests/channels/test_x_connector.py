"""The X connector without a model: configuration, sending, the scheduler job, webhook payloads.

Rasa's part is played by a stub handler that answers like the bot would (through the output
channel it is given); the whole pipeline with the real Rasa server is in test_x_e2e.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered
from tenacity import AsyncRetrying, RetryCallState

from afterhours.bench.fakes.x_server import FakeX, wait_until
from bot.channels.base import DeliveryError, Rejected
from bot.channels.inbox import Inbox
from bot.channels.x import XInput, XOutput
from bot.channels.x_client import (
    SEND_ATTEMPTS,
    RateLimited,
    XCredentials,
    send_wait,
    wait_seconds,
)
from bot.render.x import weighted_length
from bot.settings import ConfigError

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

LONG_ANSWER = (
    "To use your phone abroad, switch on roaming in Settings > Mobile data and restart. "
    "In the EU you pay your usual national prices; elsewhere daily passes start at 5 EUR. "
    "You can check your balance in the app, and call +351 210 000 000 (24 h for faults) "
    "if the network does not appear after ten minutes. More at https://aurora.example/roaming"
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        yield server


@pytest.fixture()
def fresh(fake: FakeX) -> FakeX:
    with fake._lock:
        for store in (fake.tweets, fake.dm_events, fake.posted_tweets, fake.posted_dms):
            store.clear()
        fake.requests.clear()
        fake.windows.clear()
        fake.fail_next.clear()
    return fake


@pytest.fixture()
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox.from_url(f"sqlite:///{tmp_path / 'inbox.db'}", migrate=True)
    yield box
    box.dispose()


def credentials_of(fake: FakeX) -> XCredentials:
    return XCredentials(
        fake.bearer_token,
        fake.consumer_key,
        fake.consumer_secret,
        fake.access_token,
        fake.access_token_secret,
    )


def connector(fake: FakeX, inbox: Inbox, **options: Any) -> XInput:
    options.setdefault("mentions_seconds", 0.2)
    options.setdefault("dm_seconds", 0.2)
    return XInput(
        credentials=credentials_of(fake),
        user_id=fake.brand_id,
        handle="@" + fake.brand_username,
        api_base_url=fake.base_url,
        inbox=inbox,
        redeliver_every=0,
        **options,
    )


@pytest.fixture()
async def scheduler_reset() -> AsyncIterator[None]:
    """Rasa's scheduler is a process-wide singleton bound to one event loop."""
    from rasa.core import jobs

    jobs.kill_scheduler()
    yield
    jobs.kill_scheduler()


# --- configuration ------------------------------------------------------------------------------

ENV = {
    "X_BEARER_TOKEN": "bearer-secret-value",
    "X_CONSUMER_KEY": "consumer-key-value",
    "X_CONSUMER_SECRET": "consumer-secret-value",
    "X_ACCESS_TOKEN": "1500000000000000001-access-token-value",
    "X_ACCESS_TOKEN_SECRET": "access-secret-value",
    "X_USER_ID": "1500000000000000001",
}
ENTRY = {
    "tier": "pro",
    "bearer_token_env": "X_BEARER_TOKEN",
    "consumer_key_env": "X_CONSUMER_KEY",
    "consumer_secret_env": "X_CONSUMER_SECRET",
    "access_token_env": "X_ACCESS_TOKEN",
    "access_token_secret_env": "X_ACCESS_TOKEN_SECRET",
    "user_id_env": "X_USER_ID",
}


def test_from_credentials_reads_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    channel = XInput.from_credentials(dict(ENTRY))
    assert channel.name() == "x" and channel.user_id == ENV["X_USER_ID"]
    assert channel.intervals.mentions == 10.0 and channel.intervals.dms == 10.0
    assert channel.credentials.consumer_secret == ENV["X_CONSUMER_SECRET"]
    assert "secret-value" not in repr(channel.credentials)


def test_a_missing_variable_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("X_ACCESS_TOKEN_SECRET")
    with pytest.raises(ConfigError, match="X_ACCESS_TOKEN_SECRET"):
        XInput.from_credentials(dict(ENTRY))


def test_bad_options_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="unknown x option"):
        XInput.from_credentials({**ENTRY, "teir": "pro"})
    with pytest.raises(ConfigError, match="tier"):
        XInput.from_credentials({**ENTRY, "tier": "gold"})
    with pytest.raises(ConfigError, match="mode"):
        XInput.from_credentials({**ENTRY, "mode": "carrier-pigeon"})
    monkeypatch.setenv("X_USER_ID", "@AuroraCare")
    with pytest.raises(ConfigError, match="numeric"):
        XInput.from_credentials(dict(ENTRY))
    without = {k: v for k, v in ENTRY.items() if k != "bearer_token_env"}
    with pytest.raises(ConfigError, match="bearer_token_env"):
        XInput.from_credentials(without)


async def test_no_secret_reaches_a_log_even_at_debug(
    fresh: FakeX, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    channel = connector(fresh, inbox)
    fresh.mention("ana", "hi")
    with caplog.at_level(logging.DEBUG):
        channel.api.mentions(fresh.brand_id)
        channel.api.dm_events()
        channel.api.reply("@ana hello", None)
    assert "Authorization" in caplog.text  # tweepy did log the headers ...
    for secret in (fresh.bearer_token, fresh.access_token, fresh.consumer_key):
        assert secret not in caplog.text  # ... without the values
    assert fresh.consumer_secret not in caplog.text
    assert fresh.access_token_secret not in caplog.text


# --- sending ------------------------------------------------------------------------------------


def output_for(channel: XInput, inbound_metadata: dict[str, Any]) -> XOutput:
    from bot.channels.x import destination_of

    return XOutput(channel, destination_of(inbound_metadata))


def mention_metadata(fake: FakeX, tweet: dict[str, Any], sender: str) -> dict[str, Any]:
    return {
        "channel": "x",
        "public": True,
        "sender": sender,
        "platform": {"kind": "mention", "tweet_id": tweet["id"], "user_id": tweet["author_id"]},
    }


async def test_a_public_reply_is_threaded_and_fits_280_with_the_handle(
    fresh: FakeX, inbox: Inbox
) -> None:
    channel = connector(fresh, inbox)
    tweet = fresh.mention("maria_viajante", "how do I use my phone abroad?")
    output = output_for(channel, mention_metadata(fresh, tweet, "maria_viajante"))
    await output.send_text_message("x:maria_viajante", LONG_ANSWER)
    [reply] = fresh.replies_to(tweet["id"])
    assert reply["text"].startswith("@maria_viajante ")
    assert weighted_length(reply["text"]) <= 280 < weighted_length(LONG_ANSWER)
    assert output.tweet_ids == [reply["id"]] and fresh.posted_dms == []
    assert fresh.hits("tweets")[-1].auth == "oauth1"


async def test_a_reply_marked_private_goes_by_dm(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox)
    tweet = fresh.mention("mark_h", "why was I charged? my NIF is 198765436")
    output = output_for(channel, mention_metadata(fresh, tweet, "mark_h"))
    await output.send_text_message("x:mark_h", "Let's continue by DM.", visibility="public")
    await output.send_text_message(
        "x:mark_h", "Send us your account number here, NIF 198765436 noted.", visibility="private"
    )
    [public] = fresh.replies_to(tweet["id"])
    [dm] = fresh.dms_to("mark_h")
    assert public["text"] == "@mark_h Let's continue by DM."
    assert "198765436" in dm["text"] and dm["participant_id"] == tweet["author_id"]


async def test_a_dm_is_answered_by_dm_and_never_in_public(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox)
    event = fresh.dm("ana", "hello")
    metadata = {
        "channel": "x",
        "public": False,
        "sender": "ana",
        "platform": {"kind": "dm", "user_id": event["sender_id"]},
    }
    output = output_for(channel, metadata)
    await output.send_text_message("x:ana", "Hi Ana!", visibility="public")
    assert [d["text"] for d in fresh.dms_to("ana")] == ["Hi Ana!"]
    assert fresh.posted_tweets == []


async def test_sending_waits_for_the_reset_on_429_and_retries_server_errors(
    fresh: FakeX, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(XOutput, "retry_seconds", 0.05)
    channel = connector(fresh, inbox)
    tweet = fresh.mention("ana", "hello")
    output = output_for(channel, mention_metadata(fresh, tweet, "ana"))
    reset = fresh.exhaust("tweets", reset_in=0.3)
    await output.send_text_message("x:ana", "Hello Ana!")
    assert len(fresh.replies_to(tweet["id"])) == 1
    assert [r.status for r in fresh.hits("tweets")] == [429, 201]
    assert fresh.hits("tweets")[-1].at >= reset
    fresh.fail("tweets", 503, 502)
    await output.send_text_message("x:ana", "Anything else?")
    assert [r.status for r in fresh.hits("tweets")][-3:] == [503, 502, 201]
    assert len(fresh.replies_to(tweet["id"])) == 2


def short_timeouts(channel: XInput, read: float = 0.3) -> None:
    """X answers slower than the client waits."""
    for adapter in channel.api.client.session.adapters.values():
        if hasattr(adapter, "timeout"):
            adapter.timeout = (2.0, read)


async def test_a_reply_whose_answer_timed_out_is_not_posted_twice(
    fresh: FakeX, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # X got the post but its answer came after the client gave up; the retry is refused as
    # duplicate content, which means the first one went through.
    monkeypatch.setattr(XOutput, "retry_seconds", 0.5)
    channel = connector(fresh, inbox)
    short_timeouts(channel)
    tweet = fresh.mention("ana", "hello")
    fresh.delays["tweets"] = [0.6]
    output = output_for(channel, mention_metadata(fresh, tweet, "ana"))
    await output.send_text_message("x:ana", "Hello Ana, how can we help?")
    assert len(fresh.replies_to(tweet["id"])) == 1
    assert [r.status for r in fresh.hits("tweets")] == [201, 403]
    assert output.undelivered == [] and len(output.sent) == 1


async def test_a_dm_whose_answer_timed_out_is_looked_up_not_sent_twice(
    fresh: FakeX, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(XOutput, "retry_seconds", 0.5)
    channel = connector(fresh, inbox)
    short_timeouts(channel)
    event = fresh.dm("ana", "hello")
    fresh.delays["dm_send"] = [0.6]
    metadata = {
        "channel": "x",
        "public": False,
        "sender": "ana",
        "platform": {"kind": "dm", "user_id": event["sender_id"]},
    }
    output = output_for(channel, metadata)
    await output.send_text_message("x:ana", "Hi Ana!")
    assert [d["text"] for d in fresh.dms_to("ana")] == ["Hi Ana!"]
    assert len(fresh.hits("dm_send")) == 1 and output.dm_ids == [fresh.dms_to("ana")[0]["id"]]
    # When X really did not get it, the lookup finds nothing and the DM is sent again.
    fresh.fail("dm_send", 503)
    await output.send_text_message("x:ana", "Anything else?")
    assert [d["text"] for d in fresh.dms_to("ana")] == ["Hi Ana!", "Anything else?"]


async def test_a_refusal_is_recorded_not_retried(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox)
    metadata = {
        "channel": "x",
        "public": True,
        "sender": "ghost",
        "platform": {"kind": "mention", "tweet_id": "404", "user_id": "1"},
    }
    output = output_for(channel, metadata)
    await output.send_text_message("x:ghost", "Hello!")
    assert len(fresh.hits("tweets")) == 1 and fresh.posted_tweets == []
    assert output.undelivered and "400" in output.undelivered[0]


async def test_output_channel_latest_threads_under_the_customers_latest_post(
    fresh: FakeX, inbox: Inbox
) -> None:
    channel = connector(fresh, inbox)
    older = fresh.mention("ana", "internet down")
    newer = fresh.mention("ana", "still down!!")
    events = [
        UserUttered(
            "internet down", input_channel="x", metadata=mention_metadata(fresh, older, "ana")
        ),
        UserUttered(
            "still down!!", input_channel="x", metadata=mention_metadata(fresh, newer, "ana")
        ),
    ]

    async def retrieve(sender_id: str) -> Any:
        return SimpleNamespace(events=events) if sender_id == "x:ana" else None

    store = SimpleNamespace(retrieve=retrieve)
    channel._app = SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(tracker_store=store)))
    latest = channel.get_output_channel()
    await latest.send_text_message("x:ana", "An agent here: the outage is fixed.")
    [reply] = fresh.replies_to(newer["id"])
    assert reply["text"] == "@ana An agent here: the outage is fixed."
    unknown = channel.get_output_channel()
    await unknown.send_text_message("x:nobody", "Hello?")
    assert isinstance(unknown, XOutput) and unknown.undelivered


# --- the polling job in Rasa's scheduler ------------------------------------------------------


async def test_the_job_polls_on_rasas_scheduler_and_replies_through_the_output(
    fresh: FakeX, inbox: Inbox, scheduler_reset: None
) -> None:
    handled: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        handled.append(message)
        await message.output_channel.send_text_message(message.sender_id, "Thanks, we're on it.")

    channel = connector(fresh, inbox)
    channel.blueprint(bot)
    await channel.start(SimpleNamespace(ctx=SimpleNamespace(agent=None)))
    try:
        from rasa.core import jobs

        scheduler = await jobs.scheduler()
        assert {job.id for job in scheduler.get_jobs()} >= {
            "afterhours-x-mentions",
            "afterhours-x-dms",
        }
        tweet = fresh.mention("ana", "is there an outage?")
        event = fresh.dm("bruno", "hello")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, wait_until, lambda: fresh.replies_to(tweet["id"]), 10)
        await loop.run_in_executor(None, wait_until, lambda: fresh.dms_to("bruno"), 10)
        by_sender = {m.sender_id: m for m in handled}
        mention = by_sender["x:ana"]
        assert mention.input_channel == "x" and mention.metadata["public"] is True
        assert mention.metadata["platform"]["addressed_hint"]["addressed"] is True
        assert by_sender["x:bruno"].metadata["platform"]["dm_event_id"] == event["id"]
        await loop.run_in_executor(None, wait_until, lambda: inbox.counts("x")["done"] == 2, 10)
    finally:
        await channel.stop(None)
    assert scheduler.get_job("afterhours-x-mentions") is None


async def test_the_event_loop_keeps_running_while_x_is_slow(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox)
    original = channel.api.mentions

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return original(*args, **kwargs)

    channel.api.mentions = slow  # type: ignore[method-assign]
    channel.poller = None
    from bot.channels.x_poll import XPoller

    async def accept(*_: Any) -> bool:
        return True

    poller = XPoller(
        channel.api,
        inbox,
        brand_id=fresh.brand_id,
        brand_handle="@AuroraCare",
        accept=accept,
        executor=channel.executor,
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    running = asyncio.create_task(ticker())
    await poller.poll_mentions()
    running.cancel()
    assert ticks >= 20  # ~50 ticks would fit in 0.5 s; a blocked loop gets none


# --- webhook payloads -----------------------------------------------------------------------------


def test_activity_is_read_into_messages_and_our_own_is_left_out(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox, mode="webhook")
    tweet = fresh.mention("ana", "help")
    own = fresh.post(fresh.brand_username, "@ana sure")
    event = fresh.dm("bob", "hi")
    payload = fresh.activity_for_tweet(tweet)
    payload["tweet_create_events"] += fresh.activity_for_tweet(own)["tweet_create_events"]
    payload.update({k: v for k, v in fresh.activity_for_dm(event).items() if k != "for_user_id"})
    found = channel.read_activity(payload)
    assert [platform_id for platform_id, _, _ in found] == [
        f"tweet:{tweet['id']}",
        f"dm:{event['id']}",
    ]
    assert found[0][1].public is True and found[1][1].public is False


def test_activity_for_another_account_or_unreadable_is_refused(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox, mode="webhook")
    with pytest.raises(Rejected) as other:
        channel.read_activity({"for_user_id": "42", "tweet_create_events": []})
    assert other.value.status == 403
    with pytest.raises(Rejected) as broken:
        channel.read_activity({"for_user_id": fresh.brand_id, "tweet_create_events": [{"x": 1}]})
    assert broken.value.status == 400


def retry_state(error: BaseException, attempt: int) -> RetryCallState:
    """tenacity's state after ``attempt`` tries, the last one failing with ``error``."""
    state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_server_errors_wait_with_jitter_and_a_429_until_the_reset() -> None:
    wait = send_wait(0.5)
    failed = requests.ConnectionError("connection reset")
    first = [wait(retry_state(failed, 1)) for _ in range(20)]
    assert all(0.5 <= w <= 1.0 for w in first) and len(set(first)) > 1  # jittered
    assert all(1.0 <= wait(retry_state(failed, 2)) <= 1.5 for _ in range(20))  # doubling
    reset = time.time() + 10
    assert wait(retry_state(RateLimited("tweets", reset), 1)) == pytest.approx(
        wait_seconds(reset), abs=0.5
    )  # exactly the window's reset, no jitter


async def test_a_write_that_keeps_failing_stops_after_its_attempts(
    fresh: FakeX, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(XOutput, "retry_seconds", 0.01)
    channel = connector(fresh, inbox)
    tweet = fresh.mention("ana", "hello")
    output = output_for(channel, mention_metadata(fresh, tweet, "ana"))
    fresh.fail("tweets", *[503] * SEND_ATTEMPTS)
    with pytest.raises(DeliveryError):
        await output.send_text_message("x:ana", "Hello Ana!")
    assert [r.status for r in fresh.hits("tweets")] == [503] * SEND_ATTEMPTS
    assert fresh.replies_to(tweet["id"]) == [] and output.undelivered == []
