"""How urgent a handoff is: from what the customer needs and how long they have waited.

Nothing here looks at who the customer is (followers, verified badges, VIP lists): the loudest
customer must not learn that shouting works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

__all__ = [
    "MOST_URGENT",
    "LEAST_URGENT",
    "Prioritised",
    "need_for",
    "effective_priority",
    "sort_key",
]

MOST_URGENT = 1
LEAST_URGENT = 4

# Emotion labels (bot.nlu.emotion) that put a person first: distress, and threats to leave or to
# complain to a regulator.
_URGENT_EMOTIONS = frozenset({"distress", "churn_threat", "complaint_threat"})
_EMOTIONAL_REASONS = frozenset({"emotional"})
_EMOTIONAL_LABELS = frozenset({"anger"})
_ONLY_TIMING_REASONS = frozenset({"in_hours"})


class Prioritised(Protocol):
    """What :func:`sort_key` reads from a ticket."""

    need: int
    created_at: dt.datetime
    reply_eta: dt.datetime


def need_for(reasons: Sequence[str], emotion_label: str | None) -> int:
    """Return a handoff's need, 1 (most urgent) .. 4.

    1 for distress or a threat (to leave, to complain); 2 for anger or an ``emotional`` handoff;
    3 for ``private``, ``human_requested``, ``complex`` or any other reason; 4 when the only reason
    is ``in_hours`` (a routine question that a person answers because the desk is open).

    Args:
        reasons: Handoff reasons, primary first.
        emotion_label: ``bot.nlu.emotion``'s label, or None.

    Returns:
        The need level.
    """
    if emotion_label in _URGENT_EMOTIONS:
        return 1
    if emotion_label in _EMOTIONAL_LABELS or any(r in _EMOTIONAL_REASONS for r in reasons):
        return 2
    if any(r not in _ONLY_TIMING_REASONS for r in reasons):
        return 3
    return LEAST_URGENT


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value.isoformat()}")
    return value


def effective_priority(
    need: int, created_at: dt.datetime, now: dt.datetime, aging_hours: float = 12.0
) -> int:
    """Raise a ticket's urgency one level per ``aging_hours`` waited, never above 1.

    Args:
        need: The ticket's need, 1 .. 4.
        created_at: When the ticket was opened (aware).
        now: The time to judge at (aware).
        aging_hours: Hours of waiting that are worth one level.

    Returns:
        The effective priority, 1 (first) .. ``need``.

    Raises:
        ValueError: ``aging_hours`` is not positive or a datetime is naive.
    """
    if aging_hours <= 0:
        raise ValueError("aging_hours must be positive")
    waited = _aware(now, "now") - _aware(created_at, "created_at")
    levels = int(max(waited, dt.timedelta(0)) / dt.timedelta(hours=aging_hours))
    return max(MOST_URGENT, need - levels)


def sort_key(ticket: Prioritised, now: dt.datetime) -> tuple[int, dt.datetime, dt.datetime]:
    """Order tickets: effective priority, then the earliest promised reply, then the oldest.

    Args:
        ticket: Anything with ``need``, ``created_at`` and ``reply_eta``.
        now: The time to judge waiting at (aware).

    Returns:
        A key for ``sorted``.
    """
    return (
        effective_priority(ticket.need, ticket.created_at, now),
        ticket.reply_eta,
        ticket.created_at,
    )
