"""The queue's side of the supervisors' reports: response times, promises kept, agents, CSAT.

The counts are SQL aggregates over the tickets opened in a range (index on ``created_at``): a
few hundred groups, however many tickets. Medians and 90th percentiles are ranked here, from one
number per answered ticket (a sort of a few thousand floats costs less than the databases' window
functions): the median is the mean of the middle one or two values, the 90th percentile the
nearest rank.

The time to the first human response runs from the ticket's opening (the customer's message) to
the first agent line of its transcript, which the database keeps on the ticket (``first_reply_at``,
``first_replier``: the triggers of migration 0004). A promise is kept when that first reply came
no later than the time the customer was promised (``reply_eta``); it is broken when it came later,
or when the promised time has passed without a reply on a ticket still waiting. A ticket opened
while the desk was open was promised no time (``reply_eta`` is its opening): it has no promise to
keep.
"""

from __future__ import annotations

import datetime as dt
import itertools
from statistics import median
from typing import Any

from sqlalchemy import Float, String, and_, case, cast, func, literal, null, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from handoff.base import as_utc
from handoff.models import (
    OPEN_STATUSES,
    Csat,
    Incident,
    IncidentLink,
    IncidentPost,
    Ticket,
)

__all__ = ["hour_bucket", "seconds_between", "ticket_report"]


def hour_bucket(column: Any, dialect: str) -> ColumnElement[Any]:
    """SQL for the UTC hour of a :class:`handoff.models.UTCDateTime` column, as ``YYYY-MM-DD HH``.

    SQLite stores the naive UTC wall time as text; PostgreSQL a ``timestamptz``.
    """
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.substr(column, 1, 13)


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement[Any]:
    """SQL for the seconds from ``earlier`` to ``later`` (two UTCDateTime columns)."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _middle_and_p90(seconds: list[float]) -> tuple[float, float]:
    """The median (mean of the middle one or two) and p90 (nearest rank) of sorted ``seconds``.

    The middle ranks (1-based) are those with 2 rank in {n, n + 1, n + 2}; p90's nearest rank is
    ceil(0.9 n), the rank with 10 (rank - 1) < 9 n <= 10 rank.
    """
    n = len(seconds)
    middle = seconds[(n - 1) // 2 : n // 2 + 1]
    return sum(middle) / len(middle), seconds[-(-9 * n // 10) - 1]


def _branch(kind: str, key: Any | None, who: Any | None, *numbers: Any) -> Any:
    """One branch of the report's UNION ALL: (kind, key, who, a .. f), numbers as floats."""
    padded = [cast(number, Float) for number in numbers]
    padded += [cast(null(), Float)] * (6 - len(padded))
    labels = [n.label(name) for n, name in zip(padded, "abcdef", strict=True)]
    return select(
        literal(kind, String).label("kind"),
        (key if key is not None else cast(null(), String)).label("key"),
        (who if who is not None else cast(null(), String)).label("who"),
        *labels,
    )


def _minutes(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 60.0, 1)


def _base(start: dt.datetime, end: dt.datetime, dialect: str) -> Any:
    """The tickets opened in the range, each with its first agent reply and who wrote it.

    Both are columns of the ticket (``first_reply_at``, ``first_replier``), kept by the
    database from the transcript (migration 0004): no look-up in the transcript per ticket.
    """
    return (
        select(
            Ticket.status,
            Ticket.claimed_by,
            Ticket.created_at,
            Ticket.reply_eta,
            hour_bucket(Ticket.created_at, dialect).label("hour"),
            Ticket.first_reply_at.label("first_at"),
            Ticket.first_replier.label("replier"),
        )
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .cte("base")
    )


