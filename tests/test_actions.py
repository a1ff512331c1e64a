"""actions/: the response book, and the handoff actions against a real SQLite queue.

The trackers are built by hand the way the action server receives them; the domain's responses are
the repository's own (data/responses), so the exact words customers read are checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff_actions
from actions.handoff import ActionAppendToTicket, ActionHandoff
from actions.responses import ResponseBook, day_phrase, time_phrase
from handoff.queue import HandoffQueue

REPO = Path(__file__).resolve().parents[1]
LISBON = ZoneInfo("Europe/Lisbon")

# Friday night, out of hours: the desk opens on Saturday at 10:00.
FRIDAY_NIGHT = datetime(2026, 11, 27, 23, 0, tzinfo=LISBON)
# Monday night: Tuesday 1 December is a holiday in Portugal, so the desk opens on Wednesday.
MONDAY_NIGHT = datetime(2026, 11, 30, 20, 0, tzinfo=LISBON)
# Wednesday morning: the desk is open.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 11, 0, tzinfo=LISBON)

PRIVATE_PROMISE_SATURDAY = (
    "We need to check your account securely. A person from our team will answer you here on "
    "Saturday, 28 November at 10:00 (Lisbon time). Please don't send passwords or card numbers."
)
COMPLEX_PROMISE_WEDNESDAY = (
    "This one needs a person from our team. They'll answer you here on Wednesday, 2 December at "
    "09:00 (Lisbon time), with everything you've already told us. "
    "(Tuesday, 1 December is a public holiday.)"
)
COMPLEX_PROMISE_WEDNESDAY_PT = (
    "Isto precisa de uma pessoa da nossa equipa, que lhe responde aqui quarta-feira, "
    "2 de dezembro, às 09:00 (hora de Lisboa), já com tudo o que nos disse. "
    "(terça-feira, 1 de dezembro é feriado.)"
)
IN_HOURS_IT = (
    "Grazie per il messaggio. Il nostro team è operativo e una persona ti risponderà qui a breve."
)
ROAMING_IT = (
    "Il roaming nell'UE è incluso nel tuo piano senza costi extra: basta attivare il roaming dati "
    "sul telefono. Fuori dall'UE, vedi i prezzi e attiva un pacchetto viaggio nell'app Aurora."
)
PUBLIC_DATA_WARNING = (
    "We've sent you a private message. Please consider deleting your post, as it shows personal "
    "details."
)
MOVE_TO_DM = "We've sent you a private message so we can continue there safely."
DM_OPENING = "Hi, we're continuing our conversation here, in private."
EMOTIONAL_PROMISE_SATURDAY = (
    "I'm really sorry you're going through this. A person from our team will answer you here on "
    "Saturday, 28 November at 10:00 (Lisbon time) and look into it with you."
)

pytestmark = pytest.mark.usefixtures("tensorflow_stays_out")


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    """The domain as the action server receives it: the repository's responses."""
    from rasa.shared.nlu.training_data.loading import load_data

    return {"responses": load_data(str(REPO / "data" / "responses")).responses}


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandoffQueue]:
    """The actions' queue: a fresh SQLite file; the module's per-URL cache starts empty."""
    monkeypatch.setenv("AFTERHOURS_DB_URL", f"sqlite:///{tmp_path / 'queue.db'}")
    monkeypatch.setenv("AFTERHOURS_BRAND", str(REPO / "brand.yml"))
    monkeypatch.setattr(handoff_actions, "_queues", {})
    # The actions' own queue (the bot's side), seen whole (both sides) for the assertions.
    service = HandoffQueue(handoff_actions.queue().engine)
    try:
        yield service
    finally:
        for cached in handoff_actions._queues.values():
            cached.dispose()


