"""Handing a conversation to a person: the ticket, the promise, and silence until released."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.events import latest_user_event, parse_time
from actions.incident import link_handoff
from actions.responses import ResponseBook, day_phrase, time_phrase
from bot.render.received import IF_NO_DM_KEY, MOVE_DM, MOVE_KEY, MOVE_PUBLIC, as_received
from bot.settings import WEEKDAYS, Brand, database_url, load_brand
from handoff.bot_side import BotQueue
from handoff.departments import department_of
from handoff.priority import need_for
from handoff.transcript import Entry

logger = logging.getLogger(__name__)

PUBLIC = "public"
PRIVATE = "private"
#: The channels whose connectors render every reply on the way out (bot.channels.output); the
#: others (Rasa's REST channel) send the text as it is.
RENDERING_CHANNELS = frozenset({"x", "telegram", "sms"})

_queues: dict[str, BotQueue] = {}
_queues_lock = threading.Lock()


def queue() -> BotQueue:
    """The queue of this process, created (and migrated) on first use."""
    url = database_url()
    with _queues_lock:
        if url not in _queues:
            _queues[url] = BotQueue.from_url(url, migrate=True)
        return _queues[url]


def as_sent(text: str, visibility: str | None, context: Mapping[str, Any]) -> list[str]:
    """The messages the customer receives for one bot message, as its connector sends them.

    The connectors render every reply on the way out (``bot.render.received.as_received``): an
    SMS may be transliterated to GSM-7 or shortened, a public X reply gets the @handle and is
    fitted to 280 characters. Rendering depends only on the text and on the customer's message
    it answers, so rendering it here with the same function gives exactly the texts sent; the
    transcript records those, not the text before rendering.

    Args:
        text: The bot's message as composed.
        visibility: ``"public"``, ``"private"``, or None for where the customer wrote.
        context: The metadata of the customer's message (``channel``, ``public``, ``sender``).

    Returns:
        The texts sent, in order (empty when there was nothing to send).
    """
    channel = str(context.get("channel") or "")
    if channel not in RENDERING_CHANNELS:
        return [text] if text else []
    # As the output channel decides: public only where the customer wrote in public.
    public = bool(context.get("public")) and visibility != PRIVATE
    handle = str(context["sender"]) if context.get("sender") else None
    try:
        return as_received(channel, text, public=public, handle=handle)
    except ValueError:  # a public X reply without a handle: not sent as rendered either
        return [text]


def _understood(parse: dict[str, Any]) -> dict[str, Any]:
    """What the NLU made of a customer message (intent and confidence), for the trainers' view."""
    intent = parse.get("intent") or {}
    if not intent.get("name"):
        return {}
    return {
        "intent": intent["name"],
        "intent_confidence": round(float(intent.get("confidence") or 0), 3),
    }


def transcript_from(tracker: Tracker) -> list[Entry]:
    """The conversation so far, from the Rasa tracker, as queue transcript entries.

    The bot's lines are recorded as sent (:func:`as_sent`), rendered for the customer's message
    they answered.
    """
    entries: list[Entry] = []
    context: dict[str, Any] = {}
    for event in tracker.events:
        kind = event.get("event")
        if kind not in ("user", "bot") or not (event.get("text") or kind == "user"):
            continue
        metadata = dict(event.get("metadata") or {})
        at = parse_time(metadata.get("at"), parse_time(event.get("timestamp")))
        if kind == "user":
            context = {"channel": event.get("input_channel")} | metadata
            parse = event.get("parse_data") or {}
            entries.append(
                Entry(
                    at=at,
                    author="customer",
                    text=event.get("text") or "",
                    personal_data=list(parse.get("personal_data") or []),
                    metadata={k: v for k, v in metadata.items() if k != "at"}
                    | {"at": at.isoformat()}
                    | _message_id(event)
                    | _understood(parse),
                )
            )
        elif metadata.get(MOVE_KEY) and context.get("channel") in RENDERING_CHANNELS:
            # A move to private: its output recorded on the ticket what really went out (the
            # tracker holds the wording before the output chose it).
            continue
        else:
            visibility = metadata.get("visibility")
            # An agent's answer sent from the desk (source: desk) stays the agent's in a later
            # ticket; the rest is the bot's.
            agent = metadata.get("agent") if metadata.get("source") == "desk" else None
            entries.extend(
                Entry(
                    at=at,
                    author="agent" if agent else "bot",
                    text=sent,
                    personal_data=[],
                    metadata={"visibility": visibility}
                    | ({"source": "desk", "agent": str(agent)} if agent else {}),
                )
                for sent in as_sent(event.get("text") or "", visibility, context)
            )
    return entries


