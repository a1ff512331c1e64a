"""The export of a customer's data: one JSON document from every store (see :mod:`desk.privacy`).

The document (:data:`EXPORT_SCHEMA`) has, per store, what it holds about the customer: the
tracker store's messages, the bot's replies and the triage decisions, the turn log; the channels'
messages as received, the replies sent, the desk answers' deliveries and the opt-out state; the
queue's tickets with their transcripts (agents' replies included) and CSAT scores, the incident
rows; the desk's notes, labelled examples and the audit entries of the customer's tickets. Texts
are given as the customer wrote them: the document is for them. Agents are not named.
"""

from __future__ import annotations

import datetime as dt
import json
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
from desk.privacy_stores import (
    EVENTS,
    Customer,
    PrivacyError,
    Stores,
    chunks,
    find_conversations,
    other_channel_tables,
    rows_of,
)
from handoff.clock import utc_now
from handoff.models import Csat, Ticket, TranscriptEntry

__all__ = ["EXPORT_SCHEMA", "INCIDENT_PREFIX", "export", "summary"]

#: The export document's schema (its version changes when its shape does).
EXPORT_SCHEMA = "afterhours.privacy-export/1"
#: The incident tables (another feature's; rows with a ``conversation_id`` are the customer's).
INCIDENT_PREFIX = "handoff_incident"
_TICKETS = Ticket.__table__
_TRANSCRIPT = TranscriptEntry.__table__
_CSAT = Csat.__table__
_NOTES = Note.__table__
_EXAMPLES = TrainingExample.__table__
_AUDIT = AuditEvent.__table__


