"""Moving a public X conversation to private (issue 18), against the fake X on loopback.

The handoff action tags its two messages (``move_to_private``: the DM first, then the public
reply with its ``if_no_dm`` wording); the X output sends the DM through tweepy and chooses the
public reply from what X answered: "we've sent you a private message" only when X took the DM,
else the brand's DM compose link. The ticket records what went out, with its route.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from afterhours.bench.fakes.x_server import FakeX
from bot.channels.inbox import Inbox
from bot.channels.output import CollectingRenderingChannel
from bot.channels.x import DM_COMPOSE_URL, XInput, XOutput, destination_of
from bot.channels.x_client import XCredentials
from bot.render.received import as_received
from bot.render.x import MAX_WEIGHTED_LENGTH, weighted_length
from handoff.queue import HandoffQueue
from handoff.transcript import Entry
from tests.channels.channels_support import ChannelHost, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

REPO = Path(__file__).resolve().parents[2]
DM_LINE = "Hi, we're continuing our conversation here, in private. A person answers on Monday."
SENT_A_DM = "We've sent you a private message so we can continue there safely."
LINK_WORDING = "Please write to us privately here, so we can continue safely: {link}"
LANGUAGES = ("en", "pt", "es", "it")


def responses() -> dict[str, dict[str, str]]:
    """The repository's move-to-private responses: name -> language -> text."""
    data = yaml.safe_load((REPO / "data/responses/handoff.yml").read_text(encoding="utf-8"))
    found: dict[str, dict[str, str]] = {}
    for name, variations in data["responses"].items():
        for variation in variations:
            language = variation["condition"][0]["value"]
            found.setdefault(name, {})[language] = variation["text"]
    return found


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
        fake.closed_dms.clear()
    return fake


@pytest.fixture()
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox.from_url(f"sqlite:///{tmp_path / 'inbox.db'}", migrate=True)
    yield box
    box.dispose()


@pytest.fixture()
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandoffQueue]:
    """The handoff queue the output records on (the database the action writes)."""
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    handoff_queue = HandoffQueue.from_url(url, migrate=True)
    yield handoff_queue
    handoff_queue.dispose()


def connector(fake: FakeX, inbox: Inbox, **options: Any) -> XInput:
    return XInput(
        credentials=XCredentials(
            fake.bearer_token,
            fake.consumer_key,
            fake.consumer_secret,
            fake.access_token,
            fake.access_token_secret,
        ),
        user_id=fake.brand_id,
        handle="@" + fake.brand_username,
        api_base_url=fake.base_url,
        inbox=inbox,
        redeliver_every=0,
        **options,
    )


def open_ticket(queue: HandoffQueue, conversation: str, customer: str, channel: str = "x") -> int:
    """A public case as the handoff action opens it (before the output records the move)."""
    now = dt.datetime.now(dt.timezone.utc)
    ticket = queue.open_ticket(
        channel=channel,
        conversation_id=conversation,
        customer=customer,
        public=True,
        language="en",
        locale="en_GB",
        reasons=["private"],
        need=3,
        department="billing",
        reply_eta=now,
        created_at=now,
        transcript=[Entry(at=now, author="customer", text="@AuroraCare my bill is wrong")],
    )
    return ticket.id


async def move(output: XOutput, recipient: str, ticket: int | None) -> None:
    """What Rasa hands the output for the action's two messages, in order."""
    extra = {"ticket": ticket} if ticket is not None else {}
    await output.send_response(
        recipient,
        {"text": DM_LINE, "visibility": "private", "move_to_private": "dm", **extra},
    )
    await output.send_response(
        recipient,
        {
            "text": SENT_A_DM,
            "visibility": "public",
            "move_to_private": "public",
            "if_no_dm": LINK_WORDING,
            **extra,
        },
    )


def mention_output(channel: XInput, tweet: dict[str, Any], sender: str) -> XOutput:
    metadata = {
        "channel": "x",
        "public": True,
        "sender": sender,
        "platform": {"kind": "mention", "tweet_id": tweet["id"], "user_id": tweet["author_id"]},
    }
    return XOutput(channel, destination_of(metadata))