def _message_id(event: dict[str, Any]) -> dict[str, str]:
    """The metadata naming the inbound message a transcript line came from, if it has an id."""
    message_id = event.get("message_id")
    return {"message_id": str(message_id)} if message_id else {}


def holidays_skipped(brand: Brand, start: datetime, eta: datetime) -> list[date]:
    """Holidays between a message and the promised time that the desk would otherwise open on."""
    calendar = brand.calendar()
    zone = eta.tzinfo
    day = start.astimezone(zone).date()
    skipped = []
    while day < eta.date():
        if calendar.is_holiday(day) and brand.desk_hours.get(WEEKDAYS[day.weekday()]):
            skipped.append(day)
        day += timedelta(days=1)
    return skipped


def promise_text(
    book: ResponseBook,
    brand: Brand,
    reason: str,
    language: str,
    locale: str,
    at: datetime,
    eta: datetime,
    in_hours: bool,
) -> str:
    """What the customer is told: when a person will answer, in their language and locale."""
    if in_hours or reason == "in_hours":
        return book.text("utter_handoff_in_hours", language) or ""
    name = (
        f"utter_handoff_{reason}"
        if book.has(f"utter_handoff_{reason}")
        else "utter_handoff_complex"
    )
    text = book.text(
        name, language, eta_day=day_phrase(eta, locale), eta_time=time_phrase(eta, locale)
    )
    parts = [text or ""]
    for holiday in holidays_skipped(brand, at, eta)[:1]:
        note = book.text(
            "utter_handoff_holiday_note", language, holiday_name=day_phrase(holiday, locale)
        )
        if note:
            parts.append(note)
    return " ".join(p for p in parts if p)


class ActionHandoff(Action):
    """Opens (or joins) the conversation's ticket and tells the customer when a person answers."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Creates the ticket, sends the promise, pauses the bot for this conversation."""
        brand = load_brand()
        triage = dict(tracker.get_slot("triage") or {})
        language = triage.get("language") or tracker.get_slot("language") or brand.default_language
        locale = triage.get("locale") or brand.locale_for(language)
        reasons = list(triage.get("reasons") or ["complex"])
        metadata = tracker.latest_message.get("metadata") or {}
        at = parse_time(triage.get("at") or metadata.get("at"))
        eta = brand.calendar().reply_eta(at)
        # A follow-up after the ticket was resolved carries no `in_hours`; the desk is open
        # exactly when a person can answer right away.
        in_hours = bool(triage["in_hours"]) if "in_hours" in triage else eta == at
        public = bool(metadata.get("public"))
        book = ResponseBook(domain, brand.default_language)
        topic = triage.get("suggested_topic")

        promise = promise_text(book, brand, reasons[0], language, locale, at, eta, in_hours)
        # (text, visibility, extra metadata of the bot message)
        replies: list[tuple[str, str | None, dict[str, Any]]] = []
        if public and triage.get("move_to_private"):
            has_data = bool(tracker.latest_message.get("personal_data") or [])
            public_reply = "utter_public_data_warning" if has_data else "utter_move_to_dm"
            opening = book.text("utter_dm_followup_private", language) or ""
            # The private line first: the public reply's wording depends on whether it went out
            # (the output chooses, see bot.channels.output); "{link}" is filled in there.
            replies.append((f"{opening} {promise}".strip(), PRIVATE, {MOVE_KEY: MOVE_DM}))
            replies.append(
                (
                    book.text(public_reply, language) or "",
                    PUBLIC,
                    {
                        MOVE_KEY: MOVE_PUBLIC,
                        IF_NO_DM_KEY: book.text(f"{public_reply}_link", language) or "",
                    },
                )
            )
        else:
            replies.append((promise, None, {}))

        # The ticket's transcript is the tracker's conversation plus what the bot says now, both
        # as the customer receives them (rendered for the channel). A connector records a move to
        # private's lines itself, once it knows what went out.
        channel = str(metadata.get("channel") or tracker.get_latest_input_channel() or "rest")
        context = {"channel": channel, "public": public, "sender": metadata.get("sender")}
        recorded_by_output = channel in RENDERING_CHANNELS
        transcript = transcript_from(tracker) + [
            Entry(
                at=at,
                author="bot",
                text=sent,
                personal_data=[],
                metadata={"visibility": visibility},
            )
            for text, visibility, extra in replies
            if not (extra and recorded_by_output)
            for sent in as_sent(text, visibility, context)
        ]
        ticket = queue().open_ticket(
            channel=channel,
            conversation_id=tracker.sender_id,
            customer=str(metadata.get("sender") or tracker.sender_id),
            public=public,
            language=language,
            locale=locale,
            reasons=reasons,
            need=need_for(reasons, triage.get("emotion")),
            department=department_of(triage, brand.departments),
            topic=topic,
            suggested_answer=book.answer_for(topic, language),
            reply_eta=eta,
            created_at=at,
            transcript=transcript,
        )
        for text, visibility, extra in replies:
            marks = {"visibility": visibility} if visibility else {}
            # The ticket id lets the output record a move to private on it.
            dispatcher.utter_message(
                text=text, **marks, **extra, **({"ticket": ticket.id} if extra else {})
            )

        triage.update(ticket=ticket.id, reply_eta=eta.isoformat(), reasons=list(ticket.reasons))
        # An outage report that also needs a person: its ticket is linked to the incident.
        incident = link_handoff(tracker, triage, ticket.id)
        if incident:
            triage["incident"] = incident
        return [SlotSet("handoff_ticket", ticket.id), SlotSet("triage", triage)]


