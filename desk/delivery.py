"""Truthful delivery of an agent's answer: refuse what cannot go out, report what became of it.

Before Rasa is asked to send anything the desk checks that the answer can reach the customer:
some live Rasa process serves the case's channel (``channel_workers``), Rasa holds a
conversation in which the customer wrote, and an SMS number has not opted out. Each answer
carries a delivery id in the bot event's metadata; the channel's output records the outcome
under it (``channel_deliveries``, see :mod:`bot.channels.deliveries`), and the desk reads it back:
only a delivered answer is said to be delivered, and only it goes into the case's transcript.

The channel tables live in the queue's database (the connectors' default inbox); a database
where no connector ever ran has none of them, and then no channel counts as live.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.channels import deliveries
from bot.channels.inbox import Inbox
from desk.rasa import RasaError
from desk.services import Desk
from handoff.desk_side import ClaimConflict, TicketClosed
from handoff.models import Ticket

__all__ = ["LIVE_WITHIN", "Outcome", "refusal", "send_answer", "why_not"]

logger = logging.getLogger("afterhours.desk")

#: A channel is live when a process serving it beat this recently (they beat every ~2 s).
LIVE_WITHIN = dt.timedelta(seconds=30)
#: Channels whose later answers go through a connector that records its deliveries.
CONNECTOR_CHANNELS = frozenset({"telegram", "sms", "x"})


@dataclass(frozen=True)
class Outcome:
    """What became of an answer.

    Attributes:
        delivered: Whether the customer has it (it is then on the case).
        code: ``delivered``, a reason of :data:`bot.channels.deliveries.REASONS`, or
            ``rest_channel`` / ``rasa_unreachable`` / ``rasa_refused``.
        message: What the desk tells the agent.
        status: The HTTP status of the page when not delivered (409: refused, 502: a server
            failed).
        refused_up_front: Nothing was asked of Rasa.
    """

    delivered: bool
    code: str
    message: str
    status: int = 200
    refused_up_front: bool = False


def why_not(reason: str | None, channel: str) -> str:
    """A delivery failure's reason in words, for the agent."""
    words = {
        "channel_not_running": f"the {channel} channel is not running",
        "opted_out": "the customer's number opted out of SMS (they sent STOP)",
        "blocked": f"the customer blocked us on {channel}, or {channel} refused the message",
        "platform_error": f"{channel} kept failing to take the message; try again later",
        "no_conversation": "there is no conversation with this customer to answer",
        "rest_channel": "answers on the REST channel cannot be sent later (its replies only "
        "go back in the customer's own request)",
    }
    return words.get(reason or "", f"{channel} did not take the message")


def _customer_address(ticket: Ticket) -> str:
    """The channel's own address of the customer (``sms:+351…`` gives ``+351…``)."""
    prefix = f"{ticket.channel}:"
    conversation = ticket.conversation_id
    return conversation[len(prefix) :] if conversation.startswith(prefix) else ticket.customer


def refusal(desk: Desk, ticket: Ticket) -> str | None:
    """Why an answer to ``ticket`` cannot go out now, as a code; None when it can.

    Blocking (database and Rasa): run it in a worker thread.

    Raises:
        RasaError: Rasa could not be reached to check the conversation.
    """
    engine = desk.queue.engine
    if ticket.channel == "rest":
        return "rest_channel"
    try:
        live = deliveries.live_channels(engine, LIVE_WITHIN)
    except SQLAlchemyError:  # no connector ever ran on this database: no channel tables
        live = set()
    if ticket.channel not in CONNECTOR_CHANNELS or ticket.channel not in live:
        return "channel_not_running"
    if not desk.rasa.conversation_exists(ticket.conversation_id):
        return "no_conversation"
    if ticket.channel == "sms" and Inbox(engine).opted_out("sms", _customer_address(ticket)):
        return "opted_out"
    return None


def _refused(desk: Desk, ticket: Ticket) -> Outcome | None:
    """The up-front refusal of an answer to ``ticket``, or None when it may be sent."""
    try:
        reason = refusal(desk, ticket)
    except RasaError as error:
        logger.warning(
            "case %s: Rasa could not be asked about the conversation: %s", ticket.id, error
        )
        return _rasa_trouble(error, up_front=True)
    if reason is None:
        return None
    return Outcome(False, reason, f"Not sent: {why_not(reason, ticket.channel)}.", 409, True)


