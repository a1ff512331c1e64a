"""The supervisors' report: what the bot and the desk did over a night, or over days.

Two sources, each counted by its own database: the turn log (:mod:`bot.turn_log`, in the tracker
store's database: every customer message and the bot's decision) and the queue
(:mod:`handoff.reports`: response times, promises, agents, CSAT). :func:`build_report` joins them
into one plain dict — the JSON of ``afterhours report --json``, the desk's reports page, the CSV.

Containment is the share of the customer messages that needed an answer which the bot answered:
answered / (answered + handed off). Ignored messages (thanks, spam, chatter between customers)
needed none, nor did a score answering the satisfaction question (``csat``), and a follow-up in a
conversation already handed off joins its ticket: all are counted with the messages, none in the
containment or as a new handoff.

The default range is the last night: from the desk's previous close to its next opening (while
the desk is open, the night that ended when it opened).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot.turn_log import latest_message_at
from handoff.calendar import BusinessCalendar
from handoff.clock import parse_iso
from handoff.reports import incident_report, ticket_report

__all__ = [
    "DAILY_COLUMNS",
    "AGENT_COLUMNS",
    "build_report",
    "csv_text",
    "last_night",
    "open_turn_log",
    "parse_range",
]

UTC = dt.timezone.utc
#: The columns of the daily CSV (one row per local day, then the range's total).
DAILY_COLUMNS = (
    "date",
    "messages",
    "answered_by_bot",
    "handoffs",
    "ignored",
    "containment",
    "tickets_opened",
    "tickets_answered",
    "promises_kept",
    "promises_broken",
    "share_kept",
)
#: The columns of the per-agent CSV.
AGENT_COLUMNS = (
    "agent",
    "cases",
    "first_replies",
    "median_minutes",
    "p90_minutes",
    "csat_average",
    "csat_count",
)
# How finely the calendar is walked back to find when the desk last opened or closed: periods
# start and end on whole minutes, so a 5-minute walk and a bisection find them to the second.
_STEP = dt.timedelta(minutes=5)
_MAX_STEPS = 366 * 24 * 12


def _last_change(calendar: BusinessCalendar, at: dt.datetime) -> dt.datetime:
    """The moment at or before ``at`` since which the desk has been as open (or closed) as now."""
    state = calendar.is_open(at)
    later = at
    for _ in range(_MAX_STEPS):
        earlier = later - _STEP
        if calendar.is_open(earlier) != state:
            break
        later = earlier
    else:
        raise ValueError("the desk's hours did not change in a year")
    # is_open(earlier) != state, is_open(later) == state: bisect to the second.
    while later - earlier > dt.timedelta(seconds=1):
        middle = earlier + (later - earlier) / 2
        if calendar.is_open(middle) == state:
            later = middle
        else:
            earlier = middle
    return later.replace(microsecond=0)


def last_night(calendar: BusinessCalendar, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last night: from the desk's previous close to its next opening.

    Args:
        calendar: The brand's business calendar.
        now: The time (aware).

    Returns:
        ``(since, until)``; while the desk is closed, the night under way (until its opening);
        while it is open, the night that ended when it opened.
    """
    if calendar.is_open(now):
        opened = _last_change(calendar, now)
        return _last_change(calendar, opened - dt.timedelta(seconds=1)), opened
    return _last_change(calendar, now), calendar.next_opening(now).astimezone(UTC)


