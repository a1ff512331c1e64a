"""Polling X through tweepy against the fake X: cursors, restarts, pages, 429s, DMs.

tweepy is used as it is; its session is routed to the fake server by the connector's own
transport adapter (``api_base_url``). The inbox is the real one, on SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from afterhours.bench.fakes.x_server import FakeX
from bot.channels.inbox import Inbox
from bot.channels.x_client import XApi, XCredentials
from bot.channels.x_data import snowflake_at
from bot.channels.x_poll import XPoller
from bot.inbound import Inbound

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        yield server


@pytest.fixture()
def fresh(fake: FakeX) -> FakeX:
    """The module's fake X with an empty world."""
    with fake._lock:
        fake.tweets.clear()
        fake.dm_events.clear()
        fake.posted_tweets.clear()
        fake.posted_dms.clear()
        fake.requests.clear()
        fake.windows.clear()
        fake.fail_next.clear()
    return fake


@pytest.fixture()
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox.from_url(f"sqlite:///{tmp_path / 'inbox.db'}", migrate=True)
    yield box
    box.dispose()


class Collector:
    """Records like the connector does (inbox first), keeps what was accepted."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.accepted: list[tuple[str, Inbound]] = []

    async def __call__(self, platform_id: str, inbound: Inbound, payload: dict[str, Any]) -> bool:
        json.dumps(payload)  # what is stored must be JSON
        if self.inbox.record("x", platform_id, inbound, payload) is None:
            return False
        self.accepted.append((platform_id, inbound))
        return True

    @property
    def ids(self) -> list[str]:
        return [platform_id for platform_id, _ in self.accepted]


def poller_for(
    fake: FakeX,
    inbox: Inbox,
    collector: Collector,
    timeout: tuple[float, float] = (5.0, 30.0),
    **kwargs: Any,
) -> XPoller:
    api = XApi(
        XCredentials(
            fake.bearer_token,
            fake.consumer_key,
            fake.consumer_secret,
            fake.access_token,
            fake.access_token_secret,
        ),
        api_base_url=fake.base_url,
        timeout=timeout,
    )
    return XPoller(
        api,
        inbox,
        brand_id=fake.brand_id,
        brand_handle="@" + fake.brand_username,
        accept=collector,
        **kwargs,
    )


async def test_first_start_answers_only_what_comes_after_it(fresh: FakeX, inbox: Inbox) -> None:
    fresh.mention("old_timer", "this was posted before the bot went live")
    time.sleep(0.01)
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    first = await poller.poll_mentions()
    assert first.accepted == 0 and collector.accepted == []
    new = fresh.mention("ruben", "is there an outage in Almada?")
    second = await poller.poll_mentions()
    assert second.accepted == 1 and collector.ids == [f"tweet:{new['id']}"]
    _, inbound = collector.accepted[0]
    assert inbound.sender == "ruben" and inbound.public is True
    assert inbound.platform and inbound.platform["tweet_id"] == new["id"]
    assert inbox.get_cursor("x:mentions:since_id") == new["id"]
    # Every request asked X for the facts the addressing needs.
    query = fresh.hits("mentions")[-1].query
    assert query["since_id"] and "referenced_tweets" in query["tweet.fields"]
    assert "in_reply_to_user_id" in query["tweet.fields"] and query["expansions"] == "author_id"


async def test_backfill_answers_what_was_posted_shortly_before_the_first_start(
    fresh: FakeX, inbox: Inbox
) -> None:
    earlier = fresh.mention("early_bird", "anyone there?")
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, backfill=timedelta(minutes=10))
    await poller.poll_mentions()
    assert collector.ids == [f"tweet:{earlier['id']}"]


async def test_a_restart_neither_answers_twice_nor_skips(fresh: FakeX, inbox: Inbox) -> None:
    first_run = Collector(inbox)
    poller = poller_for(fresh, inbox, first_run)
    await poller.initialise_cursors()
    one = fresh.mention("ana", "fibre down")
    await poller.poll_mentions()
    assert first_run.ids == [f"tweet:{one['id']}"]
    poller.api.close()
    # Posted while the server was down.
    two = fresh.mention("bob", "no signal on TV")
    restarted = Collector(inbox)
    again = poller_for(fresh, inbox, restarted)
    await again.initialise_cursors()  # a cursor exists: it is kept
    result = await again.poll_mentions()
    assert restarted.ids == [f"tweet:{two['id']}"] and result.duplicates == 0
    assert fresh.hits("mentions")[-1].query["since_id"] == one["id"]


async def test_a_crash_before_the_cursor_moved_only_refetches_and_drops(
    fresh: FakeX, inbox: Inbox
) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    before = inbox.get_cursor("x:mentions:since_id")
    posted = fresh.mention("ana", "hello?")
    await poller.poll_mentions()
    assert before is not None
    inbox.set_cursor("x:mentions:since_id", before)  # the cursor write was lost
    result = await poller.poll_mentions()
    assert result.accepted == 0 and result.duplicates == 1
    assert collector.ids == [f"tweet:{posted['id']}"]
    assert inbox.get_cursor("x:mentions:since_id") == posted["id"]


async def test_every_page_is_read_and_handed_over_oldest_first(fresh: FakeX, inbox: Inbox) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, page_size=10)
    await poller.initialise_cursors()
    posted = [fresh.mention(f"customer{i}", f"question {i}") for i in range(25)]
    result = await poller.poll_mentions()
    assert result.pages == 3 and result.accepted == 25
    assert collector.ids == [f"tweet:{t['id']}" for t in posted]
    tokens = [r.query.get("pagination_token") for r in fresh.hits("mentions")[-3:]]
    assert tokens[0] is None and all(tokens[1:])
    assert inbox.get_cursor("x:mentions:since_id") == posted[-1]["id"]


async def test_our_own_posts_never_reach_the_bot(fresh: FakeX, inbox: Inbox) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    own = fresh.post(fresh.brand_username, "@AuroraCare team: fibre maintenance tonight")
    customer = fresh.mention("ana", "thanks!")
    result = await poller.poll_mentions()
    assert collector.ids == [f"tweet:{customer['id']}"] and result.skipped == 1
    assert inbox.find("x", f"tweet:{own['id']}") is None
    assert inbox.get_cursor("x:mentions:since_id") == customer["id"]


async def test_a_429_backs_off_until_the_reset_x_announced(fresh: FakeX, inbox: Inbox) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    posted = fresh.mention("ana", "hello")
    reset = fresh.exhaust("mentions", reset_in=0.5)
    limited = await poller.poll_mentions()
    assert limited.complete is False and limited.backoff_until is not None
    assert limited.backoff_until >= reset
    requests_then = len(fresh.hits("mentions"))
    for _ in range(5):  # the job keeps firing; no request goes out before the reset
        assert (await poller.poll_mentions()).accepted == 0
    assert len(fresh.hits("mentions")) == requests_then
    while time.time() < limited.backoff_until:
        time.sleep(0.05)
    resumed = await poller.poll_mentions()
    assert resumed.accepted == 1 and collector.ids == [f"tweet:{posted['id']}"]
    statuses = [r.status for r in fresh.hits("mentions")]
    assert statuses[-2:] == [429, 200]
    assert all(r.at >= reset for r in fresh.hits("mentions")[-1:])


async def test_a_429_between_pages_keeps_what_was_read_and_continues_later(
    fresh: FakeX, inbox: Inbox
) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, page_size=10)
    await poller.initialise_cursors()
    start = inbox.get_cursor("x:mentions:since_id")
    posted = [fresh.mention(f"c{i}", f"q {i}") for i in range(25)]
    fresh.exhaust("mentions", reset_in=0.5, after=1)  # one page, then the window is spent
    first = await poller.poll_mentions()
    assert first.complete is False and first.accepted == 10
    assert collector.ids == [f"tweet:{t['id']}" for t in posted[15:]]
    assert inbox.get_cursor("x:mentions:since_id") == start  # not moved: older ones are missing
    resume = json.loads(inbox.get_cursor("x:mentions:resume") or "{}")
    assert resume == {"newest": posted[-1]["id"], "until": posted[15]["id"]}
    assert len(fresh.hits("mentions")) == 1  # remaining 0: the second page was not even tried
    assert first.backoff_until is not None
    while time.time() < first.backoff_until:
        time.sleep(0.05)
    second = await poller.poll_mentions()
    assert second.complete is True and second.accepted == 15 and second.duplicates == 0
    assert sorted(collector.ids) == sorted(f"tweet:{t['id']}" for t in posted)
    assert fresh.hits("mentions")[-2].query["until_id"] == posted[15]["id"]
    assert inbox.get_cursor("x:mentions:since_id") == posted[-1]["id"]
    assert not inbox.get_cursor("x:mentions:resume")


async def test_a_server_error_changes_nothing_and_the_next_poll_recovers(
    fresh: FakeX, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    before = inbox.get_cursor("x:mentions:since_id")
    posted = fresh.mention("ana", "hello")
    fresh.fail("mentions", 503)
    failed = await poller.poll_mentions()
    assert failed.complete is False and failed.accepted == 0
    assert inbox.get_cursor("x:mentions:since_id") == before
    assert "TwitterServerError 503" in caplog.text
    assert (await poller.poll_mentions()).accepted == 1
    assert collector.ids == [f"tweet:{posted['id']}"]


async def test_a_timeout_changes_nothing_and_the_next_poll_recovers(
    fresh: FakeX, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, timeout=(2.0, 0.3))
    await poller.initialise_cursors()
    before = inbox.get_cursor("x:mentions:since_id")
    posted = fresh.mention("ana", "hello")
    fresh.delays["mentions"] = [1.0]
    started = time.monotonic()
    failed = await poller.poll_mentions()
    assert time.monotonic() - started < 0.9  # the client gave up; it did not wait for X
    assert failed.complete is False and failed.accepted == 0
    assert inbox.get_cursor("x:mentions:since_id") == before
    assert "ReadTimeout" in caplog.text
    assert (await poller.poll_mentions()).accepted == 1
    assert collector.ids == [f"tweet:{posted['id']}"]


async def test_dms_are_read_newest_first_down_to_the_cursor(fresh: FakeX, inbox: Inbox) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, page_size=5)
    await poller.initialise_cursors()
    sent = [fresh.dm(f"customer{i}", f"message {i}") for i in range(12)]
    result = await poller.poll_dms()
    assert result.complete and result.accepted == 12 and result.pages == 3
    assert collector.ids == [f"dm:{e['id']}" for e in sent]
    _, inbound = collector.accepted[0]
    assert inbound.public is False and inbound.sender == "customer0"
    assert inbound.platform and inbound.platform["user_id"] == sent[0]["sender_id"]
    assert inbox.get_cursor("x:dm:since_id") == sent[-1]["id"]
    # Next time only the first page is read: it already reaches the cursor.
    later = fresh.dm("customer3", "one more thing")
    hits = len(fresh.hits("dm_events"))
    assert (await poller.poll_dms()).accepted == 1 and collector.ids[-1] == f"dm:{later['id']}"
    assert len(fresh.hits("dm_events")) == hits + 1
    # DM lookups need the brand's user context (OAuth 1.0a), never the app's bearer token.
    assert {r.auth for r in fresh.hits("dm_events")} == {"oauth1"}


async def test_our_own_dms_and_events_before_the_start_are_not_answered(
    fresh: FakeX, inbox: Inbox
) -> None:
    old = fresh.dm("ana", "sent last week")
    time.sleep(0.01)
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector)
    await poller.initialise_cursors()
    assert int(inbox.get_cursor("x:dm:since_id") or 0) > int(old["id"])
    question = fresh.dm("ana", "is my bill ready?")
    poller.api.send_dm(fresh.user("ana"), "It is, see the app.")  # our answer is an event too
    result = await poller.poll_dms()
    assert collector.ids == [f"dm:{question['id']}"] and result.skipped == 1


async def test_a_429_on_dms_backs_off_and_resumes_from_the_page_token(
    fresh: FakeX, inbox: Inbox
) -> None:
    collector = Collector(inbox)
    poller = poller_for(fresh, inbox, collector, page_size=5)
    await poller.initialise_cursors()
    sent = [fresh.dm(f"c{i}", f"m {i}") for i in range(8)]
    fresh.exhaust("dm_events", reset_in=0.5, after=1)
    first = await poller.poll_dms()
    assert first.complete is False and first.accepted == 5
    resume = json.loads(inbox.get_cursor("x:dm:resume") or "{}")
    assert resume["newest"] == sent[-1]["id"] and resume["token"]
    assert first.backoff_until is not None
    while time.time() < first.backoff_until:
        time.sleep(0.05)
    second = await poller.poll_dms()
    assert second.complete and second.accepted == 3
    assert fresh.hits("dm_events")[-1].query["pagination_token"] == resume["token"]
    assert sorted(collector.ids) == sorted(f"dm:{e['id']}" for e in sent)
    assert inbox.get_cursor("x:dm:since_id") == sent[-1]["id"]


def test_cursor_start_is_the_snowflake_of_the_start_time(inbox: Inbox) -> None:
    moment = 1_795_820_400.0  # no request is made: no API client
    poller = XPoller(
        api=None,  # type: ignore[arg-type]
        inbox=inbox,
        brand_id="1",
        brand_handle="@AuroraCare",
        accept=Collector(inbox),
        clock=lambda: moment,
    )
    import asyncio
    from datetime import datetime, timezone

    asyncio.run(poller.initialise_cursors())
    expected = str(snowflake_at(datetime.fromtimestamp(moment, tz=timezone.utc)))
    assert inbox.get_cursor("x:mentions:since_id") == expected
    assert inbox.get_cursor("x:dm:since_id") == expected