def user_event(
    text: str,
    at: datetime,
    metadata: dict[str, Any],
    personal_data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A `user` event as the tracker stores it."""
    meta = {**metadata, "at": at.isoformat()}
    return {
        "event": "user",
        "timestamp": at.timestamp(),
        "text": text,
        "input_channel": metadata.get("channel"),
        "metadata": meta,
        "parse_data": {
            "text": text,
            "intent": {"name": "account_request", "confidence": 0.9},
            "entities": [],
            "metadata": meta,
            "personal_data": personal_data or [],
        },
    }


def bot_event(text: str, at: datetime) -> dict[str, Any]:
    """A `bot` event (the bot's earlier answer)."""
    return {"event": "bot", "timestamp": at.timestamp(), "text": text, "data": {}, "metadata": {}}


def make_tracker(
    *,
    text: str,
    at: datetime,
    triage: dict[str, Any] | None,
    channel: str = "telegram",
    sender: str = "1001",
    public: bool = False,
    personal_data: list[dict[str, Any]] | None = None,
    emotion: str | None = None,
    history: list[dict[str, Any]] | None = None,
    handoff_ticket: int | None = None,
    language: str = "en",
) -> Tracker:
    """A tracker as the action server receives it, the latest message last in its events."""
    metadata = {"channel": channel, "public": public, "sender": sender, "at": at.isoformat()}
    latest_event = user_event(text, at, metadata, personal_data)
    latest = {
        **latest_event["parse_data"],
        "emotion": {"label": emotion, "score": 0.9 if emotion else 0.0, "cues": []},
    }
    latest_event["parse_data"] = latest
    events = [
        {"event": "action", "name": "action_listen", "timestamp": at.timestamp() - 400},
        *(history or []),
        latest_event,
    ]
    return Tracker(
        sender_id=f"{channel}:{sender}",
        slots={"triage": triage, "language": language, "handoff_ticket": handoff_ticket},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def handoff_triage(
    at: datetime, reasons: list[str], language: str = "en", **extra: Any
) -> dict[str, Any]:
    """The `triage` slot as TriagePolicy sets it for a handoff."""
    return {
        "decision": "handoff",
        "reasons": reasons,
        "topic": None,
        "suggested_topic": None,
        "language": language,
        "move_to_private": False,
        "intent": "account_request",
        "emotion": None,
        "at": at.isoformat(),
        "in_hours": False,
        "locale": {"en": "en_GB", "pt": "pt_PT", "es": "es_ES", "it": "it_IT"}[language],
        **extra,
    }


def run(
    action: Any, tracker: Tracker, domain: dict[str, Any]
) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Runs an action; returns its events and the (text, visibility) of what it said."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    for message in dispatcher.messages:
        # Every word is composed from data; no response template is left for Rasa to fill.
        assert message["response"] is None and message["template"] is None
        assert not message["buttons"] and not message["custom"] and message["image"] is None
    return events, [(m["text"], m.get("visibility")) for m in dispatcher.messages]


def promised(triage: dict[str, Any], ticket: int, eta: str, reasons: list[str]) -> dict[str, Any]:
    """The `triage` slot ActionHandoff sets: the policy's, with the ticket and the promise."""
    return {**triage, "ticket": ticket, "reply_eta": eta, "reasons": reasons}


def transcript_of(queue: HandoffQueue, ticket_id: int) -> list[tuple[str, str, list[Any]]]:
    ticket = queue.get(ticket_id)
    assert ticket is not None
    return [(e.author, e.text, list(e.personal_data)) for e in ticket.transcript]


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

    events, said = run(ActionHandoff(), tracker, domain)

    assert events == [
        SlotSet("handoff_ticket", 1),
        SlotSet("triage", promised(triage, 1, "2026-11-28T10:00:00+00:00", ["private"])),
    ]
    assert said == [
        (PUBLIC_DATA_WARNING, "public"),
        (f"{DM_OPENING} {PRIVATE_PROMISE_SATURDAY}", "private"),
    ]
    ticket = queue.get(1)
    assert ticket is not None
    assert (ticket.channel, ticket.customer, ticket.public) == ("x", "@maria", True)
    assert ticket.conversation_id == "x:@maria"
    assert transcript_of(queue, 1) == [
        ("customer", text, [span]),
        ("bot", PUBLIC_DATA_WARNING, []),
        ("bot", f"{DM_OPENING} {PRIVATE_PROMISE_SATURDAY}", []),
    ]
    assert [e.meta.get("visibility") for e in ticket.transcript[1:]] == ["public", "private"]
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
        (MOVE_TO_DM, "public"),
        (f"{DM_OPENING} {EMOTIONAL_PROMISE_SATURDAY}", "private"),
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


# -- ActionAppendToTicket ----------------------------------------------------------------------


def _hand_off_first(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    tracker = make_tracker(
        text="My bill is wrong", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["private"])
    )
    run(ActionHandoff(), tracker, domain)


FOLLOWUP_TRIAGE = {"decision": "handoff", "followup": True, "language": "en"}


def _followup(
    text: str,
    at: datetime,
    *,
    emotion: str | None = None,
    personal_data: list[dict[str, Any]] | None = None,
    ticket: int | None = 1,
) -> Tracker:
    meta = {"channel": "telegram", "public": False, "sender": "1001"}
    return make_tracker(
        text=text,
        at=at,
        triage=dict(FOLLOWUP_TRIAGE),
        emotion=emotion,
        personal_data=personal_data,
        handoff_ticket=ticket,
        history=[
            user_event("My bill is wrong", FRIDAY_NIGHT, meta),
            bot_event(PRIVATE_PROMISE_SATURDAY, FRIDAY_NIGHT),
        ],
    )


def test_append_adds_the_message_and_says_nothing(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    text = "it's account AUR-87654321"
    start = text.index("AUR")
    span = {"kind": "account_number", "start": start, "end": len(text)}

    events, said = run(ActionAppendToTicket(), _followup(text, later, personal_data=[span]), domain)

    assert said == []
    assert events == [
        SlotSet(
            "triage",
            {
                **FOLLOWUP_TRIAGE,
                "reasons": ["private"],
                "ticket": 1,
                "reply_eta": "2026-11-28T10:00:00+00:00",
            },
        )
    ]
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == 3  # no emotion: unchanged
    assert transcript_of(queue, 1) == [
        ("customer", "My bill is wrong", []),
        ("bot", PRIVATE_PROMISE_SATURDAY, []),
        ("customer", text, [span]),
    ]
    assert ticket.transcript[-1].at == later
    assert ticket.last_customer_message_at == later
    assert len(queue.list_tickets(now=later)) == 1


@pytest.mark.parametrize(("emotion", "need"), [("anger", 2), ("distress", 1), ("churn_threat", 1)])
def test_append_raises_the_need_on_emotion(
    queue: HandoffQueue, domain: dict[str, Any], emotion: str, need: int
) -> None:
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    events, said = run(
        ActionAppendToTicket(), _followup("this is ridiculous!!", later, emotion=emotion), domain
    )
    assert said == []
    assert events[0]["value"]["ticket"] == 1
    ticket = queue.get(1)
    assert ticket is not None
    assert ticket.need == need
    assert ticket.transcript[-1].text == "this is ridiculous!!"


def test_append_never_lowers_the_need(queue: HandoffQueue, domain: dict[str, Any]) -> None:
    tracker = make_tracker(
        text="I can't take this anymore",
        at=FRIDAY_NIGHT,
        emotion="distress",
        triage=handoff_triage(FRIDAY_NIGHT, ["emotional"], emotion="distress"),
    )
    run(ActionHandoff(), tracker, domain)
    assert queue.get(1).need == 1  # type: ignore[union-attr]
    run(ActionAppendToTicket(), _followup("ok", FRIDAY_NIGHT + timedelta(minutes=1)), domain)
    assert queue.get(1).need == 1  # type: ignore[union-attr]


def test_append_after_resolution_opens_a_new_ticket(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    queue.resolve(1, "ana", "account_request", at=datetime(2026, 11, 28, 10, 30, tzinfo=LISBON))
    # Saturday after closing: the desk opens again on Monday at 09:00.
    later = datetime(2026, 11, 28, 15, 0, tzinfo=LISBON)

    events, said = run(ActionAppendToTicket(), _followup("still wrong", later), domain)

    promise = (
        "This one needs a person from our team. They'll answer you here on Monday, 30 November "
        "at 09:00 (Lisbon time), with everything you've already told us."
    )
    assert events == [
        SlotSet("handoff_ticket", None),
        SlotSet("handoff_ticket", 2),
        SlotSet(
            "triage",
            {
                **FOLLOWUP_TRIAGE,
                "ticket": 2,
                "reply_eta": "2026-11-30T09:00:00+00:00",
                "reasons": ["complex"],
            },
        ),
    ]
    assert said == [(promise, None)]
    assert queue.get(1).status == "resolved"  # type: ignore[union-attr]
    new = queue.get(2)
    assert new is not None and new.status == "open"
    assert new.conversation_id == "telegram:1001"
    assert transcript_of(queue, 2)[-2:] == [("customer", "still wrong", []), ("bot", promise, [])]


def test_append_in_hours_after_resolution_promises_a_reply_now(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    _hand_off_first(queue, domain)
    queue.resolve(1, "ana", "account_request", at=datetime(2026, 11, 28, 10, 30, tzinfo=LISBON))
    # Saturday while the desk is open: a person answers now, not "on Saturday at 11:00".
    later = datetime(2026, 11, 28, 11, 0, tzinfo=LISBON)
    events, said = run(ActionAppendToTicket(), _followup("still wrong", later), domain)
    assert said == [
        (
            "Thanks for your message. Our team is online now and a person will reply to you here "
            "shortly.",
            None,
        )
    ]
    assert events[1] == SlotSet("handoff_ticket", 2)
    assert events[2]["value"]["reply_eta"] == "2026-11-28T11:00:00+00:00"


def test_append_reports_the_promise_as_the_handoff_did(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    # Summer: Lisbon is UTC+1, so the zone of the string matters.
    friday = datetime(2026, 7, 3, 23, 0, tzinfo=LISBON)
    tracker = make_tracker(
        text="My bill is wrong", at=friday, triage=handoff_triage(friday, ["private"])
    )
    events, said = run(ActionHandoff(), tracker, domain)
    assert events[1]["value"]["reply_eta"] == "2026-07-04T10:00:00+01:00"
    assert "Saturday, 4 July at 10:00" in said[0][0]
    events, said = run(
        ActionAppendToTicket(), _followup("hello?", friday + timedelta(minutes=3)), domain
    )
    assert said == []
    assert events[0]["value"]["reply_eta"] == "2026-07-04T10:00:00+01:00"


@pytest.mark.parametrize("ticket", [None, 99])
def test_append_without_a_ticket_opens_one(
    queue: HandoffQueue, domain: dict[str, Any], ticket: int | None
) -> None:
    events, said = run(
        ActionAppendToTicket(), _followup("hello?", FRIDAY_NIGHT, ticket=ticket), domain
    )
    assert events[:2] == [SlotSet("handoff_ticket", None), SlotSet("handoff_ticket", 1)]
    assert len(said) == 1
    assert queue.get(1) is not None


def test_utc_and_lisbon_agree_in_winter() -> None:
    # The expected strings above assume Lisbon is on UTC in November and December.
    assert FRIDAY_NIGHT.utcoffset() == timedelta(0)
    assert MONDAY_NIGHT.astimezone(timezone.utc).hour == 20


# -- running again after a crash ------------------------------------------------------------------


def test_an_append_run_again_for_the_same_message_adds_it_once(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    """The action server appended, then died before Rasa got its answer: Rasa runs it again."""
    _hand_off_first(queue, domain)
    later = FRIDAY_NIGHT + timedelta(minutes=10)
    tracker = _followup("any news?", later)
    tracker.events[-1]["message_id"] = "sms-41"
    first, _ = run(ActionAppendToTicket(), tracker, domain)
    again, said = run(ActionAppendToTicket(), tracker, domain)
    assert again == first and said == []
    assert [text for _, text, _ in transcript_of(queue, 1)].count("any news?") == 1
    assert queue.get(1).transcript[-1].meta["message_id"] == "sms-41"  # type: ignore[union-attr]


def test_a_handoff_run_again_for_the_same_message_keeps_one_ticket_and_one_promise(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    tracker = make_tracker(
        text="My bill is wrong", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["private"])
    )
    first, said_first = run(ActionHandoff(), tracker, domain)
    again, said_again = run(ActionHandoff(), tracker, domain)
    assert again == first and said_again == said_first
    assert len(queue.list_tickets(now=FRIDAY_NIGHT)) == 1
    assert transcript_of(queue, 1) == [
        ("customer", "My bill is wrong", []),
        ("bot", PRIVATE_PROMISE_SATURDAY, []),
    ]


def test_every_custom_action_returns_an_event_when_it_succeeds(
    queue: HandoffQueue, domain: dict[str, Any]
) -> None:
    """bot/turns.py reads "a custom action followed by none of its events" as a lost call."""
    import yaml

    listed = yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))["actions"]
    custom = {name for name in listed if not name.startswith("utter_")}
    assert custom == {"action_handoff", "action_append_to_ticket"}
    handed, _ = run(
        ActionHandoff(),
        make_tracker(text="hi", at=FRIDAY_NIGHT, triage=handoff_triage(FRIDAY_NIGHT, ["complex"])),
        domain,
    )
    appended, _ = run(ActionAppendToTicket(), _followup("more", FRIDAY_NIGHT), domain)
    assert handed and appended
