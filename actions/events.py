"""What the actions read from a tracker: when a message was sent, the latest customer event."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker

from handoff.clock import parse_iso


def parse_time(raw: Any, default: datetime | None = None) -> datetime:
    """An aware datetime from an ISO 8601 string or a UNIX timestamp."""
    if isinstance(raw, str):
        try:
            return parse_iso(raw)
        except ValueError:  # not ISO 8601, or no offset: try the fallbacks
            pass
    if isinstance(raw, (int, float)):
        return datetime.fromtimestamp(raw, tz=timezone.utc)
    return default or datetime.now(timezone.utc)


def latest_user_event(tracker: Tracker) -> dict[str, Any]:
    """The customer's latest message as a tracker event (with its ``message_id``)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return dict(event)
    return {}