def _parse_moment(value: str, zone: ZoneInfo, *, end: bool) -> dt.datetime:
    """An ISO date (a whole local day: its start, or for an end the next day's) or date-time."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), zone).astimezone(UTC)
        moment = parse_iso(text, assume_zone=zone)  # without an offset: the brand's wall time
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO date (2026-03-02) or date-time (2026-03-02T21:00)"
        ) from None
    return moment.astimezone(UTC)


def parse_range(
    since: str | None,
    until: str | None,
    calendar: BusinessCalendar,
    now: dt.datetime | None = None,
    turns: Engine | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The range asked for: ISO dates or date-times in the brand's zone; the last night if none.

    With neither and a turn log (``turns``) whose newest message is older than the last night,
    the latest night that has messages (a quiet night, the demo's, a weekend) rather than an
    empty page.

    A date as ``until`` includes that day. With only ``since`` the range ends now; with only
    ``until`` it is the day before it.

    Args:
        since: Start, or None.
        until: End, or None.
        calendar: The brand's calendar (its time zone; its hours for the last night).
        now: The time (aware); now by default.
        turns: The turn log's engine, for the latest night with messages.

    Returns:
        ``(since, until)``, aware UTC.

    Raises:
        ValueError: A value is not an ISO date or date-time, or the range is empty.
    """
    current = (now or dt.datetime.now(UTC)).astimezone(UTC)
    zone = ZoneInfo(calendar.timezone)
    if not since and not until:
        start, end = last_night(calendar, current)
        latest = latest_message_at(turns) if turns is not None else None
        if latest is not None and latest < start:
            return last_night(calendar, latest)
        return start, end
    end = _parse_moment(until, zone, end=True) if until else current
    start = _parse_moment(since, zone, end=False) if since else end - dt.timedelta(days=1)
    if start >= end:
        raise ValueError("the range is empty: --since must come before --until")
    if end - start > dt.timedelta(days=366):
        raise ValueError("the range is longer than a year")
    return start, end


def open_turn_log(endpoints: Path) -> Engine | None:
    """An engine on the tracker store's database named in ``endpoints``, if it holds a turn log.

    A SQLite file that does not exist is not created. None when the file, the store or the
    table is missing (a report then has no message figures, only the queue's).
    """
    import sqlalchemy as sa

    from bot import turn_log

    if not endpoints.is_file():
        return None
    try:
        url = sa.engine.make_url(turn_log.tracker_store_url(endpoints))
    except (ValueError, OSError, sa.exc.ArgumentError):
        return None
    if url.get_backend_name() == "sqlite" and (
        not url.database or not Path(url.database).is_file()
    ):
        return None  # not created by looking
    engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    try:
        if turn_log.has_table(engine):
            return engine
    except sa.exc.SQLAlchemyError:
        pass
    engine.dispose()
    return None


