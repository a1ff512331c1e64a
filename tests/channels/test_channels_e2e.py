"""Telegram and SMS end to end: fake platform → connector → `rasa run` with the model → reply.

One Rasa server (with the action server and a scratch queue) serves both channels for the whole
module; the fake platforms send payloads shaped like their documentation's and receive the replies
through the real client libraries. The night brand keeps every decision independent of the clock.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afterhours.bench.channels import SmsDriver, TelegramDriver
from afterhours.bench.stack import NIGHT_BRAND, ChannelStack, channel_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelStack]:
    scratch = tmp_path_factory.mktemp("channels-e2e")
    with channel_stack(
        [TelegramDriver(), SmsDriver()], trained_model, brand=NIGHT_BRAND, keep_dir=scratch
    ) as running:
        yield running


@pytest.fixture(scope="module")
def telegram(stack: ChannelStack) -> Any:
    return stack.drivers[0].fake  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def twilio(stack: ChannelStack) -> Any:
    return stack.drivers[1].fake  # type: ignore[attr-defined]


def api(stack: ChannelStack, path: str, body: Any = None) -> Any:
    from bot.servers import rasa_api_url

    base, _, query = path.partition("?")
    request = urllib.request.Request(
        rasa_api_url(stack.rasa_url, base, **dict(urllib.parse.parse_qsl(query))),
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (loopback)
        return json.loads(answer.read())


def stored_tracker(stack: ChannelStack, conversation: str, users: int = 1) -> Any:
    """The conversation's tracker once it holds ``users`` customer messages.

    A reply reaches the platform before Rasa stores the turn (it sends first, then saves).
    """
    deadline = time.monotonic() + 30
    while True:
        tracker = api(stack, f"/conversations/{conversation}/tracker")
        found = sum(1 for e in tracker["events"] if e.get("event") == "user")
        if found >= users or time.monotonic() > deadline:
            return tracker
        time.sleep(0.1)


def latest(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return [e for e in events if e.get("event") == kind][-1]


def triage(events: list[dict[str, Any]]) -> dict[str, Any]:
    slots = [e for e in events if e.get("event") == "slot" and e.get("name") == "triage"]
    return slots[-1]["value"]


def wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_a_telegram_customer_gets_the_bots_answer(stack: ChannelStack, telegram: Any) -> None:
    chat = 8100001
    update = telegram.message_update("how do I use my phone abroad?", chat_id=chat)
    delivery = telegram.push(update)
    assert delivery is not None and delivery.status == 200, stack.log_tail()
    (reply,) = telegram.wait_for(1, chat_id=chat, timeout=90) or [None]
    assert reply is not None, stack.log_tail()
    tracker = stored_tracker(stack, f"telegram:{chat}")
    user = latest(tracker["events"], "user")
    assert user["input_channel"] == "telegram"
    assert user["metadata"]["channel"] == "telegram" and user["metadata"]["public"] is False
    assert user["metadata"]["platform"]["update_id"] == update["update_id"]
    assert user["metadata"]["platform"]["message_id"] == update["message"]["message_id"]
    decided = triage(tracker["events"])
    assert decided["decision"] == "answer" and decided["topic"] == "faq/roaming"
    assert reply.text == latest(tracker["events"], "bot")["text"]

    # Telegram retries the same update: dropped, no second reply.
    assert "duplicate" in telegram.push(update).body
    time.sleep(1.0)
    assert len(telegram.sent_to(chat)) == 1


def test_an_agents_later_reply_reaches_the_telegram_chat(
    stack: ChannelStack, telegram: Any
) -> None:
    chat = 8100002
    telegram.push(telegram.message_update("how can I pay my bill?", chat_id=chat))
    assert telegram.wait_for(1, chat_id=chat, timeout=90), stack.log_tail()
    api(
        stack,
        f"/conversations/telegram:{chat}/tracker/events"
        "?output_channel=latest&execute_side_effects=true",
        {"event": "bot", "text": "Rita from Aurora here: your payment went through."},
    )
    texts = [s.text for s in telegram.wait_for(2, chat_id=chat, timeout=30)]
    assert texts[-1] == "Rita from Aurora here: your payment went through."


def test_a_telegram_complaint_reaches_the_queue_with_its_platform_ids(
    stack: ChannelStack, telegram: Any
) -> None:
    from handoff.queue import HandoffQueue

    chat = 8100003
    update = telegram.message_update(
        "This is the third time this week my internet is down. I am furious, I will cancel "
        "and complain to the regulator!",
        chat_id=chat,
    )
    telegram.push(update)
    (promise,) = telegram.wait_for(1, chat_id=chat, timeout=90) or [None]
    assert promise is not None, stack.log_tail()
    queue = HandoffQueue.from_url(stack.db_url, migrate=False)
    try:
        ticket = wait_for(
            lambda: next(
                (t for t in queue.list_tickets() if t.conversation_id == f"telegram:{chat}"), None
            )
        )
    finally:
        queue.dispose()
    assert ticket is not None and ticket.channel == "telegram"
    first = ticket.transcript[0]
    assert first.author == "customer"
    assert first.meta["platform"]["update_id"] == update["update_id"]
    assert first.meta["channel"] == "telegram"


def test_a_forged_telegram_update_is_refused_by_the_server(
    stack: ChannelStack, telegram: Any
) -> None:
    delivery = telegram.push(telegram.message_update("hi", chat_id=8100004), secret="forged")
    assert delivery is not None and delivery.status == 403
    assert telegram.sent_to(8100004) == []


def test_an_sms_customer_is_answered_and_stop_is_honoured(stack: ChannelStack, twilio: Any) -> None:
    ana, bea = "+351912000001", "+351912000002"
    answer = twilio.send_sms(ana, "how can I pay my bill?")
    assert answer.status == 200 and "<Response></Response>" in answer.body
    (reply,) = twilio.wait_for(1, number=ana, timeout=90) or [None]
    assert reply is not None, stack.log_tail()
    tracker = stored_tracker(stack, f"sms:{ana}")
    user = latest(tracker["events"], "user")
    assert user["input_channel"] == "sms"
    assert user["metadata"]["platform"]["message_sid"] == answer.message_sid
    assert reply.body == latest(tracker["events"], "bot")["text"]

    assert twilio.send_sms(ana, "STOP").status == 200
    inbox = stack.inbox()
    try:
        assert wait_for(lambda: inbox.opted_out("sms", ana), 30)
    finally:
        inbox.dispose()
    twilio.send_sms(bea, "how can I pay my bill?")
    assert twilio.wait_for(1, number=bea, timeout=90)
    for number in (ana, bea):
        api(
            stack,
            f"/conversations/sms:{number}/tracker/events"
            "?output_channel=latest&execute_side_effects=true",
            {"event": "bot", "text": "An agent: all sorted, thank you for waiting."},
        )
    bea_texts = [s.body for s in twilio.wait_for(2, number=bea, timeout=30)]
    assert bea_texts[-1] == "An agent: all sorted, thank you for waiting."
    assert len(twilio.sent_to(ana)) == 1  # nothing after STOP


def test_a_forged_sms_is_refused_by_the_server(stack: ChannelStack, twilio: Any) -> None:
    answer = twilio.send_sms("+351912000003", "hello", signature="Zm9yZ2Vk")
    assert answer.status == 403


def test_the_desks_answer_reaches_telegram_and_release_lets_the_bot_answer_again(
    stack: ChannelStack, telegram: Any
) -> None:
    """The desk's own Rasa client against the real server and connector (issue 4's last mile)."""
    from desk.rasa import RasaClient

    chat = 8100005  # a chat of its own: 8100003's complaint is still being handed off
    telegram.push(telegram.message_update("I want to talk to a person please", chat_id=chat))
    assert telegram.wait_for(1, chat_id=chat, timeout=90), stack.log_tail()
    tracker = stored_tracker(stack, f"telegram:{chat}")
    assert triage(tracker["events"])["decision"] == "handoff"

    from bot.servers import rasa_token

    desk = RasaClient(stack.rasa_url, rasa_token(), timeout=60)
    desk.send_bot_message(
        f"telegram:{chat}", "Ana from Aurora here: how can I help?", {"ticket": 1}
    )
    texts = [s.text for s in telegram.wait_for(2, chat_id=chat, timeout=30)]
    assert texts[-1] == "Ana from Aurora here: how can I help?"

    # While the case is open the bot stays quiet; once the desk releases it, the bot answers.
    desk.release(f"telegram:{chat}")
    telegram.push(telegram.message_update("how do I use my phone abroad?", chat_id=chat))
    texts = [s.text for s in telegram.wait_for(3, chat_id=chat, timeout=90)]
    tracker = stored_tracker(stack, f"telegram:{chat}", users=2)
    assert triage(tracker["events"])["decision"] == "answer", (
        triage(tracker["events"]),
        [(e.get("event"), e.get("name"), e.get("text")) for e in tracker["events"][-14:]],
    )
    assert texts[-1] == latest(tracker["events"], "bot")["text"]


def test_the_desk_says_delivered_only_when_the_channel_took_the_answer(
    stack: ChannelStack, telegram: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truthful delivery through the real server: delivered on Telegram (the connector records
    it); refused up front on a channel no process serves; and, should the channel stop between
    the check and the send, Rasa answers 200 through a collecting output and the desk says
    "not sent" (no delivery record)."""
    from sqlalchemy import text

    from bot.servers import rasa_token
    from bot.settings import load_brand
    from desk import delivery
    from desk.db import migrate as migrate_desk
    from desk.rasa import RasaClient
    from desk.services import Desk
    from desk.store import DeskStore
    from handoff.queue import HandoffQueue
    from tests.desk.conftest import CHEAP_HASHER, add_ticket

    chat = 8100007
    telegram.push(telegram.message_update("I want to talk to a person please", chat_id=chat))
    assert telegram.wait_for(1, chat_id=chat, timeout=90), stack.log_tail()
    stored_tracker(stack, f"telegram:{chat}")
    queue = HandoffQueue.from_url(stack.db_url, migrate=False)
    try:
        migrate_desk(queue.engine)
        desk = Desk(
            queue=queue,
            store=DeskStore(queue.engine, hasher=CHEAP_HASHER),
            rasa=RasaClient(stack.rasa_url, rasa_token(), timeout=60),
            brand=load_brand(Path(__file__).resolve().parents[2] / "brand.yml"),
        )

        def bot_ticket() -> int | None:
            with queue.engine.connect() as connection:
                return connection.execute(
                    text("SELECT id FROM handoff_tickets WHERE conversation_id = :c"),
                    {"c": f"telegram:{chat}"},
                ).scalar()

        ticket_id = wait_for(bot_ticket, timeout=30)
        assert ticket_id, stack.log_tail()
        assert queue.claim(ticket_id, "ana", ttl=desk.claim_ttl)
        ticket = queue.get(ticket_id)
        assert ticket is not None
        outcome = delivery.send_answer(desk, ticket, "ana", "Ana here: sorted.", {"agent": "ana"})
        assert (outcome.delivered, outcome.code) == (True, "delivered"), stack.log_tail()
        assert [s.text for s in telegram.wait_for(2, chat_id=chat)][-1] == "Ana here: sorted."
        assert queue.get(ticket_id).transcript[-1].meta["delivery"] == "delivered"  # type: ignore[union-attr]

        # An X customer: this server serves no X connector.
        api(
            stack,
            "/conversations/x:777/tracker/events",
            {"event": "user", "text": "hi", "input_channel": "x", "parse_data": {}},
        )
        x_case = add_ticket(queue, channel="x", customer="777")
        refused = delivery.send_answer(desk, x_case, "ana", "Hello", {"agent": "ana"})
        assert (refused.delivered, refused.code, refused.status) == (
            False,
            "channel_not_running",
            409,
        )
        assert refused.refused_up_front

        # As if X had been live at the check: Rasa then finds no X output and collects instead.
        monkeypatch.setattr(delivery.deliveries, "live_channels", lambda *a, **k: {"x"})
        collected = delivery.send_answer(desk, x_case, "ana", "Hello", {"agent": "ana"})
        assert (collected.delivered, collected.code) == (False, "channel_not_running")
        assert not collected.refused_up_front
        assert collected.message == "Not sent: the x channel is not running."
        assert [e.author for e in queue.get(x_case.id).transcript] == ["customer", "bot"]  # type: ignore[union-attr]
    finally:
        queue.dispose()


