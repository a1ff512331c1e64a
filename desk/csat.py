"""Asking the customer for a 1-5 score once an agent resolved their case (see bot/csat.py)."""

from __future__ import annotations

import datetime as dt
import logging

from bot.csat import CSAT_SLOT
from desk.rasa import RasaClient, RasaError

logger = logging.getLogger(__name__)

#: The domain's response that asks the question (data/responses/csat.yml).
QUESTION = "utter_csat_question"


def ask_for_score(
    client: RasaClient, conversation_id: str, ticket_id: int, agent: str, now: dt.datetime
) -> bool:
    """Opens the question on the conversation, then asks it on the customer's channel.

    The slot is set first, so a score that arrives right after the question is recognised.
    A failure is logged and reported, never raised: the case is resolved either way.

    Args:
        client: Rasa's HTTP API.
        conversation_id: The Rasa sender id (``"sms:+351..."``).
        ticket_id: The resolved case.
        agent: Who resolved it (the score counts for them).
        now: When it was resolved (the question expires 48 h later).

    Returns:
        Whether Rasa took both requests.
    """
    question = {"ticket": ticket_id, "agent": agent, "asked_at": now.isoformat()}
    try:
        client.set_slot(conversation_id, CSAT_SLOT, question)
        client.utter(conversation_id, QUESTION)
    except RasaError as error:
        logger.warning("case %s: the satisfaction question was not sent: %s", ticket_id, error)
        return False
    return True
