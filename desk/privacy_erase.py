"""One pass of a customer's erasure over every store (see :func:`desk.privacy.erase`).

Each database is changed in one transaction with SQLite's ``secure_delete`` on, so neither the
rows nor their bytes remain. A pass over data already erased changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot import turn_log
from bot.channels.opt_out_hashes import opt_out_hash
from bot.channels.schema import (
    channel_deliveries,
    channel_inbox,
    channel_opt_out_hashes,
    channel_opt_outs,
    channel_replies,
)
from desk.models import AuditEvent, Note, TrainingExample
from desk.privacy_export import INCIDENT_PREFIX
from desk.privacy_stores import (
    EVENTS,
    Customer,
    PrivacyError,
    Stores,
    chunks,
    other_channel_tables,
    rows_of,
    secure_delete,
)
from handoff.models import OPEN_STATUSES, Ticket, TranscriptEntry

__all__ = ["erase_once"]

_TICKETS = Ticket.__table__
_TRANSCRIPT = TranscriptEntry.__table__
_AUDIT = AuditEvent.__table__

#: What replaces erased text that must keep its place (a transcript line, an audit detail).
ERASED = "[erased]"


def erase_rows(connection: Connection, table: Any, column: Any, values: Sequence[Any]) -> int:
    """Deletes the rows whose ``column`` is in ``values``; how many."""
    removed = 0
    for batch in chunks(values):
        removed += connection.execute(sa.delete(table).where(column.in_(batch))).rowcount or 0
    return removed


def erased_token() -> str:
    """A fresh, meaningless id for an anonymised conversation (nothing links it to the customer)."""
    return f"erased:{secrets.token_hex(8)}"


def erase_once(
    stores: Stores, customers: Sequence[Customer], ids: Sequence[str], at: dt.datetime
) -> dict[str, int]:
    """Erases the conversations ``ids`` of ``customers`` from every store, once.

    Returns:
        Rows deleted or anonymised, per ``store.table``.
    """
    counts: dict[str, int] = {}
    tokens = {conversation: erased_token() for conversation in ids}
    deliveries: set[str] = set()
    if stores.tracker is not None:
        with secure_delete(stores.tracker, vacuum=True) as connection:
            deliveries |= _erase_tracker(stores, connection, ids, tokens, counts)
    same = stores.channels is stores.queue
    with secure_delete(stores.queue, vacuum=True) as connection:
        deliveries |= _erase_queue(stores, connection, ids, tokens, at, counts)
        deliveries |= _erase_incidents(stores, connection, ids, counts)
        _scrub_audit(stores, connection, customers, ids, counts)
        if same:
            _erase_channels(stores, connection, customers, ids, deliveries, at, counts)
    if not same:
        with secure_delete(stores.channels, vacuum=True) as connection:
            _erase_channels(stores, connection, customers, ids, deliveries, at, counts)
    return counts


def _erase_tracker(
    stores: Stores,
    connection: Connection,
    ids: Sequence[str],
    tokens: dict[str, str],
    counts: dict[str, int],
) -> set[str]:
    """Deletes the events (keeping the desk answers' delivery ids); anonymises the turn log."""
    deliveries: set[str] = set()
    if stores.has(stores.tracker, "events"):
        for batch in chunks(ids):
            query = sa.select(EVENTS.c.data).where(
                EVENTS.c.sender_id.in_(batch), EVENTS.c.type_name == "bot"
            )
            for data in connection.execute(query).scalars():
                try:
                    found = (json.loads(data or "{}").get("metadata") or {}).get("delivery_id")
                except (ValueError, AttributeError):
                    found = None
                if found:
                    deliveries.add(str(found))
        counts["tracker_store.events"] = erase_rows(connection, EVENTS, EVENTS.c.sender_id, ids)
    if stores.has(stores.tracker, turn_log.TURN_LOG.name):
        log = turn_log.TURN_LOG
        changed = 0
        for conversation, token in tokens.items():
            changed += (
                connection.execute(
                    sa.update(log)
                    .where(log.c.conversation_id == conversation)
                    .values(conversation_id=token)
                ).rowcount
                or 0
            )
        counts["tracker_store.afterhours_turn_log"] = changed
    return deliveries


def _erase_queue(
    stores: Stores,
    connection: Connection,
    ids: Sequence[str],
    tokens: dict[str, str],
    at: dt.datetime,
    counts: dict[str, int],
) -> set[str]:
    """Anonymises the tickets and their transcripts; deletes their notes and labelled examples."""
    deliveries: set[str] = set()
    tickets = []
    for batch in chunks(ids):
        tickets += connection.execute(
            sa.select(_TICKETS.c.id, _TICKETS.c.conversation_id, _TICKETS.c.status).where(
                _TICKETS.c.conversation_id.in_(batch)
            )
        ).all()
    ticket_ids = [t.id for t in tickets]
    for ticket in tickets:
        values: dict[str, Any] = {
            "conversation_id": tokens[ticket.conversation_id],
            "customer": tokens[ticket.conversation_id],
            "suggested_answer": None,
        }
        if ticket.status in OPEN_STATUSES:  # nobody can answer an erased customer
            values.update(status="resolved", resolved_at=at, updated_at=at)
        connection.execute(sa.update(_TICKETS).where(_TICKETS.c.id == ticket.id).values(**values))
    counts["queue.handoff_tickets"] = len(tickets)
    lines = 0
    for batch in chunks(ticket_ids):
        for meta in connection.execute(
            sa.select(_TRANSCRIPT.c["metadata"]).where(_TRANSCRIPT.c.ticket_id.in_(batch))
        ).scalars():
            if isinstance(meta, dict) and meta.get("delivery_id"):
                deliveries.add(str(meta["delivery_id"]))
        lines += (
            connection.execute(
                sa.update(_TRANSCRIPT)
                .where(_TRANSCRIPT.c.ticket_id.in_(batch), _TRANSCRIPT.c.text != ERASED)
                .values(
                    {
                        _TRANSCRIPT.c.text: ERASED,
                        _TRANSCRIPT.c.personal_data: [],
                        _TRANSCRIPT.c["metadata"]: {},
                    }
                )
            ).rowcount
            or 0
        )
    counts["queue.handoff_transcript_entries"] = lines
    if stores.has(stores.queue, Note.__tablename__):
        notes, examples = Note.__table__, TrainingExample.__table__
        counts["desk.desk_notes"] = erase_rows(connection, notes, notes.c.ticket_id, ticket_ids)
        counts["desk.desk_training_examples"] = erase_rows(
            connection, examples, examples.c.ticket_id, ticket_ids
        )
    return deliveries


def _erase_incidents(
    stores: Stores, connection: Connection, ids: Sequence[str], counts: dict[str, int]
) -> set[str]:
    """Deletes the incident tables' rows of the conversations (reports, links, notices)."""
    deliveries: set[str] = set()
    counts["queue.incident_samples"] = _erase_samples(stores, connection, ids)
    for table in stores.reflect(stores.queue, INCIDENT_PREFIX, "conversation_id"):
        if "delivery_id" in table.c:
            for batch in chunks(ids):
                deliveries.update(
                    str(d)
                    for d in connection.execute(
                        sa.select(table.c.delivery_id).where(table.c.conversation_id.in_(batch))
                    ).scalars()
                    if d
                )
        counts[f"queue.{table.name}"] = erase_rows(connection, table, table.c.conversation_id, ids)
    return deliveries


def _erase_samples(stores: Stores, connection: Connection, ids: Sequence[str]) -> int:
    """Erases the customer's words an incident's parent case shows as samples of its reports.

    A sample line is a copy of a report's text on the incident's ticket, without the
    conversation id: it is found by the text of the customer's reports.
    """
    tables = {t.name: t for t in stores.reflect(stores.queue, INCIDENT_PREFIX, "id")}
    reports, incidents = tables.get("handoff_incident_reports"), tables.get("handoff_incidents")
    if reports is None or incidents is None or "text" not in reports.c:
        return 0
    found: list[Any] = []
    for batch in chunks(ids):
        found += connection.execute(
            sa.select(reports.c.text, incidents.c.ticket_id)
            .join(incidents, incidents.c.id == reports.c.incident_id)
            .where(reports.c.conversation_id.in_(batch), incidents.c.ticket_id.isnot(None))
        ).all()
    erased = 0
    for text, ticket_id in {(row.text, row.ticket_id) for row in found if row.text}:
        erased += (
            connection.execute(
                sa.update(_TRANSCRIPT)
                .where(_TRANSCRIPT.c.ticket_id == ticket_id, _TRANSCRIPT.c.text == text)
                .values({_TRANSCRIPT.c.text: ERASED})
            ).rowcount
            or 0
        )
    return erased


def _scrub(value: Any, needles: Sequence[str]) -> tuple[Any, bool]:
    """``value`` with every string naming a customer replaced by :data:`ERASED`."""
    if isinstance(value, str):
        lowered = value.lower()
        if any(n in lowered for n in needles):
            return ERASED, True
        return value, False
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            out[key], hit = _scrub(item, needles)
            changed = changed or hit
        return out, changed
    if isinstance(value, list):
        pairs = [_scrub(item, needles) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def _scrub_audit(
    stores: Stores,
    connection: Connection,
    customers: Sequence[Customer],
    ids: Sequence[str],
    counts: dict[str, int],
) -> None:
    """Keeps every audit entry but drops the details that name the customer."""
    if not stores.has(stores.queue, _AUDIT.name):
        return
    needles = sorted(
        {c.sender.lower() for c in customers if len(c.sender) >= 3} | {i.lower() for i in ids}
    )
    if not needles:
        return
    text = sa.cast(_AUDIT.c.detail, sa.Text)
    # JSON text may escape non-ASCII characters: look for the ASCII ones, then check in Python.
    probes = [sa.func.lower(text).contains(n.encode("ascii", "ignore").decode()) for n in needles]
    scrubbed = 0
    for row in connection.execute(sa.select(_AUDIT.c.id, _AUDIT.c.detail).where(sa.or_(*probes))):
        detail, changed = _scrub(row.detail or {}, needles)
        if changed:
            connection.execute(sa.update(_AUDIT).where(_AUDIT.c.id == row.id).values(detail=detail))
            scrubbed += 1
    counts["desk.desk_audit_log"] = scrubbed


def _erase_channels(
    stores: Stores,
    connection: Connection,
    customers: Sequence[Customer],
    ids: Sequence[str],
    deliveries: set[str],
    at: dt.datetime,
    counts: dict[str, int],
) -> None:
    """Deletes inbox rows, their replies, the desk answers' deliveries; hashes opt-outs."""
    if not stores.has(stores.channels, channel_inbox.name):
        return
    entries: list[int] = []
    for batch in chunks(ids):
        entries += connection.execute(
            sa.select(channel_inbox.c.id).where(channel_inbox.c.conversation_id.in_(batch))
        ).scalars()
    counts["channels.channel_replies"] = erase_rows(
        connection, channel_replies, channel_replies.c.entry_id, entries
    )
    counts["channels.channel_inbox"] = erase_rows(
        connection, channel_inbox, channel_inbox.c.id, entries
    )
    counts["channels.channel_deliveries"] = erase_rows(
        connection, channel_deliveries, channel_deliveries.c.delivery_id, sorted(deliveries)
    )
    counts["channels.channel_opt_outs"] = sum(
        _hash_opt_out(connection, customer, at) for customer in customers
    )
    for table in other_channel_tables(stores):
        where = rows_of(table, ids, customers)
        counts[f"channels.{table.name}"] = (
            connection.execute(sa.delete(table).where(where)).rowcount or 0
        )


def _hash_opt_out(connection: Connection, customer: Customer, at: dt.datetime) -> int:
    """Replaces the customer's opt-out row by a keyed hash of the number (if they opted out)."""
    where = (
        channel_opt_outs.c.channel == customer.channel,
        channel_opt_outs.c.sender == customer.sender,
    )
    row = connection.execute(sa.select(channel_opt_outs).where(*where)).first()
    if row is None:
        return 0
    if row.opted_out:
        digest = opt_out_hash(customer.sender)
        if digest is None:  # checked before the erasure started; the key vanished meanwhile
            raise PrivacyError("the opt-out cannot be kept without AFTERHOURS_PRIVACY_KEY")
        keys = (
            channel_opt_out_hashes.c.channel == customer.channel,
            channel_opt_out_hashes.c.sender_hash == digest,
        )
        if connection.execute(sa.select(channel_opt_out_hashes).where(*keys)).first() is None:
            connection.execute(
                sa.insert(channel_opt_out_hashes).values(
                    channel=customer.channel, sender_hash=digest, changed_at=row.changed_at or at
                )
            )
    return connection.execute(sa.delete(channel_opt_outs).where(*where)).rowcount or 0