def _local(hour: str, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(zone)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _messages(
    groups: dict[str, list[dict[str, Any]]], zone: ZoneInfo
) -> tuple[dict[str, Any], dict[str, Counter[str]]]:
    """The turn log's figures from its grouped counts (a few hundred groups, not messages)."""
    by_channel: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    for group in groups.get("who", []):
        by_channel[str(group["channel"] or "unknown")] += int(group["count"])
        by_language[str(group["language"] or "unknown")] += int(group["count"])
    by_decision: Counter[str] = Counter()
    hours: Counter[str] = Counter()
    days: dict[str, Counter[str]] = defaultdict(Counter)
    followups = 0
    for group in groups.get("hour", []):
        n, decision = int(group["count"]), str(group["decision"])
        by_decision[decision] += n
        local = _local(str(group["hour"]), zone)
        hours[f"{local.hour:02d}"] += n
        day = days[local.date().isoformat()]
        day["messages"] += n
        if decision == "handoff" and group["followup"]:
            followups += n  # joins its ticket: neither a new handoff nor a message to answer
        else:
            day[decision] += n
    handoff_reason: Counter[str] = Counter()
    handoff_department: Counter[str] = Counter()
    ignored_reason: Counter[str] = Counter()
    for group in groups.get("why", []):
        n, reason = int(group["count"]), str(group["reason"] or "unknown")
        if group["decision"] == "handoff" and not group["followup"]:
            handoff_reason[reason] += n
            handoff_department[str(group["department"] or "unknown")] += n
        elif group["decision"] == "ignore":
            ignored_reason[reason] += n
    answered = by_decision["answer"]
    handed = sum(handoff_reason.values())
    figures = {
        "messages": {
            "total": sum(by_channel.values()),
            "by_channel": dict(by_channel.most_common()),
            "by_language": dict(by_language.most_common()),
            "by_decision": dict(by_decision.most_common()),
            "followups": followups,
        },
        "containment": {
            "answered_by_bot": answered,
            "needed_answer": answered + handed,
            "rate": _share(answered, answered + handed),
        },
        "handoffs": {
            "total": handed,
            "by_reason": dict(handoff_reason.most_common()),
            "by_department": dict(handoff_department.most_common()),
        },
        "ignored": {
            "total": sum(ignored_reason.values()),
            "by_reason": dict(ignored_reason.most_common()),
        },
        "volume_by_hour": {f"{h:02d}": hours[f"{h:02d}"] for h in range(24)},
    }
    return figures, days


def _daily(
    since: dt.datetime,
    until: dt.datetime,
    zone: ZoneInfo,
    turn_days: dict[str, Counter[str]],
    ticket_hours: dict[str, dict[str, int]],
) -> list[dict[str, Any]]:
    """One entry per local day of the range, both sources side by side."""
    tickets: dict[str, Counter[str]] = defaultdict(Counter)
    for hour, counts in ticket_hours.items():
        tickets[_local(hour, zone).date().isoformat()].update(counts)
    day = since.astimezone(zone).date()
    last = (until - dt.timedelta(microseconds=1)).astimezone(zone).date()
    series = []
    while day <= last:
        key = day.isoformat()
        turns, opened = turn_days.get(key, Counter()), tickets.get(key, Counter())
        needed = turns["answer"] + turns["handoff"]
        due = opened["kept"] + opened["broken"]
        series.append(
            {
                "date": key,
                "messages": turns["messages"],
                "answered_by_bot": turns["answer"],
                "handoffs": turns["handoff"],
                "ignored": turns["ignore"],
                "containment": _share(turns["answer"], needed),
                "tickets_opened": opened["opened"],
                "tickets_answered": opened["answered"],
                "promises_kept": opened["kept"],
                "promises_broken": opened["broken"],
                "share_kept": _share(opened["kept"], due),
            }
        )
        day += dt.timedelta(days=1)
    return series


def build_report(
    queue_engine: Engine,
    turn_engine: Engine | None,
    timezone: str,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The report over ``[since, until)``: a plain, JSON-ready dict.

    Args:
        queue_engine: The queue's database.
        turn_engine: The tracker store's database with the turn log, or None (no message
            figures: ``turn_log`` is then False and the message counts are zero).
        timezone: The brand's time zone (hours and days are local).
        since: Start (aware).
        until: End (aware).
        now: When pending promises are judged (aware); now by default.

    Returns:
        ``range``, ``turn_log``, ``messages``, ``containment``, ``handoffs``, ``ignored``,
        ``tickets``, ``first_response``, ``promises``, ``volume_by_hour``, ``agents``,
        ``csat``, ``incidents``, ``daily``.
    """
    from bot import turn_log

    zone = ZoneInfo(timezone)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Two databases: the turn log is counted while the queue is.
        counting = (
            pool.submit(turn_log.grouped_counts, turn_engine, since, until) if turn_engine else None
        )
        desk = ticket_report(queue_engine, since, until, now)
        groups = counting.result() if counting else {}
    figures, turn_days = _messages(groups, zone)
    return {
        "range": {
            "since": since.astimezone(zone).isoformat(),
            "until": until.astimezone(zone).isoformat(),
            "timezone": timezone,
        },
        "turn_log": turn_engine is not None,
        **figures,
        "tickets": desk["tickets"],
        "first_response": desk["first_response"],
        "promises": desk["promises"],
        "agents": desk["agents"],
        "csat": desk["csat"],
        # Outages many customers reported: their size and time to first update (README).
        "incidents": incident_report(queue_engine, since, until),
        "daily": _daily(since, until, zone, turn_days, desk["hours"]),
    }


def _total_row(report: dict[str, Any]) -> dict[str, Any]:
    days = report["daily"]
    row: dict[str, Any] = {"date": "total"}
    for column in DAILY_COLUMNS[1:]:
        if column not in ("containment", "share_kept"):
            row[column] = sum(day[column] for day in days)
    row["containment"] = report["containment"]["rate"]
    row["share_kept"] = report["promises"]["share_kept"]
    return row


def csv_text(report: dict[str, Any], table: str = "daily") -> str:
    """The report as CSV: the daily series and a total row, or (``table="agents"``) the agents.

    Raises:
        ValueError: An unknown table.
    """
    columns: tuple[str, ...]
    if table == "daily":
        columns, rows = DAILY_COLUMNS, [*report["daily"], _total_row(report)]
    elif table == "agents":
        columns, rows = AGENT_COLUMNS, report["agents"]
    else:
        raise ValueError(f"unknown table {table!r}: daily or agents")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})
    return out.getvalue()
