"""actions/: the response book, and the handoff action against a real SQLite queue.

The trackers are built by hand the way the action server receives them (tests/actions_support.py);
the domain's responses are the repository's own, so the exact words customers read are checked.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from actions.responses import ResponseBook, day_phrase, time_phrase
from afterhours.bench.fakes.twilio_server import FakeTwilio
from bot.channels.inbox import Inbox
from bot.channels.sms import TwilioSmsInput
from handoff.queue import HandoffQueue
from tests import actions_support
from tests.actions_support import (  # noqa: F401 - fixtures
    COMPLEX_PROMISE_WEDNESDAY,
    COMPLEX_PROMISE_WEDNESDAY_PT,
    DM_OPENING,
    EMOTIONAL_PROMISE_SATURDAY,
    FRIDAY_NIGHT,
    IN_HOURS_IT,
    LISBON,
    MONDAY_NIGHT,
    MOVE_TO_DM,
    PRIVATE_PROMISE_SATURDAY,
    PUBLIC_DATA_WARNING,
    REPO,
    ROAMING_IT,
    WEDNESDAY_MORNING,
    bot_event,
    handoff_triage,
    make_tracker,
    promised,
    run,
    transcript_of,
    user_event,
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")

PUBLIC_DATA_WARNING_LINK = (
    "Please write to us privately here: {link} And consider deleting your post, as it shows "
    "personal details."
)
_SAID_KEYS = {"text", "visibility", "response", "template", "buttons", "custom", "image"}


def run_with_metadata(
    action: Any, tracker: Any, domain: dict[str, Any]
) -> tuple[list[Any], list[tuple[Any, Any]], list[dict[str, Any]]]:
    """:func:`run`, plus the rest of each message's metadata (what the output reads)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    said = [(m["text"], m.get("visibility")) for m in dispatcher.messages]
    extra = [
        {k: v for k, v in m.items() if k not in _SAID_KEYS and v not in (None, [], {})}
        for m in dispatcher.messages
    ]
    return events, said, extra


# The shared fixtures (tests/actions_support.py), under the names the tests ask for.
domain = actions_support.domain
queue = actions_support.queue


# -- ResponseBook ------------------------------------------------------------------------------


def test_response_book_language_variants(domain: dict[str, Any]) -> None:
    book = ResponseBook(domain, "en")
    assert book.text("utter_move_to_dm", "en") == MOVE_TO_DM
    assert book.text("utter_move_to_dm", "pt") == (
        "Enviámos-lhe uma mensagem privada para continuarmos aí em segurança."
    )
    assert book.text("utter_move_to_dm", "es") == (
        "Te hemos enviado un mensaje privado para seguir allí de forma segura."
    )
    assert book.text("utter_move_to_dm", "it") == (
        "Ti abbiamo inviato un messaggio privato per continuare lì in sicurezza."
    )


def test_response_book_falls_back_to_the_brand_language(domain: dict[str, Any]) -> None:
    assert ResponseBook(domain, "en").text("utter_move_to_dm", "de") == MOVE_TO_DM
    assert ResponseBook(domain, "pt").text("utter_move_to_dm", "de") == (
        "Enviámos-lhe uma mensagem privada para continuarmos aí em segurança."
    )


def test_response_book_falls_back_to_an_unconditioned_variation() -> None:
    domain = {
        "responses": {
            "utter_x": [
                {
                    "text": "só em português",
                    "condition": [{"type": "slot", "name": "language", "value": "pt"}],
                },
                {"text": "for everyone"},
            ],
            "utter_other_condition": [
                {
                    "text": "telegram only",
                    "condition": [{"type": "slot", "name": "channel", "value": "telegram"}],
                },
                {"text": "plain", "condition": []},
            ],
        }
    }
    book = ResponseBook(domain, "en")
    assert book.text("utter_x", "pt") == "só em português"
    assert book.text("utter_x", "it") == "for everyone"
    assert book.text("utter_other_condition", "en") == "plain"


