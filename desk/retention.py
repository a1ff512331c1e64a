"""Retention: data is kept no longer than brand.yml's ``retention:`` says (see desk/privacy.py).

Once a day (afterhours/scheduler.py, or ``afterhours privacy purge``) :func:`purge` removes, from
every store, what ended longer ago than its setting:

- ``conversations``: a conversation's events in the tracker store once its last event is that
  old (never while it has a waiting ticket); turn log rows and incident rows of that age;
- ``tickets``: resolved tickets resolved that long ago, with their transcripts, CSAT scores,
  notes and labelled examples; the desk's notices of that age;
- ``inbox``: the channels' inbox rows done (or given up, failed) that long ago, their reply
  ledger, and the desk answers' delivery outcomes;
- ``audit_log``: audit entries of that age (kept longer by default: they are the accountability).

SMS opt-outs are never purged: an opt-out must be honoured for as long as the brand sends SMS.
Deleted rows leave no bytes in a SQLite file (:func:`desk.privacy_stores.secure_delete`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot import turn_log
from bot.channels.schema import channel_deliveries, channel_inbox, channel_replies
from bot.settings import Retention
from desk.models import AuditEvent, Note, Notice, TrainingExample
from desk.privacy_export import INCIDENT_PREFIX
from desk.privacy_stores import (
    EVENTS,
    Stores,
    chunks,
    default_endpoints,
    open_tracker,
    other_channel_tables,
    secure_delete,
)
from handoff.clock import utc_now
from handoff.models import OPEN_STATUSES, Csat, Ticket, TranscriptEntry

__all__ = ["purge", "purge_product"]

logger = logging.getLogger(__name__)

_TICKETS = Ticket.__table__
# The incident tables' time columns, newest meaning first (another feature's tables).
_INCIDENT_TIMES = ("at", "linked_at", "sent_at", "posted_at")


def _remove(connection: Connection, table: Any, where: Any, dry_run: bool) -> int:
    if dry_run:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()
            or 0
        )
    return int(connection.execute(sa.delete(table).where(where)).rowcount or 0)


def _remove_in(
    connection: Connection, table: Any, column: Any, values: Sequence[Any], dry_run: bool
) -> int:
    return sum(_remove(connection, table, column.in_(batch), dry_run) for batch in chunks(values))


def _purge_tickets(
    stores: Stores, connection: Connection, cutoff: dt.datetime, dry_run: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    old = list(
        connection.execute(
            sa.select(_TICKETS.c.id).where(
                _TICKETS.c.status == "resolved", _TICKETS.c.resolved_at < cutoff
            )
        ).scalars()
    )
    parts = [
        ("queue.handoff_csat", Csat.__table__),
        ("queue.handoff_transcript_entries", TranscriptEntry.__table__),
    ]
    if stores.has(stores.queue, Note.__tablename__):
        parts += [
            ("desk.desk_notes", Note.__table__),
            ("desk.desk_training_examples", TrainingExample.__table__),
        ]
    for name, table in parts:
        counts[name] = _remove_in(connection, table, table.c.ticket_id, old, dry_run)
    for table in stores.reflect(stores.queue, INCIDENT_PREFIX, "ticket_id"):
        if not dry_run:  # the incident outlives the case: only its link to the ticket goes
            for batch in chunks(old):
                connection.execute(
                    sa.update(table).where(table.c.ticket_id.in_(batch)).values(ticket_id=None)
                )
    counts["queue.handoff_tickets"] = _remove_in(connection, _TICKETS, _TICKETS.c.id, old, dry_run)
    if stores.has(stores.queue, Notice.__tablename__):
        notices = Notice.__table__
        counts["desk.desk_notices"] = _remove(connection, notices, notices.c.at < cutoff, dry_run)
    return counts


def _purge_incidents(
    stores: Stores, connection: Connection, cutoff: dt.datetime, dry_run: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in stores.reflect(stores.queue, INCIDENT_PREFIX, "conversation_id"):
        column = next((table.c[n] for n in _INCIDENT_TIMES if n in table.c), None)
        if column is not None:
            counts[f"queue.{table.name}"] = _remove(connection, table, column < cutoff, dry_run)
    return counts


def _purge_inbox(
    stores: Stores, connection: Connection, cutoff: dt.datetime, dry_run: bool
) -> dict[str, int]:
    inbox = channel_inbox.c
    ended = sa.or_(
        sa.and_(inbox.status == "done", inbox.processed_at < cutoff),
        sa.and_(inbox.status == "failed", inbox.attempted_at < cutoff),
    )
    old = list(connection.execute(sa.select(inbox.id).where(ended)).scalars())
    counts = {
        f"channels.{t.name}": _remove(connection, t, t.c.created_at < cutoff, dry_run)
        for t in other_channel_tables(stores)
        if "created_at" in t.c
    }
    return counts | {
        "channels.channel_replies": _remove_in(
            connection, channel_replies, channel_replies.c.entry_id, old, dry_run
        ),
        "channels.channel_inbox": _remove_in(connection, channel_inbox, inbox.id, old, dry_run),
        "channels.channel_deliveries": _remove(
            connection, channel_deliveries, channel_deliveries.c.updated_at < cutoff, dry_run
        ),
    }


def _purge_conversations(
    stores: Stores, connection: Connection, cutoff: dt.datetime, waiting: set[str], dry_run: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    if stores.has(stores.tracker, "events"):
        ended = (
            sa.select(EVENTS.c.sender_id)
            .group_by(EVENTS.c.sender_id)
            .having(sa.func.max(EVENTS.c.timestamp) < cutoff.timestamp())
        )
        old = [c for c in connection.execute(ended).scalars() if c not in waiting]
        counts["tracker_store.events"] = _remove_in(
            connection, EVENTS, EVENTS.c.sender_id, old, dry_run
        )
    if stores.has(stores.tracker, turn_log.TURN_LOG.name):
        log = turn_log.TURN_LOG
        counts["tracker_store.afterhours_turn_log"] = _remove(
            connection, log, log.c.message_at < cutoff, dry_run
        )
    return counts


def _in(engine: Engine, dry_run: bool) -> Any:
    """A read-only transaction for a dry run, else a secure-delete one."""
    return engine.begin() if dry_run else secure_delete(engine)


def purge(
    stores: Stores, retention: Retention, now: dt.datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Removes from every store what ended longer ago than ``retention`` allows.

    Args:
        stores: The databases.
        retention: brand.yml's ``retention:`` (days per kind of data).
        now: The current time.
        dry_run: Count what would go, remove nothing.

    Returns:
        Rows removed (or that would be), per ``store.table``.
    """
    at = now or utc_now()

    def before(days: int) -> dt.datetime:
        return at - dt.timedelta(days=days)

    counts: dict[str, int] = {}
    with stores.queue.connect() as connection:
        waiting = set(
            connection.execute(
                sa.select(_TICKETS.c.conversation_id).where(_TICKETS.c.status.in_(OPEN_STATUSES))
            ).scalars()
        )
    with _in(stores.queue, dry_run) as connection:
        counts |= _purge_tickets(stores, connection, before(retention.tickets), dry_run)
        counts |= _purge_incidents(stores, connection, before(retention.conversations), dry_run)
        if stores.has(stores.queue, AuditEvent.__tablename__):
            audit = AuditEvent.__table__
            cutoff = before(retention.audit_log)
            counts["desk.desk_audit_log"] = _remove(connection, audit, audit.c.at < cutoff, dry_run)
    if stores.has(stores.channels, channel_inbox.name):
        with _in(stores.channels, dry_run) as connection:
            counts |= _purge_inbox(stores, connection, before(retention.inbox), dry_run)
    if stores.tracker is not None:
        with _in(stores.tracker, dry_run) as connection:
            cutoff = before(retention.conversations)
            counts |= _purge_conversations(stores, connection, cutoff, waiting, dry_run)
    return counts


def purge_product(queue: Engine) -> dict[str, int]:
    """The daily purge of the running product: brand.yml's retention, endpoints.yml's stores.

    Logs one line with the counts only.
    """
    from bot.settings import load_brand

    endpoints = default_endpoints()
    stores = Stores(queue=queue, tracker=open_tracker(endpoints), endpoints=endpoints)
    try:
        counts = purge(stores, load_brand().retention)
    finally:
        if stores.tracker is not None:
            stores.tracker.dispose()
    removed = {k: v for k, v in counts.items() if v}
    logger.info(
        "retention purge: %d rows removed %s",
        sum(removed.values()),
        " ".join(f"{k}={v}" for k, v in sorted(removed.items())) or "(nothing was due)",
    )
    return counts
