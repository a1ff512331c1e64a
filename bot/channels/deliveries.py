"""What became of each answer the desk sent, and which channels some process serves now.

The desk gives every agent's answer a delivery id (a uuid in the bot event's metadata); the
connector's output records the outcome under it once the platform answered (see
:class:`bot.channels.output.ConnectorOutput`), and the desk reads it back to tell the agent the
truth: delivered, or not sent and why. ``channel_workers`` names the channels each live process
serves, so the desk can refuse an answer up front when no process serves the case's channel.

Plain SQLAlchemy Core, blocking: async code calls these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.channels.dbretry import retrying_call
from bot.channels.schema import channel_deliveries, channel_workers
from handoff.clock import naive_is_utc

__all__ = [
    "DELIVERED",
    "FAILED",
    "QUEUED",
    "REASONS",
    "Delivery",
    "live_channels",
    "outcome",
    "record",
]

DELIVERED, FAILED, QUEUED = "delivered", "failed", "queued"
STATES = (DELIVERED, FAILED, QUEUED)
#: Why an answer was not sent, as codes (the desk puts them in words).
REASONS = ("channel_not_running", "opted_out", "blocked", "platform_error", "no_conversation")
_DETAIL_MAX = 200
UTC = dt.timezone.utc


@dataclass(frozen=True)
class Delivery:
    """The recorded outcome of one answer.

    Attributes:
        delivery_id: The desk's id of the answer.
        channel: The channel it went out on (or was to).
        state: ``delivered``, ``failed`` or ``queued``.
        reason: For a failure, one of :data:`REASONS`.
        detail: A short note without personal data (an error class, a platform code).
        updated_at: When the outcome was recorded.
    """

    delivery_id: str
    channel: str
    state: str
    reason: str | None
    detail: str | None
    updated_at: dt.datetime


def record(
    engine: Engine,
    delivery_id: str,
    channel: str,
    state: str,
    reason: str | None = None,
    detail: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Records (or updates) the outcome of an answer; waits out a database restart.

    Args:
        engine: The inbox's database.
        delivery_id: The desk's id of the answer.
        channel: The channel.
        state: One of ``delivered``, ``failed``, ``queued``.
        reason: For ``failed``: one of :data:`REASONS`.
        detail: A short note, without personal data (cut to 200 characters).
        now: The time to record (default: now).

    Raises:
        ValueError: An unknown state or reason.
    """
    if state not in STATES:
        raise ValueError(f"unknown delivery state {state!r}")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown delivery reason {reason!r}")
    values = {
        "channel": channel[:32],
        "state": state,
        "reason": reason,
        "detail": (detail or "")[:_DETAIL_MAX] or None,
        "updated_at": now or dt.datetime.now(UTC),
    }
    retrying_call(_write, engine, delivery_id[:64], values)


def _write(engine: Engine, delivery_id: str, values: dict[str, object]) -> None:
    table = channel_deliveries
    with engine.begin() as connection:
        changed = connection.execute(
            update(table).where(table.c.delivery_id == delivery_id).values(**values)
        ).rowcount
        if changed:
            return
        try:
            with connection.begin_nested():
                connection.execute(insert(table).values(delivery_id=delivery_id, **values))
        except IntegrityError:  # written at the same moment by another attempt: update it
            connection.execute(
                update(table).where(table.c.delivery_id == delivery_id).values(**values)
            )


def outcome(engine: Engine, delivery_id: str) -> Delivery | None:
    """The recorded outcome of an answer, or None when none was recorded."""
    table = channel_deliveries
    with engine.begin() as connection:
        row = connection.execute(
            select(table).where(table.c.delivery_id == delivery_id[:64])
        ).first()
    if row is None:
        return None
    return Delivery(
        delivery_id=row.delivery_id,
        channel=row.channel,
        state=row.state,
        reason=row.reason,
        detail=row.detail,
        updated_at=naive_is_utc(row.updated_at),
    )


def live_channels(
    engine: Engine, within: dt.timedelta, *, now: dt.datetime | None = None
) -> set[str]:
    """The channels served by a process that beat within ``within`` (see ``channel_workers``)."""
    cutoff = (now or dt.datetime.now(UTC)) - within
    with engine.begin() as connection:
        rows = connection.execute(
            select(channel_workers.c.channels, channel_workers.c.heartbeat_at)
        ).all()
    live: set[str] = set()
    for channels, beat in rows:
        if channels and naive_is_utc(beat) >= cutoff:
            live.update(name for name in channels.split(",") if name)
    return live
