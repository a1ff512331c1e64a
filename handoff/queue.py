"""Both sides of the human queue on one object, for the commands that use both (CLI, demo, runner).

The bot's side is :mod:`handoff.bot_side` (open a ticket, add to it), the desk's side is
:mod:`handoff.desk_side` (claim, answer, resolve, reassign; reads in :mod:`handoff.views`), and
what they share is :mod:`handoff.base`. New code imports the side it needs from there.
"""

from __future__ import annotations

from handoff.base import (
    DEFAULT_CLAIM_TTL,
    ClaimConflict,
    HandoffError,
    TicketClosed,
    TicketNotFound,
)
from handoff.bot_side import BotQueue
from handoff.desk_side import DeskQueue, Reassigned

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "ClaimConflict",
    "HandoffError",
    "HandoffQueue",
    "Reassigned",
    "TicketClosed",
    "TicketNotFound",
]


class HandoffQueue(BotQueue, DeskQueue):
    """The handoff queue with both sides (see :class:`BotQueue` and :class:`DeskQueue`)."""