def _plain(value: Any) -> Any:
    """A JSON-safe copy (datetimes as ISO 8601)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _epoch(value: Any) -> str | None:
    try:
        return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _rows(connection: Connection, table: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    rows: list[Any] = []
    for batch in chunks(values):
        rows += connection.execute(
            sa.select(table).where(column.in_(batch)).order_by(next(iter(table.c)))
        ).all()
    return rows


def _tracker_export(stores: Stores, ids: Sequence[str]) -> tuple[dict[str, Any], set[str]]:
    """The tracker store's part, and the delivery ids of the desk's answers it holds."""
    part: dict[str, Any] = {"messages": [], "bot_replies": [], "decisions": [], "turns": []}
    deliveries: set[str] = set()
    if stores.tracker is None:
        return part, deliveries
    with stores.tracker.connect() as connection:
        if stores.has(stores.tracker, "events"):
            for row in _rows(connection, EVENTS, EVENTS.c.sender_id, ids):
                _read_event(row, part, deliveries)
        if stores.has(stores.tracker, turn_log.TURN_LOG.name):
            for row in _rows(
                connection, turn_log.TURN_LOG, turn_log.TURN_LOG.c.conversation_id, ids
            ):
                values = dict(row._mapping)
                values.pop("id", None)
                part["turns"].append(_plain(values))
    return part, deliveries


def _read_event(row: Any, part: dict[str, Any], deliveries: set[str]) -> None:
    try:
        data = json.loads(row.data or "{}")
    except ValueError:
        data = {}
    at = _epoch(row.timestamp)
    where = row.sender_id
    if row.type_name == "user":
        intent = ((data.get("parse_data") or {}).get("intent") or {}).get("name")
        part["messages"].append(
            {"conversation": where, "at": at, "text": data.get("text"), "intent": intent}
        )
    elif row.type_name == "bot":
        metadata = data.get("metadata") or {}
        if metadata.get("delivery_id"):
            deliveries.add(str(metadata["delivery_id"]))
        part["bot_replies"].append({"conversation": where, "at": at, "text": data.get("text")})
    elif row.type_name == "slot" and data.get("name") == "triage" and data.get("value"):
        part["decisions"].append({"conversation": where, "at": at, "triage": data.get("value")})


def _inbox_export(
    stores: Stores, customers: Sequence[Customer], ids: Sequence[str], deliveries: set[str]
) -> dict[str, Any]:
    part: dict[str, Any] = {"messages": [], "replies_sent": [], "deliveries": [], "opt_outs": []}
    if not stores.has(stores.channels, channel_inbox.name):
        return part
    with stores.channels.connect() as connection:
        entries = _rows(connection, channel_inbox, channel_inbox.c.conversation_id, ids)
        for row in entries:
            payload = row.payload or {}
            inbound = payload.get("inbound") or {}
            part["messages"].append(
                _plain(
                    {
                        "conversation": row.conversation_id,
                        "channel": row.channel,
                        "received_at": row.received_at,
                        "status": row.status,
                        "text": inbound.get("text"),
                        "public": inbound.get("public"),
                        "as_delivered": payload.get("raw"),
                    }
                )
            )
        for row in _rows(
            connection, channel_replies, channel_replies.c.entry_id, [e.id for e in entries]
        ):
            part["replies_sent"].append(_plain(dict(row._mapping)))
        for row in _rows(
            connection, channel_deliveries, channel_deliveries.c.delivery_id, sorted(deliveries)
        ):
            part["deliveries"].append(_plain(dict(row._mapping)))
        for customer in customers:
            part["opt_outs"] += _opt_out_state(connection, customer)
        part["other"] = {}
        for table in other_channel_tables(stores):
            found = connection.execute(sa.select(table).where(rows_of(table, ids, customers)))
            part["other"][table.name] = [_plain(dict(r._mapping)) for r in found]
    return part


def _opt_out_state(connection: Connection, customer: Customer) -> list[dict[str, Any]]:
    found = [
        _plain(
            {
                "channel": row.channel,
                "opted_out": row.opted_out,
                "keyword": row.keyword,
                "changed_at": row.changed_at,
            }
        )
        for row in connection.execute(
            sa.select(channel_opt_outs).where(
                channel_opt_outs.c.channel == customer.channel,
                channel_opt_outs.c.sender == customer.sender,
            )
        )
    ]
    digest = opt_out_hash(customer.sender)
    if not found and digest is not None:
        hashed = connection.execute(
            sa.select(channel_opt_out_hashes.c.changed_at).where(
                channel_opt_out_hashes.c.channel == customer.channel,
                channel_opt_out_hashes.c.sender_hash == digest,
            )
        ).first()
        if hashed is not None:
            found.append(
                _plain(
                    {
                        "channel": customer.channel,
                        "opted_out": True,
                        "kept_as": "keyed hash",
                        "changed_at": hashed.changed_at,
                    }
                )
            )
    return found


def _queue_export(stores: Stores, ids: Sequence[str]) -> tuple[dict[str, Any], list[int]]:
    """The tickets with their transcripts and CSAT; the desk's notes, labels and audit entries."""
    queue: dict[str, Any] = {"tickets": [], "incidents": {}}
    desk: dict[str, Any] = {"notes": [], "training_examples": [], "audit_entries": []}
    with stores.queue.connect() as connection:
        tickets = _rows(connection, _TICKETS, _TICKETS.c.conversation_id, ids)
        ticket_ids = [t.id for t in tickets]
        transcript = _rows(connection, _TRANSCRIPT, _TRANSCRIPT.c.ticket_id, ticket_ids)
        scores = {r.ticket_id: r for r in _rows(connection, _CSAT, _CSAT.c.ticket_id, ticket_ids)}
        for ticket in tickets:
            lines = [
                {"at": e.at, "author": e.author, "text": e.text}
                for e in transcript
                if e.ticket_id == ticket.id
            ]
            score = scores.get(ticket.id)
            queue["tickets"].append(
                _plain(
                    {
                        "id": ticket.id,
                        "conversation": ticket.conversation_id,
                        "channel": ticket.channel,
                        "public": ticket.public,
                        "language": ticket.language,
                        "status": ticket.status,
                        "reasons": ticket.reasons,
                        "department": ticket.department,
                        "topic": ticket.topic,
                        "created_at": ticket.created_at,
                        "resolved_at": ticket.resolved_at,
                        "reply_promised_by": ticket.reply_eta,
                        "transcript": sorted(lines, key=lambda x: x["at"]),
                        "agent_replies": sum(1 for line in lines if line["author"] == "agent"),
                        "csat": {"score": score.score, "answered_at": score.answered_at}
                        if score
                        else None,
                    }
                )
            )
        for table in stores.reflect(stores.queue, INCIDENT_PREFIX, "conversation_id"):
            rows = _rows(connection, table, table.c.conversation_id, ids)
            queue["incidents"][table.name] = [_plain(dict(r._mapping)) for r in rows]
        if stores.has(stores.queue, _NOTES.name):
            for row in _rows(connection, _NOTES, _NOTES.c.ticket_id, ticket_ids):
                desk["notes"].append(
                    _plain({"ticket": row.ticket_id, "at": row.at, "text": row.body})
                )
            for row in _rows(connection, _EXAMPLES, _EXAMPLES.c.ticket_id, ticket_ids):
                desk["training_examples"].append(
                    _plain(
                        {
                            "ticket": row.ticket_id,
                            "text": row.text,
                            "intent": row.reviewed_intent or row.intent,
                            "review": row.review,
                            "labelled_at": row.labelled_at,
                        }
                    )
                )
            for row in _rows(connection, _AUDIT, _AUDIT.c.ticket_id, ticket_ids):
                desk["audit_entries"].append(
                    _plain({"ticket": row.ticket_id, "at": row.at, "action": row.action})
                )
    return {"queue": queue, "desk": desk}, ticket_ids