def _statement(start: dt.datetime, end: dt.datetime, when: dt.datetime, dialect: str) -> Any:
    """The whole queue side of a report as one statement, in three branches.

    ``base`` is referenced by two branches, so both databases compute it once. ``hours``
    counts per hour of opening and holder (a few hundred groups: the totals and the agents'
    cases are their sums); ``times`` gives each answered ticket's replier and seconds to the
    first reply (one float per ticket, for the medians and p90s); ``csat`` averages the scores
    per agent.
    """
    b = _base(start, end, dialect).c
    promised = b.reply_eta > b.created_at
    late = and_(promised, b.first_at > b.reply_eta)
    waited = and_(promised, b.first_at.is_(None), b.status.in_(OPEN_STATUSES), b.reply_eta < when)
    pending = and_(promised, b.first_at.is_(None), b.reply_eta >= when)
    hours = _branch(
        "hours",
        b.hour,
        b.claimed_by,
        func.count(),
        func.count(b.first_at),
        func.sum(case((b.status == "resolved", 1), else_=0)),
        func.sum(case((and_(promised, b.first_at <= b.reply_eta), 1), else_=0)),
        func.sum(case((or_(late, waited), 1), else_=0)),
        func.sum(case((pending, 1), else_=0)),
    ).group_by(b.hour, b.claimed_by)

    # One number per answered ticket, ranked in Python: a sort of a few thousand floats costs
    # less than the window functions' sorts (four of them on SQLite).
    times = _branch(
        "times", b.replier, None, seconds_between(b.first_at, b.created_at, dialect)
    ).where(b.first_at.is_not(None))

    scored = and_(Csat.answered_at >= start, Csat.answered_at < end)
    csat = (
        _branch("csat", Csat.agent, None, func.count(), func.avg(Csat.score))
        .where(scored)
        .group_by(Csat.agent)
    )
    return union_all(hours, times, csat)