def routes(queue: HandoffQueue, ticket_id: int) -> list[tuple[str, str | None, str | None]]:
    ticket = queue.get(ticket_id)
    assert ticket is not None
    return [
        (e.author, (e.meta or {}).get("visibility"), (e.meta or {}).get("route"))
        for e in ticket.transcript
    ]


async def test_closed_dms_the_public_reply_carries_the_link_and_claims_no_dm(
    fresh: FakeX, inbox: Inbox, queue: HandoffQueue
) -> None:
    channel = connector(fresh, inbox)
    fresh.close_dms("rita_no_follow")
    tweet = fresh.mention("rita_no_follow", "my bill is wrong, call me")
    ticket = await asyncio.to_thread(open_ticket, queue, "x:rita_no_follow", "rita_no_follow")
    output = mention_output(channel, tweet, "rita_no_follow")

    await move(output, "x:rita_no_follow", ticket)

    link = DM_COMPOSE_URL.format(user_id=fresh.brand_id)
    [reply] = fresh.replies_to(tweet["id"])
    assert reply["text"] == "@rita_no_follow " + LINK_WORDING.replace("{link}", link)
    assert "sent you" not in reply["text"].lower()
    assert fresh.posted_dms == [] and [r.status for r in fresh.hits("dm_send")] == [403]
    assert output.move.dm == "refused" and output.move.link == link
    assert output.refusals == ["blocked"]  # the inbox entry notes the refused DM
    assert routes(queue, ticket) == [
        ("customer", None, None),
        ("bot", "private", "dm_refused"),
        ("bot", "public", "link_sent"),
    ]
    # A customer who never opens the link: nothing else is sent; the ticket says "link sent".
    await asyncio.sleep(0.3)
    assert len(fresh.posted_tweets) == 1 and len(fresh.hits("dm_send")) == 1
    assert routes(queue, ticket)[-1][2] == "link_sent"


async def test_a_follower_gets_the_dm_and_the_public_reply_says_so(
    fresh: FakeX, inbox: Inbox, queue: HandoffQueue
) -> None:
    channel = connector(fresh, inbox)
    tweet = fresh.mention("tomas_follows", "my bill is wrong")
    ticket = await asyncio.to_thread(open_ticket, queue, "x:tomas_follows", "tomas_follows")
    output = mention_output(channel, tweet, "tomas_follows")

    await move(output, "x:tomas_follows", ticket)

    assert [d["text"] for d in fresh.dms_to("tomas_follows")] == [DM_LINE]
    [reply] = fresh.replies_to(tweet["id"])
    assert reply["text"] == f"@tomas_follows {SENT_A_DM}"
    # The DM went before the public reply was posted.
    dm_at = fresh.hits("dm_send")[0].at
    assert dm_at <= fresh.hits("tweets")[0].at
    assert output.move.dm == "delivered" and output.move.link is None
    assert routes(queue, ticket)[1:] == [
        ("bot", "private", "dm_delivered"),
        ("bot", "public", "public_post"),
    ]
    ticket_now = queue.get(ticket)
    assert ticket_now is not None
    assert [e.text for e in ticket_now.transcript[1:]] == [DM_LINE, f"@tomas_follows {SENT_A_DM}"]


async def test_without_a_ticket_the_move_is_still_honest(fresh: FakeX, inbox: Inbox) -> None:
    channel = connector(fresh, inbox)
    fresh.close_dms("lea")
    tweet = fresh.mention("lea", "help")
    output = mention_output(channel, tweet, "lea")
    await move(output, "x:lea", None)
    [reply] = fresh.replies_to(tweet["id"])
    assert "compose?recipient_id=" in reply["text"] and "sent you" not in reply["text"]