def test_response_book_missing_response(domain: dict[str, Any]) -> None:
    book = ResponseBook(domain, "en")
    assert not book.has("utter_nothing")
    assert book.text("utter_nothing", "en") is None
    assert book.answer_for(None, "en") is None
    assert book.answer_for("faq/not_a_topic", "en") is None
    assert ResponseBook({}, "en").text("utter_move_to_dm", "en") is None
    assert ResponseBook({"responses": None}, "en").text("utter_move_to_dm", "en") is None


def test_response_book_response_without_text_or_language() -> None:
    conditioned_pt = [{"type": "slot", "name": "language", "value": "pt"}]
    book = ResponseBook(
        {
            "responses": {
                "utter_image": [{"image": "https://aurora.example/a.png"}],
                "utter_pt_only": [{"text": "só pt", "condition": conditioned_pt}],
            }
        },
        "en",
    )
    assert book.has("utter_image")
    assert book.text("utter_image", "en") is None
    assert book.text("utter_pt_only", "en") is None


def test_response_book_fills_placeholders(domain: dict[str, Any]) -> None:
    book = ResponseBook(domain, "en")
    assert book.text("utter_handoff_holiday_note", "en", holiday_name="Tuesday, 1 December") == (
        "(Tuesday, 1 December is a public holiday.)"
    )
    assert book.text("utter_handoff_holiday_note", "es", holiday_name="martes, 1 de diciembre") == (
        "(Día festivo: martes, 1 de diciembre.)"
    )
    assert (
        book.text("utter_handoff_private", "en", eta_day="Saturday, 28 November", eta_time="10:00")
        == PRIVATE_PROMISE_SATURDAY
    )


def test_response_book_wrong_placeholders_keep_the_text(domain: dict[str, Any]) -> None:
    book = ResponseBook(domain, "en")
    text = book.text("utter_handoff_private", "en", holiday_name="x")
    assert text is not None and "{eta_day}" in text


def test_response_book_answer_for(domain: dict[str, Any]) -> None:
    book = ResponseBook(domain, "en")
    assert book.has("utter_faq/roaming")
    assert book.answer_for("faq/roaming", "it") == ROAMING_IT
    assert book.answer_for("greet", "en") == (
        "Hi! I'm Aurora's assistant and I can help with bills, payments, internet, TV, mobile, "
        "stores and opening hours."
    )


WEDNESDAY_9 = datetime(2026, 12, 2, 9, 0, tzinfo=LISBON)


@pytest.mark.parametrize(
    ("locale", "day", "saturday"),
    [
        ("en_GB", "Wednesday, 2 December", "Saturday, 28 November"),
        ("pt_PT", "quarta-feira, 2 de dezembro", "sábado, 28 de novembro"),
        ("es_ES", "miércoles, 2 de diciembre", "sábado, 28 de noviembre"),
        ("it_IT", "mercoledì, 2 dicembre", "sabato, 28 novembre"),
        ("en_US", "Wednesday, December 2", "Saturday, November 28"),
    ],
)
def test_day_and_time_phrases(locale: str, day: str, saturday: str) -> None:
    assert day_phrase(WEDNESDAY_9, locale) == day
    assert day_phrase(date(2026, 11, 28), locale) == saturday
    assert time_phrase(WEDNESDAY_9, locale) == "09:00"
    assert time_phrase(datetime(2026, 11, 28, 14, 5, tzinfo=LISBON), locale) == "14:05"


def test_phrases_are_in_the_time_zone_of_the_moment() -> None:
    # 00:30 in Lisbon's summer is still the previous day in UTC: the phrase follows Lisbon.
    moment = datetime(2026, 7, 1, 0, 30, tzinfo=LISBON)
    assert day_phrase(moment, "en_GB") == "Wednesday, 1 July"
    assert time_phrase(moment, "en_GB") == "00:30"


# -- ActionHandoff -----------------------------------------------------------------------------