def test_a_group_member_who_never_started_the_bot_gets_a_start_link_joining_the_ticket(
    stack: ChannelStack, telegram: Any
) -> None:
    # Issue 18: the bot cannot write to her privately; the group reply must not claim it did and
    # carries the bot's start link; the private chat it opens joins her group conversation.
    import re

    from handoff.queue import HandoffQueue

    group, user = -1008100009, 8100009
    conversation = f"telegram:{group}/{user}"
    telegram.not_started.add(user)
    telegram.push(
        telegram.message_update(
            "@AuroraCareBot why was I charged 12 euros this month? my NIF is 198765436",
            chat_id=group,
            user_id=user,
            chat_type="supergroup",
        )
    )
    (public,) = telegram.wait_for(1, chat_id=group, timeout=90) or [None]
    assert public is not None, stack.log_tail()
    assert "198765436" not in public.text and "sent you" not in public.text.lower()
    link = re.search(r"https://t\.me/AuroraCareBot\?start=([A-Za-z0-9_-]+)", public.text)
    assert link, public.text
    assert telegram.sent_to(user) == []

    telegram.push(telegram.message_update(f"/start {link.group(1)}", chat_id=user))
    (private,) = telegram.wait_for(1, chat_id=user, timeout=60) or [None]
    assert private is not None and private.text.startswith("Hi, we're continuing"), stack.log_tail()
    telegram.push(telegram.message_update("here I am", chat_id=user))
    queue = HandoffQueue.from_url(stack.db_url, migrate=False)
    try:
        ticket = wait_for(
            lambda: next(
                (
                    t
                    for t in queue.list_tickets()
                    if t.conversation_id == conversation
                    and any(line.text == "here I am" for line in t.transcript)
                ),
                None,
            )
        )
    finally:
        queue.dispose()
    assert ticket is not None, stack.log_tail()
    routes = [(line.meta or {}).get("route") for line in ticket.transcript]
    assert [r for r in routes if r] == [
        "dm_refused",
        "link_sent",
        "private_chat_opened",
        "dm_delivered",
    ]
    assert len(telegram.sent_to(group)) == 1  # nothing more in public
