"""Recording the customer's answer to the satisfaction question asked after a resolved case."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.events import parse_time
from actions.handoff import queue
from bot.csat import CSAT_ACTION, CSAT_SLOT, open_question, rating_of
from handoff.base import TicketNotFound

logger = logging.getLogger(__name__)


class ActionRecordCsat(Action):
    """Stores the score against the case and its agent, and closes the question.

    The thanks (``utter_csat_thanks``) follows by a rule (``data/rules/csat.yml``).
    """

    def name(self) -> str:
        """The action's name in the domain."""
        return CSAT_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Records the score of the latest message, if the question is still open."""
        latest = tracker.latest_message or {}
        metadata = latest.get("metadata") or {}
        at = parse_time(metadata.get("at"))
        question = open_question(tracker.get_slot(CSAT_SLOT), at)
        score = rating_of(latest.get("text"))
        if question is None or score is None:  # the policy checked both: a stale tracker
            return [SlotSet(CSAT_SLOT, None)]
        try:
            queue().record_csat(
                int(question["ticket"]),
                score,
                agent=question.get("agent"),
                channel=str(metadata.get("channel") or tracker.sender_id.split(":", 1)[0]),
                language=str(tracker.get_slot("language") or "en"),
                at=at,
            )
        except TicketNotFound:
            logger.warning("A satisfaction score for a case that no longer exists was dropped")
        return [SlotSet(CSAT_SLOT, None)]
