"""The queue: the waiting cases in the desk's order, "my cases", search, "next case" (``queue``).

Every row says where its conversation stands and whether it is overdue, by the rules of
:mod:`handoff.state` (the counter above the rows counts with the same rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.render.base import CHANNELS
from desk.routes.deps import PAGE_ROWS, desk_of, guarded, page, run_sync, templates_of, utc_now
from desk.services import Desk
from desk.store import SignedIn
from handoff.models import Ticket
from handoff.priority import effective_priority
from handoff.state import STATE_LABELS, conversation_state, is_overdue, trigger_entry
from handoff.views import MAX_SEARCH

__all__ = ["REASONS", "SEARCH_ROWS", "bp"]

#: The handoff reasons the queue filters by.
REASONS = ("emotional", "private", "complex", "human_requested", "in_hours")
#: Cases per page of search results.
SEARCH_ROWS = 50

bp = Blueprint("queue")


def _filters(request: Request) -> dict[str, str | None]:
    """The queue's filters from the query; a value the desk does not know counts as none."""
    desk = desk_of(request)

    def pick(name: str, allowed: Sequence[str]) -> str | None:
        value = request.args.get(name) or None
        return value if value in allowed else None

    departments = sorted({*desk.brand.departments, "general"})
    return {
        "department": pick("department", departments),
        "language": pick("language", desk.brand.languages),
        "channel": pick("channel", CHANNELS),
        "reason": pick("reason", REASONS),
    }


def _trigger_text(ticket: Ticket) -> str:
    """The customer's message that caused the handoff, masked and cut to one short line."""
    trigger = trigger_entry(ticket)
    flat = " ".join((trigger.masked_text if trigger else "").split())
    return flat if len(flat) <= 140 else flat[:139] + "…"


def rows_of(desk: Desk, tickets: list[Ticket], now: dt.datetime) -> list[dict[str, Any]]:
    """The queue's rows (also the search's): priority, state, overdue, claim, trigger.

    Args:
        desk: The desk.
        tickets: The tickets, transcripts loaded.
        now: The time overdue is judged at.

    Returns:
        One dictionary per ticket, for ``_queue_rows.html``.
    """
    rows = []
    for t in tickets:
        state = conversation_state(t)
        rows.append(
            {
                "ticket": t,
                "priority": effective_priority(t.need, t.created_at, now),
                "overdue": is_overdue(t, now),
                "state": state,
                "state_label": STATE_LABELS[state],
                "trigger": _trigger_text(t),
                "claim_live": t.status == "claimed"
                and t.claimed_at is not None
                and t.claimed_at >= now - desk.claim_ttl,
            }
        )
    return rows


def _queue_view(desk: Desk, filters: dict[str, str | None], mine: str | None) -> dict[str, Any]:
    """What the queue page and its refresh show (runs in a worker thread).

    ``mine`` is the signed-in agent when the page shows their cases only (claimed, unresolved).
    """
    now = utc_now()
    tickets, matching = desk.queue.list_page(
        status=("claimed",) if mine else ("open", "claimed"),
        now=now,
        department=filters["department"],
        language=filters["language"],
        channel=filters["channel"],
        reason=filters["reason"],
        limit=PAGE_ROWS,
        claimed_by=mine,
    )
    counts = desk.queue.summary(now=now)
    digest = next(iter(desk.store.notices(limit=1, kind="digest")), None)
    reminders = desk.store.notices(limit=5, kind="reminder")
    rows = rows_of(desk, tickets, now)
    return {
        "rows": rows,
        "shown": len(rows),
        "matching": matching,
        "counts": counts,
        "digest": digest,
        "reminders": reminders,
        "now": now,
    }


def _mine(request: Request) -> str | None:
    """The signed-in agent when the query asks for "my cases" (``mine=1``), else None."""
    user: SignedIn = request.ctx.user
    return user.agent.username if request.args.get("mine") == "1" else None


def _query(filters: dict[str, str | None], mine: bool) -> str:
    """The filters as a query string (``?...``), or "" when there are none."""
    values = {k: v for k, v in filters.items() if v}
    if mine:
        values["mine"] = "1"
    return f"?{urlencode(values)}" if values else ""


@bp.get("/queue")
@guarded(roles=("agent", "supervisor"))
async def queue_page(request: Request) -> HTTPResponse:
    """The queue page: the waiting cases, most urgent first, filtered."""
    desk = desk_of(request)
    filters = _filters(request)
    mine = _mine(request)
    view = await run_sync(_queue_view, desk, filters, mine)
    return page(
        "queue.html",
        request,
        filters=filters,
        mine=bool(mine),
        poll_url="/api/queue" + _query(filters, bool(mine)),
        filter_query=_query(filters, False),
        all_query=_query(filters, False) or "?",
        mine_query=_query(filters, True),
        departments=sorted({*desk.brand.departments, "general"}),
        languages=desk.brand.languages,
        channels=CHANNELS,
        reasons=REASONS,
        **view,
    )


@bp.get("/api/queue")
@guarded(roles=("agent", "supervisor"), api=True)
async def queue_api(request: Request) -> HTTPResponse:
    """The queue's rows and summary as HTML fragments, for the page's refresh."""
    desk = desk_of(request)
    env = templates_of(request)
    view = await run_sync(_queue_view, desk, _filters(request), _mine(request))
    return response.json(
        {
            "rows": env.get_template("_queue_rows.html").render(**view),
            "summary": env.get_template("_queue_summary.html").render(**view),
            "waiting": view["counts"]["waiting"],
        }
    )


@bp.post("/queue/next")
@guarded(roles=("agent", "supervisor"))
async def take_next(request: Request) -> HTTPResponse:
    """Claim the most urgent free case matching the filters and open it."""
    desk = desk_of(request)
    user: SignedIn = request.ctx.user
    filters = _filters(request)
    ticket_id = await run_sync(
        desk.queue.claim_next, user.agent.username, ttl=desk.claim_ttl, **filters
    )
    if ticket_id is None:
        # Back to the same filtered queue: an empty "next" must not lose the agent's filters.
        query = _query(filters, request.args.get("mine") == "1")
        return response.redirect(f"/queue{query}{'&' if query else '?'}msg=none_free")
    await run_sync(desk.store.audit, user.agent.username, "claim", ticket_id, {"next": True})
    return response.redirect(f"/cases/{ticket_id}?msg=claimed")


def _search_view(desk: Desk, user: SignedIn, query: str, number: int) -> dict[str, Any]:
    """One page of search results the user may open (runs in a worker thread)."""
    now = utc_now()
    found = desk.queue.search(query, page=number, per_page=SEARCH_ROWS)
    visible = [t for t in found.tickets if desk.may_view(t, user)]
    return {"rows": rows_of(desk, visible, now), "total": found.total, "more": found.more}


@bp.get("/search")
@guarded(roles=("agent", "supervisor"))
async def search(request: Request) -> HTTPResponse:
    """Find cases, waiting or resolved: ``#123``/``123``, a customer, or words they wrote."""
    desk = desk_of(request)
    query = " ".join((request.args.get("q") or "").split())[:MAX_SEARCH]
    raw_page = request.args.get("page") or "1"
    number = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 1
    number = min(max(number, 1), 10_000)
    view = await run_sync(_search_view, desk, request.ctx.user, query, number)
    return page(
        "search.html",
        request,
        q=query,
        page_number=number,
        max_search=MAX_SEARCH,
        next_query=urlencode({"q": query, "page": number + 1}),
        previous_query=urlencode({"q": query, "page": number - 1}),
        **view,
    )