def export(
    stores: Stores, customers: Sequence[Customer], now: dt.datetime | None = None
) -> dict[str, Any]:
    """Everything held about ``customers``, from every store, as one JSON-safe document.

    Args:
        stores: The databases.
        customers: The customer, once per channel they wrote on.
        now: When the document is made.

    Returns:
        ``schema``, ``generated_at``, ``customers``, ``conversations`` and ``stores`` (per store:
        ``tracker_store``, ``channels``, ``queue``, ``desk``).
    """
    if not customers:
        raise PrivacyError("name at least one customer")
    ids = find_conversations(stores, customers)
    tracker, deliveries = _tracker_export(stores, ids)
    parts, _ = _queue_export(stores, ids)
    for rows in parts["queue"]["incidents"].values():
        deliveries.update(str(r["delivery_id"]) for r in rows if r.get("delivery_id"))
    return {
        "schema": EXPORT_SCHEMA,
        "generated_at": (now or utc_now()).isoformat(),
        "customers": [c.conversation_id for c in customers],
        "conversations": ids,
        "stores": {
            "tracker_store": tracker,
            "channels": _inbox_export(stores, customers, ids, deliveries),
            "queue": parts["queue"],
            "desk": parts["desk"],
        },
    }


def summary(document: dict[str, Any]) -> str:
    """A readable account of an export: what each store holds about the customer."""
    stores = document["stores"]
    tracker, channels = stores["tracker_store"], stores["channels"]
    queue, desk = stores["queue"], stores["desk"]
    tickets = queue["tickets"]
    times = sorted(m["at"] for m in tracker["messages"] if m.get("at"))
    opted = [o for o in channels["opt_outs"] if o.get("opted_out")]
    lines = [
        f"Data held about {', '.join(document['customers'])}"
        f" (generated {document['generated_at']})",
        f"Conversations: {', '.join(document['conversations']) or 'none'}",
        f"Tracker store: {len(tracker['messages'])} messages, {len(tracker['bot_replies'])} bot "
        f"replies, {len(tracker['decisions'])} decisions, {len(tracker['turns'])} turn log rows"
        + (f" (first {times[0]}, last {times[-1]})" if times else ""),
        f"Channels: {len(channels['messages'])} messages received, "
        f"{len(channels['replies_sent'])} replies sent, {len(channels['deliveries'])} deliveries; "
        f"opted out: {'yes' if opted else 'no'}",
        f"Queue: {len(tickets)} tickets, "
        f"{sum(len(t['transcript']) for t in tickets)} transcript lines "
        f"({sum(t['agent_replies'] for t in tickets)} agents' replies), "
        f"{sum(1 for t in tickets if t['csat'])} satisfaction scores",
        f"Desk: {len(desk['notes'])} notes, {len(desk['training_examples'])} labelled examples, "
        f"{len(desk['audit_entries'])} audit entries",
    ]
    incidents = {k: len(v) for k, v in queue["incidents"].items() if v}
    if incidents:
        lines.append("Incidents: " + ", ".join(f"{n} in {k}" for k, n in incidents.items()))
    return "\n".join(lines) + "\n"
