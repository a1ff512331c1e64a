"""Outage reports: linked to an open incident (one reply, no ticket), or counted towards one.

TriagePolicy (bot/policy.py) runs ``action_incident`` instead of the FAQ answer when a customer
reports a failure (:data:`handoff.incidents.KINDS`). The action records the report
(:meth:`handoff.incidents.IncidentStore.note_report`): when it belongs to an open incident, or
opens one, the customer gets ``utter_incident_ack`` and the `triage` slot says ``topic:
incident`` with the incident's id; otherwise the slot says ``incident: null`` and the policy has
the FAQ answered as before. A handed-off report is linked by :func:`link_handoff`.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.events import latest_user_event, parse_time
from actions.responses import ResponseBook, time_phrase
from bot.settings import Brand, database_url, load_brand
from handoff.incidents import KINDS, IncidentStore, Report, Rules, area_in
from handoff.transcript import mask

logger = logging.getLogger(__name__)

ACTION_NAME = "action_incident"

_stores: dict[str, IncidentStore] = {}
_stores_lock = threading.Lock()


def store() -> IncidentStore:
    """The incident store of this process, created (and migrated) on first use."""
    url = database_url()
    with _stores_lock:
        if url not in _stores:
            _stores[url] = IncidentStore.from_url(url, migrate=True)
        return _stores[url]


def rules_of(brand: Brand) -> Rules:
    """The brand's detection settings (brand.yml ``incidents:``) for the store."""
    settings = brand.incidents
    return Rules(
        window=timedelta(minutes=settings.window_minutes),
        threshold=settings.threshold,
        update_every=timedelta(minutes=settings.update_every_minutes),
        enabled=settings.enabled,
    )


def report_of(tracker: Tracker, topic: str, language: str, brand: Brand) -> Report:
    """The latest customer message as an outage report (its text masked)."""
    latest = tracker.latest_message or {}
    metadata = latest.get("metadata") or {}
    text = latest.get("text") or ""
    return Report(
        conversation_id=tracker.sender_id,
        customer=str(metadata.get("sender") or tracker.sender_id),
        kind=KINDS[topic],
        area=area_in(text, brand.incidents.areas),
        channel=str(metadata.get("channel") or tracker.get_latest_input_channel() or "rest"),
        public=bool(metadata.get("public")),
        language=language,
        text=mask(text, latest.get("personal_data") or ()),
        at=parse_time(metadata.get("at")),
        message_id=latest_user_event(tracker).get("message_id"),
    )


def link_handoff(tracker: Tracker, triage: dict[str, Any], ticket_id: int) -> str | None:
    """Links a handed-off outage report to its incident (counting it); returns the id or None.

    A customer who also needs a person keeps the normal handoff; their ticket is linked.
    Never fails the handoff: a store error is logged and the ticket stands alone.
    """
    topic = triage.get("about") or triage.get("suggested_topic") or triage.get("topic")
    if topic not in KINDS:
        return None
    brand = load_brand()
    language = triage.get("language") or brand.default_language
    try:
        report = report_of(tracker, str(topic), language, brand)
        incident, _opened = store().note_report(report, rules_of(brand))
        if incident is None:
            return None
        store().link_handoff(incident.id, report, ticket_id)
        return incident.ref
    except Exception:  # noqa: BLE001 - the handoff itself must stand
        logger.exception("ticket %s could not be linked to an incident", ticket_id)
        return None


class ActionIncident(Action):
    """Links an outage report to its incident and acknowledges it, or leaves it to the FAQ."""

    def name(self) -> str:
        """The action's name in the domain."""
        return ACTION_NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Records the report; the incident reply when it is linked."""
        brand = load_brand()
        triage = dict(tracker.get_slot("triage") or {})
        language = triage.get("language") or tracker.get_slot("language") or brand.default_language
        # Answered: an outage FAQ. Handed off because the NLU could not tell which outage topic
        # (TriagePolicy): linked only to an open incident; the handoff counts it otherwise.
        answering = triage.get("decision") == "answer"
        topic = triage.get("topic") if answering else triage.get("about")
        if topic not in KINDS:
            triage["incident"] = None
            return [SlotSet("triage", triage)]
        report = report_of(tracker, str(topic), language, brand)
        incident, opened = store().note_report(report, rules_of(brand), count=answering)
        if incident is None:
            triage["incident"] = None
            return [SlotSet("triage", triage)]
        if opened:
            logger.info("incident %s opened (%s)", incident.ref, incident.kind)
        locale = triage.get("locale") or brand.locale_for(language)
        next_update = incident.next_update_at.astimezone(ZoneInfo(brand.timezone))
        text = ResponseBook(domain, brand.default_language).text(
            "utter_incident_ack",
            language,
            status_page=brand.contacts.status_page or brand.contacts.web_chat,
            next_update=time_phrase(next_update, locale),
        )
        dispatcher.utter_message(text=text or "")
        triage.update(
            decision="answer", reasons=[], topic="incident", incident=incident.ref, faq_topic=topic
        )
        return [SlotSet("triage", triage)]
