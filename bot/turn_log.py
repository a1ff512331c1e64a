"""The turn log: a row per customer message the bot decided on, for the supervisors' reports.

Every customer turn's decision lives in the `triage` slot (bot.policy, actions/handoff.py), buried
in the tracker store's JSON events. The tracker store (:mod:`bot.tracker_store`) also writes,
in the same transaction as the turn's events, one compact row per new customer message
whose triage is decided: where it came from, its language, the decision, the primary reason, the
topic, the department and the ticket. No message text: the log is read by reports only, and a
report needs no personal data. A turn that is not stored (its action server failed, the database
refused it) leaves no row either, so the log counts exactly the turns that happened.

SQLAlchemy Core only (the tracker store runs on Rasa's SQLAlchemy 1.4 engine); the table lives in
the tracker store's database, created when missing, like Rasa creates its ``events`` table.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import URL, Engine

from handoff.clock import as_utc, parse_iso
from handoff.departments import department_of
from handoff.models import UTCDateTime
from handoff.reports import hour_bucket

__all__ = [
    "TURN_LOG",
    "create_table",
    "grouped_counts",
    "has_table",
    "latest_message_at",
    "rows_for",
    "tracker_store_url",
]

logger = logging.getLogger(__name__)

#: The decisions logged: the triage's three, and a reply to the satisfaction question (bot/csat.py:
#: a customer message, counted in the volume, that needed no answer).
DECISIONS = ("answer", "handoff", "ignore", "csat")

_METADATA = sa.MetaData()

#: One row per customer message whose triage was decided (no message text).
TURN_LOG = sa.Table(
    "afterhours_turn_log",
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("language", sa.String(16), nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    # A message of a conversation already handed off: it joins the open ticket.
    sa.Column("followup", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("topic", sa.String(128), nullable=True),
    sa.Column("department", sa.String(64), nullable=True),
    sa.Column("ticket_id", sa.Integer, nullable=True),
    sa.Column("message_at", UTCDateTime, nullable=False),
    sa.Column("stored_at", UTCDateTime, nullable=False),
    sa.Index("ix_afterhours_turn_log_message_at", "message_at"),
)


def create_table(engine: Engine) -> None:
    """Creates the turn log in the tracker store's database if it is missing.

    Several Rasa servers starting together may race to create it: like Rasa for its own table,
    a failure is logged and the first server's table is used.
    """
    try:
        _METADATA.create_all(engine, checkfirst=True)
    except sa.exc.DBAPIError as error:
        # Two workers creating it at once: PostgreSQL refuses the second (a unique violation on
        # its catalogue, not an "already exists"); the first one's table is the one to use.
        if not has_table(engine):
            logger.error("Could not create the turn log table: %s", type(error).__name__)


def has_table(engine: Engine) -> bool:
    """Whether the database holds the turn log (a tracker store older than it does not)."""
    return bool(sa.inspect(engine).has_table(TURN_LOG.name))


def _parse_time(raw: Any) -> dt.datetime | None:
    try:
        return parse_iso(raw)
    except ValueError:
        return None


def latest_message_at(engine: Engine) -> dt.datetime | None:
    """When the newest logged customer message was sent (None: the log is empty or missing)."""
    if not has_table(engine):
        return None
    with engine.connect() as connection:
        latest = connection.execute(sa.select(sa.func.max(TURN_LOG.c.message_at))).scalar()
    return as_utc(latest, "message_at") if latest is not None else None


def _message_time(
    triage: Mapping[str, Any], metadata: Mapping[str, Any], stamp: Any
) -> dt.datetime:
    """The policy's time of the message, else the channel's `at`, else when Rasa received it."""
    found = _parse_time(triage.get("at")) or _parse_time(metadata.get("at"))
    if found is not None:
        return found
    return dt.datetime.fromtimestamp(float(stamp or 0), tz=dt.timezone.utc)


def rows_for(
    sender_id: str,
    events: Sequence[Any],
    stored_at: dt.datetime,
    departments: Callable[[], Mapping[str, Sequence[str]] | None] = lambda: None,
) -> list[dict[str, Any]]:
    """The turn log's rows for the customer messages among ``events`` (new events of one save).

    A message's decision is the last `triage` value set after it and before the next message
    (``action_handoff`` and ``action_append_to_ticket`` add the ticket to the policy's value).
    A message with no decision (a session start, a model without TriagePolicy) gets no row; a
    score answering the satisfaction question is logged as ``csat``.

    Args:
        sender_id: The conversation.
        events: Rasa events (``UserUttered``, ``SlotSet``, ...), in order.
        stored_at: When they are stored.
        departments: Gives brand.yml's ``departments`` (asked only for a new handoff).

    Returns:
        Rows for :data:`TURN_LOG`'s insert.
    """
    from rasa.shared.core.events import SlotSet, UserUttered

    turns: list[tuple[Any, dict[str, Any] | None]] = []
    for event in events:
        if isinstance(event, UserUttered):
            turns.append((event, None))
        elif (
            isinstance(event, SlotSet)
            and event.key == "triage"
            and turns
            and isinstance(event.value, dict)
        ):
            turns[-1] = (turns[-1][0], event.value)
    rows = []
    for message, triage in turns:
        if not triage or triage.get("decision") not in DECISIONS:
            continue
        rows.append(_row(sender_id, message, triage, stored_at, departments))
    return rows


def _row(
    sender_id: str,
    message: Any,
    triage: Mapping[str, Any],
    stored_at: dt.datetime,
    departments: Callable[[], Mapping[str, Sequence[str]] | None],
) -> dict[str, Any]:
    metadata = message.metadata or {}
    decision = str(triage["decision"])
    followup = bool(triage.get("followup"))
    reasons = triage.get("reasons") or []
    department = None
    if decision == "handoff" and not followup:
        mapping = departments()
        if mapping is not None:
            department = department_of(triage, mapping)
    ticket = triage.get("ticket")
    language = triage.get("language")
    return {
        "conversation_id": sender_id[:255],
        "channel": str(metadata.get("channel") or message.input_channel or "rest")[:32],
        "public": bool(metadata.get("public", False)),
        "language": str(language)[:16] if language else None,
        "decision": decision,
        "followup": followup,
        "reason": str(reasons[0])[:32] if reasons and decision != "answer" else None,
        "topic": _topic(triage),
        "department": department,
        "ticket_id": ticket if isinstance(ticket, int) else None,
        "message_at": _message_time(triage, metadata, message.timestamp),
        "stored_at": stored_at,
    }


def _topic(triage: Mapping[str, Any]) -> str | None:
    """What the message was about: the answered topic, else the one it would have had."""
    for key in ("topic", "suggested_topic", "about"):
        value = triage.get(key)
        if isinstance(value, str) and value:
            return value[:128]
    return None


def tracker_store_url(endpoints: Path) -> URL | str:
    """The SQLAlchemy URL of the tracker store configured in ``endpoints``' ``tracker_store``.

    Built the way Rasa's ``SQLTrackerStore`` builds it (dialect, db, host, port, username,
    password, query; ``url`` is the host and may be a whole database URL), with ``${VAR}``
    expanded from the environment as Rasa does.

    Args:
        endpoints: The endpoints file.

    Returns:
        The URL.

    Raises:
        ValueError: The file has no SQL tracker store.
    """
    raw = yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}
    settings = _expand(raw.get("tracker_store") or {})
    kind = str(settings.get("type") or "")
    if kind.lower() != "sql" and not kind.endswith("SQLTrackerStore"):
        raise ValueError(f"{endpoints}: tracker_store is not an SQL tracker store ({kind!r})")
    host = settings.get("url") or settings.get("host")
    port = settings.get("port")
    if host and "://" in str(host):
        return str(host)
    if host:
        # The same trick as Rasa: a fake scheme parses "host:port".
        from urllib import parse

        parsed = parse.urlsplit(f"scheme://{host}")
        port = parsed.port or port
        host = parsed.hostname or host
    return URL.create(
        str(settings.get("dialect") or "sqlite"),
        username=settings.get("username"),
        password=settings.get("password"),
        host=host,
        port=int(port) if port not in (None, "") else None,
        database=settings.get("login_db") or settings.get("db") or "rasa.db",
        query=dict(settings.get("query") or {}),
    )


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {key: _expand(item) for key, item in value.items()}
    return value


def grouped_counts(
    engine: Engine, since: dt.datetime, until: dt.datetime
) -> dict[str, list[dict[str, Any]]]:
    """The turn log between ``since`` and ``until``, counted three ways in one statement.

    The range's rows are read once (a common table expression used by every branch); the report
    adds up a few hundred groups, however many messages.

    Args:
        engine: The tracker store's database.
        since: Start (aware, included).
        until: End (aware, excluded).

    Returns:
        ``hour``: counts per UTC hour (``YYYY-MM-DD HH``), decision and follow-up; ``who``: per
        channel and language; ``why``: per decision, follow-up, reason and department. Each a
        list of dicts with those keys and ``count``.
    """
    log = TURN_LOG.c
    rows = (
        sa.select(
            hour_bucket(log.message_at, engine.dialect.name).label("hour"),
            log.channel,
            log.language,
            log.decision,
            log.followup,
            log.reason,
            log.department,
        )
        .where(log.message_at >= since, log.message_at < until)
        .cte("turns")
    )
    c = rows.c
    ways = {
        "hour": (c.hour, c.decision, c.followup),
        "who": (c.channel, c.language),
        "why": (c.decision, c.followup, c.reason, c.department),
    }
    columns = ("hour", "channel", "language", "decision", "followup", "reason", "department")
    branches = []
    for way, keys in ways.items():
        chosen = {key.name for key in keys}
        branches.append(
            sa.select(
                sa.literal(way, sa.String).label("way"),
                *[(c[name] if name in chosen else sa.null()).label(name) for name in columns],
                sa.func.count().label("count"),
            ).group_by(*keys)
        )
    found: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    with engine.connect() as connection:
        for row in connection.execute(sa.union_all(*branches)):
            found[row.way].append(dict(row._mapping))
    return found


def insert_rows(connection: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    """Inserts turn log rows in one statement (benchmarks and tests fill the log with it)."""
    listed = list(rows)
    if listed:
        connection.execute(TURN_LOG.insert(), listed)