async def test_no_alternative_wording_means_no_public_claim(
    fresh: FakeX, inbox: Inbox, queue: HandoffQueue
) -> None:
    # An action that gave no `if_no_dm` text: nothing true to say in public, so nothing is said.
    channel = connector(fresh, inbox)
    fresh.close_dms("nuno")
    tweet = fresh.mention("nuno", "help")
    ticket = await asyncio.to_thread(open_ticket, queue, "x:nuno", "nuno")
    output = mention_output(channel, tweet, "nuno")
    marks = {"move_to_private": "dm", "ticket": ticket}
    await output.send_response("x:nuno", {"text": DM_LINE, "visibility": "private", **marks})
    marks["move_to_private"] = "public"
    await output.send_response("x:nuno", {"text": SENT_A_DM, "visibility": "public", **marks})
    assert fresh.posted_tweets == [] and output.refusals == ["blocked", "no_conversation"]
    assert routes(queue, ticket)[1:] == [("bot", "private", "dm_refused")]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", ["utter_move_to_dm_link", "utter_public_data_warning_link"])
def test_the_link_wording_fits_x_with_the_longest_handle_and_keeps_the_link(
    name: str, language: str
) -> None:
    text = responses()[name][language]
    assert text.count("{link}") == 1
    # X user ids run to 19 digits; a phone-like id is the brand's own, never masked.
    for user_id in ("1500000000000000001", "912345678"):
        link = DM_COMPOSE_URL.format(user_id=user_id)
        filled = text.replace("{link}", link)
        [posted] = as_received("x", filled, public=True, handle="a" * 15)
        assert posted == f"@{'a' * 15} {filled}"  # not shortened, nothing masked
        assert weighted_length(posted) <= MAX_WEIGHTED_LENGTH
        assert weighted_length(posted) == weighted_length(posted.replace(link, "x" * 23))
    telegram = text.replace("{link}", "https://t.me/AuroraCareBot?start=" + "A1b2-C3d4_E5f6g7")
    assert as_received("telegram", telegram, public=True, handle="-100/7") == [telegram]


def test_the_link_wording_never_claims_a_message_was_sent() -> None:
    claims = ("sent you", "enviámos", "enviado", "inviato")
    for name in ("utter_move_to_dm_link", "utter_public_data_warning_link"):
        for language, text in responses()[name].items():
            assert not any(claim in text.lower() for claim in claims), (name, language)


async def test_replay_reports_what_it_sent_the_dm_first_then_the_claim() -> None:
    # Replay has no platform to refuse the DM: it collects it, so the public reply claims it.
    output = CollectingRenderingChannel("x", public=True, handle="ana")
    await move(output, "x:ana", None)  # type: ignore[arg-type]
    assert [(r.public, r.text) for r in output.replies] == [
        (False, DM_LINE),
        (True, f"@ana {SENT_A_DM}"),
    ]


def test_a_mention_and_a_dm_of_one_customer_are_one_conversation(
    fresh: FakeX, inbox: Inbox
) -> None:
    from rasa.core import jobs

    jobs.kill_scheduler()
    channel = connector(fresh, inbox, mentions_seconds=0.2, dm_seconds=0.2)
    seen: list[Any] = []

    async def record(message: Any) -> None:
        seen.append(message)
        await message.output_channel.send_text_message(message.sender_id, "noted")

    fresh.close_dms("rita_no_follow")
    try:
        with ChannelHost(channel, record) as host:
            time.sleep(0.3)  # the first poll sets the cursors: only later posts are answered
            fresh.mention("rita_no_follow", "my bill is wrong")
            assert wait_until(lambda: len(seen) >= 1)
            # She opens the link and writes; her DM opens the conversation for the brand too.
            fresh.dm("rita_no_follow", "here is my account number 12345")
            assert wait_until(lambda: len(seen) >= 2)
            host.wait_idle()
    finally:
        jobs.kill_scheduler()
    public, private = seen[:2]
    assert public.sender_id == private.sender_id == "x:rita_no_follow"
    assert public.metadata["public"] is True and private.metadata["public"] is False
    assert public.metadata["platform"]["user_id"] == private.metadata["platform"]["user_id"]
    # The answer to her DM went by DM (X took it: she wrote first).
    assert [d["text"] for d in fresh.dms_to("rita_no_follow")] == ["noted"]
