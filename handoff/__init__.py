"""The human handoff queue: tickets, transcripts, the desk's calendar, priority and departments.

Knows SQLAlchemy only, nothing of Rasa or channels. Names are imported lazily so that
``import handoff.calendar`` (used by the policy) does not load SQLAlchemy or Alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handoff.calendar import BusinessCalendar
    from handoff.db import make_engine, migrate, session_factory
    from handoff.departments import department_for
    from handoff.models import Ticket, TranscriptEntry
    from handoff.priority import effective_priority, need_for, sort_key
    from handoff.queue import (
        ClaimConflict,
        HandoffError,
        HandoffQueue,
        TicketClosed,
        TicketNotFound,
    )
    from handoff.transcript import Entry, mask

_EXPORTS = {
    "BusinessCalendar": "handoff.calendar",
    "make_engine": "handoff.db",
    "migrate": "handoff.db",
    "session_factory": "handoff.db",
    "department_for": "handoff.departments",
    "Ticket": "handoff.models",
    "TranscriptEntry": "handoff.models",
    "effective_priority": "handoff.priority",
    "need_for": "handoff.priority",
    "sort_key": "handoff.priority",
    "ClaimConflict": "handoff.queue",
    "HandoffError": "handoff.queue",
    "HandoffQueue": "handoff.queue",
    "TicketClosed": "handoff.queue",
    "TicketNotFound": "handoff.queue",
    "Entry": "handoff.transcript",
    "mask": "handoff.transcript",
}

__all__ = [
    "BusinessCalendar",
    "ClaimConflict",
    "Entry",
    "HandoffError",
    "HandoffQueue",
    "Ticket",
    "TicketClosed",
    "TicketNotFound",
    "TranscriptEntry",
    "department_for",
    "effective_priority",
    "make_engine",
    "mask",
    "migrate",
    "need_for",
    "session_factory",
    "sort_key",
]


def __getattr__(name: str) -> Any:
    """Import an exported name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'handoff' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
