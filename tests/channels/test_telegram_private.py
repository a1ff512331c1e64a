"""Moving a Telegram group conversation to a private chat (issue 18), on loopback.

The connector runs behind Sanic with python-telegram-bot against the fake Bot API; the stand-in
for Rasa answers a group message the way the handoff action does (the private line first, then
the public reply with its ``if_no_dm`` wording), and anything else with "noted".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from afterhours.bench.fakes.telegram_server import FakeTelegram
from bot.channels import private_links
from bot.channels.inbox import Inbox
from bot.channels.telegram import TelegramInput
from handoff.queue import HandoffQueue
from handoff.transcript import Entry
from tests.channels.channels_support import ChannelHost, wait_until

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

SECRET = "webhook-secret_0123456789"
GROUP = -1001234567890
USER = 5550001
CONVERSATION = f"telegram:{GROUP}/{USER}"
DM_LINE = "Hi, we're continuing our conversation here, in private. A person answers on Monday."
SENT_A_DM = "We've sent you a private message so we can continue there safely."
LINK_WORDING = "Please write to us privately here, so we can continue safely: {link}"
START_LINK = re.compile(r"https://t\.me/AuroraCareBot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    opened = Inbox.from_url(f"sqlite:///{tmp_path / 'inbox.db'}")
    yield opened
    opened.dispose()


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandoffQueue]:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("AFTERHOURS_DB_URL", url)
    handoff_queue = HandoffQueue.from_url(url, migrate=True)
    yield handoff_queue
    handoff_queue.dispose()


def open_ticket(queue: HandoffQueue) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    ticket = queue.open_ticket(
        channel="telegram",
        conversation_id=CONVERSATION,
        customer=f"{GROUP}/{USER}",
        public=True,
        language="en",
        locale="en_GB",
        reasons=["private"],
        need=3,
        department="billing",
        reply_eta=now,
        created_at=now,
        transcript=[Entry(at=now, author="customer", text="my bill is wrong")],
    )
    return ticket.id


def bot_like(ticket: int) -> Any:
    """Answers a public group message with a move to private, anything else with "noted"."""

    async def handle(message: UserMessage) -> None:
        output = message.output_channel
        if not message.metadata.get("public"):
            await output.send_text_message(message.sender_id, "noted")
            return
        await output.send_response(
            message.sender_id,
            {"text": DM_LINE, "visibility": "private", "move_to_private": "dm", "ticket": ticket},
        )
        await output.send_response(
            message.sender_id,
            {
                "text": SENT_A_DM,
                "visibility": "public",
                "move_to_private": "public",
                "if_no_dm": LINK_WORDING,
                "ticket": ticket,
            },
        )

    return handle


@contextmanager
def serving(fake: FakeTelegram, inbox: Inbox, handler: Any) -> Iterator[ChannelHost]:
    connector = TelegramInput(
        fake.token,
        base_url=fake.base_url,
        inbox=inbox,
        mode="webhook",
        secret_token=SECRET,
        webhook_url="http://127.0.0.1:1/later",
        per_chat_interval=0.05,
    )
    host = ChannelHost(connector, handler)
    connector.webhook_url = host.webhook_url
    with host:
        assert wait_until(lambda: fake.webhook is not None)
        yield host


def group_message(fake: FakeTelegram, text: str) -> dict[str, Any]:
    return fake.message_update(
        f"@AuroraCareBot {text}", chat_id=GROUP, user_id=USER, chat_type="supergroup"
    )


def routes(queue: HandoffQueue, ticket_id: int) -> list[tuple[str, str, str | None]]:
    ticket = queue.get(ticket_id)
    assert ticket is not None
    return [(e.author, e.text, (e.meta or {}).get("route")) for e in ticket.transcript]


def test_a_member_who_never_started_the_bot_gets_the_start_link_and_joins_the_ticket(
    fake: FakeTelegram, inbox: Inbox, queue: HandoffQueue
) -> None:
    fake.not_started.add(USER)
    ticket = open_ticket(queue)
    with serving(fake, inbox, bot_like(ticket)) as host:
        fake.push(group_message(fake, "my bill is wrong, IBAN PT50 0002 0123 1234 5678 9015 4"))
        [public] = fake.wait_for(1, chat_id=GROUP)
        # No claim of a private message: Telegram refused it; the start link instead.
        assert "sent you" not in public.text
        match = START_LINK.search(public.text)
        assert match and public.text == LINK_WORDING.replace("{link}", match.group(0))
        assert "PT50" not in public.text
        assert fake.sent_to(USER) == []
        assert wait_until(lambda: len(routes(queue, ticket)) == 3)
        assert [r[2] for r in routes(queue, ticket)] == [None, "dm_refused", "link_sent"]

        # She opens the link: Telegram sends "/start <token>" from her private chat.
        fake.push(fake.message_update(f"/start {match.group(1)}", chat_id=USER))
        [private] = fake.wait_for(1, chat_id=USER)
        assert private.text == DM_LINE  # the line she missed, now delivered
        assert wait_until(lambda: len(routes(queue, ticket)) == 5)
        assert routes(queue, ticket)[3:] == [
            ("customer", "/start", "private_chat_opened"),
            ("bot", DM_LINE, "dm_delivered"),
        ]
        assert len(host.messages) == 1  # the opening is the connector's, not Rasa's

        # Her next private message is the group conversation's, answered in private.
        fake.push(fake.message_update("my account number is 12345", chat_id=USER))
        [_, message] = host.wait_for_messages(2)
        assert message.sender_id == CONVERSATION
        assert message.metadata["public"] is False
        assert message.metadata["platform"]["private_chat"] == USER
        assert [s.text for s in fake.wait_for(2, chat_id=USER)] == [DM_LINE, "noted"]
        assert len(fake.sent_to(GROUP)) == 1

        # The desk's later answer (Rasa's output_channel=latest) goes to the private chat.
        output = host.connector.get_output_channel()
        host.call(
            output.send_response(CONVERSATION, {"text": "Fixed it.", "visibility": "private"})
        )
        assert [s.text for s in fake.wait_for(3, chat_id=USER)][-1] == "Fixed it."
        assert len(fake.sent_to(GROUP)) == 1


def test_a_member_who_started_the_bot_gets_the_private_message_and_the_claim(
    fake: FakeTelegram, inbox: Inbox, queue: HandoffQueue
) -> None:
    ticket = open_ticket(queue)
    with serving(fake, inbox, bot_like(ticket)):
        fake.push(group_message(fake, "my bill is wrong"))
        [private] = fake.wait_for(1, chat_id=USER)
        [public] = fake.wait_for(1, chat_id=GROUP)
        assert private.text == DM_LINE and public.text == SENT_A_DM
        assert private.at <= public.at  # the private line went first
        assert wait_until(lambda: len(routes(queue, ticket)) == 3)
        assert [r[2] for r in routes(queue, ticket)] == [None, "dm_delivered", "public_post"]


def test_a_link_never_opened_changes_nothing_and_only_its_customer_can_open_it(
    fake: FakeTelegram, inbox: Inbox, queue: HandoffQueue
) -> None:
    fake.not_started.add(USER)
    ticket = open_ticket(queue)
    with serving(fake, inbox, bot_like(ticket)) as host:
        fake.push(group_message(fake, "my bill is wrong"))
        [public] = fake.wait_for(1, chat_id=GROUP)
        match = START_LINK.search(public.text)
        assert match
        assert wait_until(lambda: len(routes(queue, ticket)) == 3)
        # Nothing happens until she opens it; the ticket says the link was sent.
        host.wait_idle()
        assert fake.sent_to(USER) == [] and len(host.messages) == 1
        assert routes(queue, ticket)[-1][2] == "link_sent"
        # The link is public: another member who opens it reaches neither her case nor the bot.
        stranger = 5559999
        delivery = fake.push(fake.message_update(f"/start {match.group(1)}", chat_id=stranger))
        assert delivery is not None and delivery.status == 200
        host.wait_idle()
        assert fake.sent_to(stranger) == [] and len(host.messages) == 1
        assert routes(queue, ticket)[-1][2] == "link_sent"
        # She still can.
        fake.push(fake.message_update(f"/start {match.group(1)}", chat_id=USER))
        assert [s.text for s in fake.wait_for(1, chat_id=USER)] == [DM_LINE]
        assert wait_until(lambda: len(routes(queue, ticket)) == 5)


def test_tokens_are_single_use_and_expire(inbox: Inbox) -> None:
    now = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.timezone.utc)
    token = private_links.create_token(
        inbox.engine, "telegram", CONVERSATION, ticket_id=7, pending="line", now=now
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", token)
    other = private_links.create_token(
        inbox.engine, "telegram", CONVERSATION, ticket_id=7, pending=None, now=now
    )
    assert other != token
    taken = private_links.redeem(inbox.engine, "telegram", token, str(USER), now=now)
    assert taken == private_links.Redeemed(CONVERSATION, 7, "line", first=True)
    # The same chat opening it again: the conversation, nothing to send again.
    again = private_links.redeem(inbox.engine, "telegram", token, str(USER), now=now)
    assert again == private_links.Redeemed(CONVERSATION, 7, None, first=False)
    assert private_links.redeem(inbox.engine, "telegram", token, "42", now=now) is None
    later = now + private_links.TOKEN_TTL
    assert private_links.redeem(inbox.engine, "telegram", other, "42", now=later) is None
    assert private_links.redeem(inbox.engine, "telegram", "unknown-token", "42", now=now) is None
    assert private_links.redeem(inbox.engine, "x", token, str(USER), now=now) is None
    mine = private_links.create_token(
        inbox.engine, "telegram", CONVERSATION, ticket_id=7, pending=None, now=now
    )
    refused = private_links.redeem(
        inbox.engine, "telegram", mine, "42", now=now, allowed=lambda c: c.endswith("/42")
    )
    assert refused is None  # and not spent:
    assert private_links.redeem(inbox.engine, "telegram", mine, str(USER), now=now) is not None
    found = private_links.conversation_of_chat(inbox.engine, "telegram", str(USER))
    assert found == CONVERSATION
    assert private_links.conversation_of_chat(inbox.engine, "telegram", "42") is None
