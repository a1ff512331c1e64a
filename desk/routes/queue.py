"""The queue: the waiting cases in the desk's order, its live refresh, "next case" (``queue``)."""

from __future__ import annotations

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
from handoff.priority import effective_priority

__all__ = ["REASONS", "bp"]

#: The handoff reasons the queue filters by.
REASONS = ("emotional", "private", "complex", "human_requested", "in_hours")

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


def _queue_view(desk: Desk, filters: dict[str, str | None]) -> dict[str, Any]:
    """What the queue page and its refresh show (runs in a worker thread)."""
    now = utc_now()
    tickets, matching = desk.queue.list_page(
        now=now,
        department=filters["department"],
        language=filters["language"],
        channel=filters["channel"],
        reason=filters["reason"],
        limit=PAGE_ROWS,
    )
    counts = desk.queue.summary(now=now)
    digest = next(iter(desk.store.notices(limit=1, kind="digest")), None)
    reminders = desk.store.notices(limit=5, kind="reminder")
    rows = [
        {
            "ticket": t,
            "priority": effective_priority(t.need, t.created_at, now),
            "overdue": t.reply_eta < now,
            "claim_live": t.status == "claimed"
            and t.claimed_at is not None
            and t.claimed_at >= now - desk.claim_ttl,
        }
        for t in tickets
    ]
    return {
        "rows": rows,
        "shown": len(rows),
        "matching": matching,
        "counts": counts,
        "digest": digest,
        "reminders": reminders,
        "now": now,
    }


@bp.get("/queue")
@guarded(roles=("agent", "supervisor"))
async def queue_page(request: Request) -> HTTPResponse:
    """The queue page: the waiting cases, most urgent first, filtered."""
    desk = desk_of(request)
    filters = _filters(request)
    view = await run_sync(_queue_view, desk, filters)
    query = urlencode({k: v for k, v in filters.items() if v})
    return page(
        "queue.html",
        request,
        filters=filters,
        poll_url="/api/queue" + (f"?{query}" if query else ""),
        filter_query=f"?{query}" if query else "",
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
    view = await run_sync(_queue_view, desk, _filters(request))
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
        return response.redirect("/queue?msg=none_free")
    await run_sync(desk.store.audit, user.agent.username, "claim", ticket_id, {"next": True})
    return response.redirect(f"/cases/{ticket_id}?msg=claimed")