class ActionAppendToTicket(Action):
    """Adds a message of a handed-off conversation to its ticket; the bot says nothing."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_append_to_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Appends the latest customer message and raises the ticket's need if it got worse."""
        ticket_id = tracker.get_slot("handoff_ticket")
        latest = tracker.latest_message or {}
        metadata = latest.get("metadata") or {}
        at = parse_time(metadata.get("at"))
        emotion = (latest.get("emotion") or {}).get("label")
        entry = Entry(
            at=at,
            author="customer",
            text=latest.get("text") or "",
            personal_data=list(latest.get("personal_data") or []),
            metadata={k: v for k, v in metadata.items() if k != "at"}
            | {"at": at.isoformat()}
            | _message_id(latest_user_event(tracker)),
        )
        service = queue()
        ticket = service.get(int(ticket_id)) if ticket_id is not None else None
        if ticket is None or ticket.status == "resolved":
            # Released without the slot being cleared: the message must not be lost, so it
            # opens a new ticket through the normal handoff path.
            logger.warning(
                "A conversation on %s had no open ticket (released slot); opening one",
                tracker.sender_id.split(":", 1)[0],
            )
            return [SlotSet("handoff_ticket", None)] + await ActionHandoff().run(
                dispatcher, tracker, domain
            )
        extra_need = need_for(list(ticket.reasons) + (["emotional"] if emotion else []), emotion)
        message_id = entry.metadata.get("message_id")
        if message_id and any(
            (line.meta or {}).get("message_id") == message_id for line in ticket.transcript
        ):
            # An earlier attempt at this message appended it, then its answer to Rasa was lost.
            logger.info("Message %s is already on ticket %s", message_id, ticket.id)
        else:
            entries = _with_first_private_message(ticket, entry, dispatcher)
            ticket = service.append(ticket.id, entries, need=min(extra_need, ticket.need))
        triage = dict(tracker.get_slot("triage") or {})
        triage.update(
            decision="handoff",
            reasons=list(ticket.reasons),
            ticket=ticket.id,
            # In the brand's zone, as ActionHandoff wrote it: the same promise, the same string.
            reply_eta=(
                ticket.reply_eta.astimezone(ZoneInfo(load_brand().timezone)).isoformat()
                if ticket.reply_eta
                else None
            ),
            followup=True,
        )
        return [SlotSet("triage", triage)]


def _with_first_private_message(
    ticket: Any, entry: Entry, dispatcher: CollectingDispatcher
) -> list[Entry]:
    """Marks a public case's first private message; sends the private line it never got.

    When a public conversation moved to private and the customer writes privately for the first
    time (an X DM through the link, a Telegram chat opened from a group), the line is marked
    ``route: first_private_message`` for the desk. If the bot's private line was refused then
    (the customer's DMs were closed), it goes now, by the way the customer just wrote.

    Returns:
        The lines to append: the customer's, then the bot's (as sent).
    """
    if not ticket.public or entry.metadata.get("public"):
        return [entry]
    lines = list(ticket.transcript)
    if any(
        line.author == "customer" and not (line.meta or {}).get("public", True) for line in lines
    ):
        return [entry]
    entry = replace(entry, metadata={**entry.metadata, "route": "first_private_message"})
    routes = {(line.meta or {}).get("route") for line in lines}
    if "dm_delivered" in routes or "private_chat_opened" in routes:
        return [entry]
    missed = [
        line.text
        for line in lines
        if (line.meta or {}).get("route") in ("dm_refused", "dm_unknown")
    ]
    for text in missed:
        dispatcher.utter_message(text=text)
    return [entry] + [
        Entry(at=entry.at, author="bot", text=text, metadata={"visibility": "private"})
        for text in missed
    ]
