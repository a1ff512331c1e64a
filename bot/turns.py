"""What one inbound message did inside Rasa, reported by the tracker store to the connector.

Rasa carries on when a custom action fails ("Bot will continue, but the actions events are lost")
and its fail-safe tracker store keeps a tracker in memory when the database refuses it: in both
cases the message looks handled although its effect is not stored. A connector therefore watches
each message it hands to Rasa (:func:`watching`), and the project's tracker store
(:class:`bot.tracker_store.LeanSQLTrackerStore`), which Rasa calls in the same task, reports on
the turn: whether it was committed, and which custom actions lost their events. A turn with a lost
action is not stored at all, so processing the message again starts from the same tracker.

The contract this rests on: every custom action of the project returns at least one event when it
succeeds (tests/test_actions.py checks it), so an action followed by no event of its own failed.

Plain Python (``rasa.shared`` events only): no TensorFlow.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rasa.shared.core.events import ActionExecuted, Event, UserUttered

__all__ = ["StoreUnavailable", "Turn", "current", "lost_actions", "watching"]


class StoreUnavailable(BaseException):  # noqa: N818 - named for what it says
    """The tracker store could not be read while a connector watched the turn.

    Rasa's fail-safe wrapper would carry on with an empty tracker — answering without the
    conversation's history, perhaps handing the customer to the queue a second time. A
    ``BaseException`` passes through the wrapper's and the processor's ``except Exception``, so
    the message stops there, untouched, and the connector tries it again once the store is back.
    """


@dataclass
class Turn:
    """The tracker store's report on one message's turn.

    Attributes:
        message_id: The message watched (Rasa's ``UserMessage.message_id``).
        reported: The tracker store saw the turn (False: the store does not report, or Rasa
            never reached the save).
        committed: The turn's events are in the database.
        lost: Custom actions whose events were lost (the turn was then not stored).
        decision: What the bot decided for the message (``answer``, ``handoff``, ``ignore``,
            ``csat``; set by :class:`bot.policy.TriagePolicy`), None when it did not decide.
        reason: The decision's primary reason (None for an answer).
    """

    message_id: str
    reported: bool = False
    committed: bool = False
    lost: list[str] = field(default_factory=list)
    decision: str | None = None
    reason: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the turn is not durable, or None when it is (or nobody reported on it)."""
        if self.lost:
            return f"action server failed: {', '.join(self.lost)} lost its events"
        if self.reported and not self.committed:
            return "the tracker store did not store the turn"
        return None


_CURRENT: contextvars.ContextVar[Turn | None] = contextvars.ContextVar(
    "afterhours_turn", default=None
)


@contextmanager
def watching(message_id: str) -> Iterator[Turn]:
    """Watches the turn of one message handed to Rasa in this task."""
    turn = Turn(message_id)
    token = _CURRENT.set(turn)
    try:
        yield turn
    finally:
        _CURRENT.reset(token)


def current() -> Turn | None:
    """The turn being watched in this task, if any."""
    return _CURRENT.get()


def lost_actions(events: Iterable[Event], custom_actions: Iterable[str]) -> list[str]:
    """The custom actions in ``events`` that were followed by none of their own events."""
    custom = set(custom_actions)
    listed = list(events)
    lost = []
    for index, event in enumerate(listed):
        if not isinstance(event, ActionExecuted) or event.action_name not in custom:
            continue
        following = listed[index + 1] if index + 1 < len(listed) else None
        if following is None or isinstance(following, (ActionExecuted, UserUttered)):
            lost.append(str(event.action_name))
    return lost