def _rasa_trouble(error: RasaError, *, up_front: bool) -> Outcome:
    """Rasa could not be reached, or answered an error the channel did not explain."""
    if error.status is None:
        return Outcome(
            False,
            "rasa_unreachable",
            "Not sent: Rasa could not be reached. Try again.",
            502,
            up_front,
        )
    return Outcome(
        False,
        "rasa_refused",
        f"Not sent: Rasa answered an error (HTTP {error.status}). Try again.",
        502,
        up_front,
    )


def _not_sent(recorded: deliveries.Delivery) -> str:
    """What the agent is told of a failed delivery (a long answer may have gone out in part)."""
    words = why_not(recorded.reason or "platform_error", recorded.channel)
    parts = (recorded.detail or "").rpartition("parts sent: ")[2]
    if parts.isdigit() and int(parts) > 0:
        return f"Not sent in full ({parts} part(s) went out): {words}."
    return f"Not sent: {words}."


def _recorded(desk: Desk, delivery_id: str) -> deliveries.Delivery | None:
    try:
        return deliveries.outcome(desk.queue.engine, delivery_id)
    except SQLAlchemyError:
        logger.warning("the delivery record %s could not be read", delivery_id)
        return None


def _send(desk: Desk, ticket: Ticket, text: str, metadata: dict[str, Any]) -> Outcome:
    """Asks Rasa to send, then reads what the channel recorded (blocking)."""
    delivery_id = str(metadata["delivery_id"])
    channel = ticket.channel
    try:
        desk.rasa.send_bot_message(ticket.conversation_id, text, metadata)
    except RasaError as error:
        recorded = _recorded(desk, delivery_id)
        if recorded is not None and recorded.state == deliveries.FAILED:
            # Expected: the channel refused it, and Rasa answered an error so as not to keep it.
            status = 502 if recorded.reason == "platform_error" else 409
            return Outcome(False, recorded.reason or "platform_error", _not_sent(recorded), status)
        return _rasa_trouble(error, up_front=False)
    recorded = _recorded(desk, delivery_id)
    if recorded is None:
        # Rasa answered, but no connector saw it: it used a collecting output, and the
        # channel stopped between the check and the send.
        return Outcome(
            False,
            "channel_not_running",
            f"Not sent: {why_not('channel_not_running', channel)}.",
            409,
        )
    if recorded.state == deliveries.DELIVERED:
        return Outcome(True, "delivered", "Delivered to the customer.")
    return Outcome(False, recorded.reason or "platform_error", _not_sent(recorded), 409)


def send_answer(
    desk: Desk, ticket: Ticket, agent: str, text: str, metadata: dict[str, Any]
) -> Outcome:
    """Sends an agent's answer if it can reach the customer, and tells what became of it.

    Refuses up front (nothing sent) when the channel is not live, there is no conversation, or
    the number opted out. A delivered answer is recorded on the case (with its delivery state in
    the transcript entry's metadata). Every outcome is audited. Blocking: run it in a worker
    thread.

    Args:
        desk: The desk's services.
        ticket: The case (its agent already holds it).
        agent: The agent's username.
        text: The answer.
        metadata: Facts for the bot event (agent, ticket, visibility); a ``delivery_id`` is
            added.

    Returns:
        The outcome.
    """
    outcome = _refused(desk, ticket)
    if outcome is None:
        delivery_id = uuid.uuid4().hex
        outcome = _send(desk, ticket, text, {**metadata, "delivery_id": delivery_id})
    if outcome.delivered:
        try:
            desk.queue.reply(
                ticket.id,
                agent,
                text,
                metadata={"delivered_via": "rasa", "delivery": "delivered"},
                ttl=desk.claim_ttl,
            )
        except (ClaimConflict, TicketClosed) as error:
            # Sent already; the transcript missing it is better than a second message.
            logger.warning("case %s: answer sent but not recorded: %s", ticket.id, error)
        desk.store.audit(agent, "reply", ticket.id, {"length": len(text), "delivery": "delivered"})
    else:
        action = "reply_refused" if outcome.refused_up_front else "reply_not_sent"
        logger.info("case %s: answer not sent (%s)", ticket.id, outcome.code)
        desk.store.audit(agent, action, ticket.id, {"reason": outcome.code, "length": len(text)})
    return outcome