def ticket_report(
    engine: Engine, since: dt.datetime, until: dt.datetime, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the desk did with the tickets opened between ``since`` and ``until``.

    Args:
        engine: The queue's database.
        since: Start (aware, included).
        until: End (aware, excluded).
        now: When promises still pending are judged (aware); now by default.

    Returns:
        ``tickets`` (opened, answered, resolved, waiting), ``first_response`` (median and p90 in
        minutes), ``promises`` (kept, broken, pending, share kept), ``agents`` (per agent: cases
        held or resolved, first replies, their median and p90, CSAT), ``csat`` (average and
        count of the scores answered in the range) and ``hours`` (per UTC hour ``YYYY-MM-DD HH``:
        opened, answered, kept, broken), for the daily series.
    """
    start, end, when = as_utc(since, "since"), as_utc(until, "until"), as_utc(now, "now")
    found: dict[str, list[Any]] = {"hours": [], "csat": []}
    by_replier: dict[str | None, list[float]] = {}
    with engine.connect() as connection:
        rows = connection.execute(_statement(start, end, when, engine.dialect.name)).all()
    for row in rows:
        if row[0] == "times":  # thousands of these: by position, not by name
            by_replier.setdefault(row[1], []).append(float(row[3]))
        else:
            found[row.kind].append(row)
    # Sums of a few hundred groups (hour x holder), not of tickets.
    totals = [sum(int(getattr(row, x) or 0) for row in found["hours"]) for x in "abcdef"]
    opened, answered, resolved, kept, broken, pending = totals
    hours: dict[str, dict[str, int]] = {}
    cases: dict[str, int] = {}
    for row in found["hours"]:
        hour = hours.setdefault(
            str(row.key), dict.fromkeys(("opened", "answered", "kept", "broken"), 0)
        )
        for name, value in zip(
            ("opened", "answered", "kept", "broken"), (row.a, row.b, row.d, row.e), strict=True
        ):
            hour[name] += int(value or 0)
        if row.who is not None:
            cases[row.who] = cases.get(row.who, 0) + int(row.a)
    overall = sorted(itertools.chain.from_iterable(by_replier.values()))
    middle, p90 = _middle_and_p90(overall) if overall else (None, None)
    return {
        "tickets": {
            "opened": opened,
            "answered": answered,
            "resolved": resolved,
            "waiting": opened - resolved,
        },
        "first_response": {
            "answered": answered,
            "median_minutes": _minutes(middle),
            "p90_minutes": _minutes(p90),
        },
        "promises": _promises(kept, broken, pending),
        "agents": _agents(by_replier, cases, found["csat"]),
        "csat": _csat(found["csat"]),
        "hours": dict(sorted(hours.items())),
    }


def _promises(kept: int, broken: int, pending: int) -> dict[str, Any]:
    due = kept + broken
    return {
        "kept": kept,
        "broken": broken,
        "pending": pending,
        "share_kept": round(kept / due, 3) if due else None,
    }


def _agents(
    times: dict[str | None, list[float]], cases: dict[str, int], scores: list[Any]
) -> list[dict[str, Any]]:
    """One entry per agent who held, answered or was scored on a case.

    ``times`` holds each replier's seconds to their first replies; ``scores`` the CSAT rows.
    """
    replies = {name: sorted(seconds) for name, seconds in times.items() if name is not None}
    scored = {row.key: row for row in scores if row.key is not None}
    found = []
    for name in sorted(set(replies) | set(cases) | set(scored)):
        seconds, score = replies.get(name), scored.get(name)
        middle, p90 = _middle_and_p90(seconds) if seconds else (None, None)
        found.append(
            {
                "agent": name,
                "cases": cases.get(name, 0),
                "first_replies": len(seconds) if seconds else 0,
                "median_minutes": _minutes(middle),
                "p90_minutes": _minutes(p90),
                "csat_average": round(float(score.b), 2) if score else None,
                "csat_count": int(score.a) if score else 0,
            }
        )
    return found


def _csat(scores: list[Any]) -> dict[str, Any]:
    count = sum(int(row.a) for row in scores)
    total = sum(float(row.b) * int(row.a) for row in scores if row.b is not None)
    return {"average": round(total / count, 2) if count else None, "count": count}


def incident_report(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """The incidents opened between ``since`` and ``until``: their size and time to first update.

    Returns:
        ``count``, ``customers`` (linked, all incidents), ``median_minutes_to_first_update``
        and ``list``: per incident its ``id`` (``INC-7``), ``kind``, ``area``, ``opened_at``
        (UTC ISO), ``opened_by``, ``status``, ``customers``, ``handed_off``,
        ``minutes_to_first_update`` and ``minutes_to_resolve`` (None until they happen).
    """
    start, end = as_utc(since, "since"), as_utc(until, "until")
    with Session(engine) as session:
        incidents = session.scalars(
            select(Incident)
            .where(Incident.opened_at >= start, Incident.opened_at < end)
            .order_by(Incident.opened_at)
        ).all()
        ids = [i.id for i in incidents]
        links = dict(
            session.execute(
                select(IncidentLink.incident_id, func.count())
                .where(IncidentLink.incident_id.in_(ids))
                .group_by(IncidentLink.incident_id)
            ).all()
        )
        handed = dict(
            session.execute(
                select(IncidentLink.incident_id, func.count())
                .where(IncidentLink.incident_id.in_(ids), IncidentLink.ticket_id.is_not(None))
                .group_by(IncidentLink.incident_id)
            ).all()
        )
        first = dict(
            session.execute(
                select(IncidentPost.incident_id, func.min(IncidentPost.posted_at))
                .where(IncidentPost.incident_id.in_(ids))
                .group_by(IncidentPost.incident_id)
            ).all()
        )
    rows = []
    for incident in incidents:
        posted = first.get(incident.id)
        posted = as_utc(posted, "posted") if isinstance(posted, dt.datetime) else None
        rows.append(
            {
                "id": incident.ref,
                "kind": incident.kind,
                "area": incident.area,
                "opened_at": incident.opened_at.isoformat(),
                "opened_by": incident.opened_by,
                "status": incident.status,
                "customers": int(links.get(incident.id, 0)),
                "handed_off": int(handed.get(incident.id, 0)),
                "minutes_to_first_update": _span(incident.opened_at, posted),
                "minutes_to_resolve": _span(incident.opened_at, incident.resolved_at),
            }
        )
    waits = sorted(
        r["minutes_to_first_update"] for r in rows if r["minutes_to_first_update"] is not None
    )
    return {
        "count": len(rows),
        "customers": sum(r["customers"] for r in rows),
        "median_minutes_to_first_update": round(median(waits), 1) if waits else None,
        "list": rows,
    }


def _span(start: dt.datetime, end: dt.datetime | None) -> float | None:
    """Minutes from ``start`` to ``end`` (one decimal), or None when it has not happened."""
    return round((end - start).total_seconds() / 60, 1) if end is not None else None