def test_out_of_hours_private_handoff(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    text = "My bill is wrong, my account is AUR-12345678"
    start = text.index("AUR-")
    span = {"kind": "account_number", "start": start, "end": start + len("AUR-12345678")}
    meta = {"channel": "telegram", "public": False, "sender": "1001"}
    history = [
        user_event("Hi", FRIDAY_NIGHT - timedelta(minutes=2), meta),
        bot_event("Hi! How can I help?", FRIDAY_NIGHT - timedelta(minutes=1)),
    ]
    triage = handoff_triage(FRIDAY_NIGHT, ["private"])
    tracker = make_tracker(
        text=text, at=FRIDAY_NIGHT, triage=triage, personal_data=[span], history=history
    )

    events, said = run(ActionHandoff(), tracker, domain)

    tickets = queue.list_tickets(now=FRIDAY_NIGHT)
    assert [t.id for t in tickets] == [1]
    assert events == [
        SlotSet("handoff_ticket", 1),
        SlotSet("triage", promised(triage, 1, "2026-11-28T10:00:00+00:00", ["private"])),
    ]
    assert said == [(PRIVATE_PROMISE_SATURDAY, None)]

    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.status == "open"
    assert ticket.channel == "telegram"
    assert ticket.conversation_id == "telegram:1001"
    assert ticket.customer == "1001"
    assert ticket.public is False
    assert (ticket.language, ticket.locale) == ("en", "en_GB")
    assert ticket.reasons == ["private"]
    assert ticket.need == 3
    assert ticket.department == "billing"
    assert ticket.topic is None
    assert ticket.suggested_answer is None
    assert ticket.reply_eta == datetime(2026, 11, 28, 10, 0, tzinfo=LISBON)
    assert ticket.created_at == FRIDAY_NIGHT
    assert transcript_of(queue, 1) == [
        ("customer", "Hi", []),
        ("bot", "Hi! How can I help?", []),
        ("customer", text, [span]),
        ("bot", PRIVATE_PROMISE_SATURDAY, []),
    ]
    customer_line = ticket.transcript[2]
    assert customer_line.masked_text == "My bill is wrong, my account is [account_number]"
    assert customer_line.at == FRIDAY_NIGHT
    assert customer_line.meta["channel"] == "telegram"
    assert customer_line.meta["sender"] == "1001"


@pytest.mark.parametrize(
    ("language", "promise"),
    [("en", COMPLEX_PROMISE_WEDNESDAY), ("pt", COMPLEX_PROMISE_WEDNESDAY_PT)],
)
def test_a_holiday_is_skipped_and_said(
    queue: HandoffQueue, domain: dict[str, Any], language: str, promise: str
) -> None:
    triage = handoff_triage(MONDAY_NIGHT, ["complex"], language, intent="out_of_scope")
    tracker = make_tracker(
        text="my modem is blinking orange and the app crashes",
        at=MONDAY_NIGHT,
        triage=triage,
        language=language,
    )

    events, said = run(ActionHandoff(), tracker, domain)

    assert events == [
        SlotSet("handoff_ticket", 1),
        SlotSet("triage", promised(triage, 1, "2026-12-02T09:00:00+00:00", ["complex"])),
    ]
    assert said == [(promise, None)]
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.reply_eta == datetime(2026, 12, 2, 9, 0, tzinfo=LISBON)
    assert ticket.department == "general"
    assert ticket.need == 3


def test_in_hours_handoff(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    triage = handoff_triage(
        WEDNESDAY_MORNING,
        ["in_hours"],
        "it",
        in_hours=True,
        intent="faq",
        topic=None,
        suggested_topic="faq/roaming",
    )
    tracker = make_tracker(
        text="Il roaming è incluso?",
        at=WEDNESDAY_MORNING,
        triage=triage,
        language="it",
        sender="2002",
    )

    events, said = run(ActionHandoff(), tracker, domain)

    assert events == [
        SlotSet("handoff_ticket", 1),
        SlotSet("triage", promised(triage, 1, "2026-11-25T11:00:00+00:00", ["in_hours"])),
    ]
    assert said == [(IN_HOURS_IT, None)]
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == 4
    assert ticket.department == "technical"
    assert ticket.topic == "faq/roaming"
    assert ticket.suggested_answer == ROAMING_IT
    assert ticket.reply_eta == WEDNESDAY_MORNING
    assert (ticket.language, ticket.locale) == ("it", "it_IT")
    assert transcript_of(queue, 1) == [
        ("customer", "Il roaming è incluso?", []),
        ("bot", IN_HOURS_IT, []),
    ]


def test_public_post_with_personal_data_moves_to_dm(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    text = "@AuroraCare you charged me twice!! IBAN PT50 0002 0123 1234 5678 9015 4"
    start = text.index("PT50")
    span = {"kind": "iban", "start": start, "end": len(text)}
    triage = handoff_triage(FRIDAY_NIGHT, ["private"], move_to_private=True)
    tracker = make_tracker(
        text=text,
        at=FRIDAY_NIGHT,
        triage=triage,
        channel="x",
        sender="@maria",
        public=True,
        personal_data=[span],
    )

    events, said, said_metadata = run_with_metadata(ActionHandoff(), tracker, domain)

    assert events == [
        SlotSet("handoff_ticket", 1),
        SlotSet("triage", promised(triage, 1, "2026-11-28T10:00:00+00:00", ["private"])),
    ]
    # The DM first; the public reply's wording is chosen by the X output from the DM's outcome.
    assert said == [
        (f"{DM_OPENING} {PRIVATE_PROMISE_SATURDAY}", "private"),
        (PUBLIC_DATA_WARNING, "public"),
    ]
    dm, post = said_metadata
    assert dm == {"move_to_private": "dm", "ticket": 1}
    assert post == {
        "move_to_private": "public",
        "ticket": 1,
        "if_no_dm": PUBLIC_DATA_WARNING_LINK,
    }
    ticket = queue.get(1)
    assert ticket is not None
    assert (ticket.channel, ticket.customer, ticket.public) == ("x", "@maria", True)
    assert ticket.conversation_id == "x:@maria"
    # The X output records the two lines once it knows what went out (tests/channels).
    assert transcript_of(queue, 1) == [("customer", text, [span])]
    assert ticket.transcript[0].masked_text == "@AuroraCare you charged me twice!! IBAN [iban]"


def test_public_emotional_post_without_data_moves_to_dm(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    triage = handoff_triage(
        FRIDAY_NIGHT, ["emotional"], move_to_private=True, intent="complaint", emotion="anger"
    )
    tracker = make_tracker(
        text="@AuroraCare third outage this week, I am furious",
        at=FRIDAY_NIGHT,
        triage=triage,
        channel="x",
        sender="@joao",
        public=True,
        emotion="anger",
    )

    events, said = run(ActionHandoff(), tracker, domain)

    assert said == [
        (f"{DM_OPENING} {EMOTIONAL_PROMISE_SATURDAY}", "private"),
        (MOVE_TO_DM, "public"),
    ]
    assert events[0] == SlotSet("handoff_ticket", 1)
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == 2
    assert ticket.reasons == ["emotional"]


def test_public_post_that_stays_public(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    triage = handoff_triage(FRIDAY_NIGHT, ["complex"], intent="out_of_scope")
    tracker = make_tracker(
        text="@AuroraCare do you sponsor the marathon?",
        at=FRIDAY_NIGHT,
        triage=triage,
        channel="x",
        sender="@rita",
        public=True,
    )
    _events, said = run(ActionHandoff(), tracker, domain)
    assert len(said) == 1
    assert said[0][1] is None  # goes where the customer wrote
    assert said[0][0].startswith("This one needs a person from our team.")


def test_a_second_handoff_joins_the_waiting_ticket(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    first = make_tracker(
        text="my bill is wrong", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["private"])
    )
    run(ActionHandoff(), first, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=5)
    second = make_tracker(
        text="I want to talk to a person",
        at=later,
        triage=handoff_triage(later, ["human_requested"], intent="request_human"),
        history=[
            user_event(
                "my bill is wrong",
                FRIDAY_NIGHT,
                {"channel": "telegram", "public": False, "sender": "1001"},
            ),
            bot_event(PRIVATE_PROMISE_SATURDAY, FRIDAY_NIGHT + timedelta(seconds=1)),
        ],
    )
    events, _said = run(ActionHandoff(), second, domain)
    assert events[0] == SlotSet("handoff_ticket", 1)
    assert events[1]["value"]["reasons"] == ["private", "human_requested"]
    assert len(queue.list_tickets(now=later)) == 1
    texts = [text for _author, text, _pd in transcript_of(queue, 1)]
    assert texts.count("my bill is wrong") == 1
    assert texts[-2] == "I want to talk to a person"


def test_the_transcript_holds_the_sms_exactly_as_the_customer_received_it(
    queue: HandoffQueue, domain: dict[str, Any], tmp_path: Path
) -> None:
    """The promise in Portuguese is too long for two UCS-2 segments: it goes out in GSM-7."""
    number = "+351912345678"
    meta = {"channel": "sms", "public": False, "sender": number}
    earlier = MONDAY_NIGHT - timedelta(minutes=5)
    tracker = make_tracker(
        text="A fatura continua errada",
        at=MONDAY_NIGHT,
        triage=handoff_triage(MONDAY_NIGHT, ["complex"], "pt", intent="out_of_scope"),
        channel="sms",
        sender=number,
        language="pt",
        history=[
            user_event("A minha fatura está errada", earlier, meta),
            bot_event(COMPLEX_PROMISE_WEDNESDAY_PT, earlier + timedelta(seconds=1)),
        ],
    )
    _events, said = run(ActionHandoff(), tracker, domain)
    assert said == [(COMPLEX_PROMISE_WEDNESDAY_PT, None)]  # composed with its accents

    inbox = Inbox.from_url(f"sqlite:///{tmp_path / 'inbox.db'}")
    try:
        with FakeTwilio() as fake:
            connector = TwilioSmsInput(
                fake.account_sid,
                fake.auth_token,
                from_number=fake.number,
                api_base_url=fake.api_base_url,
                inbox=inbox,
            )

            async def send() -> None:
                output = connector.get_output_channel()
                try:
                    for text, _visibility in said:
                        await output.send_text_message(f"sms:{number}", text)
                finally:
                    await connector.client.close()

            asyncio.run(send())
            (sms,) = fake.wait_for(1)
    finally:
        inbox.dispose()
    assert sms.body != COMPLEX_PROMISE_WEDNESDAY_PT and "ja com tudo" in sms.body  # transliterated
    bot_lines = [text for author, text, _ in transcript_of(queue, 1) if author == "bot"]
    # The promise of this run, and the earlier one from the tracker: both as the phone showed them.
    assert bot_lines == [sms.body, sms.body]


def test_a_later_ticket_keeps_the_agents_answer_theirs_and_what_the_nlu_understood(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    """An answer sent from the desk (source: desk) is the agent's, not the bot's, next time."""
    earlier = FRIDAY_NIGHT - timedelta(days=3)
    answer = {
        **bot_event("Your refund is on its way.", earlier + timedelta(hours=12)),
        "metadata": {"source": "desk", "agent": "ana", "ticket": 7},
    }
    tracker = make_tracker(
        text="the refund never came",
        at=FRIDAY_NIGHT,
        triage=handoff_triage(FRIDAY_NIGHT, ["private"]),
        history=[
            user_event("where is my refund", earlier, {"channel": "telegram", "public": False}),
            answer,
        ],
    )
    run(ActionHandoff(), tracker, domain)
    ticket = queue.list_tickets(now=FRIDAY_NIGHT)[0]
    first, agent_line = ticket.transcript[0], ticket.transcript[1]
    assert (agent_line.author, agent_line.text) == ("agent", "Your refund is on its way.")
    assert agent_line.meta == {"visibility": None, "source": "desk", "agent": "ana"}
    assert (first.meta["intent"], first.meta["intent_confidence"]) == ("account_request", 0.9)
